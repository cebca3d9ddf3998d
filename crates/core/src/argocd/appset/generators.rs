//! Parameter generation: list, git (directories, files), matrix and merge; the rest skipped.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value};

use super::template::{Params, render_str, render_value};
use super::{Ctx, fill, glob, override_with};
use crate::argocd::repo_url::same_repo;

/// Generators that need something outside the repository, with what they need.
// Argo CD docs, "Generators" (Generators.md) and each generator's page: Cluster and Cluster
// Decision Resource read the cluster, Pull Request and SCM Provider call the Git provider's
// API, Plugin calls an external service.
const SKIPPED: &[(&str, &str)] = &[
    ("clusters", "needs the Argo CD cluster secrets"),
    (
        "clusterDecisionResource",
        "needs a custom resource in the cluster",
    ),
    ("pullRequest", "needs the Git provider's API"),
    ("scmProvider", "needs the Git provider's API"),
    ("plugin", "needs the plugin's service"),
];

/// One generator kind of a top-level entry: its name, its body (for its `template`) and its
/// parameter sets.
pub(crate) type Generated<'v> = (String, &'v Value, Vec<Params>);

const KINDS: &[&str] = &["list", "git", "matrix", "merge"];

/// Parameters of one top-level generator entry: per generator kind in it, the kind, its body
/// (for its `template`) and its parameter sets. Skipped kinds are left out (and noted).
pub(crate) fn generate_top<'v>(
    ctx: &mut Ctx,
    entry: &'v Value,
    index: usize,
) -> Result<Vec<Generated<'v>>, String> {
    let obj = entry
        .as_object()
        .ok_or_else(|| format!("generator {} is not a mapping", index + 1))?;
    let mut out = Vec::new();
    let mut any = false;
    for (kind, body) in obj {
        if kind == "selector" || body.is_null() {
            continue;
        }
        any = true;
        let params = generate_kind(ctx, kind, body, entry.get("selector"), 0)
            .map_err(|e| format!("generator {} ({kind}): {e}", index + 1))?;
        if let Some(params) = params {
            out.push((kind.clone(), body, params));
        }
    }
    if !any {
        return Err(format!("generator {} is empty", index + 1));
    }
    Ok(out)
}

/// A child of matrix or merge: exactly one generator kind. `None` when skipped.
fn generate_child(
    ctx: &mut Ctx,
    entry: &Value,
    depth: usize,
    outer: Option<&Params>,
) -> Result<Option<Vec<Params>>, String> {
    // Argo CD docs, "Matrix Generator" (Generators-Matrix.md, "Using Parameters from one child
    // generator in another child generator"): the second child's fields are templated with the
    // first child's parameters before it runs. Its own `template` is ignored in a matrix, so it is
    // not rendered here.
    let interpolated;
    let entry = match outer {
        Some(params) if !params.is_empty() => {
            let mut copy = entry.clone();
            if let Some(obj) = copy.as_object_mut() {
                for (_, body) in obj.iter_mut() {
                    if let Some(b) = body.as_object_mut() {
                        let tmpl = b.remove("template");
                        let mut rendered =
                            render_value(&Value::Object(b.clone()), params, ctx.mode)?;
                        if let (Some(t), Some(r)) = (tmpl, rendered.as_object_mut()) {
                            r.insert("template".into(), t);
                        }
                        *body = rendered;
                    }
                }
            }
            interpolated = copy;
            &interpolated
        }
        _ => entry,
    };
    let obj = entry
        .as_object()
        .ok_or("a child generator is not a mapping")?;
    let kinds: Vec<(&String, &Value)> = obj
        .iter()
        .filter(|(k, v)| *k != "selector" && !v.is_null())
        .collect();
    match kinds.as_slice() {
        [(kind, body)] => {
            // Argo CD docs, "Matrix Generator" / "Merge Generator" (restrictions): selectors of
            // the generators inside a nested matrix or merge apply only with
            // spec.applyNestedSelectors.
            let selector = if depth < 2 || ctx.nested_selectors {
                entry.get("selector")
            } else {
                None
            };
            generate_kind(ctx, kind, body, selector, depth)
                .map_err(|e| format!("child generator ({kind}): {e}"))
        }
        [] => Err("a child generator is empty".into()),
        _ => Err("found more than one generator in a child generator".into()),
    }
}

fn generate_kind(
    ctx: &mut Ctx,
    kind: &str,
    body: &Value,
    selector: Option<&Value>,
    depth: usize,
) -> Result<Option<Vec<Params>>, String> {
    let params = match kind {
        "list" => list(ctx, body)?,
        "git" => match git(ctx, body)? {
            Some(p) => p,
            None => return Ok(None),
        },
        "matrix" => match matrix(ctx, body, depth)? {
            Some(p) => p,
            None => return Ok(None),
        },
        "merge" => match merge(ctx, body, depth)? {
            Some(p) => p,
            None => return Ok(None),
        },
        other => {
            let why = SKIPPED
                .iter()
                .find(|(k, _)| *k == other)
                .map(|(_, why)| *why)
                .unwrap_or("not a generator this emulation knows");
            ctx.skipped
                .push(format!("{other} generator: {why}; skipped"));
            return Ok(None);
        }
    };
    debug_assert!(KINDS.contains(&kind));
    match selector {
        Some(sel) if !sel.is_null() => {
            let mut kept = Vec::new();
            for p in params {
                if selector_matches(sel, &p)? {
                    kept.push(p);
                }
            }
            Ok(Some(kept))
        }
        _ => Ok(Some(params)),
    }
}

/// Argo CD docs, "Post Selector" (Generators-Post-Selector.md): `selector` filters a
/// generator's parameter sets with a label selector over their string parameters.
fn selector_matches(sel: &Value, params: &Params) -> Result<bool, String> {
    let label = |k: &str| params.get(k).and_then(Value::as_str);
    if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            if label(k) != Some(v.as_str().unwrap_or_default()) {
                return Ok(false);
            }
        }
    }
    for expr in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let have = label(key);
        let ok = match expr
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "In" => have.is_some_and(|h| values.contains(&h)),
            "NotIn" => have.is_none_or(|h| !values.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            op => return Err(format!("selector: unknown operator {op:?}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Argo CD docs, "List Generator" (Generators-List.md): each element is one parameter set; with
/// fasttemplate its values must be strings, except `values`, whose keys become `values.KEY`.
/// `elementsYaml` is a YAML list of further elements (useful when templated by a matrix).
fn list(ctx: &Ctx, body: &Value) -> Result<Vec<Params>, String> {
    let mut elements: Vec<Value> = match body.get("elements") {
        Some(Value::Array(a)) => a.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err("elements is not a list".into()),
    };
    if let Some(text) = body.get("elementsYaml").and_then(Value::as_str)
        && !text.trim().is_empty()
    {
        match serde_saphyr::from_str::<Value>(text) {
            Ok(Value::Array(a)) => elements.extend(a),
            Ok(Value::Null) => {}
            Ok(_) => return Err("elementsYaml is not a list".into()),
            Err(e) => {
                return Err(format!(
                    "elementsYaml is not YAML: {}",
                    crate::manifest::yaml_error_summary(&e)
                ));
            }
        }
    }
    let mut out = Vec::new();
    for el in elements {
        let Value::Object(el) = el else {
            return Err("an element is not a mapping".into());
        };
        let mut params = if ctx.mode.go {
            el
        } else {
            let mut flat = Map::new();
            for (k, v) in el {
                match (k.as_str(), v) {
                    (_, Value::String(s)) => {
                        flat.insert(k, Value::String(s));
                    }
                    ("values", Value::Object(values)) => {
                        for (vk, vv) in values {
                            let Value::String(vs) = vv else {
                                return Err(format!("element value values.{vk} is not a string"));
                            };
                            flat.insert(format!("values.{vk}"), Value::String(vs));
                        }
                    }
                    _ => return Err(format!("element value {k} is not a string")),
                }
            }
            flat
        };
        append_values(ctx, body, &mut params)?;
        out.push(params);
    }
    Ok(out)
}

/// Argo CD docs, "Cluster Generator" (Generators-Cluster.md, "values"): a generator's `values`
/// are templated with its parameters and added as `values.KEY` (`.values.KEY` with Go
/// templates); Argo CD does the same for the list and git generators.
fn append_values(ctx: &Ctx, body: &Value, params: &mut Params) -> Result<(), String> {
    let Some(values) = body.get("values").and_then(Value::as_object) else {
        return Ok(());
    };
    let mut rendered = Map::new();
    for (k, v) in values {
        let text = v
            .as_str()
            .ok_or_else(|| format!("values.{k} is not a string"))?;
        let out = render_str(text, params, ctx.mode).map_err(|e| format!("values.{k}: {e}"))?;
        rendered.insert(k.clone(), Value::String(out));
    }
    if ctx.mode.go {
        params.insert("values".into(), Value::Object(rendered));
    } else {
        for (k, v) in rendered {
            params.insert(format!("values.{k}"), v);
        }
    }
    Ok(())
}

fn git(ctx: &mut Ctx, body: &Value) -> Result<Option<Vec<Params>>, String> {
    let repo_url = body.get("repoURL").and_then(Value::as_str).unwrap_or("");
    if repo_url.is_empty() {
        return Err("git generator has no repoURL".into());
    }
    if !same_repo(repo_url, ctx.this_repo) {
        ctx.skipped.push(format!(
            "git generator: repoURL {repo_url} is another repository; skipped"
        ));
        return Ok(None);
    }
    // `revision` is not consulted: the tree given is the revision being rendered.
    let prefix = body
        .get("pathParamPrefix")
        .and_then(Value::as_str)
        .unwrap_or("");
    let items = |key: &str| -> Result<Vec<(String, bool)>, String> {
        let mut out = Vec::new();
        for item in body
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = item
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("a {key} entry has no path"))?;
            let exclude = item
                .get("exclude")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            out.push((path.to_string(), exclude));
        }
        Ok(out)
    };
    let dirs = items("directories")?;
    let files = items("files")?;
    let mut out = Vec::new();
    if !dirs.is_empty() {
        for dir in git_directories(ctx, &dirs) {
            let mut params = path_params(ctx, prefix, &dir, None);
            append_values(ctx, body, &mut params)?;
            out.push(params);
        }
    } else if !files.is_empty() {
        for file in git_files(ctx, &files) {
            for mut params in file_params(ctx, prefix, &file)? {
                append_values(ctx, body, &mut params)?;
                out.push(params);
            }
        }
    } else {
        return Err("git generator has neither directories nor files".into());
    }
    Ok(Some(out))
}

/// Argo CD docs, "Git Generator" (Generators-Git.md, "Exclude directories"): directories whose
/// name begins with `.` (and what is under them) are never listed; a directory is generated when
/// some include path matches it and no exclude path does, whatever their order.
fn git_directories(ctx: &Ctx, items: &[(String, bool)]) -> Vec<String> {
    let mut dirs: Vec<String> = ctx
        .repo
        .directories()
        .into_iter()
        .map(|d| d.trim_matches('/').to_string())
        .filter(|d| !d.is_empty() && !d.split('/').any(|s| s.starts_with('.')))
        .collect();
    // The repository server lists directories as a depth-first walk in name order.
    dirs.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    dirs.dedup();
    dirs.into_iter()
        .filter(|d| {
            let mut include = false;
            let mut exclude = false;
            for (pattern, ex) in items {
                // A malformed pattern matches nothing, as Argo CD logs it and goes on.
                if glob::path_match(pattern, d) == Some(true) {
                    if *ex {
                        exclude = true;
                    } else {
                        include = true;
                    }
                }
            }
            include && !exclude
        })
        .collect()
}

/// Files matched by an include path and no exclude path, in byte order as Argo CD sorts them.
fn git_files(ctx: &Ctx, items: &[(String, bool)]) -> Vec<String> {
    let all = ctx.repo.files();
    let mut picked = BTreeSet::new();
    for (pattern, _) in items.iter().filter(|(_, ex)| !ex) {
        picked.extend(
            all.iter()
                .filter(|f| glob::pathspec_match(pattern, f))
                .cloned(),
        );
    }
    for (pattern, _) in items.iter().filter(|(_, ex)| *ex) {
        picked.retain(|f| !glob::pathspec_match(pattern, f));
    }
    picked.into_iter().collect()
}

/// Go's `path.Dir`, for repo-relative clean paths.
fn go_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => p[..i].to_string(),
        None => ".".into(),
    }
}

/// Go's `path.Base`, for repo-relative clean paths.
fn go_base(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Argo CD's name sanitising for `*Normalized` parameters (Generators-Git.md: "unsupported
/// characters replaced with `-`"): lower case, anything but `[-a-z0-9.]` becomes `-`, at most
/// 253 characters, no leading or trailing `-` or `.`.
pub(crate) fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if out.len() > 253 {
        let mut cut = 253;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out.trim_matches(['-', '.']).to_string()
}

/// The `path` parameters of a directory (`file` None) or of a file's directory.
// Argo CD docs, "Git Generator" (Generators-Git.md): fasttemplate gets `path`, `path.basename`,
// `path.basenameNormalized`, `path[N]` (and for files `path.filename`,
// `path.filenameNormalized`); Go templates get them nested under `.path` with `.path.path` and
// `.path.segments`. pathParamPrefix puts them under that prefix.
fn path_params(ctx: &Ctx, prefix: &str, dir: &str, file: Option<&str>) -> Params {
    let base = go_base(dir);
    let mut params = Map::new();
    if ctx.mode.go {
        let mut p = Map::new();
        p.insert("path".into(), dir.into());
        p.insert("basename".into(), base.clone().into());
        if let Some(file) = file {
            let filename = go_base(file);
            p.insert("filename".into(), filename.clone().into());
            p.insert("filenameNormalized".into(), sanitize_name(&filename).into());
        }
        p.insert("basenameNormalized".into(), sanitize_name(&base).into());
        p.insert(
            "segments".into(),
            Value::Array(dir.split('/').map(|s| Value::String(s.into())).collect()),
        );
        if prefix.is_empty() {
            params.insert("path".into(), Value::Object(p));
        } else {
            let mut wrap = Map::new();
            wrap.insert("path".into(), Value::Object(p));
            params.insert(prefix.into(), Value::Object(wrap));
        }
    } else {
        let name = if prefix.is_empty() {
            "path".to_string()
        } else {
            format!("{prefix}.path")
        };
        params.insert(name.clone(), dir.into());
        params.insert(format!("{name}.basename"), base.clone().into());
        if let Some(file) = file {
            let filename = go_base(file);
            params.insert(format!("{name}.filename"), filename.clone().into());
            params.insert(
                format!("{name}.filenameNormalized"),
                sanitize_name(&filename).into(),
            );
        }
        params.insert(
            format!("{name}.basenameNormalized"),
            sanitize_name(&base).into(),
        );
        for (i, seg) in dir.split('/').enumerate() {
            if !seg.is_empty() {
                params.insert(format!("{name}[{i}]"), seg.into());
            }
        }
    }
    params
}

/// Argo CD docs, "Git Generator" (Generators-Git.md, "Git Generator: Files"): a JSON or YAML
/// file is one parameter set, or one per element when it is a list; fasttemplate flattens
/// nested keys with dots, Go templates keep them nested.
fn file_params(ctx: &Ctx, prefix: &str, file: &str) -> Result<Vec<Params>, String> {
    let bytes = ctx
        .repo
        .read(file)
        .ok_or_else(|| format!("cannot read {file}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{file} is not UTF-8 text"))?;
    let objects: Vec<Map<String, Value>> = if text.trim().is_empty() {
        vec![Map::new()]
    } else {
        match serde_saphyr::from_str::<Value>(&text) {
            Ok(Value::Null) => vec![Map::new()],
            Ok(Value::Object(o)) => vec![o],
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::Object(o) => Ok(o),
                    _ => Err(format!("{file}: a list element is not a mapping")),
                })
                .collect::<Result<_, _>>()?,
            Ok(_) => return Err(format!("{file}: not a mapping or a list of mappings")),
            Err(e) => {
                return Err(format!(
                    "{file}: {}",
                    crate::manifest::yaml_error_summary(&e)
                ));
            }
        }
    };
    let dir = go_dir(file);
    let mut out = Vec::new();
    for obj in objects {
        let mut params = if ctx.mode.go {
            obj
        } else {
            let mut flat = Map::new();
            flatten("", &Value::Object(obj), &mut flat);
            flat
        };
        for (k, v) in path_params(ctx, prefix, &dir, Some(file)) {
            params.insert(k, v);
        }
        out.push(params);
    }
    Ok(out)
}

/// Nested keys joined with `.`, list indexes as keys, leaves as Go's `%v` prints them.
fn flatten(prefix: &str, v: &Value, out: &mut Params) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), Value::String(go_sprint(leaf)));
        }
    }
}

/// A YAML scalar as Argo CD prints it: files are read through JSON, so every number is a
/// float64 and `%v` writes it with the shortest digits, switching to an exponent from 1e+06
/// (an account ID of 12 digits becomes `1.23456789012e+11`).
fn go_sprint(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0)),
        other => other.to_string(),
    }
}

fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// Argo CD docs, "Matrix Generator" (Generators-Matrix.md): exactly two child generators; every
/// parameter set of the first is combined with every set the second generates for it.
fn matrix(ctx: &mut Ctx, body: &Value, depth: usize) -> Result<Option<Vec<Params>>, String> {
    let children = body
        .get("generators")
        .and_then(Value::as_array)
        .ok_or("matrix generator has no generators")?;
    if children.len() != 2 {
        return Err(format!(
            "matrix generator needs exactly two child generators, found {}",
            children.len()
        ));
    }
    let Some(first) = generate_child(ctx, &children[0], depth + 1, None)? else {
        ctx.skipped
            .push("matrix generator: a child generator was skipped; skipped whole".into());
        return Ok(None);
    };
    let mut out = Vec::new();
    for a in &first {
        let Some(second) = generate_child(ctx, &children[1], depth + 1, Some(a))? else {
            ctx.skipped
                .push("matrix generator: a child generator was skipped; skipped whole".into());
            return Ok(None);
        };
        for b in second {
            if ctx.mode.go {
                // Go templates: the first child's values win; nested maps are combined.
                out.push(match fill(Value::Object(a.clone()), &Value::Object(b)) {
                    Value::Object(m) => m,
                    _ => unreachable!("objects fill into an object"),
                });
            } else {
                // fasttemplate: a parameter both children set must agree.
                let mut m = a.clone();
                for (k, v) in b {
                    match m.get(&k) {
                        Some(existing) if *existing != v => {
                            return Err(format!(
                                "matrix generator: both children set parameter {k} ({} and {})",
                                existing, v
                            ));
                        }
                        _ => {
                            m.insert(k, v);
                        }
                    }
                }
                out.push(m);
            }
        }
    }
    Ok(Some(out))
}

/// Argo CD docs, "Merge Generator" (Generators-Merge.md): the first child is the base; a later
/// child's parameter set whose `mergeKeys` values equal a base set's overrides that set's
/// parameters; sets that match no base set are dropped; each later child must be unique by the
/// merge keys.
fn merge(ctx: &mut Ctx, body: &Value, depth: usize) -> Result<Option<Vec<Params>>, String> {
    let children = body
        .get("generators")
        .and_then(Value::as_array)
        .ok_or("merge generator has no generators")?;
    if children.len() < 2 {
        return Err("merge generator needs two or more child generators".into());
    }
    let keys: Vec<&str> = body
        .get("mergeKeys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if keys.is_empty() {
        return Err("merge generator has no mergeKeys".into());
    }
    let key_of = |p: &Params| -> String {
        let k: Map<String, Value> = keys
            .iter()
            .map(|k| (k.to_string(), p.get(*k).cloned().unwrap_or(Value::Null)))
            .collect();
        Value::Object(k).to_string()
    };
    let mut sets = Vec::new();
    for child in children {
        match generate_child(ctx, child, depth + 1, None)? {
            Some(p) => sets.push(p),
            None => {
                ctx.skipped
                    .push("merge generator: a child generator was skipped; skipped whole".into());
                return Ok(None);
            }
        }
    }
    let mut base = sets.remove(0);
    for (i, others) in sets.into_iter().enumerate() {
        let mut seen = HashSet::new();
        let mut by_key = std::collections::HashMap::new();
        for p in others {
            let k = key_of(&p);
            if !seen.insert(k.clone()) {
                return Err(format!(
                    "merge generator: child {} is not unique by mergeKeys: {k}",
                    i + 2
                ));
            }
            by_key.insert(k, p);
        }
        for b in base.iter_mut() {
            if let Some(o) = by_key.get(&key_of(b)) {
                if ctx.mode.go {
                    if let Value::Object(m) =
                        override_with(Value::Object(std::mem::take(b)), &Value::Object(o.clone()))
                    {
                        *b = m;
                    }
                } else {
                    for (k, v) in o {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
    // Argo CD returns the merged sets in map order (random); the base order is kept here.
    Ok(Some(base))
}

#[cfg(test)]
pub(crate) fn go_float_for_tests(f: f64) -> String {
    go_float(f)
}
