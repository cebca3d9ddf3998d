//! The two glob dialects of the git generator: Go's `path.Match` for directories and git's
//! pathspec matching for files.

/// Go's `path.Match`: `*` and `?` stop at `/`, `[...]` classes (`^` negates), `\` escapes.
/// `None` for a malformed pattern.
// Argo CD docs, "Git Generator" (Generators-Git.md, "Exclude directories"): directory paths
// use path.Match syntax.
pub(crate) fn path_match(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    wild(&p, &n, false)
}

/// Git's pathspec as `git ls-files -- PATTERN` reads it: a pattern without wildcards names the
/// path or a directory above it; with wildcards `*` and `?` also match `/`.
// Argo CD docs, "Git File Generator Globbing" (Generators-Git-File-Globbing.md): the default
// globbing is greedy, `cluster-charts/*/*/values.yaml` acting like `cluster-charts/**/values.yaml`
// and `some-path/*.yaml` matching YAML files at any depth under some-path. The opt-in "new
// globbing" is a controller flag this emulation cannot see.
pub(crate) fn pathspec_match(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim_start_matches('/');
    if !pattern.contains(['*', '?', '[', '\\']) {
        let pattern = pattern.trim_end_matches('/');
        return name == pattern
            || (name.starts_with(pattern) && name[pattern.len()..].starts_with('/'))
            || pattern.is_empty();
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    wild(&p, &n, true).unwrap_or(false)
}

fn wild(p: &[char], n: &[char], star_crosses_slash: bool) -> Option<bool> {
    let Some(&c) = p.first() else {
        return Some(n.is_empty());
    };
    match c {
        '*' => {
            let rest = &p[1..];
            for i in 0..=n.len() {
                if i > 0 && !star_crosses_slash && n[i - 1] == '/' {
                    break;
                }
                if wild(rest, &n[i..], star_crosses_slash)? {
                    return Some(true);
                }
            }
            // A malformed rest of the pattern is an error even when nothing matched.
            validate(rest)?;
            Some(false)
        }
        '?' => match n.first() {
            Some(&ch) if star_crosses_slash || ch != '/' => {
                wild(&p[1..], &n[1..], star_crosses_slash)
            }
            _ => validate(&p[1..]).map(|_| false),
        },
        '[' => {
            let (matched, used) = class(&p[1..], n.first().copied(), star_crosses_slash)?;
            if matched {
                wild(&p[1 + used..], &n[1..], star_crosses_slash)
            } else {
                validate(&p[1 + used..]).map(|_| false)
            }
        }
        '\\' => {
            let &lit = p.get(1)?;
            if n.first() == Some(&lit) {
                wild(&p[2..], &n[1..], star_crosses_slash)
            } else {
                validate(&p[2..]).map(|_| false)
            }
        }
        lit => {
            if n.first() == Some(&lit) {
                wild(&p[1..], &n[1..], star_crosses_slash)
            } else {
                validate(&p[1..]).map(|_| false)
            }
        }
    }
}

/// Whether the pattern is well formed (Go reports ErrBadPattern for a broken class or a
/// trailing `\`).
fn validate(p: &[char]) -> Option<()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                p.get(i + 1)?;
                i += 2;
            }
            '[' => {
                let (_, used) = class(&p[i + 1..], Some('\0'), false)?;
                i += 1 + used;
            }
            _ => i += 1,
        }
    }
    Some(())
}

/// Matches one character against the class that starts after `[`; returns whether it matched and
/// how many pattern characters the class used (through `]`).
fn class(p: &[char], ch: Option<char>, git: bool) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = matches!(p.first(), Some('^')) || (git && matches!(p.first(), Some('!')));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &c = p.get(i)?;
        if c == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            c
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&c| c != ']') {
            i += 1;
            hi = if p[i] == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                p[i]
            };
            i += 1;
        }
        if let Some(ch) = ch
            && lo <= ch
            && ch <= hi
        {
            matched = true;
        }
    }
    if ch.is_none() {
        return Some((false, i));
    }
    Some((matched != negated, i))
}
