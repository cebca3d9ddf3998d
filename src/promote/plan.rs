//! The promotion PR as plain data: branch, title, body, labels and people, built from the source
//! PR and the cherry-pick's result. No git or network here, so the text is testable on its own.

use std::fmt::Write;

use regex::Regex;

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
    SourceReviewers,
}

/// Settings from the action's inputs that shape the PR.
#[derive(Debug, Clone)]
pub struct Templates {
    pub source_branch: String,
    pub target_branch: String,
    pub branch: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub copy_labels: Option<Regex>,
    pub draft: bool,
}

pub const DEFAULT_BRANCH_TEMPLATE: &str = "promote/{target}/pr-{number}";
pub const DEFAULT_TITLE_TEMPLATE: &str = "[{target}] {title}";
pub const DEFAULT_BODY_TEMPLATE: &str = "\
Promotes {source_link} by @{author} from `{source}` to `{target}`.

{commits}
{excluded}{conflicts}";
/// Added to a promotion PR whose cherry-pick conflicted.
pub const CONFLICT_LABEL: &str = "conflict";

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
    pub files: Vec<String>,
    pub excluded: Vec<String>,
}

impl Templates {
    pub fn plan(
        &self,
        source: &SourcePr,
        pick: &PickSummary,
        excluded: &[String],
    ) -> PromotionPlan {
        let vars = |text: &str| {
            text.replace("{target}", &self.target_branch)
                .replace("{source}", &self.source_branch)
                .replace("{number}", &source.number.to_string())
                .replace("{author}", &source.author)
                .replace("{title}", &source.title)
        };
        let branch = vars(&self.branch);
        let (files, conflict) = match pick {
            PickSummary::Clean { files } => (files.clone(), false),
            PickSummary::Conflict { files } => (files.clone(), true),
        };
        let body = vars(&self.body)
            .replace(
                "{source_link}",
                &format!("[#{}]({})", source.number, source.url),
            )
            .replace("{commits}", &commit_list(source))
            .replace("{excluded}", &excluded_list(excluded, &self.target_branch))
            .replace(
                "{conflicts}",
                &if conflict {
                    conflict_help(&files, &branch, source, &self.target_branch)
                } else {
                    String::new()
                },
            );
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
            title: vars(&self.title),
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

fn commit_list(source: &SourcePr) -> String {
    let how = match source.merge_kind {
        MergeKind::Merge => "merge commit, picked against its first parent",
        MergeKind::Squash => "squash merge",
        MergeKind::Rebase => "rebase merge, commits picked in order",
    };
    let mut out = format!("Cherry-picked ({how}):\n");
    for (sha, subject) in &source.commits {
        let _ = writeln!(out, "- {} {subject}", &sha[..sha.len().min(12)]);
    }
    out
}

fn excluded_list(excluded: &[String], target: &str) -> String {
    if excluded.is_empty() {
        return String::new();
    }
    let mut out = format!("Not promoted (excluded paths; `{target}` keeps its own version):\n");
    for path in excluded {
        let _ = writeln!(out, "- `{path}`");
    }
    out.push('\n');
    out
}

/// The exact steps to finish a conflicted promotion by hand.
fn conflict_help(files: &[String], branch: &str, source: &SourcePr, target: &str) -> String {
    let mut out = String::from(
        "> [!WARNING]\n> The cherry-pick conflicts. This draft PR holds the conflicted files \
         **with their conflict markers**; nothing was resolved automatically.\n\nConflicted files:\n",
    );
    for file in files {
        let _ = writeln!(out, "- `{file}`");
    }
    let picks: Vec<String> = source
        .commits
        .iter()
        .map(|(sha, _)| match source.merge_kind {
            MergeKind::Merge => format!("git cherry-pick -x -m 1 {sha}"),
            _ => format!("git cherry-pick -x {sha}"),
        })
        .collect();
    let _ = write!(
        out,
        "\nTo redo it by hand:\n\n```sh\ngit fetch origin {target}\ngit switch -C {branch} origin/{target}\n{}\n# resolve, `git add` the files, `git cherry-pick --continue`\ngit push --force-with-lease origin {branch}\n```\n",
        picks.join("\n")
    );
    out
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
