//! Command-line interface: parses arguments, runs the chosen command, and maps the outcome to
//! an exit code (0 ok, 1 differences with --exit-code, 2 usage or unreadable input, 3 failed builds).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::engine::{self, DiffError, DiffOptions};
use crate::git::Repo;
use crate::kustomize::KustomizeCommand;
use crate::model::Report;
use crate::report;

pub(crate) const EXIT_DIFFERENCES: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_BUILD_FAILED: u8 = 3;
pub(crate) const EXIT_RISKS: u8 = 4;
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "gitops-promote",
    version,
    about = "Render kustomize overlays at two git refs and show what the cluster would receive",
    after_help = "Exit codes: 0 success, 1 differences found (with --exit-code), 2 usage error or \
                  unreadable repository/ref, 3 one or more overlays failed to build, 4 risks at \
                  --risk-level found."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Render the overlays a change affects at both refs and print per-resource diffs.
    Diff(DiffArgs),
    /// Create a small GitOps repository in a temporary directory and diff its two branches.
    Demo(DemoArgs),
    /// Cherry-pick a merged PR onto the target branch and open its production PR (needs
    /// GITHUB_TOKEN); --dry-run prints the plan and changes nothing.
    Promote(PromoteArgs),
    /// The GitHub Actions entry: reads INPUT_*, GITHUB_* and the event payload, then comments
    /// the rendered diff on the pull request.
    Action,
    /// Join the partial reports of `diff --shard` into the report one job would have made.
    MergeReports(MergeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The partial reports, one per shard. A shard whose report is missing or unreadable shows
    /// as its overlays failing ("not compared").
    #[arg(value_name = "FILE", required = true)]
    pub(crate) files: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    /// Which risks make the exit code 4: none, high or any.
    #[arg(long, value_name = "LEVEL", default_value = "none")]
    pub(crate) risk_level: String,
    /// Record the shards' build times in this render cache, for the next run's balancing.
    #[arg(long, value_name = "DIR")]
    pub(crate) cache: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// Base ref: a branch, tag, sha or anything git resolves (e.g. master, origin/master).
    #[arg(long, value_name = "REF")]
    pub(crate) base: String,
    /// Head ref (e.g. develop).
    #[arg(long, value_name = "REF")]
    pub(crate) head: String,
    /// The git repository (any directory inside it).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) repo: PathBuf,
    /// Compare merge-base(base, head) with head, like `git diff base...head`.
    #[arg(long)]
    pub(crate) merge_base: bool,
    /// Only overlays whose directory matches this glob (repeatable), e.g. 'overlays/*'.
    #[arg(long = "path", value_name = "GLOB")]
    pub(crate) paths: Vec<String>,
    /// Render every overlay at both refs, not only those the change affects.
    #[arg(long)]
    pub(crate) all: bool,
    /// Build only shard I of N of the affected overlays and write a partial report (JSON) for
    /// `merge-reports`; every shard of a run must get the same options and commits.
    #[arg(long, value_name = "I/N", conflicts_with = "format")]
    pub(crate) shard: Option<crate::shard::Shard>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) build: BuildArgs,
    #[command(flatten)]
    pub(crate) review: ReviewArgs,
    #[command(flatten)]
    pub(crate) apps: AppArgs,
}

/// How the report finds Argo CD applications.
#[derive(Debug, Args)]
pub(crate) struct AppArgs {
    /// Report by Argo CD application when the repository holds Applications or
    /// ApplicationSets that deploy from it (auto), or always by directory (off).
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub(crate) applications: String,
    /// This repository's URL, which an application's repoURL must name [default: the origin
    /// remote's URL].
    #[arg(long, value_name = "URL")]
    pub(crate) repo_url: Option<String>,
    /// The branch the change lands on: applications deploying from it are rendered [default:
    /// the --base ref's branch name].
    #[arg(long, value_name = "BRANCH")]
    pub(crate) branch: Option<String>,
    /// What `targetRevision: HEAD` means [default: what origin/HEAD names].
    #[arg(long, value_name = "BRANCH")]
    pub(crate) default_branch: Option<String>,
}

/// What the report leaves out and which risks it looks for.
#[derive(Debug, Args)]
pub(crate) struct ReviewArgs {
    /// Leave a field out of every diff (repeatable): a kind (`*`, `Kind`, `group/Kind`), then a
    /// JSON Pointer or JSONPath, e.g. '* /metadata/annotations/argocd.argoproj.io~1tracking-id'.
    #[arg(long = "ignore", value_name = "RULE")]
    pub(crate) ignore: Vec<String>,
    /// Do not report this risk rule (repeatable; `all` skips the risk check).
    #[arg(long = "risk-ignore", value_name = "ID")]
    pub(crate) risk_ignore: Vec<String>,
    /// Which risks make the exit code 4: none, high or any.
    #[arg(long, value_name = "LEVEL", default_value = "none")]
    pub(crate) risk_level: String,
    /// The cluster's Kubernetes version, for deprecated and removed API versions (e.g. 1.29).
    #[arg(long, value_name = "VERSION")]
    pub(crate) kubernetes_version: Option<String>,
    /// Overlays that deploy to production (repeatable glob) [default: a directory named prod,
    /// production or prd, or starting or ending with `prod-`/`-prod`].
    #[arg(long = "production-path", value_name = "GLOB")]
    pub(crate) production_paths: Vec<String>,
    /// Every overlay compared deploys to production (the base is the production branch).
    #[arg(long)]
    pub(crate) production: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// The merged pull request to promote.
    #[arg(long, value_name = "N")]
    pub(crate) pr: u64,
    /// The git repository (any directory inside it).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) repo: PathBuf,
    /// owner/name on GitHub [default: GITHUB_REPOSITORY, else the `origin` remote's path].
    #[arg(long, value_name = "OWNER/NAME")]
    pub(crate) github_repo: Option<String>,
    /// Branch the PR was merged into.
    #[arg(long, default_value = "develop")]
    pub(crate) source_branch: String,
    /// Branch to promote to.
    #[arg(long, default_value = "master")]
    pub(crate) target_branch: String,
    /// Paths never promoted (repeatable glob); the target keeps its version.
    #[arg(long = "exclude-path", value_name = "GLOB")]
    pub(crate) exclude_paths: Vec<String>,
    /// Print the plan (branch, title, body, files, conflicts); push nothing, open nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the demo repository in this directory (created if missing, must be empty).
    #[arg(long, value_name = "DIR")]
    pub(crate) keep: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) build: BuildArgs,
    #[command(flatten)]
    pub(crate) review: ReviewArgs,
    #[command(flatten)]
    pub(crate) apps: AppArgs,
}

/// The `--format` values; mapped onto the renderers' own enum so rendering does not depend on
/// the argument parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FormatArg {
    Text,
    Markdown,
    Json,
}

impl From<FormatArg> for report::Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Text => report::Format::Text,
            FormatArg::Markdown => report::Format::Markdown,
            FormatArg::Json => report::Format::Json,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub(crate) format: FormatArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Exit with 1 when anything differs, like `git diff --exit-code`.
    #[arg(long)]
    pub(crate) exit_code: bool,
    /// No progress display.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Kustomize command, run as `CMD [build args] DIR` [default: `kustomize build` if on PATH,
    /// else `kubectl kustomize`].
    #[arg(long, value_name = "CMD")]
    pub(crate) kustomize: Option<String>,
    /// Extra argument for every build (repeatable), e.g. --build-arg=--enable-helm.
    #[arg(long = "build-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub(crate) build_args: Vec<String>,
    /// Parallel builds [default: number of cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) jobs: Option<u16>,
    /// Seconds one build may take.
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout: u64,
    /// Build overlays that use remote bases (fetches them over the network).
    #[arg(long)]
    pub(crate) allow_remote: bool,
    /// Keep renders in DIR by the content they are built from, and read them back instead of
    /// building again (created if missing).
    #[arg(long, value_name = "DIR")]
    pub(crate) cache: Option<PathBuf>,
    /// Most megabytes the cache keeps; the least recently used renders go first.
    #[arg(long, value_name = "MB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) cache_size: u64,
}

/// Entry point for the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("starting the async runtime")),
    };
    runtime.block_on(async {
        tokio::select! {
            code = run(cli) => code,
            _ = tokio::signal::ctrl_c() => {
                // Returning drops the running command: temporary trees are removed and
                // kustomize children are killed on the way out.
                eprintln!("interrupted");
                ExitCode::from(EXIT_INTERRUPTED)
            }
        }
    })
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Diff(args) => run_diff(args).await,
        Command::Promote(args) => match run_promote(&args).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => fail(&e),
        },
        Command::Action => match crate::action::run().await {
            Ok(crate::action::Outcome::Success) => ExitCode::SUCCESS,
            Ok(crate::action::Outcome::Failed) => ExitCode::FAILURE,
            Err(e) => {
                // An annotation makes the cause visible on the run's summary page, not only in the log.
                crate::gha::Runner::from_env()
                    .error(crate::gha::Annotation::message(format!("{e:#}")));
                fail(&e)
            }
        },
        Command::Demo(args) => run_demo(args).await,
        Command::MergeReports(args) => run_merge(args),
    }
}

/// `gitops-promote promote --pr N`: the promotion the action runs on push, configured from
/// flags and the environment. Returns whether it went through without a conflict.
async fn run_promote(args: &PromoteArgs) -> anyhow::Result<bool> {
    use crate::config::{self, Endpoints, RepoSlug};
    use crate::github::{GitHub, RetryPolicy};
    use crate::promote::flow::{Promoter, Settings};
    use crate::promote::settings::PromotionSettings;

    let token = std::env::var("GITHUB_TOKEN")
        .or_else(|_| std::env::var("GH_TOKEN"))
        .context("set GITHUB_TOKEN (or GH_TOKEN) to a token that can read the repository's pull requests")?;
    let repo = Repo::open(&args.repo)?;
    let slug = match args.github_repo.clone().or_else(|| {
        std::env::var("GITHUB_REPOSITORY")
            .ok()
            .filter(|v| !v.trim().is_empty())
    }) {
        Some(slug) => slug,
        None => origin_slug(&repo)?,
    };
    let slug: RepoSlug = slug
        .parse()
        .context("invalid environment variable GITHUB_REPOSITORY")?;
    let endpoints = Endpoints::from_env()?;
    let token = secrecy::SecretString::from(token);
    let github = GitHub::new(
        &endpoints.api,
        &endpoints.graphql,
        &slug,
        &token,
        RetryPolicy::default(),
    )?;
    let mut promotion = PromotionSettings::new(&args.source_branch, &args.target_branch);
    promotion.exclude_paths = args
        .exclude_paths
        .iter()
        .flat_map(|p| config::split_list(p))
        .collect();
    let repository_url = format!("{}/{slug}", endpoints.server);
    let settings = Settings {
        promotion,
        builds: engine::BuildSettings {
            kustomize: None,
            paths: Vec::new(),
            build_args: Vec::new(),
            jobs: None,
            timeout: Duration::from_secs(config::DEFAULT_TIMEOUT_SECS),
            allow_remote: false,
            allow_privileged: false,
            ignore: Default::default(),
            risks: Default::default(),
            apps: Default::default(),
            cache: None,
        },
        token,
        clone_url: format!("{repository_url}.git"),
        comment_id: config::DEFAULT_COMMENT_ID.to_owned(),
        max_comments: config::DEFAULT_MAX_COMMENTS,
        // No workflow run holds a job summary for a terminal run, so a shortened comment points
        // to the command that shows the whole diff instead of a run page that does not exist.
        run_url: None,
        dry_run: args.dry_run,
    };
    // Outside a runner there is no GITHUB_OUTPUT: runner messages go to the terminal.
    let runner = crate::gha::Runner::from_env();
    let promoter = Promoter::new(settings, repo, github, &runner)?;
    let result = promoter.promote_pr(args.pr).await?;
    if let Some(url) = &result.url {
        println!("#{}: {url}", result.source);
    }
    Ok(!result.conflict)
}

/// The `origin` remote's URL, which applications deploying from this repository name.
fn origin_url(dir: &Path) -> Option<String> {
    let repo = Repo::open(dir).ok()?;
    let git = repo.git2();
    let remote = git.find_remote("origin").ok()?;
    remote.url().ok().map(str::to_string)
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

async fn run_diff(args: DiffArgs) -> ExitCode {
    let options = match diff_options(
        &args.build,
        &args.output,
        &args.review,
        &args.apps,
        args.repo,
        args.base,
        args.head,
    ) {
        Ok(mut options) => {
            options.merge_base = args.merge_base;
            options.paths = args.paths;
            options.all = args.all;
            options.shard = args.shard;
            options
        }
        Err(code) => return code,
    };
    let risk_level = &args.review.risk_level;
    if options.shard.is_some() {
        return match engine::run_partial(&options, &crate::processes::Processes).await {
            Ok(partial) => {
                let json = partial.to_json();
                finish_with(&partial.report, &json, &args.output, risk_level)
            }
            Err(e) => diff_failed(e),
        };
    }
    finish(
        engine::run(&options, &crate::processes::Processes).await,
        &args.output,
        risk_level,
    )
}

fn run_merge(args: MergeArgs) -> ExitCode {
    if let Err(e) = crate::risk::failing_level(&args.risk_level) {
        return usage(&format!("--risk-level {e}"));
    }
    let inputs = args
        .files
        .iter()
        .map(|file| crate::shard::Partial::read(file))
        .collect();
    let merged = match crate::shard::merge(inputs) {
        Ok(merged) => merged,
        Err(e) => return fail(&anyhow::Error::new(e)),
    };
    for warning in &merged.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(dir) = &args.cache {
        let recorded = crate::cache::RenderCache::open(crate::cache::CacheSettings {
            dir: dir.clone(),
            max_bytes: crate::cache::DEFAULT_MAX_BYTES,
        })
        .map_err(anyhow::Error::new)
        .and_then(|cache| {
            cache
                .record_times(&merged.times)
                .with_context(|| format!("recording build times in {}", dir.display()))
        });
        if let Err(e) = recorded {
            eprintln!("warning: {e:#}");
        }
    }
    finish(Ok(merged.report), &args.output, &args.risk_level)
}

async fn run_demo(args: DemoArgs) -> ExitCode {
    let (dir, _guard) = match demo_dir(args.keep.as_deref()) {
        Ok(found) => found,
        Err(e) => return fail(&e),
    };
    if let Err(e) = crate::demo::create_demo_repo(&dir) {
        return fail(&e.context(format!("creating the demo repository in {}", dir.display())));
    }
    let kept = if args.keep.is_some() {
        "kept"
    } else {
        "removed on exit; --keep DIR keeps it"
    };
    eprintln!(
        "Demo repository: {} ({kept}). Running: gitops-promote diff --base {} --head {}\n",
        dir.display(),
        crate::demo::DEMO_BASE,
        crate::demo::DEMO_HEAD
    );
    let options = match diff_options(
        &args.build,
        &args.output,
        &args.review,
        &args.apps,
        dir.clone(),
        crate::demo::DEMO_BASE.to_string(),
        crate::demo::DEMO_HEAD.to_string(),
    ) {
        Ok(mut options) => {
            // The demo repository has no remote; its Applications name where it would live.
            options
                .apps
                .repo_url
                .get_or_insert_with(|| crate::demo::DEMO_REPO_URL.to_string());
            options
        }
        Err(code) => return code,
    };
    let code = finish(
        engine::run(&options, &crate::processes::Processes).await,
        &args.output,
        &args.review.risk_level,
    );
    // The other half of the product: what a push of develop would open against master.
    if args.output.format == FormatArg::Text && args.output.output.is_none() {
        match crate::demo::promotion_preview(&dir, crate::demo::DEMO_HEAD, crate::demo::DEMO_BASE) {
            Ok(plan) => println!(
                "\nPromotion (dry run): develop's last commit, as if merged as PR #1, onto master\n\n{plan}"
            ),
            Err(e) => return fail(&e.context("planning the demo promotion")),
        }
    }
    code
}

fn demo_dir(keep: Option<&Path>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let empty = std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .next()
                .is_none();
            anyhow::ensure!(empty, "{} is not empty", dir.display());
            Ok((dir.to_path_buf(), None))
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("gitops-promote-demo-")
                .tempdir()
                .context("creating a temporary directory for the demo")?;
            Ok((temp.path().to_path_buf(), Some(temp)))
        }
    }
}

fn diff_options(
    build: &BuildArgs,
    output: &OutputArgs,
    review: &ReviewArgs,
    apps: &AppArgs,
    repo: PathBuf,
    base: String,
    head: String,
) -> Result<DiffOptions, ExitCode> {
    let kustomize = KustomizeCommand::given_or_detected(build.kustomize.as_deref())
        .map_err(|e| usage(&format!("--kustomize: {e}")))?;
    let jobs = build
        .jobs
        .map(usize::from)
        .unwrap_or_else(engine::default_jobs);
    let ignore = crate::ignore::IgnoreRules::parse(&review.ignore.join("\n"))
        .map_err(|e| usage(&format!("--ignore: {e}")))?;
    crate::risk::failing_level(&review.risk_level)
        .map_err(|e| usage(&format!("--risk-level {e}")))?;
    let production_paths = review.production_paths.join(",");
    let mut risks = crate::config::risk_settings(
        Some(&review.risk_ignore.join(",")),
        review.kubernetes_version.as_deref(),
        (!production_paths.is_empty()).then_some(production_paths.as_str()),
    )
    .map_err(|e| usage(&format!("{e:#}").replace("input `", "option `--")))?;
    risks.production.all = review.production;
    let apps = crate::applications::AppOptions {
        mode: apps
            .applications
            .parse()
            .map_err(|e| usage(&format!("--applications {e}")))?,
        repo_url: apps.repo_url.clone().or_else(|| origin_url(&repo)),
        branch: apps.branch.clone(),
        default_branch: apps.default_branch.clone(),
    };
    Ok(DiffOptions {
        repo,
        base,
        head,
        merge_base: false,
        paths: Vec::new(),
        all: false,
        kustomize,
        build_args: build.build_args.clone(),
        jobs,
        timeout: Duration::from_secs(build.timeout),
        allow_remote: build.allow_remote,
        // A person running the CLI on their own machine decides what they build.
        untrusted: None,
        allow_privileged: true,
        progress: !output.quiet,
        ignore,
        risks,
        apps,
        cache: build.cache.as_ref().map(|dir| crate::cache::CacheSettings {
            dir: dir.clone(),
            max_bytes: build.cache_size.saturating_mul(1024 * 1024),
        }),
        shard: None,
    })
}

fn diff_failed(error: DiffError) -> ExitCode {
    match error {
        DiffError::Other(e) => fail(&e),
        e => fail(&anyhow::Error::new(e)),
    }
}

fn finish(result: Result<Report, DiffError>, output: &OutputArgs, risk_level: &str) -> ExitCode {
    let report = match result {
        Ok(report) => report,
        Err(e) => return diff_failed(e),
    };
    let color = output.output.is_none()
        && output.format == FormatArg::Text
        && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
    let rendered = report::render(&report, output.format.into(), color);
    finish_with(&report, &rendered, output, risk_level)
}

/// Writes `rendered` (the report, or a shard's partial report) and maps `report` to the exit
/// code.
fn finish_with(report: &Report, rendered: &str, output: &OutputArgs, risk_level: &str) -> ExitCode {
    let written = match &output.output {
        Some(path) => write_atomically(path, rendered),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(rendered.as_bytes())
                .and_then(|()| stdout.flush())
                .or_else(ignore_broken_pipe)
                .context("writing to stdout")
        }
    };
    if let Err(e) = written {
        return fail(&e);
    }
    if report.has_errors() {
        let failed: Vec<&str> = report
            .overlays
            .iter()
            .filter(|o| o.error.is_some())
            .map(|o| o.path.as_str())
            .collect();
        eprintln!(
            "error: {} overlay(s) failed to build: {}",
            failed.len(),
            failed.join(", ")
        );
        return ExitCode::from(EXIT_BUILD_FAILED);
    }
    // Checked when the options were made.
    let level = crate::risk::failing_level(risk_level).unwrap_or(None);
    if report.has_risks_at(level) {
        let count = report
            .risks()
            .filter(|(_, f)| level.is_some_and(|l| f.severity() <= l))
            .count();
        eprintln!("error: {count} risk(s) at --risk-level {risk_level}");
        return ExitCode::from(EXIT_RISKS);
    }
    if output.exit_code && report.has_changes() {
        return ExitCode::from(EXIT_DIFFERENCES);
    }
    ExitCode::SUCCESS
}

fn ignore_broken_pipe(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

/// Writes the whole report or nothing: a reader never sees half a file.
fn write_atomically(path: &Path, content: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// Prints the error chain as one sentence chain; never a backtrace, whatever RUST_BACKTRACE says.
fn fail(error: &anyhow::Error) -> ExitCode {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let label = if color {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    };
    eprintln!("{label}: {error:#}");
    ExitCode::from(EXIT_USAGE)
}
