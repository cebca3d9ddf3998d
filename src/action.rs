//! `gitops-promote action`: the GitHub Actions entry. Reads the runner's environment, inputs and
//! event, renders the PR's diff and publishes it as a sticky comment, job summary and outputs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::comment::Mode;
use crate::config::{ActionInputs, CommentMode, RunnerEnv};
use crate::diff::{OverlayStatus, Report};
use crate::engine::{self, DiffOptions, short};
use crate::event::{self, Event, PullRequestEvent};
use crate::gha::{Annotation, AnnotationBudget, Level, Runner};
use crate::git::Repo;

use crate::kustomize::{KUSTOMIZATION_FILES, KustomizeCommand};

use crate::report::{json, markdown};

/// How the step ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Builds failed and `fail-on-error` is set.
    Failed,
}

/// Everything a run needs from the runner, resolved once.
struct Run {
    env: RunnerEnv,
    inputs: ActionInputs,
    runner: Runner,
}

pub async fn run() -> anyhow::Result<Outcome> {
    let runner = Runner::from_env();
    let inputs = ActionInputs::from_env().context("reading the action's inputs")?;
    runner.mask(inputs.github_token.expose_secret());
    let env = RunnerEnv::from_env().context("reading the runner's environment")?;
    let event = event::load(&env.event_name, &env.event_path)?;
    let ctx = Run {
        env,
        inputs,
        runner,
    };
    match event {
        Event::PullRequest(pr) if pr.should_run() => pull_request(&ctx, &pr).await,
        Event::Push(push) => promotion(&ctx, Some(&push), None).await,
        Event::WorkflowDispatch(_) if ctx.inputs.promotion.pr_number.is_some() => {
            promotion(&ctx, None, ctx.inputs.promotion.pr_number).await
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

/// Promotes what a push to the source branch merged (or one PR, from `workflow_dispatch`), then
/// reports the promotions and the drift between the branches.
async fn promotion(
    ctx: &Run,
    push: Option<&crate::event::PushEvent>,
    pr_number: Option<u64>,
) -> anyhow::Result<Outcome> {
    use crate::promote::flow::Promoter;
    let source = &ctx.inputs.promotion.source_branch;
    if let Some(push) = push
        && push.ref_ != format!("refs/heads/{source}")
    {
        ctx.runner.info(&format!(
            "Push to {} is not to the source branch {source}; nothing to promote.",
            push.ref_
        ));
        return Ok(Outcome::Success);
    }
    let promoter = Promoter::new(&ctx.runner, &ctx.env, &ctx.inputs)?;
    let results = match (push, pr_number) {
        (Some(push), _) => promoter.on_push(push).await?,
        (None, Some(n)) => vec![promoter.promote_pr(n).await?],
        (None, None) => Vec::new(),
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
            let line = match (&r.url, &r.skipped) {
                (_, Some(reason)) => format!("- #{}: not promoted, {reason}\n", r.source),
                (Some(url), None) if r.conflict => {
                    format!("- #{}: **conflict**, see {url}\n", r.source)
                }
                (Some(url), None) => format!("- #{}: {url}\n", r.source),
                (None, None) => format!("- #{}: already promoted\n", r.source),
            };
            summary.push_str(&line);
        }
        ctx.runner.append_summary(&summary)?;
        match promoter.drift_summary().await {
            Ok(drift) => ctx.runner.append_summary(&drift)?,
            Err(e) => ctx.runner.warning(Annotation::message(format!(
                "Could not render the drift between the branches: {e:#}"
            ))),
        }
    }
    if conflict && ctx.inputs.promotion.fail_on_conflict {
        ctx.runner.error(Annotation::message(
            "A promotion conflicts; its draft PR lists the files and the steps to finish it (fail-on-conflict: true).".to_string(),
        ));
        return Ok(Outcome::Failed);
    }
    Ok(Outcome::Success)
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

async fn pull_request(ctx: &Run, event: &PullRequestEvent) -> anyhow::Result<Outcome> {
    let pr = &event.pull_request;
    let number = event.number;
    let repo_dir = ctx.env.workspace.join(&ctx.inputs.working_directory);
    let repo = Repo::open(&repo_dir)?;

    ctx.runner.group(&format!("Fetching PR #{number}"));
    let comparison = fetch_and_choose(ctx, &repo, event);
    ctx.runner.end_group();
    let comparison = comparison?;

    let options = diff_options(&ctx.inputs, repo.path(), comparison.base, comparison.head)?;
    ctx.runner.group("Rendering overlays");
    let mut report = engine::run(&options).await?;
    ctx.runner.end_group();
    report.base.name = comparison.base_label.clone();
    report.head.name = comparison.head_label.clone();

    let full_markdown = with_note(&markdown::render(&report), comparison.note.as_deref());
    let report_file = write_reports(ctx, number, &full_markdown, &report)?;
    if ctx.inputs.summary {
        ctx.runner.append_summary(&full_markdown)?;
    }
    annotate_errors(ctx, repo.path(), &report);

    let comment_url = match ctx.inputs.comment_mode {
        CommentMode::Off => None,
        CommentMode::Update | CommentMode::Recreate => {
            publish(
                ctx,
                number,
                &pr.head.sha,
                &report,
                comparison.note.as_deref(),
            )
            .await?
        }
    };

    let affected: Vec<&str> = report
        .overlays
        .iter()
        .filter(|o| o.status != OverlayStatus::Unchanged)
        .map(|o| o.path.as_str())
        .collect();
    ctx.runner
        .set_output("has-changes", &report.has_changes().to_string())?;
    ctx.runner
        .set_output("affected-overlays", &serde_json::to_string(&affected)?)?;
    ctx.runner
        .set_output("report-file", &report_file.to_string_lossy())?;
    ctx.runner
        .set_output("comment-url", comment_url.as_deref().unwrap_or(""))?;

    if report.has_errors() && ctx.inputs.fail_on_error {
        ctx.runner
            .info("Failing the step: some overlays did not build (fail-on-error: true).");
        return Ok(Outcome::Failed);
    }
    Ok(Outcome::Success)
}

/// Fetches what actions/checkout left out and decides what to compare: the test-merge commit
/// against its first parent (the base exactly as GitHub merged it), else merge base vs head.
fn fetch_and_choose(
    ctx: &Run,
    repo: &Repo,
    event: &PullRequestEvent,
) -> anyhow::Result<Comparison> {
    let pr = &event.pull_request;
    let n = event.number;
    let url = format!(
        "{}/{}.git",
        ctx.env.server_url.trim_end_matches('/'),
        ctx.env.repository
    );
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
        if merge.to_string() != ctx.env.sha {
            ctx.runner.info(&format!(
                "refs/pull/{n}/merge is {} while this run was triggered for {}; comparing the newer merge.",
                short(&merge.to_string()),
                short(&ctx.env.sha)
            ));
        }
        return Ok(Comparison {
            base: repo.first_parent(merge)?,
            head: merge,
            base_label: pr.base.ref_.clone(),
            head_label: format!("#{n} merged into {}", pr.base.ref_),
            note: None,
        });
    }

    // No merge commit: GitHub could not merge the PR (conflicts). Compare like `git diff A...B`.
    let base_ref = format!("{ns}/base");
    let head_ref = format!("{ns}/head");
    let refspecs = [
        format!("+refs/heads/{}:{base_ref}", pr.base.ref_),
        format!("+refs/pull/{n}/head:{head_ref}"),
    ];
    let mut merge_base = None;
    for depth in [Some(50), Some(i32::MAX)] {
        repo.fetch(&url, token, &refspecs, depth)?;
        let (base, head) = (repo.find_ref(&base_ref), repo.find_ref(&head_ref));
        let (Some(base), Some(head)) = (base, head) else {
            anyhow::bail!(
                "fetching {} from {url} did not create the refs",
                refspecs.join(" ")
            );
        };
        if let Ok(found) = repo.merge_base(base, head) {
            merge_base = Some((found, head));
            break;
        }
    }
    let (base, head) = merge_base.ok_or_else(|| {
        anyhow::anyhow!(
            "PR #{n}: no merge commit and no merge base between {} and the PR head",
            pr.base.ref_
        )
    })?;
    Ok(Comparison {
        base,
        head,
        base_label: format!("merge base with {}", pr.base.ref_),
        head_label: format!("#{n} head"),
        note: Some(format!(
            "> [!NOTE]\n> GitHub has no test-merge commit for this PR (it likely has conflicts with \
             `{}`), so this compares the PR head with its merge base. Changes that reached `{}` \
             since then are not taken into account.",
            pr.base.ref_, pr.base.ref_
        )),
    })
}

fn is_merge(repo: &Repo, oid: git2::Oid) -> bool {
    repo.git2()
        .find_commit(oid)
        .is_ok_and(|c| c.parent_count() == 2)
}

/// The diff settings the action's inputs ask for, for one pair of commits. Shared by the PR
/// comment and the promotion's production diff, so both render the same way.
pub(crate) fn diff_options(
    inputs: &ActionInputs,
    repo: &Path,
    base: git2::Oid,
    head: git2::Oid,
) -> anyhow::Result<DiffOptions> {
    let kustomize = match &inputs.kustomize {
        Some(cmd) => {
            KustomizeCommand::parse(cmd).map_err(|e| anyhow::anyhow!("input `kustomize`: {e}"))?
        }
        None => KustomizeCommand::detect(),
    };
    Ok(DiffOptions {
        repo: repo.to_path_buf(),
        base: base.to_string(),
        head: head.to_string(),
        merge_base: false,
        paths: inputs.paths.clone(),
        all: false,
        kustomize,
        build_args: inputs.build_args.clone(),
        jobs: inputs.jobs.unwrap_or_else(engine::default_jobs),
        timeout: Duration::from_secs(inputs.timeout),
        allow_remote: inputs.allow_remote,
        progress: false,
    })
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
    }
}

async fn publish(
    ctx: &Run,
    number: u64,
    head_sha: &str,
    report: &Report,
    note: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let github = crate::publish::client(&ctx.env, &ctx.inputs)?;
    crate::publish::publish_report(
        &ctx.runner,
        &github,
        &ctx.env,
        &sticky_for_pr(ctx, number, head_sha),
        report,
        note,
    )
    .await
}
