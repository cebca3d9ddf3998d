//! The promotion run: find the PRs a push to the source branch merged, cherry-pick each onto the
//! target, push its branch, open or update its PR with the production diff, and tell the source PR.

use anyhow::Context;
use git2::Oid;
use globset::GlobSet;
use serde::Serialize;

use secrecy::SecretString;

use crate::comment::Mode;
use crate::engine::{self, BuildSettings};
use crate::event::PushEvent;
use crate::gha::Log;
use crate::git::Repo;
use crate::git::pick::{NothingReason, PickOptions, PickOutcome};
use crate::github::{GitHub, NewPull, Pull};
use crate::globs::{GlobError, glob_set};
use crate::model::short;
use crate::promote::plan::{MergeKind, PickSummary, PromotionPlan, Reviewers, SourcePr};
use crate::promote::settings::{Assignees, PromotionSettings};
use crate::publish::{self, Sticky};
use crate::report::markdown::{self, code_span};

const SOURCE_REF: &str = "refs/gitops-promote/source";
const TARGET_REF: &str = "refs/gitops-promote/target";

/// One source PR's result, as the `promotion-prs` output lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Promoted {
    pub(crate) source: u64,
    pub(crate) number: Option<u64>,
    pub(crate) url: Option<String>,
    pub(crate) conflict: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) skipped: Option<String>,
}

impl Promoted {
    /// One line for replies and the job summary.
    pub(crate) fn describe(&self) -> String {
        match (&self.url, &self.skipped) {
            (_, Some(reason)) => format!("not promoted: {reason}"),
            (Some(url), None) if self.conflict => format!("the promotion conflicts; see {url}"),
            (Some(url), None) => format!("promoted in {url}"),
            (None, None) => "planned only (dry run)".to_string(),
        }
    }
}

/// The promotion PR of one source PR after this run.
struct PromotionPr {
    number: u64,
    url: String,
    /// The commit its branch points to.
    head: Oid,
    /// Merged before this run: left alone.
    merged: bool,
}

/// What a re-run found on the promotion branch it would rewrite.
enum RemoteBranch {
    /// Not on the server yet.
    Absent,
    /// Only commits this action made on top of the target: ours to rewrite.
    Ours(Oid),
    /// Someone else committed there (a conflict resolved by hand, say); never force-pushed over.
    /// Lists who, as `name <email>`.
    Foreign(Vec<String>),
}

/// The promotion branch cannot be rewritten: someone else has commits on it.
struct HeldBranch {
    committers: Vec<String>,
    pr: Option<Pull>,
}

/// How a promotion run works, whoever configured it: the action from its inputs, the CLI from
/// its flags and the environment.
pub(crate) struct Settings {
    pub(crate) promotion: PromotionSettings,
    /// How production diffs are rendered.
    pub(crate) builds: BuildSettings,
    /// Fetches and pushes with it; never part of a URL or an argument.
    pub(crate) token: SecretString,
    /// Where git fetches and pushes.
    pub(crate) clone_url: String,
    /// The sticky diff comment's id on promotion and Image Updater PRs.
    pub(crate) comment_id: String,
    pub(crate) max_comments: usize,
    /// The workflow run whose job summary holds a full report that a comment had to shorten;
    /// none when run from a terminal, where no run page exists.
    pub(crate) run_url: Option<String>,
    /// Show each plan instead of pushing, opening PRs or commenting.
    pub(crate) dry_run: bool,
}

/// Everything a promotion run talks to.
pub(crate) struct Promoter<'a> {
    pub(super) settings: Settings,
    pub(crate) repo: Repo,
    pub(super) github: GitHub,
    pub(super) log: &'a dyn Log,
    exclude: GlobSet,
}

impl<'a> Promoter<'a> {
    pub(crate) fn new(
        settings: Settings,
        repo: Repo,
        github: GitHub,
        log: &'a dyn Log,
    ) -> anyhow::Result<Self> {
        let exclude = globs(&settings.promotion.exclude_paths)?;
        Ok(Promoter {
            settings,
            repo,
            github,
            log,
            exclude,
        })
    }

    fn source_branch(&self) -> &str {
        self.settings.promotion.source_branch()
    }

    fn target_branch(&self) -> &str {
        self.settings.promotion.target_branch()
    }

    /// Brings the source and target branches' recent history into the object database.
    fn fetch_branches(&self, depth: Option<i32>) -> anyhow::Result<()> {
        let refspecs = [
            format!("+refs/heads/{}:{SOURCE_REF}", self.source_branch()),
            format!("+refs/heads/{}:{TARGET_REF}", self.target_branch()),
        ];
        self.repo.fetch(
            &self.settings.clone_url,
            Some(&self.settings.token),
            &refspecs,
            depth,
        )?;
        Ok(())
    }

    /// Handles a push to the source branch: one promotion per merged PR, in merge order.
    pub(crate) async fn on_push(&self, push: &PushEvent) -> anyhow::Result<Vec<Promoted>> {
        self.fetch_branches(Some(50))?;
        let after = Oid::from_str(&push.after).context("the push event's `after` is not a sha")?;
        let before = Oid::from_str(&push.before)
            .ok()
            .filter(|oid| !oid.is_zero());
        let commits = match self.first_parent_range(before, after) {
            Ok(commits) => commits,
            // The push was longer than the shallow history: get all of it.
            Err(_) => {
                self.fetch_branches(Some(i32::MAX))?;
                self.first_parent_range(before, after)?
            }
        };
        let mut groups: Vec<(Pull, Vec<Oid>)> = Vec::new();
        for commit in commits {
            match self.merged_pull_for(commit).await? {
                Some(pull) => match groups.last_mut() {
                    Some((last, list)) if last.number == pull.number => list.push(commit),
                    _ => groups.push((pull, vec![commit])),
                },
                None => self.log.notice(format!(
                    "Commit {} was pushed to {} without a pull request; not promoted.",
                    short(&commit.to_string()),
                    self.source_branch()
                )),
            }
        }
        let mut results = Vec::new();
        for (pull, commits) in groups {
            results.push(self.promote(&pull, &commits).await?);
        }
        Ok(results)
    }

    /// Handles `workflow_dispatch` / `/promote`: promote one merged PR again.
    pub(crate) async fn promote_pr(&self, number: u64) -> anyhow::Result<Promoted> {
        self.fetch_branches(Some(50))?;
        let pull = self.github.pull(number).await?;
        let Some(merge) = pull
            .merge_commit_sha
            .clone()
            .filter(|_| pull.merged_at.is_some())
        else {
            anyhow::bail!("PR #{number} is not merged; only merged changes are promoted");
        };
        if pull.base.ref_name != self.source_branch() {
            anyhow::bail!(
                "PR #{number} was merged into {}, not {}; only changes merged into {} are promoted",
                pull.base.ref_name,
                self.source_branch(),
                self.source_branch()
            );
        }
        let merge = Oid::from_str(&merge).context("the PR's merge commit is not a sha")?;
        // An older PR's merge lies beyond the shallow history: get all of it.
        if self.repo.git2().find_commit(merge).is_err() {
            self.fetch_branches(Some(i32::MAX))?;
            self.repo.git2().find_commit(merge).map_err(|_| {
                anyhow::anyhow!(
                    "PR #{number}'s merge commit {} is not on {}",
                    short(&merge.to_string()),
                    self.source_branch()
                )
            })?;
        }
        // A rebase merge replays several commits; walk back while they belong to this PR.
        let mut commits = vec![merge];
        let mut cursor = merge;
        while self.repo.git2().find_commit(cursor)?.parent_count() == 1 {
            let parent = self.repo.first_parent(cursor)?;
            match self.merged_pull_for(parent).await? {
                Some(p) if p.number == number => {
                    commits.insert(0, parent);
                    cursor = parent;
                }
                _ => break,
            }
        }
        self.promote(&pull, &commits).await
    }

    /// Commits on the first-parent line in `(before, after]`, oldest first.
    fn first_parent_range(&self, before: Option<Oid>, after: Oid) -> anyhow::Result<Vec<Oid>> {
        let guard = self.repo.git2();
        let repo: &git2::Repository = &guard;
        let mut walk = repo.revwalk()?;
        walk.push(after)?;
        walk.simplify_first_parent()?;
        if let Some(before) = before {
            repo.find_commit(before).with_context(|| {
                format!("the push's base {before} is not in the fetched history")
            })?;
            walk.hide(before)?;
        }
        let mut commits: Vec<Oid> = walk.collect::<Result<_, _>>()?;
        commits.reverse();
        Ok(commits)
    }

    /// The merged PR into the source branch that a commit belongs to.
    async fn merged_pull_for(&self, commit: Oid) -> anyhow::Result<Option<Pull>> {
        let pulls = self.github.pulls_for_commit(&commit.to_string()).await?;
        Ok(pulls
            .into_iter()
            .find(|p| p.merged_at.is_some() && p.base.ref_name == self.source_branch()))
    }

    async fn promote(&self, pull: &Pull, commits: &[Oid]) -> anyhow::Result<Promoted> {
        let n = pull.number;
        let options = &self.settings.promotion;
        let skipped = |reason: String| Promoted {
            source: n,
            number: None,
            url: None,
            conflict: false,
            skipped: Some(reason),
        };
        if let Some(label) = pull
            .labels
            .iter()
            .find(|l| options.skip_labels.contains(&l.name))
        {
            let reason = format!("labelled `{}`", label.name);
            self.tell_source(
                n,
                &format!("Not promoted to `{}`: {reason}.", self.target_branch()),
            )
            .await?;
            return Ok(skipped(reason));
        }
        let target = self
            .repo
            .find_ref(TARGET_REF)
            .with_context(|| format!("branch {} was not fetched", self.target_branch()))?;
        let outcome = self.repo.cherry_pick(
            commits,
            target,
            &PickOptions {
                committer: &options.committer,
                exclude: &self.exclude,
                target_name: Some(self.target_branch()),
            },
        )?;
        let (tip, pick, excluded) = match outcome {
            PickOutcome::Nothing { reason, excluded } => {
                let reason = match reason {
                    NothingReason::AllExcluded => format!(
                        "it only touches paths excluded from promotion ({})",
                        excluded.join(", ")
                    ),
                    NothingReason::AlreadyInTarget => {
                        format!("`{}` already has this change", self.target_branch())
                    }
                };
                self.tell_source(
                    n,
                    &format!("Not promoted to `{}`: {reason}.", self.target_branch()),
                )
                .await?;
                return Ok(skipped(reason));
            }
            PickOutcome::Picked { tip, excluded, .. } => {
                let files = self.changed_between(target, tip)?;
                (tip, PickSummary::Clean { files }, excluded)
            }
            PickOutcome::Conflict {
                tip,
                conflicted,
                excluded,
            } => (tip, PickSummary::Conflict { files: conflicted }, excluded),
        };
        let source = self.source_pr(pull, commits)?;
        let plan = options.templates.plan(&source, &pick, &excluded);
        if self.settings.dry_run {
            self.log.show(&plan.to_text());
            return Ok(Promoted {
                source: n,
                number: None,
                url: None,
                conflict: plan.conflict,
                skipped: None,
            });
        }
        self.log.info(&plan.to_text());

        let pr = match self.open_or_update(&plan, pull, tip).await? {
            Ok(pr) => pr,
            Err(held) => return self.leave_held_branch(&plan, held).await,
        };
        let url = &pr.url;
        let link = if pr.merged {
            format!("Already promoted to `{}` in {url}.", self.target_branch())
        } else {
            self.post_production_diff(pr.number, target, pr.head)
                .await?;
            if plan.conflict {
                format!(
                    "The promotion to `{}` conflicts: {url} is a draft with the conflict markers \
                     committed and the steps to finish it by hand.",
                    self.target_branch()
                )
            } else {
                format!("Promoted to `{}` in {url}.", self.target_branch())
            }
        };
        self.tell_source(n, &link).await?;
        Ok(Promoted {
            source: n,
            number: Some(pr.number),
            url: Some(pr.url),
            conflict: plan.conflict && !pr.merged,
            skipped: None,
        })
    }

    /// Opens a PR, or updates the open one `existing` names; `decorate` runs on a new one only.
    /// Returns the PR and whether this call opened it.
    pub(crate) async fn write_pull(
        &self,
        existing: Option<Pull>,
        new: &NewPull,
    ) -> anyhow::Result<(Pull, bool)> {
        Ok(match existing.filter(|p| p.is_open()) {
            Some(pr) => (
                self.github
                    .update_pull(pr.number, &new.title, &new.body)
                    .await?,
                false,
            ),
            None => (self.github.create_pull(new).await?, true),
        })
    }

    /// Pushes the branch and opens or updates its PR; a merged one is left alone, and so is a
    /// branch someone else committed to (`Err`).
    async fn open_or_update(
        &self,
        plan: &PromotionPlan,
        source: &Pull,
        tip: Oid,
    ) -> anyhow::Result<Result<PromotionPr, HeldBranch>> {
        let token = Some(&self.settings.token);
        let existing = self
            .github
            .find_pull_by_head(&plan.branch, &plan.base)
            .await?;
        if let Some(pr) = existing.as_ref().filter(|p| p.merged_at.is_some()) {
            self.log.info(&format!(
                "#{} was already promoted in #{}; nothing to do.",
                plan.source, pr.number
            ));
            return Ok(Ok(PromotionPr {
                number: pr.number,
                url: pr.html_url.clone(),
                head: tip,
                merged: true,
            }));
        }
        let remote_tip = match self.remote_branch(plan)? {
            RemoteBranch::Foreign(committers) => {
                return Ok(Err(HeldBranch {
                    committers,
                    pr: existing.filter(|p| p.is_open()),
                }));
            }
            RemoteBranch::Ours(remote) => Some(remote),
            RemoteBranch::Absent => None,
        };
        // Re-runs push only when the content differs, so reviews are not reset for nothing.
        let head = match remote_tip {
            Some(remote) if self.repo.same_tree(remote, tip)? => remote,
            _ => {
                self.repo
                    .push(&self.settings.clone_url, token, tip, &plan.branch, true)
                    .with_context(|| format!("pushing {}", plan.branch))?;
                tip
            }
        };
        let new = NewPull {
            title: plan.title.clone(),
            head: plan.branch.clone(),
            base: plan.base.clone(),
            body: plan.body.clone(),
            draft: plan.draft,
        };
        let (pr, opened) = self.write_pull(existing, &new).await?;
        if opened {
            self.decorate(&pr, plan, source).await;
        }
        Ok(Ok(PromotionPr {
            number: pr.number,
            url: pr.html_url,
            head,
            merged: false,
        }))
    }

    /// The promotion branch as the server has it, and whether this action may rewrite it: every
    /// commit on it that the target does not have must be committed by our committer identity.
    /// A branch whose history never meets the target's is not ours either.
    fn remote_branch(&self, plan: &PromotionPlan) -> anyhow::Result<RemoteBranch> {
        // How far back a promotion branch is read; ours hold one commit per picked commit.
        const MAX_COMMITS: usize = 1_000;
        let token = Some(&self.settings.token);
        let remote_ref = format!("refs/gitops-promote/promotion/{}", plan.source);
        let base_ref = format!("refs/gitops-promote/promotion-base/{}", plan.source);
        let fetched = self.repo.fetch_until_merge_base(
            &self.settings.clone_url,
            token,
            (
                &format!("refs/heads/{}", plan.base),
                &format!("refs/heads/{}", plan.branch),
            ),
            (&base_ref, &remote_ref),
        );
        let (remote, base) = match fetched {
            Err(e) => {
                self.log
                    .info(&format!("{} is not on the server yet ({e:#})", plan.branch));
                return Ok(RemoteBranch::Absent);
            }
            Ok(None) => {
                return Ok(RemoteBranch::Foreign(vec![format!(
                    "a history unrelated to {}",
                    plan.base
                )]));
            }
            Ok(Some((_, remote))) => (
                remote,
                self.repo
                    .find_ref(&base_ref)
                    .context("the target branch was fetched but its ref is missing")?,
            ),
        };
        let ours = &self.settings.promotion.committer;
        let repo = self.repo.git2();
        let mut walk = repo.revwalk()?;
        walk.push(remote)?;
        walk.hide(base)?;
        let mut foreign: Vec<String> = Vec::new();
        for (i, oid) in walk.enumerate() {
            if i >= MAX_COMMITS {
                foreign.push(format!("more than {MAX_COMMITS} commits"));
                break;
            }
            let commit = repo.find_commit(oid?)?;
            let committer = commit.committer();
            let name = String::from_utf8_lossy(committer.name_bytes());
            let email = String::from_utf8_lossy(committer.email_bytes());
            let same = name == ours.name && email.eq_ignore_ascii_case(&ours.email);
            let who = format!("{name} <{email}>");
            if !same && !foreign.contains(&who) {
                foreign.push(who);
            }
        }
        Ok(if foreign.is_empty() {
            RemoteBranch::Ours(remote)
        } else {
            RemoteBranch::Foreign(foreign)
        })
    }

    /// Says on the source PR, in the log and in the outputs why its promotion branch was not
    /// rewritten, and how to go on.
    async fn leave_held_branch(
        &self,
        plan: &PromotionPlan,
        held: HeldBranch,
    ) -> anyhow::Result<Promoted> {
        // Names and emails are whatever the committers configured: shown as code, never as
        // markdown or mentions, and without line breaks in the log.
        let plain: Vec<String> = held
            .committers
            .iter()
            .map(|c| markdown::one_line(c))
            .collect();
        let (pr_plain, pr_link) = match &held.pr {
            Some(pr) => (
                format!("merge or close #{}", pr.number),
                format!("merge or close {}", pr.html_url),
            ),
            None => (
                "push no more to it".to_string(),
                "push no more to it".to_string(),
            ),
        };
        let reason = format!(
            "{} has commits this action did not make (by {}), so it was not overwritten; \
             {pr_plain} and re-run the promotion, or delete the branch to have it rebuilt",
            plan.branch,
            plain.join(", ")
        );
        self.log.warning(format!("#{}: {reason}.", plan.source));
        let who: Vec<String> = plain.iter().map(|c| code_span(c)).collect();
        self.tell_source(
            plan.source,
            &format!(
                "Not promoted to {}: {} has commits this action did not make (by {}), so it was \
                 not overwritten. To promote again, {pr_link} and re-run the promotion, or \
                 delete the branch to have it rebuilt from scratch.",
                code_span(self.target_branch()),
                code_span(&plan.branch),
                who.join(", ")
            ),
        )
        .await?;
        Ok(Promoted {
            source: plan.source,
            number: held.pr.as_ref().map(|p| p.number),
            url: held.pr.map(|p| p.html_url),
            conflict: false,
            skipped: Some(reason),
        })
    }

    /// Labels, assignees and reviewers. Each is a nicety: a failure warns, the PR stands.
    async fn decorate(&self, pr: &Pull, plan: &PromotionPlan, source: &Pull) {
        let options = &self.settings.promotion;
        let author = source.author().map(str::to_string);
        let assignees: Vec<String> = match &options.assignees {
            Assignees::None => Vec::new(),
            Assignees::Author => author.clone().into_iter().collect(),
            Assignees::Users(users) => users.clone(),
        };
        let reviewers: Vec<String> = match options.reviewers {
            Reviewers::None => Vec::new(),
            Reviewers::Author => author.into_iter().collect(),
            Reviewers::FromSource => self
                .github
                .reviewers_of(source.number)
                .await
                .unwrap_or_default(),
        };
        let mut problems = Vec::new();
        if !plan.labels.is_empty()
            && let Err(e) = self.github.add_labels(pr.number, &plan.labels).await
        {
            problems.push(e.to_string());
        }
        if !assignees.is_empty()
            && let Err(e) = self.github.add_assignees(pr.number, &assignees).await
        {
            problems.push(e.to_string());
        }
        if !reviewers.is_empty()
            && let Err(e) = self.github.request_reviewers(pr.number, &reviewers).await
        {
            problems.push(e.to_string());
        }
        for problem in problems {
            self.log
                .warning(format!("Promotion PR #{}: {problem}", pr.number));
        }
    }

    /// A PR opened with GITHUB_TOKEN starts no workflow, so the production diff is posted here.
    async fn post_production_diff(
        &self,
        number: u64,
        target: Oid,
        head: Oid,
    ) -> anyhow::Result<()> {
        let report = self
            .render(
                (target, self.target_branch()),
                (head, &format!("#{number}")),
            )
            .await?;
        self.publish_diff(number, head, &report).await
    }

    /// Keeps `report` as the sticky diff comment of a PR this run opened or updated, whose
    /// branch points at `head`. Said even when nothing changed: the PR exists to be reviewed.
    pub(crate) async fn publish_diff(
        &self,
        number: u64,
        head: Oid,
        report: &crate::model::Report,
    ) -> anyhow::Result<()> {
        let head_sha = head.to_string();
        publish::publish_report(
            self.log,
            &self.github,
            &Sticky {
                number,
                head_sha: &head_sha,
                id: &self.settings.comment_id,
                mode: Mode::Update,
                max_parts: self.settings.max_comments,
                on_no_changes: true,
                run_url: self.settings.run_url.as_deref(),
            },
            report,
            None,
        )
        .await?;
        Ok(())
    }

    /// Renders `base..head` with the action's build settings; the labels name the two sides
    /// in the report.
    pub(crate) async fn render(
        &self,
        (base, base_label): (Oid, &str),
        (head, head_label): (Oid, &str),
    ) -> anyhow::Result<crate::model::Report> {
        let mut options = self
            .settings
            .builds
            .diff_options(self.repo.path(), base, head)?;
        // The target branch deploys production: removals there are production removals.
        options.risks.production.all |= base_label == self.target_branch();
        // What the applications deploying from the base branch will sync once this merges.
        options.apps.branch = Some(base_label.to_string());
        let mut report = engine::run(&options, &crate::processes::Processes).await?;
        report.base.name = base_label.to_string();
        report.head.name = head_label.to_string();
        Ok(report)
    }

    /// What staging runs that production does not yet: the job summary of every push run.
    pub(crate) async fn drift_summary(&self) -> anyhow::Result<String> {
        let (Some(target), Some(source)) = (
            self.repo.find_ref(TARGET_REF),
            self.repo.find_ref(SOURCE_REF),
        ) else {
            anyhow::bail!("the source and target branches were not fetched");
        };
        let report = self
            .render(
                (target, self.target_branch()),
                (source, self.source_branch()),
            )
            .await?;
        Ok(format!(
            "## Pending promotions: `{}` → `{}`\n\n{}",
            self.source_branch(),
            self.target_branch(),
            markdown::render(&report)
        ))
    }

    async fn tell_source(&self, number: u64, text: &str) -> anyhow::Result<()> {
        if self.settings.dry_run {
            self.log.show(&format!("#{number}: {text}\n"));
            return Ok(());
        }
        let id = format!("promotion-{}", self.target_branch().replace('/', "-"));
        publish::publish_note(self.log, &self.github, number, &id, text).await?;
        Ok(())
    }

    fn changed_between(&self, a: Oid, b: Oid) -> anyhow::Result<Vec<String>> {
        let before = self.repo.snapshot(a)?;
        let after = self.repo.snapshot(b)?;
        Ok(before.changed_paths(&after))
    }

    fn source_pr(&self, pull: &Pull, commits: &[Oid]) -> anyhow::Result<SourcePr> {
        let guard = self.repo.git2();
        let repo: &git2::Repository = &guard;
        let mut listed = Vec::new();
        for oid in commits {
            let commit = repo.find_commit(*oid)?;
            listed.push((
                oid.to_string(),
                commit
                    .summary()
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .to_string(),
            ));
        }
        let merge_kind = match commits {
            [one] if repo.find_commit(*one)?.parent_count() > 1 => MergeKind::Merge,
            [_] => MergeKind::Squash,
            _ => MergeKind::Rebase,
        };
        Ok(SourcePr {
            number: pull.number,
            title: pull.title.clone(),
            url: pull.html_url.clone(),
            author: pull.author().unwrap_or("ghost").to_string(),
            labels: pull.labels.iter().map(|l| l.name.clone()).collect(),
            commits: listed,
            merge_kind,
        })
    }
}

fn globs(patterns: &[String]) -> anyhow::Result<GlobSet> {
    glob_set(patterns.iter().map(String::as_str), false).map_err(|e| match e {
        GlobError::Pattern { index, error } => anyhow::anyhow!(
            "input `exclude-paths`: invalid glob '{}': {error}",
            patterns[index]
        ),
        GlobError::Set(e) => anyhow::anyhow!("input `exclude-paths`: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_promotion_result_reads_as_one_line() {
        let promoted = |url: Option<&str>, conflict: bool, skipped: Option<&str>| Promoted {
            source: 7,
            number: url.map(|_| 8),
            url: url.map(str::to_string),
            conflict,
            skipped: skipped.map(str::to_string),
        };
        let url = Some("https://github.com/acme/gitops/pull/8");
        assert_eq!(
            promoted(url, false, None).describe(),
            "promoted in https://github.com/acme/gitops/pull/8"
        );
        assert_eq!(
            promoted(url, true, None).describe(),
            "the promotion conflicts; see https://github.com/acme/gitops/pull/8"
        );
        assert_eq!(
            promoted(None, false, Some("labelled `no-promote`")).describe(),
            "not promoted: labelled `no-promote`"
        );
        assert_eq!(
            promoted(None, false, None).describe(),
            "planned only (dry run)"
        );
    }

    #[test]
    fn excluded_paths_are_globs_and_a_bad_one_names_the_input() {
        let set = globs(&["overlays/staging/**".to_string()]).unwrap();
        assert!(set.is_match("overlays/staging/app/kustomization.yaml"));
        assert!(!set.is_match("overlays/production/kustomization.yaml"));
        let error = globs(&["[".to_string()]).unwrap_err().to_string();
        assert!(
            error.starts_with("input `exclude-paths`: invalid glob '['"),
            "{error}"
        );
    }
}
