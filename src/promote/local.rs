//! `gitops-promote promote --pr N` from a terminal: the same promotion the action runs on push,
//! configured from flags and the environment instead of a runner.

use anyhow::Context;

use crate::cli::PromoteArgs;
use crate::config::{ActionInputs, RunnerEnv};
use crate::gha::Runner;
use crate::git::Repo;
use crate::promote::flow::Promoter;

/// Returns whether the promotion went through without a conflict.
pub async fn run(args: &PromoteArgs) -> anyhow::Result<bool> {
    let token = std::env::var("GITHUB_TOKEN")
        .or_else(|_| std::env::var("GH_TOKEN"))
        .context("set GITHUB_TOKEN (or GH_TOKEN) to a token that can read the repository's pull requests")?;
    let repo = Repo::open(&args.repo)?;
    let slug = match args
        .github_repo
        .clone()
        .or_else(|| std::env::var("GITHUB_REPOSITORY").ok())
    {
        Some(slug) => slug,
        None => origin_slug(&repo)?,
    };
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let env = RunnerEnv::from_iter([
        (
            "GITHUB_EVENT_NAME".to_string(),
            "workflow_dispatch".to_string(),
        ),
        ("GITHUB_EVENT_PATH".to_string(), "/dev/null".to_string()),
        ("GITHUB_REPOSITORY".to_string(), slug),
        (
            "GITHUB_WORKSPACE".to_string(),
            repo.path().to_string_lossy().into_owned(),
        ),
        (
            "GITHUB_SHA".to_string(),
            "0000000000000000000000000000000000000000".to_string(),
        ),
        ("GITHUB_RUN_ID".to_string(), "0".to_string()),
        (
            "GITHUB_API_URL".to_string(),
            var("GITHUB_API_URL", "https://api.github.com"),
        ),
        (
            "GITHUB_SERVER_URL".to_string(),
            var("GITHUB_SERVER_URL", "https://github.com"),
        ),
        (
            "GITHUB_GRAPHQL_URL".to_string(),
            var("GITHUB_GRAPHQL_URL", "https://api.github.com/graphql"),
        ),
    ])?;
    let inputs = ActionInputs::from_iter([
        ("INPUT_GITHUB_TOKEN".to_string(), token),
        (
            "INPUT_SOURCE_BRANCH".to_string(),
            args.source_branch.clone(),
        ),
        (
            "INPUT_TARGET_BRANCH".to_string(),
            args.target_branch.clone(),
        ),
        (
            "INPUT_EXCLUDE_PATHS".to_string(),
            args.exclude_paths.join("\n"),
        ),
    ])?;
    // Outside a runner there is no GITHUB_OUTPUT: runner messages go to the terminal.
    let runner = Runner::from_env();
    let mut promoter = Promoter::new(&runner, &env, &inputs)?;
    promoter.dry_run = args.dry_run;
    let result = promoter.promote_pr(args.pr).await?;
    if let Some(url) = &result.url {
        println!("#{}: {url}", result.source);
    }
    Ok(!result.conflict)
}

/// `owner/name` from the `origin` remote's URL (https or ssh form).
fn origin_slug(repo: &Repo) -> anyhow::Result<String> {
    let git = repo.git2();
    let remote = git.find_remote("origin").context(
        "no --github-repo, no GITHUB_REPOSITORY and no `origin` remote to take owner/name from",
    )?;
    let url = remote
        .url()
        .map_err(|_| anyhow::anyhow!("the origin URL is not UTF-8"))?;
    let path = url
        .rsplit_once(':')
        .filter(|_| !url.contains("://"))
        .map(|(_, path)| path)
        .unwrap_or_else(|| {
            url.split_once("://")
                .map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p))
        });
    let slug = path.trim_end_matches(".git").trim_matches('/').to_string();
    anyhow::ensure!(
        slug.matches('/').count() == 1,
        "cannot read owner/name from the origin URL {url}"
    );
    Ok(slug)
}

/// The promotion `gitops-promote demo` shows: the head branch's last commit, as if it were the
/// merged PR #1, cherry-picked onto the base branch. Offline; nothing is written but objects.
pub fn demo_plan(repo_dir: &std::path::Path, source: &str, target: &str) -> anyhow::Result<String> {
    use crate::git::pick::{PickOptions, PickOutcome, Signature};
    use crate::promote::plan::{self, MergeKind, PickSummary, SourcePr, Templates};
    let repo = Repo::open(repo_dir)?;
    let commit = repo.resolve(source)?;
    let onto = repo.resolve(target)?;
    let git = repo.git2();
    let git_commit = git.find_commit(commit)?;
    let summary = git_commit
        .summary()
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    let author = git_commit
        .author()
        .name()
        .ok()
        .unwrap_or("someone")
        .to_string();
    let committer = Signature {
        name: crate::config::BOT_NAME.to_string(),
        email: crate::config::BOT_EMAIL.to_string(),
    };
    let outcome = repo.cherry_pick(
        &[commit],
        onto,
        &PickOptions {
            committer: &committer,
            exclude: &globset::GlobSet::empty(),
            target_name: Some(target),
        },
    )?;
    let pick = match outcome {
        PickOutcome::Picked { tip, .. } => PickSummary::Clean {
            files: repo.snapshot(onto)?.changed_paths(&repo.snapshot(tip)?),
        },
        PickOutcome::Conflict { conflicted, .. } => PickSummary::Conflict { files: conflicted },
        PickOutcome::Nothing { .. } => {
            return Ok(format!("{target} already has {source}'s change\n"));
        }
    };
    let templates = Templates {
        source_branch: source.to_string(),
        target_branch: target.to_string(),
        branch: plan::DEFAULT_BRANCH_TEMPLATE.to_string(),
        title: plan::DEFAULT_TITLE_TEMPLATE.to_string(),
        body: plan::DEFAULT_BODY_TEMPLATE.to_string(),
        labels: vec!["promotion".to_string()],
        copy_labels: None,
        draft: false,
    };
    let source_pr = SourcePr {
        number: 1,
        title: summary.clone(),
        url: "https://github.com/acme/manifests/pull/1".to_string(),
        author,
        labels: Vec::new(),
        commits: vec![(commit.to_string(), summary)],
        merge_kind: MergeKind::Squash,
    };
    Ok(templates.plan(&source_pr, &pick, &[]).to_text())
}
