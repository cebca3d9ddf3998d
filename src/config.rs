//! The action's inputs (`INPUT_*`) and the runner's environment (`GITHUB_*`, `RUNNER_TEMP`), read
//! once and validated into typed values whose errors name the input or variable at fault.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, anyhow, bail};
use secrecy::SecretString;

use crate::applications::AppOptions;
use crate::cache::{CacheSettings, DEFAULT_MAX_BYTES};
use crate::globs::{GlobError, glob_set};
use crate::ignore::IgnoreRules;
use crate::promote::plan::Reviewers;
use crate::promote::settings::{Assignees, PromotionSettings};
use crate::risk::{self, RiskSettings, Severity};
use crate::shard::Shard;
use serde::Deserialize;

/// Every input the binary reads, in the dash form `action.yml` declares them.
pub const INPUT_NAMES: &[&str] = &[
    "allow-privileged-builds",
    "allow-remote",
    "applications",
    "assignees",
    "body-template",
    "branch-template",
    "build-args",
    "cache",
    "cache-size",
    "comment-id",
    "comment-mode",
    "comment-on-no-changes",
    "committer-email",
    "committer-name",
    "copy-labels",
    "deploy-branch-default",
    "deploy-branch-target",
    "draft",
    "exclude-paths",
    "fail-on-conflict",
    "fail-on-error",
    "github-token",
    "hide-outdated",
    "ignore",
    "image-update-branches",
    "image-update-target",
    "jobs",
    "kubernetes-version",
    "kustomize",
    "labels",
    "max-comments",
    "merge-reports",
    "paths",
    "pr-number",
    "production-paths",
    "repo-url",
    "reviewers",
    "risk-ignore",
    "risk-level",
    "shard",
    "skip-labels",
    "source-branch",
    "summary",
    "target-branch",
    "timeout",
    "title-template",
    "working-directory",
];

pub(crate) const DEFAULT_API_URL: &str = "https://api.github.com";
pub(crate) const DEFAULT_SERVER_URL: &str = "https://github.com";
pub(crate) const DEFAULT_GRAPHQL_URL: &str = "https://api.github.com/graphql";
pub(crate) const DEFAULT_COMMENT_ID: &str = "default";
pub(crate) const DEFAULT_MAX_COMMENTS: usize = 3;
/// A long report is split over numbered comments; more than this floods the PR.
const MAX_COMMENTS_LIMIT: usize = 10;
pub(crate) const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// The comment id ends up in a hidden HTML marker and in search queries; keep it short.
const COMMENT_ID_MAX_LEN: usize = 64;

/// A repository as `owner/name`, checked against GitHub's naming rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RepoSlug {
    full: String,
}

/// Reads as the `owner/name` string wherever a `&str` is expected.
impl std::ops::Deref for RepoSlug {
    type Target = str;

    fn deref(&self) -> &str {
        &self.full
    }
}

impl fmt::Display for RepoSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl FromStr for RepoSlug {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        let invalid = || anyhow!("{s:?} is not a repository in the form owner/name");
        let (owner, name) = s.split_once('/').ok_or_else(invalid)?;
        // Owners are letters, digits and `-`; managed (EMU) accounts add an `_shortcode` suffix.
        let owner_ok = !owner.is_empty()
            && owner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let name_ok = !name.is_empty()
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !owner_ok || !name_ok {
            return Err(invalid());
        }
        Ok(RepoSlug { full: s.to_owned() })
    }
}

/// What the runner tells every step about the job, from `GITHUB_*` and `RUNNER_TEMP`.
///
/// The required variables are those the runner always sets and a run cannot do without; the
/// others have defaults or are absent on some events. Empty variables count as unset: the runner sets `GITHUB_HEAD_REF`/`GITHUB_BASE_REF` to "" on
/// events other than pull requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunnerEnv {
    pub(crate) event_name: String,
    pub(crate) event_path: PathBuf,
    pub(crate) repository: RepoSlug,
    /// REST base URL without a trailing slash; differs from the default on GitHub Enterprise.
    pub(crate) api_url: String,
    pub(crate) server_url: String,
    pub(crate) graphql_url: String,
    pub(crate) workspace: PathBuf,
    /// The commit the run is for; for `pull_request` the test-merge commit.
    pub(crate) sha: String,
    pub(crate) output: Option<PathBuf>,
    pub(crate) step_summary: Option<PathBuf>,
    /// Identifies the run in links to its log and job summary.
    pub(crate) run_id: u64,
    pub(crate) run_attempt: Option<u32>,
    pub(crate) ref_: Option<String>,
    pub(crate) head_ref: Option<String>,
    pub(crate) base_ref: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) runner_temp: PathBuf,
}

#[derive(Deserialize)]
struct RawRunnerEnv {
    event_name: Option<String>,
    event_path: Option<String>,
    repository: Option<String>,
    api_url: Option<String>,
    server_url: Option<String>,
    graphql_url: Option<String>,
    workspace: Option<String>,
    sha: Option<String>,
    output: Option<String>,
    step_summary: Option<String>,
    run_id: Option<String>,
    run_attempt: Option<String>,
    #[serde(rename = "ref")]
    ref_: Option<String>,
    head_ref: Option<String>,
    base_ref: Option<String>,
    actor: Option<String>,
}

impl RunnerEnv {
    /// The repository's web address, e.g. `https://github.com/acme/manifests`.
    pub(crate) fn repository_url(&self) -> String {
        format!(
            "{}/{}",
            self.server_url.trim_end_matches('/'),
            self.repository
        )
    }

    /// The page of this workflow run.
    pub(crate) fn run_url(&self) -> String {
        format!("{}/actions/runs/{}", self.repository_url(), self.run_id)
    }

    /// Where git fetches and pushes (with the token as credentials, never in the URL).
    pub(crate) fn clone_url(&self) -> String {
        format!("{}.git", self.repository_url())
    }

    pub(crate) fn from_env() -> anyhow::Result<Self> {
        RunnerEnv::from_iter(env_vars(&["GITHUB_", "RUNNER_"])?)
    }

    /// Reads the variables from `vars` instead of the process environment.
    #[allow(
        clippy::should_implement_trait,
        reason = "named after envy::from_iter; fallible, so it cannot be FromIterator"
    )]
    pub fn from_iter(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        // A map, so a variable given twice takes its last value instead of failing as a
        // duplicate field.
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        let runner_temp = vars
            .get("RUNNER_TEMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let raw: RawRunnerEnv = envy::prefixed("GITHUB_")
            .from_iter(vars)
            .context("cannot read the GITHUB_* environment variables")?;

        let required = |value: Option<String>, var: &str| {
            value.ok_or_else(|| {
                anyhow!("environment variable {var} is not set; is this running in GitHub Actions?")
            })
        };
        let repository = required(raw.repository, "GITHUB_REPOSITORY")?;
        let repository = repository
            .parse()
            .context("invalid environment variable GITHUB_REPOSITORY")?;
        Ok(RunnerEnv {
            event_name: required(raw.event_name, "GITHUB_EVENT_NAME")?,
            event_path: required(raw.event_path, "GITHUB_EVENT_PATH")?.into(),
            repository,
            api_url: url(raw.api_url, DEFAULT_API_URL, "GITHUB_API_URL")?,
            server_url: url(raw.server_url, DEFAULT_SERVER_URL, "GITHUB_SERVER_URL")?,
            graphql_url: url(raw.graphql_url, DEFAULT_GRAPHQL_URL, "GITHUB_GRAPHQL_URL")?,
            workspace: required(raw.workspace, "GITHUB_WORKSPACE")?.into(),
            sha: required(raw.sha, "GITHUB_SHA")?,
            output: raw.output.map(PathBuf::from),
            step_summary: raw.step_summary.map(PathBuf::from),
            run_id: number_var(&required(raw.run_id, "GITHUB_RUN_ID")?, "GITHUB_RUN_ID")?,
            run_attempt: raw
                .run_attempt
                .map(|v| number_var(&v, "GITHUB_RUN_ATTEMPT"))
                .transpose()?,
            ref_: raw.ref_,
            head_ref: raw.head_ref,
            base_ref: raw.base_ref,
            actor: raw.actor,
            runner_temp,
        })
    }
}

/// The API, web and GraphQL addresses of a GitHub (Enterprise) server, from the same
/// variables the runner sets, for a run outside one.
pub(crate) struct Endpoints {
    pub(crate) api: String,
    pub(crate) server: String,
    pub(crate) graphql: String,
}

impl Endpoints {
    pub(crate) fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Ok(Endpoints {
            api: url(var("GITHUB_API_URL"), DEFAULT_API_URL, "GITHUB_API_URL")?,
            server: url(
                var("GITHUB_SERVER_URL"),
                DEFAULT_SERVER_URL,
                "GITHUB_SERVER_URL",
            )?,
            graphql: url(
                var("GITHUB_GRAPHQL_URL"),
                DEFAULT_GRAPHQL_URL,
                "GITHUB_GRAPHQL_URL",
            )?,
        })
    }
}

fn url(value: Option<String>, default: &str, var: &str) -> anyhow::Result<String> {
    let value = value.unwrap_or_else(|| default.to_owned());
    let value = value.trim().trim_end_matches('/');
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        bail!("environment variable {var} must be an http(s) URL (got '{value}')");
    }
    Ok(value.to_owned())
}

fn number_var<T: FromStr>(value: &str, var: &str) -> anyhow::Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| anyhow!("environment variable {var} must be a number (got '{value}')"))
}

/// How the sticky PR comment is maintained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum CommentMode {
    /// Edit our existing comment in place, so the PR keeps one comment.
    #[default]
    Update,
    /// Delete the old comment and post a new one, so the latest diff sits at the bottom.
    Recreate,
    /// Post nothing; outputs and the job summary still carry the report.
    Off,
}

impl FromStr for CommentMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "update" => Ok(CommentMode::Update),
            "recreate" => Ok(CommentMode::Recreate),
            "off" => Ok(CommentMode::Off),
            _ => Err(()),
        }
    }
}

/// The action's `with:` inputs, validated.
///
/// Inputs arrive as `INPUT_<NAME>` with the name upper-cased and dashes turned into underscores
/// (`INPUT_GITHUB_TOKEN`); the runner's own dash spelling (`INPUT_GITHUB-TOKEN`, as JavaScript
/// and Docker actions get it) is accepted too. Values are trimmed like `@actions/core` does, and
/// an empty value means "not set", because GitHub passes an input the workflow omits as "".
///
/// `Debug` is safe to log: the token prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct ActionInputs {
    pub(crate) github_token: SecretString,
    pub(crate) working_directory: PathBuf,
    /// Globs limiting which overlays are considered; empty means all.
    pub(crate) paths: Vec<String>,
    /// The kustomize (or kubectl) binary to run instead of the one found on `PATH`.
    pub(crate) kustomize: Option<String>,
    /// Extra arguments for every build.
    pub(crate) build_args: Vec<String>,
    pub(crate) comment_mode: CommentMode,
    /// Tells apart several runs commenting on one PR (e.g. one per cluster).
    pub(crate) comment_id: String,
    pub(crate) max_comments: usize,
    pub(crate) hide_outdated: bool,
    pub(crate) comment_on_no_changes: bool,
    pub(crate) fail_on_error: bool,
    pub(crate) summary: bool,
    /// Per-build timeout in seconds.
    pub(crate) timeout: u64,
    /// Parallel builds; `None` means one per CPU.
    pub(crate) jobs: Option<usize>,
    /// Whether remote bases (URLs in `resources`) may be fetched while building.
    pub(crate) allow_remote: bool,
    /// Whether a fork's PR, a `pull_request_target` run or a ChatOps `/diff` may be built with
    /// build args that let the rendered code run programs (`--enable-helm`, plugins) or read
    /// outside the repository.
    pub(crate) allow_privileged_builds: bool,
    /// Fields left out of diffs (`ignore`).
    pub(crate) ignore: IgnoreRules,
    /// Which risks to look for; whether the base is production is set per comparison.
    pub(crate) risks: RiskSettings,
    /// Which findings fail the step (`risk-level`); `None` never fails.
    pub(crate) risk_level: Option<Severity>,
    /// Whether and how reports go by Argo CD application; the repository and branches are
    /// set per run.
    pub(crate) apps: AppOptions,
    /// How merged changes are carried to the target branch.
    pub(crate) promotion: PromotionSettings,
    /// Fail the step when a promotion conflicts.
    pub(crate) fail_on_conflict: bool,
    /// `workflow_dispatch`: promote this PR.
    pub(crate) pr_number: Option<u64>,
    /// Argo CD Image Updater's write-back branches and the ChatOps branch deploys.
    pub(crate) image_updates: ImageUpdateInputs,
    /// Where renders are kept by what they are built from (`cache`), so that a later run reads
    /// them back instead of building again; `None`: no cache. Relative to the workspace until
    /// the action resolves it.
    pub(crate) cache: Option<PathBuf>,
    /// How many bytes the cache may hold (`cache-size`, given in megabytes).
    pub(crate) cache_max_bytes: u64,
    /// `shard`: a PR run renders only this part of the overlays and writes a partial report.
    pub(crate) shard: Option<Shard>,
    /// `merge-reports`: paths or globs of the shards' partial reports, joined instead of
    /// rendering.
    pub(crate) merge_reports: Vec<String>,
}

/// Inputs for the branches Argo CD Image Updater writes and for `/deploy-branch`.
#[derive(Debug, Clone)]
pub(crate) struct ImageUpdateInputs {
    /// Globs of branch names; a push to a matching branch opens or updates a PR to `target`.
    pub(crate) branches: Vec<String>,
    pub(crate) branch_globs: globset::GlobSet,
    pub(crate) target: String,
    /// Repo-relative file holding the Application or ImageUpdater `/deploy-branch` edits.
    pub(crate) deploy_branch_target: Option<String>,
    /// The allow-tags value `/deploy-branch reset` restores.
    pub(crate) deploy_branch_default: String,
}

impl ImageUpdateInputs {
    fn validate(raw: &RawInputs, promotion: &PromotionSettings) -> anyhow::Result<Self> {
        let branches = raw
            .image_update_branches
            .as_deref()
            .map(split_list)
            .unwrap_or_default();
        let branch_globs =
            glob_set(branches.iter().map(String::as_str), true).map_err(|e| match e {
                GlobError::Pattern { index, error } => {
                    anyhow!(
                        "input `image-update-branches`: '{}': {error}",
                        branches[index]
                    )
                }
                GlobError::Set(e) => anyhow!("input `image-update-branches`: {e}"),
            })?;
        let deploy_branch_target = raw.deploy_branch_target.clone();
        if let Some(path) = &deploy_branch_target
            && (path.starts_with('/')
                || path.split('/').any(|part| part == ".." || part.is_empty()))
        {
            bail!(
                "input `deploy-branch-target` must be a file path inside the repository, like \
                 `apps/staging/api.yaml` (got '{path}')"
            );
        }
        Ok(ImageUpdateInputs {
            branch_globs,
            branches,
            target: raw
                .image_update_target
                .clone()
                .unwrap_or_else(|| promotion.target_branch().to_owned()),
            deploy_branch_target,
            deploy_branch_default: raw.deploy_branch_default.clone().unwrap_or_else(|| {
                crate::argocd::allow_tags::branch_filter(promotion.source_branch())
            }),
        })
    }

    /// Whether `branch` is one Argo CD Image Updater writes to.
    pub(crate) fn is_image_update_branch(&self, branch: &str) -> bool {
        self.branch_globs.is_match(branch)
    }
}

/// The promotion settings the inputs ask for; unset inputs keep `PromotionSettings::new`'s
/// defaults.
fn promotion_settings(raw: &RawInputs) -> anyhow::Result<PromotionSettings> {
    let mut settings = PromotionSettings::new(
        raw.source_branch.as_deref().unwrap_or("develop"),
        raw.target_branch.as_deref().unwrap_or("master"),
    );
    let set = |value: &Option<String>, field: &mut String| {
        if let Some(value) = value {
            field.clone_from(value);
        }
    };
    let t = &mut settings.templates;
    set(&raw.branch_template, &mut t.branch);
    set(&raw.title_template, &mut t.title);
    set(&raw.body_template, &mut t.body);
    if let Some(labels) = raw.labels.as_deref() {
        t.labels = split_list(labels);
    }
    t.copy_labels = raw
        .copy_labels
        .as_deref()
        .map(|pattern| {
            regex::Regex::new(pattern)
                .map_err(|e| anyhow!("input `copy-labels` is not a valid regex: {e}"))
        })
        .transpose()?;
    if let Some(labels) = raw.skip_labels.as_deref() {
        settings.skip_labels = split_list(labels);
    }
    if let Some(paths) = raw.exclude_paths.as_deref() {
        settings.exclude_paths = split_list(paths);
    }
    set(&raw.committer_name, &mut settings.committer.name);
    set(&raw.committer_email, &mut settings.committer.email);
    settings.assignees = match raw.assignees.as_deref() {
        None | Some("author") => Assignees::Author,
        Some("none") => Assignees::None,
        Some(list) => Assignees::Users(split_list(list)),
    };
    settings.reviewers = match raw.reviewers.as_deref() {
        None | Some("none") => Reviewers::None,
        Some("author") => Reviewers::Author,
        Some("source-reviewers") => Reviewers::FromSource,
        Some(other) => {
            bail!("input `reviewers` must be none, author or source-reviewers (got '{other}')")
        }
    };
    let t = &mut settings.templates;
    if !t.branch.contains("{number}") {
        bail!(
            "input `branch-template` must contain {{number}}, or two promotions would share \
             one branch (got '{}')",
            t.branch
        );
    }
    t.draft = boolean(raw.draft.clone(), "draft", false)?;
    Ok(settings)
}

/// The inputs as strings, before validation. Not `Debug`: it holds the token in the clear.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct RawInputs {
    allow_privileged_builds: Option<String>,
    applications: Option<String>,
    ignore: Option<String>,
    kubernetes_version: Option<String>,
    production_paths: Option<String>,
    repo_url: Option<String>,
    risk_ignore: Option<String>,
    risk_level: Option<String>,
    allow_remote: Option<String>,
    assignees: Option<String>,
    body_template: Option<String>,
    branch_template: Option<String>,
    build_args: Option<String>,
    cache: Option<String>,
    cache_size: Option<String>,
    comment_id: Option<String>,
    comment_mode: Option<String>,
    comment_on_no_changes: Option<String>,
    committer_email: Option<String>,
    committer_name: Option<String>,
    copy_labels: Option<String>,
    deploy_branch_default: Option<String>,
    deploy_branch_target: Option<String>,
    draft: Option<String>,
    exclude_paths: Option<String>,
    fail_on_conflict: Option<String>,
    fail_on_error: Option<String>,
    github_token: Option<String>,
    hide_outdated: Option<String>,
    image_update_branches: Option<String>,
    image_update_target: Option<String>,
    jobs: Option<String>,
    kustomize: Option<String>,
    labels: Option<String>,
    max_comments: Option<String>,
    merge_reports: Option<String>,
    paths: Option<String>,
    pr_number: Option<String>,
    reviewers: Option<String>,
    shard: Option<String>,
    skip_labels: Option<String>,
    source_branch: Option<String>,
    summary: Option<String>,
    target_branch: Option<String>,
    timeout: Option<String>,
    title_template: Option<String>,
    working_directory: Option<String>,
}

impl ActionInputs {
    /// The build settings these inputs ask for.
    pub(crate) fn builds(&self) -> crate::engine::BuildSettings {
        crate::engine::BuildSettings {
            kustomize: self.kustomize.clone(),
            paths: self.paths.clone(),
            build_args: self.build_args.clone(),
            jobs: self.jobs,
            timeout: std::time::Duration::from_secs(self.timeout),
            allow_remote: self.allow_remote,
            allow_privileged: self.allow_privileged_builds,
            ignore: self.ignore.clone(),
            risks: self.risks.clone(),
            apps: self.apps.clone(),
            cache: self.cache.as_ref().map(|dir| CacheSettings {
                dir: dir.clone(),
                max_bytes: self.cache_max_bytes,
            }),
        }
    }

    pub(crate) fn from_env() -> anyhow::Result<Self> {
        ActionInputs::from_iter(env_vars(&["INPUT_"])?)
    }

    /// Reads the inputs from `vars` (`INPUT_*` pairs; others are ignored).
    #[allow(
        clippy::should_implement_trait,
        reason = "named after envy::from_iter; fallible, so it cannot be FromIterator"
    )]
    pub fn from_iter(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let mut inputs: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in vars {
            let value = value.trim();
            if value.is_empty() || !key.starts_with("INPUT_") {
                continue;
            }
            let canonical = key.replace('-', "_");
            // If both spellings are set, the underscore one (the one we document) wins.
            if canonical == key || !inputs.contains_key(&canonical) {
                inputs.insert(canonical, value.to_owned());
            }
        }
        let raw: RawInputs = envy::prefixed("INPUT_")
            .from_iter(inputs)
            .context("cannot read the action inputs (INPUT_* environment variables)")?;
        ActionInputs::validate(raw)
    }

    fn validate(raw: RawInputs) -> anyhow::Result<Self> {
        let promotion = promotion_settings(&raw)?;
        let fail_on_conflict = boolean(raw.fail_on_conflict.clone(), "fail-on-conflict", true)?;
        let pr_number = positive(raw.pr_number.clone(), "pr-number", "a PR number")?;
        let image_updates = ImageUpdateInputs::validate(&raw, &promotion)?;
        let github_token = raw
            .github_token
            .map(SecretString::from)
            .ok_or_else(|| anyhow!("input `github-token` is required"))?;
        let comment_id = raw
            .comment_id
            .unwrap_or_else(|| DEFAULT_COMMENT_ID.to_owned());
        if comment_id.len() > COMMENT_ID_MAX_LEN
            || !comment_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            bail!(
                "input `comment-id` may only contain letters, digits, `.`, `_` and `-`, at most \
                 {COMMENT_ID_MAX_LEN} characters (got '{comment_id}')"
            );
        }
        let max_comments = match raw.max_comments {
            None => DEFAULT_MAX_COMMENTS,
            Some(v) => match v.parse() {
                Ok(n) if (1..=MAX_COMMENTS_LIMIT).contains(&n) => n,
                _ => bail!(
                    "input `max-comments` must be a whole number from 1 to {MAX_COMMENTS_LIMIT} \
                     (got '{v}')"
                ),
            },
        };
        let ignore = IgnoreRules::parse(raw.ignore.as_deref().unwrap_or_default())
            .map_err(|e| anyhow!("input `ignore`: {e}"))?;
        let risks = risk_settings(
            raw.risk_ignore.as_deref(),
            raw.kubernetes_version.as_deref(),
            raw.production_paths.as_deref(),
        )?;
        let risk_level = raw
            .risk_level
            .as_deref()
            .map(risk::failing_level)
            .transpose()
            .map_err(|e| anyhow!("input `risk-level` {e}"))?
            .flatten();
        let (shard, merge_reports) =
            shard_inputs(raw.shard.as_deref(), raw.merge_reports.as_deref())?;
        let cache_max_bytes = positive::<u64>(raw.cache_size.clone(), "cache-size", "megabytes")?
            .map_or(DEFAULT_MAX_BYTES, |mb| mb.saturating_mul(1024 * 1024));
        let apps = AppOptions {
            mode: raw
                .applications
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| anyhow!("input `applications` {e}"))?
                .unwrap_or_default(),
            repo_url: raw.repo_url.clone(),
            ..AppOptions::default()
        };
        Ok(ActionInputs {
            apps,
            ignore,
            risks,
            risk_level,
            github_token,
            working_directory: raw
                .working_directory
                .map_or_else(|| PathBuf::from("."), PathBuf::from),
            paths: raw.paths.as_deref().map(split_list).unwrap_or_default(),
            kustomize: raw.kustomize,
            build_args: raw
                .build_args
                .as_deref()
                .map(split_args)
                .transpose()?
                .unwrap_or_default(),
            comment_mode: match raw.comment_mode {
                None => CommentMode::default(),
                Some(v) => v.parse().map_err(|()| {
                    anyhow!("input `comment-mode` must be update, recreate or off (got '{v}')")
                })?,
            },
            comment_id,
            max_comments,
            hide_outdated: boolean(raw.hide_outdated, "hide-outdated", false)?,
            comment_on_no_changes: boolean(
                raw.comment_on_no_changes,
                "comment-on-no-changes",
                false,
            )?,
            fail_on_error: boolean(raw.fail_on_error, "fail-on-error", true)?,
            summary: boolean(raw.summary, "summary", true)?,
            timeout: positive(raw.timeout, "timeout", "seconds")?.unwrap_or(DEFAULT_TIMEOUT_SECS),
            jobs: positive(raw.jobs, "jobs", "builds")?,
            allow_remote: boolean(raw.allow_remote, "allow-remote", false)?,
            allow_privileged_builds: boolean(
                raw.allow_privileged_builds,
                "allow-privileged-builds",
                false,
            )?,
            promotion,
            fail_on_conflict,
            pr_number,
            image_updates,
            cache: raw.cache.map(PathBuf::from),
            cache_max_bytes,
            shard,
            merge_reports,
        })
    }
}

/// `shard` and `merge-reports`, which belong to different jobs of one sharded run: the shards
/// render their parts, one job joins them.
fn shard_inputs(
    shard: Option<&str>,
    merge_reports: Option<&str>,
) -> anyhow::Result<(Option<Shard>, Vec<String>)> {
    let shard = shard
        .map(str::parse::<Shard>)
        .transpose()
        .map_err(|e| anyhow!("input `shard`: {e}"))?;
    let patterns: Vec<String> = merge_reports
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(shard) = shard
        && !patterns.is_empty()
    {
        bail!(
            "inputs `shard` ({shard}) and `merge-reports` are both set: a shard renders its part \
             and writes a partial report, the merge job joins the partial reports; set one"
        );
    }
    for pattern in &patterns {
        globset::Glob::new(pattern).map_err(|e| {
            anyhow!(
                "input `merge-reports`: '{pattern}' is not a glob: {}",
                e.kind()
            )
        })?;
    }
    Ok((shard, patterns))
}

/// Risk settings from `risk-ignore`, `kubernetes-version` and `production-paths` (lists as
/// the other list inputs take them), each error naming its input.
pub(crate) fn risk_settings(
    ignore: Option<&str>,
    kubernetes_version: Option<&str>,
    production_paths: Option<&str>,
) -> anyhow::Result<RiskSettings> {
    let mut settings = RiskSettings::default();
    if let Some(ids) = ignore {
        settings
            .ignore_ids(&split_list(ids))
            .map_err(|e| anyhow!("input `risk-ignore`: {e}"))?;
    }
    settings.kubernetes = kubernetes_version
        .map(|v| v.trim().parse::<risk::KubernetesVersion>())
        .transpose()
        .map_err(|e| anyhow!("input `kubernetes-version`: {e}"))?;
    if let Some(paths) = production_paths {
        let paths = split_list(paths);
        let set = glob_set(paths.iter().map(String::as_str), false).map_err(|e| match e {
            GlobError::Pattern { index, error } => anyhow!(
                "input `production-paths`: '{}' is not a glob: {}",
                paths[index],
                error.kind()
            ),
            GlobError::Set(error) => anyhow!("input `production-paths`: {error}"),
        })?;
        settings.production.paths = Some(set);
    }
    Ok(settings)
}

/// The same spellings `@actions/core`'s `getBooleanInput` accepts, and no others, so a typo such
/// as `yes` fails the step instead of silently meaning false.
fn boolean(value: Option<String>, input: &str, default: bool) -> anyhow::Result<bool> {
    match value.as_deref() {
        None => Ok(default),
        Some("true" | "True" | "TRUE") => Ok(true),
        Some("false" | "False" | "FALSE") => Ok(false),
        Some(other) => bail!("input `{input}` must be true or false (got '{other}')"),
    }
}

fn positive<T>(value: Option<String>, input: &str, unit: &str) -> anyhow::Result<Option<T>>
where
    T: FromStr + PartialOrd + From<u8>,
{
    value
        .map(|v| match v.parse::<T>() {
            Ok(n) if n >= T::from(1) => Ok(n),
            _ => Err(anyhow!(
                "input `{input}` must be a positive whole number of {unit} (got '{v}')"
            )),
        })
        .transpose()
}

/// Globs separated by newlines or commas (YAML block scalars and one-liners both read naturally);
/// a glob cannot usefully contain either.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    value
        .split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Each line is split like a POSIX shell would, so both one argument per line and several on one
/// line (`--enable-helm --load-restrictor LoadRestrictionsNone`) work, and quotes keep spaces.
/// Nothing is expanded: no variables, globs or command substitution.
fn split_args(value: &str) -> anyhow::Result<Vec<String>> {
    let mut args = Vec::new();
    for (index, line) in value.lines().enumerate() {
        let words = shlex::split(line).ok_or_else(|| {
            anyhow!(
                "input `build-args` line {} has an unmatched quote or a trailing backslash: {line}",
                index + 1
            )
        })?;
        args.extend(words);
    }
    Ok(args)
}

/// The environment variables with the given prefixes. Unlike `std::env::vars`, a variable that
/// is not UTF-8 is an error naming it instead of a panic.
fn env_vars(prefixes: &[&str]) -> anyhow::Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for (key, value) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if !prefixes.iter().any(|p| key.starts_with(p)) {
            continue;
        }
        let value = value
            .into_string()
            .map_err(|_| anyhow!("environment variable {key} is not valid UTF-8"))?;
        vars.push((key.to_owned(), value));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const TOKEN: &str = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn inputs(pairs: &[(&str, &str)]) -> anyhow::Result<ActionInputs> {
        let mut all = vars(&[("INPUT_GITHUB_TOKEN", TOKEN)]);
        all.extend(vars(pairs));
        ActionInputs::from_iter(all)
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        format!("{:#}", inputs(pairs).unwrap_err())
    }

    #[test]
    fn defaults() {
        let i = inputs(&[]).unwrap();
        assert_eq!(i.github_token.expose_secret(), TOKEN);
        assert_eq!(i.working_directory, PathBuf::from("."));
        assert!(i.paths.is_empty());
        assert_eq!(i.kustomize, None);
        assert!(i.build_args.is_empty());
        assert_eq!(i.comment_mode, CommentMode::Update);
        assert_eq!(i.comment_id, "default");
        assert_eq!(i.max_comments, 3);
        assert!(!i.hide_outdated);
        assert!(!i.comment_on_no_changes);
        assert!(i.fail_on_error);
        assert!(i.summary);
        assert_eq!(i.timeout, 120);
        assert_eq!(i.jobs, None);
        assert!(!i.allow_remote);
        assert_eq!(i.cache, None);
        assert_eq!(i.cache_max_bytes, 512 * 1024 * 1024);
        assert!(i.builds().cache.is_none());
        assert_eq!(i.shard, None);
        assert!(i.merge_reports.is_empty());
    }

    #[test]
    fn cache_and_shard_inputs_are_read_and_each_error_names_its_input() {
        let i = inputs(&[
            ("INPUT_CACHE", "/runner/_temp/gitops-promote-cache"),
            ("INPUT_CACHE_SIZE", "64"),
            ("INPUT_SHARD", "2/4"),
        ])
        .unwrap();
        let cache = i.builds().cache.unwrap();
        assert_eq!(
            cache.dir,
            PathBuf::from("/runner/_temp/gitops-promote-cache")
        );
        assert_eq!(cache.max_bytes, 64 * 1024 * 1024);
        assert_eq!(i.shard, Some(Shard { index: 2, count: 4 }));

        let i = inputs(&[(
            "INPUT_MERGE_REPORTS",
            "partials/*.json\n\n  /tmp/shard-1.json  \n",
        )])
        .unwrap();
        assert_eq!(i.merge_reports, ["partials/*.json", "/tmp/shard-1.json"]);

        for (key, value, expected) in [
            (
                "INPUT_CACHE_SIZE",
                "0",
                "input `cache-size` must be a positive whole number of megabytes (got '0')",
            ),
            (
                "INPUT_CACHE_SIZE",
                "1G",
                "input `cache-size` must be a positive whole number of megabytes (got '1G')",
            ),
            (
                "INPUT_SHARD",
                "3/2",
                "input `shard`: shard \"3/2\" is not I/N (e.g. 2/4, with 1 <= I <= N <= 256)",
            ),
            (
                "INPUT_MERGE_REPORTS",
                "partials/[.json",
                "input `merge-reports`: 'partials/[.json' is not a glob: unclosed character class; missing ']'",
            ),
        ] {
            assert_eq!(error(&[(key, value)]), expected, "{key}={value}");
        }
        let both = error(&[("INPUT_SHARD", "1/2"), ("INPUT_MERGE_REPORTS", "*.json")]);
        assert!(
            both.starts_with("inputs `shard` (1/2) and `merge-reports` are both set"),
            "{both}"
        );
    }

    #[test]
    fn empty_strings_are_unset() {
        let all: Vec<(&str, &str)> = INPUT_NAMES
            .iter()
            .filter(|n| **n != "github-token")
            .map(|n| (*n, ""))
            .collect();
        let keys: Vec<String> = all
            .iter()
            .map(|(n, _)| format!("INPUT_{}", n.to_uppercase().replace('-', "_")))
            .collect();
        let pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "  ")).collect();
        let i = inputs(&pairs).unwrap();
        assert_eq!(i.max_comments, 3);
        assert!(i.fail_on_error);
        assert_eq!(i.comment_id, "default");

        let err = format!(
            "{:#}",
            ActionInputs::from_iter(vars(&[("INPUT_GITHUB_TOKEN", "")])).unwrap_err()
        );
        assert_eq!(err, "input `github-token` is required");
    }

    #[test]
    fn every_value_is_read() {
        let i = inputs(&[
            ("INPUT_WORKING_DIRECTORY", "gitops"),
            (
                "INPUT_PATHS",
                "overlays/prod/**\n  overlays/staging/*, apps/*\n\n",
            ),
            ("INPUT_KUSTOMIZE", "kubectl kustomize"),
            (
                "INPUT_BUILD_ARGS",
                "--enable-helm\n--load-restrictor LoadRestrictionsNone\n--helm-command 'my helm'",
            ),
            ("INPUT_COMMENT_MODE", "Recreate"),
            ("INPUT_COMMENT_ID", "prod-eu.1_a"),
            ("INPUT_MAX_COMMENTS", "10"),
            ("INPUT_HIDE_OUTDATED", "TRUE"),
            ("INPUT_COMMENT_ON_NO_CHANGES", "True"),
            ("INPUT_FAIL_ON_ERROR", "false"),
            ("INPUT_SUMMARY", "FALSE"),
            ("INPUT_TIMEOUT", " 300 "),
            ("INPUT_JOBS", "4"),
            ("INPUT_ALLOW_REMOTE", "true"),
        ])
        .unwrap();
        assert_eq!(i.working_directory, PathBuf::from("gitops"));
        assert_eq!(
            i.paths,
            ["overlays/prod/**", "overlays/staging/*", "apps/*"]
        );
        assert_eq!(i.kustomize.as_deref(), Some("kubectl kustomize"));
        assert_eq!(
            i.build_args,
            [
                "--enable-helm",
                "--load-restrictor",
                "LoadRestrictionsNone",
                "--helm-command",
                "my helm"
            ]
        );
        assert_eq!(i.comment_mode, CommentMode::Recreate);
        assert_eq!(i.comment_id, "prod-eu.1_a");
        assert_eq!(i.max_comments, 10);
        assert!(i.hide_outdated && i.comment_on_no_changes && i.allow_remote);
        assert!(!i.fail_on_error && !i.summary);
        assert_eq!(i.timeout, 300);
        assert_eq!(i.jobs, Some(4));
    }

    #[test]
    fn risk_inputs_are_read_and_each_error_names_its_input() {
        let i = inputs(&[
            ("INPUT_RISK_LEVEL", "high"),
            ("INPUT_RISK_IGNORE", "image-latest,\nprobe-removed"),
            ("INPUT_KUBERNETES_VERSION", "v1.29.3-eks-1234"),
            ("INPUT_PRODUCTION_PATHS", "live/**"),
            (
                "INPUT_IGNORE",
                "# Argo CD writes it on sync\n* /metadata/annotations/argocd.argoproj.io~1tracking-id\n",
            ),
        ])
        .unwrap();
        assert_eq!(i.risk_level, Some(Severity::High));
        let ignored: Vec<&str> = i.risks.ignore.iter().map(|r| r.id()).collect();
        assert_eq!(ignored, ["probe-removed", "image-latest"]);
        assert_eq!(i.risks.kubernetes.unwrap().to_string(), "1.29");
        assert!(i.risks.production.is_production("live/eu"));
        assert!(!i.risks.production.is_production("overlays/production"));
        assert_eq!(
            i.ignore.listed(),
            ["* /metadata/annotations/argocd.argoproj.io~1tracking-id"]
        );
        assert_eq!(inputs(&[]).unwrap().risk_level, None);
        assert!(inputs(&[("INPUT_RISK_IGNORE", "all")]).unwrap().risks.off);

        assert_eq!(
            error(&[("INPUT_RISK_LEVEL", "medium")]),
            "input `risk-level` must be none, high or any (got 'medium')"
        );
        assert!(
            error(&[("INPUT_RISK_IGNORE", "image-lastest")])
                .starts_with("input `risk-ignore`: 'image-lastest' is not a risk rule id; the ids are selector-changed,"),
        );
        assert!(
            error(&[("INPUT_KUBERNETES_VERSION", "latest")])
                .starts_with("input `kubernetes-version`: "),
        );
        assert!(
            error(&[("INPUT_PRODUCTION_PATHS", "live/[")])
                .starts_with("input `production-paths`: 'live/[' is not a glob"),
        );
        let bad_ignore = error(&[("INPUT_IGNORE", "* /ok\nDeployment")]);
        assert!(
            bad_ignore.starts_with("input `ignore`: ") && bad_ignore.contains("line 2"),
            "{bad_ignore}"
        );
    }

    #[test]
    fn privileged_builds_are_off_unless_allowed() {
        assert!(!inputs(&[]).unwrap().allow_privileged_builds);
        let allowed = inputs(&[("INPUT_ALLOW_PRIVILEGED_BUILDS", "true")]).unwrap();
        assert!(allowed.allow_privileged_builds);
        assert_eq!(
            error(&[("INPUT_ALLOW_PRIVILEGED_BUILDS", "yes")]),
            "input `allow-privileged-builds` must be true or false (got 'yes')"
        );
    }

    #[test]
    fn the_runners_dash_spelling_is_accepted() {
        let i = ActionInputs::from_iter(vars(&[
            ("INPUT_GITHUB-TOKEN", TOKEN),
            ("INPUT_FAIL-ON-ERROR", "false"),
            ("INPUT_MAX_COMMENTS", "5"),
            ("INPUT_MAX-COMMENTS", "7"),
        ]))
        .unwrap();
        assert!(!i.fail_on_error);
        assert_eq!(i.max_comments, 5);
    }

    #[test]
    fn bad_values_name_their_input() {
        let cases = [
            (
                "INPUT_FAIL_ON_ERROR",
                "yes",
                "input `fail-on-error` must be true or false (got 'yes')",
            ),
            (
                "INPUT_HIDE_OUTDATED",
                "1",
                "input `hide-outdated` must be true or false (got '1')",
            ),
            (
                "INPUT_COMMENT_ON_NO_CHANGES",
                "tRuE",
                "input `comment-on-no-changes` must be true or false (got 'tRuE')",
            ),
            (
                "INPUT_SUMMARY",
                "on",
                "input `summary` must be true or false (got 'on')",
            ),
            (
                "INPUT_ALLOW_REMOTE",
                "no",
                "input `allow-remote` must be true or false (got 'no')",
            ),
            (
                "INPUT_MAX_COMMENTS",
                "0",
                "input `max-comments` must be a whole number from 1 to 10 (got '0')",
            ),
            (
                "INPUT_MAX_COMMENTS",
                "11",
                "input `max-comments` must be a whole number from 1 to 10 (got '11')",
            ),
            (
                "INPUT_TIMEOUT",
                "2m",
                "input `timeout` must be a positive whole number of seconds (got '2m')",
            ),
            (
                "INPUT_TIMEOUT",
                "0",
                "input `timeout` must be a positive whole number of seconds (got '0')",
            ),
            (
                "INPUT_JOBS",
                "-1",
                "input `jobs` must be a positive whole number of builds (got '-1')",
            ),
            (
                "INPUT_COMMENT_MODE",
                "sticky",
                "input `comment-mode` must be update, recreate or off (got 'sticky')",
            ),
            (
                "INPUT_COMMENT_ID",
                "prod -->",
                "input `comment-id` may only contain letters, digits, `.`, `_` and `-`, at most \
                 64 characters (got 'prod -->')",
            ),
            (
                "INPUT_BUILD_ARGS",
                "--enable-helm\n--helm-command 'my helm",
                "input `build-args` line 2 has an unmatched quote or a trailing backslash: \
                 --helm-command 'my helm",
            ),
        ];
        for (key, value, expected) in cases {
            assert_eq!(error(&[(key, value)]), expected, "{key}={value}");
        }
    }

    #[test]
    fn debug_never_prints_the_token() {
        let i = inputs(&[]).unwrap();
        let debug = format!("{i:?} {i:#?}");
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(!debug.contains("ghs_"), "{debug}");
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn paths_split_on_newlines_and_commas() {
        assert_eq!(split_list("a\nb"), ["a", "b"]);
        assert_eq!(split_list("a, b,,c ,"), ["a", "b", "c"]);
        assert_eq!(split_list("\r\n overlays/*/prod \r\n"), ["overlays/*/prod"]);
        assert!(split_list(" , \n").is_empty());
    }

    /// `INPUT_NAMES` is what a test compares with `action.yml`; it must match what is read.
    #[test]
    fn input_names_match_the_inputs_read() {
        let all: Vec<(String, String)> = INPUT_NAMES
            .iter()
            .map(|n| {
                (
                    format!("INPUT_{}", n.to_uppercase().replace('-', "_")),
                    "x".to_owned(),
                )
            })
            .collect();
        let raw: RawInputs = envy::prefixed("INPUT_").from_iter(all).unwrap();
        let json = serde_json::to_value(&raw).unwrap();
        let fields = json.as_object().unwrap();
        let mut read: Vec<String> = fields.keys().map(|k| k.replace('_', "-")).collect();
        read.sort();
        assert_eq!(read, INPUT_NAMES);
        assert!(fields.values().all(|v| v == "x"), "{json}");
    }

    fn runner_vars() -> Vec<(String, String)> {
        vars(&[
            ("GITHUB_EVENT_NAME", "pull_request"),
            (
                "GITHUB_EVENT_PATH",
                "/home/runner/work/_temp/_github_workflow/event.json",
            ),
            ("GITHUB_REPOSITORY", "acme/gitops"),
            ("GITHUB_WORKSPACE", "/home/runner/work/gitops/gitops"),
            ("GITHUB_SHA", "ffac537e6cbbf934b08745a378932722df287a53"),
            ("GITHUB_REF", "refs/pull/42/merge"),
            ("GITHUB_HEAD_REF", "feature/replicas"),
            ("GITHUB_BASE_REF", "develop"),
            ("GITHUB_RUN_ID", "1658821493"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_ACTOR", "octocat"),
            (
                "GITHUB_OUTPUT",
                "/home/runner/work/_temp/_runner_file_commands/set_output_1",
            ),
            ("GITHUB_STEP_SUMMARY", ""),
            ("RUNNER_TEMP", "/home/runner/work/_temp"),
            ("PATH", "/usr/bin"),
        ])
    }

    #[test]
    fn runner_env_reads_the_documented_variables() {
        let env = RunnerEnv::from_iter(runner_vars()).unwrap();
        assert_eq!(env.event_name, "pull_request");
        assert_eq!(env.repository.to_string(), "acme/gitops");
        assert_eq!(env.api_url, "https://api.github.com");
        assert_eq!(env.server_url, "https://github.com");
        assert_eq!(env.graphql_url, "https://api.github.com/graphql");
        assert_eq!(env.ref_.as_deref(), Some("refs/pull/42/merge"));
        assert_eq!(env.base_ref.as_deref(), Some("develop"));
        assert_eq!(env.sha, "ffac537e6cbbf934b08745a378932722df287a53");
        assert_eq!(env.run_id, 1_658_821_493);
        assert_eq!(env.run_attempt, Some(2));
        assert_eq!(env.step_summary, None);
        assert_eq!(env.runner_temp, PathBuf::from("/home/runner/work/_temp"));
    }

    #[test]
    fn runner_env_takes_enterprise_urls() {
        let mut v = runner_vars();
        v.extend(vars(&[
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
            ("GITHUB_GRAPHQL_URL", "https://ghe.example.com/api/graphql"),
            ("GITHUB_SERVER_URL", "https://ghe.example.com"),
        ]));
        let env = RunnerEnv::from_iter(v).unwrap();
        assert_eq!(env.api_url, "https://ghe.example.com/api/v3");
        assert_eq!(env.server_url, "https://ghe.example.com");
    }

    #[test]
    fn runner_env_errors_name_the_variable() {
        for var in [
            "GITHUB_EVENT_NAME",
            "GITHUB_EVENT_PATH",
            "GITHUB_REPOSITORY",
            "GITHUB_WORKSPACE",
            "GITHUB_SHA",
            "GITHUB_RUN_ID",
        ] {
            let v: Vec<_> = runner_vars()
                .into_iter()
                .filter(|(k, _)| k != var)
                .collect();
            let err = format!("{:#}", RunnerEnv::from_iter(v).unwrap_err());
            assert_eq!(
                err,
                format!(
                    "environment variable {var} is not set; is this running in GitHub Actions?"
                )
            );
        }
        let bad = |key: &str, value: &str| {
            let mut v = runner_vars();
            v.push((key.to_owned(), value.to_owned()));
            format!("{:#}", RunnerEnv::from_iter(v).unwrap_err())
        };
        assert_eq!(
            bad("GITHUB_REPOSITORY", "acme"),
            "invalid environment variable GITHUB_REPOSITORY: \"acme\" is not a repository in the \
             form owner/name"
        );
        assert_eq!(
            bad("GITHUB_RUN_ID", "abc"),
            "environment variable GITHUB_RUN_ID must be a number (got 'abc')"
        );
        assert_eq!(
            bad("GITHUB_API_URL", "api.github.com"),
            "environment variable GITHUB_API_URL must be an http(s) URL (got 'api.github.com')"
        );
    }

    #[test]
    fn repo_slugs_follow_githubs_rules() {
        for good in ["acme/gitops", "a-b/c.d_e", "user_emu/repo"] {
            assert!(good.parse::<RepoSlug>().is_ok(), "{good}");
        }
        for bad in ["", "acme", "/x", "x/", "a/b/c", "a b/c", "a/..", "a/."] {
            assert!(bad.parse::<RepoSlug>().is_err(), "{bad}");
        }
    }
}
