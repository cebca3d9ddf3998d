//! `gitops-promote action`: the GitHub Actions entry. Reads the runner's environment, inputs and
//! event, renders the PR's diff and publishes it as a sticky comment, job summary and outputs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::comment::Mode;
use crate::config::{ActionInputs, CommentMode, RunnerEnv};
use crate::engine;
use crate::event::{self, Event, IssueCommentEvent};
use crate::gha::{Annotation, AnnotationBudget, Level, Runner};
use crate::git::Repo;
use crate::github::{GitHub, RetryPolicy};
use crate::model::short;
use crate::model::{OverlayStatus, Report};
use crate::promote::flow::{Promoter, Settings};

use crate::kustomize::KUSTOMIZATION_FILES;

use crate::report::{json, markdown};
use crate::risk::Severity;

/// How the step ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    /// Builds failed and `fail-on-error` is set.
    Failed,
}

/// Everything a run needs from the runner, resolved once.
struct Run {
    env: RunnerEnv,
    /// The workflow run's page, whose job summary holds the full report.
    run_url: String,
    inputs: ActionInputs,
    runner: Runner,
    /// Whether the PR code this run may render is trusted; decides the build args allowed.
    trust: event::Trust,
}

pub(crate) async fn run() -> anyhow::Result<Outcome> {
    let runner = Runner::from_env();
    let mut inputs = ActionInputs::from_env().context("reading the action's inputs")?;
    runner.mask(inputs.github_token.expose_secret());
    let env = RunnerEnv::from_env().context("reading the runner's environment")?;
    // Relative to the workspace, like every other path a workflow passes in.
    if let Some(dir) = inputs.cache.as_mut() {
        *dir = env.workspace.join(&*dir);
    }
    inputs
        .apps
        .repo_url
        .get_or_insert_with(|| env.repository_url());
    inputs.apps.default_branch = default_branch(&env.event_path);
    let event = event::load(&env.event_name, &env.event_path)?;
    if !matches!(event, Event::PullRequest(_)) {
        let input = if inputs.shard.is_some() {
            Some("shard")
        } else if !inputs.merge_reports.is_empty() {
            Some("merge-reports")
        } else {
            None
        };
        if let Some(input) = input {
            anyhow::bail!(
                "input `{input}`: only pull_request runs are sharded, and this run is for '{}'; \
                 set it only in the jobs of a sharded pull_request run",
                env.event_name
            );
        }
    }
    let trust = event::trust(&env.event_name, &event);
    let run_url = env.run_url();
    let ctx = Run {
        env,
        run_url,
        inputs,
        runner,
        trust,
    };
    match event {
        Event::PullRequest(pr) if pr.should_run() => {
            let target = PrTarget {
                number: pr.number,
                head_sha: pr.pull_request.head.sha.clone(),
                base_ref: pr.pull_request.base.ref_.clone(),
                triggered_for: Some(ctx.env.sha.clone()),
            };
            Ok(pull_request(&ctx, &target).await?.0)
        }
        Event::Push(push) => on_push(&ctx, &push).await,
        Event::IssueComment(comment) => issue_comment(&ctx, &comment).await,
        Event::WorkflowDispatch(_) if let Some(n) = ctx.inputs.pr_number => {
            Ok(promotion(&ctx, Trigger::Pr(n)).await?.0)
        }
        Event::PullRequest(pr) => {
            ctx.runner.info(&format!(
                "Nothing to do for pull_request action '{}': only opened, synchronize, reopened, \
                 ready_for_review and a base-branch edit change what the PR deploys.",
                pr.action
            ));
            Ok(Outcome::Success)
        }
        _ => {
            ctx.runner.notice(Annotation::message(format!(
                "gitops-promote has nothing to do on '{}' events; run it on pull_request.",
                ctx.env.event_name
            )));
            Ok(Outcome::Success)
        }
    }
}

/// A push to the source branch promotes what it merged; a push to an Image Updater branch
/// opens or updates that branch's PR; other pushes have nothing to do. With a render cache,
/// every push to a branch then renders the branch into it.
async fn on_push(ctx: &Run, push: &crate::event::PushEvent) -> anyhow::Result<Outcome> {
    if push.deleted {
        ctx.runner
            .info(&format!("{} was deleted; nothing to do.", push.ref_));
        return Ok(Outcome::Success);
    }
    let outcome = push_work(ctx, push).await;
    if ctx.inputs.cache.is_some()
        && let Some(branch) = push.ref_.strip_prefix("refs/heads/")
    {
        warm_cache(ctx, branch).await;
    }
    outcome
}

/// Fills the render cache with every render of the pushed commit, so that the next PR into
/// `branch` (whose base is this commit) reads its base side instead of building it. Renders
/// the cache already holds are read, not built: only overlays whose inputs changed build.
/// Best effort: a failure is a warning, never the step's.
async fn warm_cache(ctx: &Run, branch: &str) {
    ctx.runner
        .group(&format!("Rendering {branch} into the render cache"));
    let warmed = warm(ctx, branch).await;
    ctx.runner.end_group();
    match warmed {
        Ok(line) => ctx.runner.info(&line),
        Err(e) => ctx.runner.warning(Annotation::message(format!(
            "Could not render {branch} into the render cache (the next PRs into it build their \
             base side): {e:#}"
        ))),
    }
}

async fn warm(ctx: &Run, branch: &str) -> anyhow::Result<String> {
    let repo = Repo::open(&ctx.env.workspace.join(&ctx.inputs.working_directory))?;
    let commit = git2::Oid::from_str(&ctx.env.sha)
        .with_context(|| format!("GITHUB_SHA {:?} is not a commit id", ctx.env.sha))?;
    // The pushed commit against itself: every overlay renders once, as a PR's base side would.
    let mut options = ctx
        .inputs
        .builds()
        .diff_options(repo.path(), commit, commit)?;
    options.all = true;
    // What a PR into this branch renders by application.
    options.apps.branch = Some(branch.to_string());
    let report = engine::run(&options, &crate::processes::Processes).await?;
    Ok(format!(
        "Render cache for {branch} at {}: {} ({} kustomize builds).",
        short(&ctx.env.sha),
        report
            .stats
            .cache()
            .map_or_else(|| "no cache".to_string(), ToString::to_string),
        report.stats.builds()
    ))
}

/// The push's own work: a promotion, an Image Updater PR, or nothing.
async fn push_work(ctx: &Run, push: &crate::event::PushEvent) -> anyhow::Result<Outcome> {
    let source = ctx.inputs.promotion.source_branch();
    let branch = push.ref_.strip_prefix("refs/heads/");
    match branch {
        Some(b) if b == source => Ok(promotion(ctx, Trigger::Push(push)).await?.0),
        Some(b) if ctx.inputs.image_updates.is_image_update_branch(b) => image_update(ctx, b).await,
        _ => {
            ctx.runner.info(&format!(
                "Push to {} is neither to the source branch {source} nor to a branch matching \
                 image-update-branches ({}); nothing to do.",
                push.ref_,
                if ctx.inputs.image_updates.branches.is_empty() {
                    "not set".to_string()
                } else {
                    ctx.inputs.image_updates.branches.join(", ")
                }
            ));
            Ok(Outcome::Success)
        }
    }
}

/// Opens or updates the PR of a branch Argo CD Image Updater pushed, with its rendered diff.
async fn image_update(ctx: &Run, branch: &str) -> anyhow::Result<Outcome> {
    let promoter = promoter(ctx)?;
    let target = &ctx.inputs.image_updates.target;
    ctx.runner
        .group(&format!("Rendering {branch} against {target}"));
    let result = promoter.image_update(branch, target).await;
    ctx.runner.end_group();
    let (pr, report) = result?;
    ctx.runner.set_output(
        "image-update-pr",
        pr.as_ref().map(|p| p.url.as_str()).unwrap_or(""),
    )?;
    ctx.runner
        .set_output("has-changes", &report.has_changes().to_string())?;
    set_image_changes(ctx, &report)?;
    if ctx.inputs.summary {
        let line = match &pr {
            Some(pr) if pr.opened => {
                format!("Opened {} for {}.\n\n", pr.url, markdown::code_span(branch))
            }
            Some(pr) => format!(
                "Updated {} for {}.\n\n",
                pr.url,
                markdown::code_span(branch)
            ),
            None => format!(
                "{} is already merged into {}.\n\n",
                markdown::code_span(branch),
                markdown::code_span(target)
            ),
        };
        ctx.runner.append_summary(&format!(
            "## Image update\n\n{line}{}",
            markdown::render(&report)
        ))?;
    }
    annotate_errors(ctx, promoter.repo.path(), &report);
    if report.has_errors() && ctx.inputs.fail_on_error {
        ctx.runner
            .info("Failing the step: some overlays did not build (fail-on-error: true).");
        return Ok(Outcome::Failed);
    }
    Ok(Outcome::Success)
}

/// What a promotion run promotes.
enum Trigger<'a> {
    /// The PRs a push to the source branch merged.
    Push(&'a crate::event::PushEvent),
    /// One merged PR, again (`workflow_dispatch`, `/promote`).
    Pr(u64),
}

/// Promotes what a push to the source branch merged (or one PR, from `workflow_dispatch` or
/// `/promote`), then reports the promotions and the drift between the branches.
async fn promotion(
    ctx: &Run,
    trigger: Trigger<'_>,
) -> anyhow::Result<(Outcome, Vec<crate::promote::flow::Promoted>)> {
    let promoter = promoter(ctx)?;
    let results = match trigger {
        Trigger::Push(push) => promoter.on_push(push).await?,
        Trigger::Pr(n) => vec![promoter.promote_pr(n).await?],
    };
    let conflict = results.iter().any(|r| r.conflict);
    ctx.runner
        .set_output("promotion-prs", &serde_json::to_string(&results)?)?;
    ctx.runner.set_output("conflict", &conflict.to_string())?;
    if ctx.inputs.summary {
        let mut summary = String::from("## Promotions\n\n");
        if results.is_empty() {
            summary.push_str("Nothing was promoted by this run.\n");
        }
        for r in &results {
            summary.push_str(&format!("- #{}: {}\n", r.source, r.describe()));
        }
        ctx.runner.append_summary(&summary)?;
        match promoter.drift_summary().await {
            Ok(drift) => ctx.runner.append_summary(&drift)?,
            Err(e) => ctx.runner.warning(Annotation::message(format!(
                "Could not render the drift between the branches: {e:#}"
            ))),
        }
    }
    if conflict && ctx.inputs.fail_on_conflict {
        ctx.runner.error(Annotation::message(
            "A promotion conflicts; its draft PR lists the files and the steps to finish it (fail-on-conflict: true).".to_string(),
        ));
        return Ok((Outcome::Failed, results));
    }
    Ok((Outcome::Success, results))
}

/// The pair of commits a PR run compares, and how they were chosen.
struct Comparison {
    base: git2::Oid,
    head: git2::Oid,
    base_label: String,
    head_label: String,
    /// Set when GitHub had no test-merge commit and the merge base was used instead.
    note: Option<String>,
}

/// The PR a diff run renders: from a `pull_request` payload, or fetched for `/diff`.
struct PrTarget {
    number: u64,
    head_sha: String,
    base_ref: String,
    /// The commit the workflow run was started for, when it was started for this PR.
    triggered_for: Option<String>,
}

/// Renders a PR and publishes the result; returns how the step ends and the comment's URL.
async fn pull_request(ctx: &Run, pr: &PrTarget) -> anyhow::Result<(Outcome, Option<String>)> {
    let number = pr.number;
    let repo_dir = ctx.env.workspace.join(&ctx.inputs.working_directory);
    let repo = Repo::open(&repo_dir)?;

    ctx.runner.group(&format!("Fetching PR #{number}"));
    let comparison = fetch_and_choose(ctx, &repo, pr);
    ctx.runner.end_group();
    let comparison = comparison?;

    let mut options =
        ctx.inputs
            .builds()
            .diff_options(repo.path(), comparison.base, comparison.head)?;
    if let event::Trust::Untrusted(why) = &ctx.trust {
        options.untrusted = Some(why.clone());
    }
    // Applications that deploy from the PR's base branch are what this PR changes.
    options.apps.branch = Some(pr.base_ref.clone());
    // A PR into the production branch changes production: its removals are production removals.
    options.risks.production.all |= pr.base_ref == ctx.inputs.promotion.target_branch();
    if let Some(shard) = ctx.inputs.shard {
        options.shard = Some(shard);
        return Ok((shard_run(ctx, number, &options, &comparison).await?, None));
    }
    let mut report = if ctx.inputs.merge_reports.is_empty() {
        ctx.runner.group("Rendering overlays");
        let report = engine::run(&options, &crate::processes::Processes).await?;
        ctx.runner.end_group();
        if let Some(cache) = report.stats.cache() {
            ctx.runner.info(&format!("Render cache: {cache}."));
        }
        report
    } else {
        merge_partials(ctx, &comparison)?
    };
    report.base.name = comparison.base_label.clone();
    report.head.name = comparison.head_label.clone();

    let full_markdown = with_note(&markdown::render(&report), comparison.note.as_deref());
    let report_file = write_reports(ctx, number, &full_markdown, &report)?;
    if ctx.inputs.summary {
        ctx.runner.append_summary(&full_markdown)?;
    }
    annotate_errors(ctx, repo.path(), &report);
    annotate_risks(ctx, repo.path(), &report);

    let comment_url = match ctx.inputs.comment_mode {
        CommentMode::Off => None,
        CommentMode::Update | CommentMode::Recreate => {
            publish(
                ctx,
                number,
                &pr.head_sha,
                &report,
                comparison.note.as_deref(),
            )
            .await?
        }
    };

    // Several applications may deploy one overlay; each overlay is named once.
    let mut affected: Vec<&str> = Vec::new();
    for path in report.shown().map(|o| o.path.as_str()) {
        if !affected.contains(&path) {
            affected.push(path);
        }
    }
    ctx.runner
        .set_output("has-changes", &report.has_changes().to_string())?;
    ctx.runner
        .set_output("affected-overlays", &serde_json::to_string(&affected)?)?;
    set_image_changes(ctx, &report)?;
    ctx.runner
        .set_output("risks", &serde_json::to_string(&json::risks(&report))?)?;
    ctx.runner
        .set_output("report-file", &report_file.to_string_lossy())?;
    ctx.runner
        .set_output("comment-url", comment_url.as_deref().unwrap_or(""))?;

    if report.has_errors() && ctx.inputs.fail_on_error {
        ctx.runner
            .info("Failing the step: some overlays did not build (fail-on-error: true).");
        return Ok((Outcome::Failed, comment_url));
    }
    if let Some(level) = ctx
        .inputs
        .risk_level
        .filter(|l| report.has_risks_at(Some(*l)))
    {
        let word = match level {
            Severity::High => "high",
            Severity::Medium => "any",
        };
        ctx.runner.error(Annotation::message(format!(
            "Failing the step: the change has risks the reviewers must accept (risk-level: {word}); see the Risks block of the report."
        )));
        return Ok((Outcome::Failed, comment_url));
    }
    Ok((Outcome::Success, comment_url))
}

/// Renders this shard's part of the PR and writes its partial report for the job that runs
/// `merge-reports`. Posts nothing and does not fail for an overlay that does not build: the
/// merge job reports every overlay, this shard's failures with the rest.
async fn shard_run(
    ctx: &Run,
    number: u64,
    options: &engine::DiffOptions,
    comparison: &Comparison,
) -> anyhow::Result<Outcome> {
    let shard = options.shard.expect("a shard run has a shard");
    ctx.runner.group(&format!("Rendering shard {shard}"));
    let partial = engine::run_partial(options, &crate::processes::Processes).await;
    ctx.runner.end_group();
    let mut partial = partial?;
    // The merge job names them the same; set here too, so the file reads right on its own.
    partial.report.base.name = comparison.base_label.clone();
    partial.report.head.name = comparison.head_label.clone();
    let dir = ctx.env.runner_temp.join("gitops-promote");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!(
        "partial-{}-{}of{}.json",
        ctx.inputs.comment_id, shard.index, shard.count
    ));
    std::fs::write(&path, partial.to_json())
        .with_context(|| format!("writing {}", path.display()))?;
    ctx.runner
        .set_output("partial-report", &path.to_string_lossy())?;

    let owned: Vec<&crate::model::OverlayDiff> = partial
        .owners
        .iter()
        .zip(&partial.report.overlays)
        .filter(|(owner, _)| **owner == shard.index)
        .map(|(_, overlay)| overlay)
        .collect();
    let affected = partial.owners.iter().filter(|o| **o != 0).count();
    let failed = owned
        .iter()
        .filter(|o| o.status == OverlayStatus::Error)
        .count();
    let mut line = format!(
        "PR #{number}, shard {shard}: built {} of the {affected} affected overlays \
         ({} kustomize builds",
        owned.len(),
        partial.report.stats.builds()
    );
    if let Some(cache) = partial.report.stats.cache() {
        line.push_str(&format!("; render cache: {cache}"));
    }
    line.push(')');
    if failed > 0 {
        line.push_str(&format!(
            "; {failed} did not build, which the merge job reports"
        ));
    }
    line.push('.');
    ctx.runner.info(&line);
    if ctx.inputs.summary {
        ctx.runner.append_summary(&format!("{line}\n"))?;
    }
    Ok(Outcome::Success)
}

/// Joins the shards' partial reports (`merge-reports`) into the report one job would have
/// made, after checking that each compares what this run compares. A shard with no report
/// shows as its overlays failing ("not compared"). With a render cache, the shards' build
/// times are recorded there for the next run's balancing.
fn merge_partials(ctx: &Run, comparison: &Comparison) -> anyhow::Result<Report> {
    let patterns = &ctx.inputs.merge_reports;
    let files = partial_report_files(&ctx.env.workspace, patterns)?;
    if files.is_empty() {
        anyhow::bail!(
            "input `merge-reports`: no file matches {}; were the shards' partial reports \
             downloaded to where these look?",
            patterns.join(", ")
        );
    }
    let (base, head) = (comparison.base.to_string(), comparison.head.to_string());
    let mut inputs = Vec::new();
    for file in files {
        let (name, read) = crate::shard::Partial::read(&file);
        if let Ok(partial) = &read
            && (partial.report.base.sha != base || partial.report.head.sha != head)
        {
            anyhow::bail!(
                "input `merge-reports`: {name} compares {}..{}, but this run compares {}..{} \
                 (the PR or its base moved on between the shard jobs and this one); run the \
                 whole workflow again",
                short(&partial.report.base.sha),
                short(&partial.report.head.sha),
                short(&base),
                short(&head)
            );
        }
        inputs.push((name, read));
    }
    let merged = crate::shard::merge(inputs).context("input `merge-reports`")?;
    for warning in &merged.warnings {
        ctx.runner.warning(Annotation::message(warning.clone()));
    }
    if let Some(settings) = ctx.inputs.builds().cache {
        let recorded = crate::cache::RenderCache::open(settings)
            .map_err(anyhow::Error::new)
            .and_then(|cache| {
                cache.record_times(&merged.times)?;
                // The shards' new renders were added beside the restored ones: keep the cap.
                cache.evict()?;
                Ok(())
            });
        if let Err(e) = recorded {
            ctx.runner.warning(Annotation::message(format!(
                "Could not record the shards' build times in the render cache (the next run \
                 balances its shards by size): {e:#}"
            )));
        }
    }
    Ok(merged.report)
}

/// The files `patterns` name (newline-separated `merge-reports`), relative to `base` unless
/// absolute, sorted and each once. A pattern without glob characters names one file, kept even
/// when missing so the merge says it cannot be read; a glob matches the files below its
/// leading directories that hold none (`*` stays within a directory, `**` crosses them).
fn partial_report_files(base: &Path, patterns: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = std::collections::BTreeSet::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        let is_glob = |part: &str| part.contains(['*', '?', '[', '{']);
        let parts: Vec<&str> = pattern.split('/').collect();
        let Some(first_glob) = parts.iter().position(|p| is_glob(p)) else {
            files.insert(base.join(path));
            continue;
        };
        let fixed = parts[..first_glob].join("/");
        let root = if fixed.is_empty() && pattern.starts_with('/') {
            PathBuf::from("/")
        } else {
            base.join(&fixed)
        };
        let rest = parts[first_glob..].join("/");
        let matcher = globset::GlobBuilder::new(&rest)
            .literal_separator(true)
            .build()
            .map_err(|e| anyhow::anyhow!("input `merge-reports`: '{pattern}': {}", e.kind()))?
            .compile_matcher();
        // `**` may reach any depth (within reason); otherwise one level per part.
        let depth = if rest.contains("**") {
            32
        } else {
            parts.len() - first_glob
        };
        let found = walkdir::WalkDir::new(&root)
            .min_depth(1)
            .max_depth(depth)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|entry| !entry.file_type().is_dir());
        for entry in found {
            if let Ok(relative) = entry.path().strip_prefix(&root)
                && matcher.is_match(relative)
            {
                files.insert(entry.into_path());
            }
        }
    }
    Ok(files.into_iter().collect())
}

/// Fetches what actions/checkout left out and decides what to compare: the test-merge commit
/// against its first parent (the base exactly as GitHub merged it), else merge base vs head.
fn fetch_and_choose(ctx: &Run, repo: &Repo, pr: &PrTarget) -> anyhow::Result<Comparison> {
    let n = pr.number;
    let url = ctx.env.clone_url();
    let token = Some(&ctx.inputs.github_token);
    let ns = format!("refs/gitops-promote/pull/{n}");
    let merge_ref = format!("{ns}/merge");
    // Depth 2 brings the merge commit and both parents' trees: all a diff needs.
    let merge_fetch = repo.fetch(
        &url,
        token,
        &[format!("+refs/pull/{n}/merge:{merge_ref}")],
        Some(2),
    );
    if let Err(e) = &merge_fetch {
        ctx.runner
            .info(&format!("No test-merge commit fetched: {e}"));
    }
    let merge = repo.find_ref(&merge_ref).filter(|oid| is_merge(repo, *oid));
    if let Some(merge) = merge {
        if let Some(triggered) = &pr.triggered_for
            && merge.to_string() != *triggered
        {
            ctx.runner.info(&format!(
                "refs/pull/{n}/merge is {} while this run was triggered for {}; comparing the newer merge.",
                short(&merge.to_string()),
                short(triggered)
            ));
        }
        return Ok(Comparison {
            base: repo.first_parent(merge)?,
            head: merge,
            base_label: pr.base_ref.clone(),
            head_label: format!("#{n} merged into {}", pr.base_ref),
            note: None,
        });
    }

    // No merge commit: GitHub could not merge the PR (conflicts). Compare like `git diff A...B`.
    let base_ref = format!("{ns}/base");
    let head_ref = format!("{ns}/head");
    let (base, head) = repo
        .fetch_until_merge_base(
            &url,
            token,
            (
                &format!("refs/heads/{}", pr.base_ref),
                &format!("refs/pull/{n}/head"),
            ),
            (&base_ref, &head_ref),
        )?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "PR #{n}: no merge commit and no merge base between {} and the PR head",
                pr.base_ref
            )
        })?;
    Ok(Comparison {
        base,
        head,
        base_label: format!("merge base with {}", pr.base_ref),
        head_label: format!("#{n} head"),
        note: Some(format!(
            "> [!NOTE]\n> GitHub has no test-merge commit for this PR (it likely has conflicts with \
             {base}), so this compares the PR head with its merge base. Changes that reached {base} \
             since then are not taken into account.",
            base = markdown::code_span(&pr.base_ref)
        )),
    })
}

fn is_merge(repo: &Repo, oid: git2::Oid) -> bool {
    repo.git2()
        .find_commit(oid)
        .is_ok_and(|c| c.parent_count() == 2)
}

/// The `image-changes` output: what a later step (a chat notification, a deploy log) needs.
fn set_image_changes(ctx: &Run, report: &Report) -> anyhow::Result<()> {
    ctx.runner.set_output(
        "image-changes",
        &serde_json::to_string(&image_changes(report))?,
    )
}

fn image_changes(report: &Report) -> Vec<serde_json::Value> {
    report
        .overlays
        .iter()
        .flat_map(|o| {
            o.images.iter().map(|i| {
                let mut change = serde_json::json!({"overlay": o.path, "image": i.image, "old": i.old, "new": i.new});
                // In a report by application, several applications may deploy one overlay.
                if let Some(app) = &o.application {
                    change["application"] = serde_json::json!(app.name);
                }
                change
            })
        })
        .collect()
}

fn with_note(markdown: &str, note: Option<&str>) -> String {
    match note {
        Some(note) => format!("{note}\n\n{markdown}"),
        None => markdown.to_string(),
    }
}

/// Writes the markdown and JSON reports under RUNNER_TEMP; returns the markdown file's path.
fn write_reports(
    ctx: &Run,
    number: u64,
    markdown: &str,
    report: &Report,
) -> anyhow::Result<PathBuf> {
    let dir = ctx.env.runner_temp.join("gitops-promote");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!("pr-{number}-{}", ctx.inputs.comment_id);
    let md = dir.join(format!("{stem}.md"));
    std::fs::write(&md, markdown).with_context(|| format!("writing {}", md.display()))?;
    let js = dir.join(format!("{stem}.json"));
    std::fs::write(&js, json::render(report))
        .with_context(|| format!("writing {}", js.display()))?;
    Ok(md)
}

fn annotate_errors(ctx: &Run, repo: &Path, report: &Report) {
    let mut budget = AnnotationBudget::per_step(&ctx.runner, Level::Error);
    for overlay in report
        .overlays
        .iter()
        .filter(|o| o.status == OverlayStatus::Error)
    {
        let message: String = overlay
            .error
            .as_deref()
            .unwrap_or("build failed")
            .chars()
            .take(2_000)
            .collect();
        budget.add(Annotation {
            title: Some(format!("kustomize build failed: {}", overlay.path)),
            file: Some(kustomization_file(repo, &overlay.path)),
            line: None,
            message,
        });
    }
    budget.finish();
}

/// The repository's default branch as the event payload names it (what an application's
/// `targetRevision: HEAD` deploys from).
fn default_branch(event_path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(event_path).ok()?;
    let event: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(
        event
            .pointer("/repository/default_branch")?
            .as_str()?
            .to_string(),
    )
}

/// One warning per risk on the overlay's kustomization, so the PR's Files view shows it where
/// the change is made.
fn annotate_risks(ctx: &Run, repo: &Path, report: &Report) {
    let mut budget = AnnotationBudget::per_step(&ctx.runner, Level::Warning);
    for (overlay, finding) in report.risks() {
        budget.add(Annotation {
            title: Some(format!(
                "{} risk ({}): {}",
                finding.severity().as_str(),
                finding.rule.id(),
                finding.resource()
            )),
            file: Some(kustomization_file(repo, &overlay.path)),
            line: None,
            message: format!("{}: {}", overlay.path, finding.message),
        });
    }
    budget.finish();
}

/// The overlay's kustomization file as the checkout names it, so the annotation links to it.
fn kustomization_file(repo: &Path, overlay: &str) -> String {
    let name = KUSTOMIZATION_FILES
        .iter()
        .find(|name| repo.join(overlay).join(name).is_file())
        .unwrap_or(&KUSTOMIZATION_FILES[0]);
    if overlay == "." {
        name.to_string()
    } else {
        format!("{overlay}/{name}")
    }
}

fn sticky_for_pr<'a>(ctx: &'a Run, number: u64, head_sha: &'a str) -> crate::publish::Sticky<'a> {
    crate::publish::Sticky {
        number,
        head_sha,
        id: &ctx.inputs.comment_id,
        mode: match ctx.inputs.comment_mode {
            CommentMode::Recreate => Mode::Recreate {
                hide_outdated: ctx.inputs.hide_outdated,
            },
            _ => Mode::Update,
        },
        max_parts: ctx.inputs.max_comments,
        on_no_changes: ctx.inputs.comment_on_no_changes,
        run_url: Some(&ctx.run_url),
    }
}

/// The API client for the run's repository, with the step's token.
fn github_client(ctx: &Run) -> anyhow::Result<GitHub> {
    GitHub::new(
        &ctx.env.api_url,
        &ctx.env.graphql_url,
        &ctx.env.repository,
        &ctx.inputs.github_token,
        RetryPolicy::default(),
    )
}

/// The promotion flow configured from the action's inputs, logging to the runner.
fn promoter(ctx: &Run) -> anyhow::Result<Promoter<'_>> {
    let repo = Repo::open(&ctx.env.workspace.join(&ctx.inputs.working_directory))?;
    let github = github_client(ctx)?;
    Promoter::new(
        Settings {
            promotion: ctx.inputs.promotion.clone(),
            builds: ctx.inputs.builds(),
            token: ctx.inputs.github_token.clone(),
            clone_url: ctx.env.clone_url(),
            comment_id: ctx.inputs.comment_id.clone(),
            max_comments: ctx.inputs.max_comments,
            run_url: Some(ctx.run_url.clone()),
            dry_run: false,
        },
        repo,
        github,
        &ctx.runner,
    )
}

async fn publish(
    ctx: &Run,
    number: u64,
    head_sha: &str,
    report: &Report,
    note: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let github = github_client(ctx)?;
    crate::publish::publish_report(
        &ctx.runner,
        &github,
        &sticky_for_pr(ctx, number, head_sha),
        report,
        note,
    )
    .await
}

/// Runs a ChatOps command from a PR comment: acknowledged with a reaction, allowed only for
/// users with write access, answered with one reply per command comment (edited on re-runs).
async fn issue_comment(ctx: &Run, event: &IssueCommentEvent) -> anyhow::Result<Outcome> {
    use crate::chatops::{self, Parsed};
    if event.action != "created" {
        ctx.runner.info(&format!(
            "Comment {}: only new comments run commands.",
            event.action
        ));
        return Ok(Outcome::Success);
    }
    if event.issue.pull_request.is_none() {
        ctx.runner
            .info("The comment is on an issue, not a pull request; nothing to do.");
        return Ok(Outcome::Success);
    }
    // Our own replies start with their marker line, so they never parse as a command.
    let request = match chatops::parse(&event.comment.body) {
        Parsed::NotACommand => {
            ctx.runner
                .info("The comment holds no gitops-promote command; nothing to do.");
            return Ok(Outcome::Success);
        }
        Parsed::Command(command) => Ok(command),
        Parsed::Invalid(reply) => Err(reply),
    };
    let github = github_client(ctx)?;
    let number = event.issue.number;
    let comment_id = event.comment.id;
    let login = &event.comment.user.login;
    let reply = |text: String| {
        let github = &github;
        async move {
            let body = format!("@{login} {text}");
            if ctx.inputs.summary {
                ctx.runner
                    .append_summary(&format!("## ChatOps on #{number}\n\n{body}\n"))?;
            }
            crate::publish::publish_note(
                &ctx.runner,
                github,
                number,
                &format!("chatops-{comment_id}"),
                &body,
            )
            .await
        }
    };
    let react = |content: &'static str| {
        let github = &github;
        async move {
            if let Err(e) = github.add_reaction(comment_id, content).await {
                ctx.runner.warning(Annotation::message(format!(
                    "Could not react to comment {comment_id}: {e}"
                )));
            }
        }
    };
    react("eyes").await;

    let permission = github
        .collaborator_permission(login)
        .await
        .with_context(|| format!("checking {login}'s permission on {}", ctx.env.repository))?;
    if !permission.can_write() {
        ctx.runner.notice(Annotation::message(format!(
            "{login} ({} access) may not run gitops-promote commands; nothing was changed.",
            permission.permission
        )));
        reply(format!(
            "only people with write or admin access to this repository can run gitops-promote \
             commands (you have {} access), so nothing was changed.",
            permission.permission
        ))
        .await?;
        react("-1").await;
        return Ok(Outcome::Success);
    }
    let command = match request {
        Ok(command) => command,
        Err(text) => {
            reply(text).await?;
            react("confused").await;
            return Ok(Outcome::Success);
        }
    };
    ctx.runner
        .info(&format!("{login} asked for `{command}` on #{number}."));
    match run_command(ctx, &github, event, &command).await {
        Ok(Answer::Done(outcome, text)) => {
            reply(format!("`{command}`: {text}")).await?;
            react(if outcome == Outcome::Success {
                "rocket"
            } else {
                "confused"
            })
            .await;
            Ok(outcome)
        }
        // The commenter's mistake, not the workflow's: answered, and the step succeeds.
        Ok(Answer::Refused(text)) => {
            reply(text).await?;
            react("confused").await;
            Ok(Outcome::Success)
        }
        Err(e) => {
            // The error can quote file names and build output from the PR: a fence keeps it text.
            reply(format!(
                "{} failed:\n\n{}",
                markdown::code_span(&command.to_string()),
                markdown::fenced("text", &format!("{e:#}"))
            ))
            .await?;
            react("confused").await;
            ctx.runner
                .error(Annotation::message(format!("`{command}` failed: {e:#}")));
            Ok(Outcome::Failed)
        }
    }
}

/// How an allowed command ended.
enum Answer {
    /// How the step ends, and the reply.
    Done(Outcome, String),
    /// Not done as asked (e.g. the PR's branch cannot be a tag prefix); the reply says why.
    Refused(String),
}

/// Runs one allowed command.
async fn run_command(
    ctx: &Run,
    github: &crate::github::GitHub,
    event: &IssueCommentEvent,
    command: &crate::chatops::Command,
) -> anyhow::Result<Answer> {
    use crate::argocd::allow_tags;
    use crate::chatops::{self, Command, Deploy, DeployRequest};
    let number = event.issue.number;
    match command {
        Command::Diff => {
            let pull = github.pull(number).await?;
            if !pull.is_open() {
                anyhow::bail!("#{number} is closed; only open PRs are rendered");
            }
            let target = PrTarget {
                number,
                head_sha: pull.head.sha.clone(),
                base_ref: pull.base.ref_name.clone(),
                triggered_for: None,
            };
            let (outcome, url) = pull_request(ctx, &target).await?;
            let text = match url {
                Some(url) => format!("rendered `{}` again: {url}", short(&pull.head.sha)),
                None => format!(
                    "rendered `{}` again; there was nothing to comment (see the job summary)",
                    short(&pull.head.sha)
                ),
            };
            Ok(Answer::Done(outcome, text))
        }
        Command::Promote => {
            let (outcome, results) = promotion(ctx, Trigger::Pr(number)).await?;
            let text = match results.first() {
                Some(r) => r.describe(),
                None => "nothing to promote".to_string(),
            };
            Ok(Answer::Done(outcome, text))
        }
        Command::Deploy(deploy) => {
            let settings = &ctx.inputs.image_updates;
            let Some(file) = settings.deploy_branch_target.as_deref() else {
                anyhow::bail!(
                    "this repository has not set the `deploy-branch-target` input (the file \
                     holding the Argo CD Application or ImageUpdater whose allow-tags filter to \
                     change)"
                );
            };
            let value = match deploy {
                Deploy::Reset => settings.deploy_branch_default.clone(),
                Deploy::Branch(Some(name)) => allow_tags::branch_filter(name),
                Deploy::Branch(None) => {
                    let pull = github.pull(number).await?;
                    let name = &pull.head.ref_name;
                    if let Err(reason) = allow_tags::validate_branch(name) {
                        return Ok(Answer::Refused(chatops::refusal(&reason)));
                    }
                    allow_tags::branch_filter(name)
                }
            };
            let repo = Repo::open(&ctx.env.workspace.join(&ctx.inputs.working_directory))?;
            let request = DeployRequest {
                repo: &repo,
                url: &ctx.env.clone_url(),
                token: Some(&ctx.inputs.github_token),
                branch: ctx.inputs.promotion.source_branch(),
                file,
                value: &value,
                command,
                login: &event.comment.user.login,
                comment_id: event.comment.id,
                comment_url: event.comment.html_url.as_deref(),
                committer: &ctx.inputs.promotion.committer,
                repository_url: &ctx.env.repository_url(),
            };
            let text = chatops::deploy(&request, |message| ctx.runner.info(message))?;
            Ok(Answer::Done(Outcome::Success, text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OverlayDiff, Revision, Stats};
    use gitops_promote_core::images::ImageChange;

    #[test]
    fn annotations_point_at_the_kustomization_file_the_overlay_has() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("overlays/prod")).unwrap();
        std::fs::write(repo.path().join("overlays/prod/kustomization.yml"), "").unwrap();
        assert_eq!(
            kustomization_file(repo.path(), "overlays/prod"),
            "overlays/prod/kustomization.yml"
        );
        // A removed overlay has no file left; the usual name still points at the right place.
        assert_eq!(
            kustomization_file(repo.path(), "overlays/gone"),
            "overlays/gone/kustomization.yaml"
        );
        assert_eq!(kustomization_file(repo.path(), "."), "kustomization.yaml");
    }

    #[test]
    fn merge_reports_patterns_name_files_and_globs_below_their_fixed_directories() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        for file in [
            "shards/a/partial-default-1of2.json",
            "shards/b/partial-default-2of2.json",
            "shards/partial-default-9of9.json",
            "shards/a/deeper/partial-x.json",
            "shards/a/notes.txt",
        ] {
            let path = base.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}").unwrap();
        }
        let found = |patterns: &[&str]| -> Vec<String> {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            partial_report_files(base, &patterns)
                .unwrap()
                .iter()
                .map(|p| p.strip_prefix(base).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            found(&["shards/*/partial-*.json"]),
            [
                "shards/a/partial-default-1of2.json",
                "shards/b/partial-default-2of2.json"
            ]
        );
        assert_eq!(
            found(&["shards/**/*.json"]),
            [
                "shards/a/deeper/partial-x.json",
                "shards/a/partial-default-1of2.json",
                "shards/b/partial-default-2of2.json",
                "shards/partial-default-9of9.json"
            ]
        );
        // A plain path is kept as given, missing or not, and each file is listed once.
        assert_eq!(
            found(&[
                "shards/missing.json",
                "shards/*.json",
                "shards/partial-default-9of9.json"
            ]),
            ["shards/missing.json", "shards/partial-default-9of9.json"]
        );
        // An absolute glob ignores the workspace.
        let absolute = format!("{}/shards/b/*.json", base.display());
        let other = tempfile::tempdir().unwrap();
        assert_eq!(
            partial_report_files(other.path(), &[absolute]).unwrap(),
            [base.join("shards/b/partial-default-2of2.json")]
        );
        assert!(found(&["nowhere/*.json"]).is_empty());
    }

    #[test]
    fn a_note_goes_above_the_report() {
        assert_eq!(with_note("report", None), "report");
        assert_eq!(with_note("report", Some("note")), "note\n\nreport");
    }

    #[test]
    fn image_changes_list_every_overlay_s_images() {
        let overlay = |path: &str, images: Vec<ImageChange>| OverlayDiff {
            images,
            ..OverlayDiff::new(path, OverlayStatus::Changed)
        };
        let revision = |name: &str| Revision {
            name: name.to_string(),
            sha: "0".repeat(40),
        };
        let report = Report {
            base: revision("master"),
            head: revision("develop"),
            merge_base: false,
            overlays: vec![
                overlay("a", Vec::new()),
                overlay(
                    "b",
                    vec![ImageChange {
                        image: "ghcr.io/acme/api".to_string(),
                        old: Some("1.0".to_string()),
                        new: Some("1.1".to_string()),
                        containers: vec!["Deployment api (container app)".to_string()],
                    }],
                ),
            ],
            applications: None,
            filters: Default::default(),
            stats: Stats::default(),
        };
        assert_eq!(
            serde_json::to_string(&image_changes(&report)).unwrap(),
            r#"[{"overlay":"b","image":"ghcr.io/acme/api","old":"1.0","new":"1.1"}]"#
        );
    }
}
