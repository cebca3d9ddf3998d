//! The diff flow end to end: plan which overlays to build, export each needed tree once, build in
//! parallel, parse and diff. Returns a `Report`; rendering and publishing happen elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use anyhow::Context;
use globset::GlobSet;

use crate::applications::{self, AppOptions, AppsReport, Placement, Resolved, Scan, UnitSide};
use crate::argocd::source::{self, Overrides};
use crate::cache::{CacheSettings, CacheStats, Key, KeyBuilder, Lookup, RenderCache};
use crate::diff::{diff_paired, pair};
use crate::git::{ExportReport, GitError, Repo, Snapshot, join_relative};
use crate::globs::{GlobError, glob_set};
use crate::ignore::IgnoreRules;
use crate::kustomize::{
    BuildFailure, BuildJob, Builder, Closure, Graph, KustomizeCommand, RunBuilds,
};
use crate::manifest::{Resource, SecretValues, parse_resources};
use crate::model::{Filters, OverlayDiff, OverlayStatus, Report, Revision, Stats, short};
use crate::risk::{self, RiskSettings, Sides as RiskSides};
use crate::shard::{self, Partial, Shard, Work};

/// What to compare and how to build.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    pub repo: PathBuf,
    pub base: String,
    pub head: String,
    /// Compare merge-base(base, head) with head, like `git diff base...head`.
    pub merge_base: bool,
    /// Globs selecting overlays by directory; empty means "every leaf kustomization".
    pub paths: Vec<String>,
    /// Build every overlay, affected or not.
    pub all: bool,
    pub kustomize: KustomizeCommand,
    pub build_args: Vec<String>,
    pub jobs: usize,
    pub timeout: Duration,
    /// Build overlays that pull remote bases (needs the network).
    pub allow_remote: bool,
    /// Why the code being rendered is not trusted (a fork's PR, `pull_request_target`, a
    /// ChatOps `/diff`), or `None`. Untrusted code is never built with build args that let it
    /// run programs or read outside its tree, unless `allow_privileged` says so.
    pub untrusted: Option<String>,
    /// Build untrusted code with privileged build args anyway.
    pub allow_privileged: bool,
    /// Show a progress bar on stderr when it is a terminal.
    pub progress: bool,
    /// Fields left out of diffs and counts.
    pub ignore: IgnoreRules,
    /// Which risks to look for.
    pub risks: RiskSettings,
    /// Whether and how to report by Argo CD application.
    pub apps: AppOptions,
    /// Where renders are kept by content, to read back instead of building again.
    pub cache: Option<CacheSettings>,
    /// Build only this shard's part of the affected overlays (`run_partial`).
    pub shard: Option<Shard>,
}

/// How every diff of one run is built, before the two commits are known: the action's PR
/// comment, a promotion's production diff and an Image Updater PR all render alike from these.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// The build command as given; detected (`kustomize build`, else `kubectl kustomize`) when
    /// `None`, at the first build, so a run that builds nothing never needs it.
    pub kustomize: Option<String>,
    pub paths: Vec<String>,
    pub build_args: Vec<String>,
    /// Parallel builds; one per core when `None`.
    pub jobs: Option<usize>,
    pub timeout: Duration,
    pub allow_remote: bool,
    pub allow_privileged: bool,
    pub ignore: IgnoreRules,
    pub risks: RiskSettings,
    pub apps: AppOptions,
    pub cache: Option<CacheSettings>,
}

impl BuildSettings {
    /// The options for comparing `base` with `head` in `repo`. Whether the code is trusted is
    /// the caller's to set: it knows the event (see `event::trust`).
    pub fn diff_options(
        &self,
        repo: &std::path::Path,
        base: git2::Oid,
        head: git2::Oid,
    ) -> anyhow::Result<DiffOptions> {
        let kustomize = KustomizeCommand::given_or_detected(self.kustomize.as_deref())
            .map_err(|e| anyhow::anyhow!("input `kustomize`: {e}"))?;
        Ok(DiffOptions {
            repo: repo.to_path_buf(),
            base: base.to_string(),
            head: head.to_string(),
            merge_base: false,
            paths: self.paths.clone(),
            all: false,
            kustomize,
            build_args: self.build_args.clone(),
            jobs: self.jobs.unwrap_or_else(default_jobs),
            timeout: self.timeout,
            allow_remote: self.allow_remote,
            untrusted: None,
            allow_privileged: self.allow_privileged,
            progress: false,
            ignore: self.ignore.clone(),
            risks: self.risks.clone(),
            apps: self.apps.clone(),
            cache: self.cache.clone(),
            shard: None,
        })
    }
}

/// Why no report could be made at all. Everything else is reported per overlay.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("invalid --path glob '{glob}': {message}")]
    Glob { glob: String, message: String },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Base,
    Head,
}

/// The decision for one overlay before anything is built.
struct Planned {
    path: String,
    at_base: bool,
    at_head: bool,
    build: bool,
    closures: Vec<(Side, Closure)>,
    remote: BTreeSet<String>,
    /// Why an overlay that must be built is not, reported as its error.
    blocked: Option<String>,
    /// The Argo CD application this entry renders, when the report is by application.
    app: Option<PlannedApp>,
    /// Another shard builds it.
    elsewhere: bool,
}

/// An application's place in the plan: what the report calls it and what it renders per side.
#[derive(Debug, Clone)]
struct PlannedApp {
    info: applications::AppInfo,
    sides: [Option<UnitSide>; 2],
}

impl Planned {
    /// The kustomization directory built at `side`.
    fn dir(&self, side: Side) -> &str {
        self.app
            .as_ref()
            .and_then(|a| a.sides[side as usize].as_ref())
            .map_or(self.path.as_str(), |s| s.dir.as_str())
    }

    /// What the report calls it: its application, else its directory.
    fn label(&self) -> &str {
        self.app
            .as_ref()
            .map_or(self.path.as_str(), |a| a.info.name.as_str())
    }
}

/// One side of the comparison: its commit, files and kustomizations.
struct Loaded {
    revision: Revision,
    snapshot: Snapshot,
    graph: Graph,
}

/// Renders every affected overlay at both commits with `builds` and diffs them.
pub async fn run(options: &DiffOptions, builds: &impl RunBuilds) -> Result<Report, DiffError> {
    Ok(execute(options, builds).await?.report)
}

/// Renders this shard's part (`options.shard`) of the affected overlays and diffs them, for
/// `shard::merge` to join with the other shards' parts.
pub async fn run_partial(
    options: &DiffOptions,
    builds: &impl RunBuilds,
) -> Result<Partial, DiffError> {
    let shard = options
        .shard
        .ok_or_else(|| anyhow::anyhow!("a partial report needs a shard"))?;
    let done = execute(options, builds).await?;
    Ok(Partial {
        format: shard::FORMAT.to_string(),
        shard,
        owners: done.owners,
        times: done.times,
        report: done.report,
    })
}

/// A run's report, which shard built each overlay, and how long this run's builds took.
struct Done {
    report: Report,
    owners: Vec<usize>,
    times: BTreeMap<String, f64>,
}

async fn execute(options: &DiffOptions, builds: &impl RunBuilds) -> Result<Done, DiffError> {
    let started = Instant::now();
    let selector = globs(&options.paths)?;
    let repo = Repo::open(&options.repo)?;
    let head_commit = repo.resolve(&options.head)?;
    let mut base_commit = repo.resolve(&options.base)?;
    if options.merge_base {
        base_commit = repo.merge_base(base_commit, head_commit)?;
    }
    let sides = [
        load_side(&repo, &options.base, base_commit)?,
        load_side(&repo, &options.head, head_commit)?,
    ];
    let cache = options
        .cache
        .clone()
        .map(RenderCache::open)
        .transpose()
        .map_err(|e| DiffError::Other(e.into()))?;

    let workspace = tempfile::Builder::new()
        .prefix("gitops-promote-")
        .tempdir()
        .context("creating a temporary directory for the exported trees")?;
    let mut apps = find_applications(&repo, &sides, options, builds, workspace.path()).await?;
    let mut plan = match apps.as_mut() {
        Some(found) => {
            let mut plan = plan_applications(&sides, selector.as_ref(), options, found);
            block(&mut plan, options);
            plan
        }
        None => plan_overlays(&sides, selector.as_ref(), options),
    };
    let owners = match options.shard {
        Some(shard) => {
            let known = cache.as_ref().map(RenderCache::times).unwrap_or_default();
            place(&mut plan, shard, &known)
        }
        None => vec![0; plan.len()],
    };
    let materialised = materialise(&repo, &plan, &sides, workspace.path())?;
    let site = BuildSite {
        plan: &plan,
        sides: &sides,
        cache: cache.as_ref(),
    };
    let outcome = build(materialised.overlays, site, options, builds).await;
    let mut risk_time = Duration::ZERO;
    let review = Review {
        ignore: &options.ignore,
        risks: &options.risks,
        risk_time: &mut risk_time,
    };
    let overlays = diff(
        &plan,
        outcome.built,
        &sides,
        &materialised.exports,
        review,
        || generator_secrets(&repo, &sides),
    );
    let applications = apps.map(|found| found.report(&plan, &overlays));
    let times: BTreeMap<String, f64> = plan
        .iter()
        .zip(&outcome.seconds)
        .filter_map(|(p, s)| Some((p.label().to_string(), (*s)?)))
        .collect();
    let mut cache_stats = outcome.cache;
    if let (Some(cache), Some(stats)) = (&cache, cache_stats.as_mut()) {
        // A full cache disk or a read-only one loses the next run's speed, not this report.
        stats.evicted = cache.evict().unwrap_or(0);
        if options.shard.is_none() {
            let _ = cache.record_times(&times);
        }
    }

    let roots: BTreeSet<&String> = sides
        .iter()
        .flat_map(|side| side.graph.roots.keys())
        .collect();
    let stats = Stats {
        roots: roots.len(),
        overlays: plan.len(),
        affected: plan.iter().filter(|p| p.build).count(),
        builds: outcome.runs,
        seconds: started.elapsed().as_secs_f64(),
        risk_seconds: risk_time.as_secs_f64(),
        peak_rss_kb: peak_rss_kb(),
        cache: cache_stats,
    };
    drop(workspace);
    let [base, head] = sides;
    let report = Report {
        base: base.revision,
        head: head.revision,
        merge_base: options.merge_base,
        overlays,
        applications,
        filters: Filters {
            ignored_fields: options.ignore.listed(),
            ignored_risks: if options.risks.off {
                vec!["all".to_string()]
            } else {
                options
                    .risks
                    .ignore
                    .iter()
                    .map(|r| r.id().to_string())
                    .collect()
            },
        },
        stats,
    };
    Ok(Done {
        report,
        owners,
        times,
    })
}

/// Splits the affected entries among the shards and marks those another shard builds; returns
/// each entry's shard (0: unaffected, no shard builds it). Every shard computes the same split
/// from the same commits and recorded times.
fn place(plan: &mut [Planned], shard: Shard, known: &BTreeMap<String, f64>) -> Vec<usize> {
    let affected: Vec<usize> = (0..plan.len()).filter(|&i| plan[i].build).collect();
    let work: Vec<Work> = affected
        .iter()
        .map(|&i| {
            let p = &plan[i];
            Work {
                label: p.label(),
                seconds: known.get(p.label()).copied(),
                size: p
                    .closures
                    .iter()
                    .map(|(_, c)| c.files.len() + c.dirs.len())
                    .sum(),
            }
        })
        .collect();
    let assigned = shard::assign(&work, shard.count);
    let mut owners = vec![0; plan.len()];
    for (i, owner) in affected.into_iter().zip(assigned) {
        owners[i] = owner;
        plan[i].elsewhere = owner != shard.index;
    }
    owners
}

/// Every `secretGenerator` value that every kustomization names at both refs, literal or read
/// from its `files`/`envs`: an error may echo one even when no render of it succeeded.
fn generator_secrets(repo: &Repo, sides: &[Loaded; 2]) -> SecretValues {
    let mut secrets = SecretValues::default();
    for loaded in sides {
        for (dir, root) in &loaded.graph.roots {
            let Ok(refs) = &root.refs else {
                continue;
            };
            refs.secret_literals.iter().for_each(|v| secrets.add(v));
            let sources = refs
                .secret_sources
                .iter()
                .filter_map(|source| join_relative(dir, source))
                .filter_map(|path| loaded.snapshot.files.get(&path))
                .filter_map(|entry| repo.read_blob(entry.oid).ok());
            for content in sources {
                let text = String::from_utf8_lossy(&content);
                secrets.add(&text);
                // An env file's values, without their `KEY=`.
                for line in text.lines() {
                    if let Some((_, value)) = line.split_once('=') {
                        secrets.add(value);
                    }
                }
            }
        }
    }
    secrets
}

/// Decides, per overlay, whether it is built and what stops it from being built.
fn plan_overlays(
    sides: &[Loaded; 2],
    selector: Option<&GlobSet>,
    options: &DiffOptions,
) -> Vec<Planned> {
    let [base, head] = sides;
    let mut plan = plan(base, head, selector, options);
    block(&mut plan, options);
    plan
}

/// Sets what stops each entry that must be built from being built.
fn block(plan: &mut [Planned], options: &DiffOptions) {
    let refusal = privileged_refusal(options);
    for p in plan.iter_mut().filter(|p| p.build) {
        p.blocked = p.blocked_by(options, refusal.as_deref());
    }
}

/// The trees the builds read, exported once per side, and each built overlay's jobs.
struct Materialised {
    /// What exporting each side skipped or could not write, indexed by `Side`.
    exports: [ExportReport; 2],
    /// One entry per planned overlay, in plan order; `None` for those not built.
    overlays: Vec<Option<Prepared>>,
}

/// One overlay ready to build: the Argo CD overrides applied to its trees.
struct Prepared {
    rendering: Rendering,
    /// Per side it exists on, in base-then-head order: its build, or why it could not be
    /// prepared.
    sides: Vec<(Side, Result<BuildJob, String>)>,
}

/// One overlay's builds, per side it exists on.
struct Built {
    rendering: Rendering,
    outputs: Vec<(Side, Result<String, BuildFailure>)>,
}

/// Exports each side's tree into `workspace` (only when an overlay builds there) and applies
/// every built overlay's Argo CD override files.
fn materialise(
    repo: &Repo,
    plan: &[Planned],
    sides: &[Loaded; 2],
    workspace: &std::path::Path,
) -> Result<Materialised, DiffError> {
    let present = |p: &Planned, side: Side| match side {
        Side::Base => p.at_base,
        Side::Head => p.at_head,
    };
    let mut dirs = Vec::new();
    let mut exports: [ExportReport; 2] = Default::default();
    for side in [Side::Base, Side::Head] {
        let loaded = &sides[side as usize];
        let dir = workspace.join(match side {
            Side::Base => "base",
            Side::Head => "head",
        });
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if plan.iter().any(|p| p.builds() && present(p, side)) {
            exports[side as usize] = repo.export(&loaded.snapshot, &dir).with_context(|| {
                format!(
                    "exporting {} ({})",
                    loaded.revision.name, loaded.revision.sha
                )
            })?;
        }
        dirs.push(Arc::new(dir));
    }

    // Overlays another built overlay includes: an Argo CD override edits the overlay's own
    // kustomization, which must not leak into the other overlay's build.
    // Several applications may build one directory, each with its own settings.
    let mut included: [BTreeSet<&str>; 2] = Default::default();
    let mut built_dirs: [BTreeMap<&str, usize>; 2] = Default::default();
    for p in plan.iter().filter(|p| p.builds()) {
        for (side, closure) in &p.closures {
            let dir = p.dir(*side);
            *built_dirs[*side as usize].entry(dir).or_default() += 1;
            included[*side as usize].extend(
                closure
                    .roots
                    .iter()
                    .map(String::as_str)
                    .filter(|d| *d != dir),
            );
        }
    }
    for side in [Side::Base, Side::Head] {
        for (dir, count) in &built_dirs[side as usize] {
            if *count > 1 {
                included[side as usize].insert(dir);
            }
        }
    }
    let overlays = plan
        .iter()
        .map(|p| {
            if !p.builds() {
                return None;
            }
            let mut rendering = Rendering::default();
            let mut jobs = Vec::new();
            for side in [Side::Base, Side::Head] {
                if !present(p, side) {
                    continue;
                }
                let dir = p.dir(side);
                let app = p.app.as_ref().and_then(|a| a.sides[side as usize].as_ref());
                let prepared = prepare_overrides(
                    repo,
                    &sides[side as usize],
                    dir,
                    &dirs[side as usize],
                    included[side as usize].contains(dir),
                    workspace,
                    app,
                );
                let job = prepared.map(|(tree, overrides)| {
                    if let Some(o) = overrides {
                        rendering.add(o.applied, o.notes);
                    }
                    BuildJob {
                        tree,
                        overlay: dir.to_string(),
                    }
                });
                jobs.push((side, job));
            }
            Some(Prepared {
                rendering,
                sides: jobs,
            })
        })
        .collect();
    Ok(Materialised { exports, overlays })
}

/// What the builds read besides the jobs: the plan and both sides (for cache keys), and the
/// cache.
struct BuildSite<'a> {
    plan: &'a [Planned],
    sides: &'a [Loaded; 2],
    cache: Option<&'a RenderCache>,
}

/// The builds' results per plan entry, how many times kustomize ran, how long each entry's
/// builds took, and what the cache did.
struct Outcome {
    built: Vec<Option<Built>>,
    runs: usize,
    /// Per plan entry, its builds' time in seconds (as recorded, for a render read from the
    /// cache); `None` where nothing was built.
    seconds: Vec<Option<f64>>,
    cache: Option<CacheStats>,
}

/// One distinct render: its job, cache key, and result once known.
struct Render {
    job: BuildJob,
    key: Option<Key>,
    output: Option<Result<String, BuildFailure>>,
    took: Duration,
}

/// Reads what the cache holds, runs every other prepared build in parallel, stores the new
/// renders, and hands each output back to its overlay and side.
async fn build(
    prepared: Vec<Option<Prepared>>,
    site: BuildSite<'_>,
    options: &DiffOptions,
    builds: &impl RunBuilds,
) -> Outcome {
    let identity = site.cache.and_then(|_| command_identity(options));
    let mut stats = site.cache.map(|_| CacheStats::default());
    // Applications that render one directory alike at one side (no settings of their own)
    // share its build, and so do two builds with one cache key (an overlay both sides build
    // alike).
    let mut unique: BTreeMap<(PathBuf, String), usize> = BTreeMap::new();
    let mut by_key: BTreeMap<Key, usize> = BTreeMap::new();
    let mut renders: Vec<Render> = Vec::new();
    for (p, prep) in site.plan.iter().zip(&prepared) {
        let Some(prep) = prep else {
            continue;
        };
        for (side, job) in &prep.sides {
            let Ok(job) = job else {
                continue;
            };
            let place = ((*job.tree).clone(), job.overlay.clone());
            if unique.contains_key(&place) {
                continue;
            }
            let key = identity
                .as_deref()
                .and_then(|id| render_key(id, p, *side, &site.sides[*side as usize], job));
            if let Some(&i) = key.as_ref().and_then(|k| by_key.get(k)) {
                unique.insert(place, i);
                continue;
            }
            let mut render = Render {
                job: job.clone(),
                key,
                output: None,
                took: Duration::ZERO,
            };
            if let (Some(cache), Some(stats)) = (site.cache, stats.as_mut()) {
                match render.key.as_ref().map(|k| cache.get(k)) {
                    None => stats.uncacheable += 1,
                    Some(Lookup::Hit(yaml, took)) => {
                        stats.hits += 1;
                        render.output = Some(Ok(yaml));
                        render.took = took;
                    }
                    Some(Lookup::Miss) => stats.misses += 1,
                    Some(Lookup::Corrupt(_)) => stats.corrupt += 1,
                }
            }
            if let Some(k) = &render.key {
                by_key.insert(k.clone(), renders.len());
            }
            unique.insert(place, renders.len());
            renders.push(render);
        }
    }

    let to_run: Vec<usize> = (0..renders.len())
        .filter(|&i| renders[i].output.is_none())
        .collect();
    let jobs: Vec<BuildJob> = to_run.iter().map(|&i| renders[i].job.clone()).collect();
    let builder = builder(options);
    let bar = progress_bar(options.progress, jobs.len());
    let tick = bar.clone();
    let took = Arc::new(std::sync::Mutex::new(vec![Duration::ZERO; jobs.len()]));
    let record = took.clone();
    // One output per job, in the order of `jobs`.
    let outputs = builds
        .run_all(&builder, &jobs, move |index, elapsed| {
            if let Some(slot) = record.lock().expect("never poisoned").get_mut(index) {
                *slot = elapsed;
            }
            tick.inc(1);
        })
        .await;
    bar.finish_and_clear();
    let took = took.lock().expect("never poisoned").clone();
    for ((i, output), elapsed) in to_run.iter().zip(outputs).zip(took) {
        let render = &mut renders[*i];
        if let (Some(cache), Some(key), Ok(yaml), Some(stats)) =
            (site.cache, &render.key, &output, stats.as_mut())
            && cache.put(key, yaml, elapsed).is_ok()
        {
            stats.written += 1;
        }
        render.output = Some(output);
        render.took = elapsed;
    }

    let mut seconds = Vec::with_capacity(prepared.len());
    let built = prepared
        .into_iter()
        .map(|p| {
            let Some(p) = p else {
                seconds.push(None);
                return None;
            };
            let mut total = 0.0;
            let outputs = p
                .sides
                .into_iter()
                .map(|(side, job)| {
                    let output = match job {
                        Ok(job) => unique
                            .get(&((*job.tree).clone(), job.overlay))
                            .map(|&i| {
                                total += renders[i].took.as_secs_f64();
                                renders[i].output.clone()
                            })
                            .and_then(|o| o)
                            .unwrap_or_else(|| {
                                Err(BuildFailure::Failed("the build gave no result".to_string()))
                            }),
                        Err(message) => Err(BuildFailure::Failed(message)),
                    };
                    (side, output)
                })
                .collect();
            seconds.push(Some(total));
            Some(Built {
                rendering: p.rendering,
                outputs,
            })
        })
        .collect();
    Outcome {
        built,
        runs: jobs.len(),
        seconds,
        cache: stats,
    }
}

/// What identifies the build command in every cache key: the kustomize binary's content (its
/// version, however it was installed), its arguments and the build args. `None` when renders
/// cannot be cached: the program is not found, or the args let a build run programs or read
/// files outside its tree, which the key cannot cover.
fn command_identity(options: &DiffOptions) -> Option<Vec<u8>> {
    let command = &options.kustomize;
    let args: Vec<String> = command
        .args
        .iter()
        .chain(&options.build_args)
        .cloned()
        .collect();
    if !crate::kustomize::privileged_args(&args).is_empty() {
        return None;
    }
    let program = if command.program.contains('/') {
        PathBuf::from(&command.program)
    } else {
        crate::kustomize::build::find_on_path(&command.program)?
    };
    let digest = crate::cache::hash_file(&program).ok()?;
    let mut identity = KeyBuilder::new();
    identity.part(digest.as_bytes());
    identity.part(&(command.args.len() as u64).to_le_bytes());
    for arg in &args {
        identity.part(arg.as_bytes());
    }
    Some(identity.finish().as_str().as_bytes().to_vec())
}

/// The cache key of `p`'s build at `side`: the command, the directory, every file of its closure
/// (path and blob), and its kustomization as built (after Argo CD's edits). `None` when the
/// closure is not all in the repository: remote bases, an unreadable kustomization, a symlink.
fn render_key(
    identity: &[u8],
    p: &Planned,
    side: Side,
    loaded: &Loaded,
    job: &BuildJob,
) -> Option<Key> {
    let (_, closure) = p.closures.iter().find(|(s, _)| *s == side)?;
    if !closure.remote.is_empty() || !closure.unparseable.is_empty() {
        return None;
    }
    let files = &loaded.snapshot.files;
    let mut key = KeyBuilder::new();
    key.part(identity).part(job.overlay.as_bytes());
    let add = |key: &mut KeyBuilder, path: &str| -> Option<()> {
        key.part(path.as_bytes());
        match files.get(path) {
            Some(entry) if entry.is_symlink() => return None,
            Some(entry) => key.part(entry.oid.as_bytes()),
            None => key.part(b"-"),
        };
        Some(())
    };
    for file in &closure.files {
        add(&mut key, file)?;
    }
    for dir in &closure.dirs {
        let prefix = if dir == "." {
            String::new()
        } else {
            format!("{dir}/")
        };
        key.part(b"dir").part(prefix.as_bytes());
        let inside = files
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .map(|(path, _)| path.clone())
            .collect::<Vec<_>>();
        for path in inside {
            add(&mut key, &path)?;
        }
    }
    for root in &closure.roots {
        for name in crate::kustomize::KUSTOMIZATION_FILES {
            if let Some(path) = join_relative(root, name).filter(|p| files.contains_key(p)) {
                add(&mut key, &path)?;
            }
        }
    }
    let kustomization = &loaded.graph.roots.get(&job.overlay)?.file;
    let built = std::fs::read(job.tree.join(kustomization)).ok()?;
    key.part(b"built").part(&built);
    Some(key.finish())
}

/// How every build of the run is made.
fn builder(options: &DiffOptions) -> Builder {
    Builder {
        command: options.kustomize.clone(),
        build_args: options.build_args.clone(),
        jobs: options.jobs,
        timeout: options.timeout,
        ..Builder::default()
    }
}

/// Parses and diffs each overlay's renders, then scrubs every Secret value any render or
/// kustomization holds from every error.
fn diff(
    plan: &[Planned],
    built: Vec<Option<Built>>,
    sides: &[Loaded; 2],
    exports: &[ExportReport; 2],
    mut review: Review,
    generator_secrets: impl FnOnce() -> SecretValues,
) -> Vec<OverlayDiff> {
    let mut rendered = SecretValues::default();
    let mut overlays: Vec<OverlayDiff> = plan
        .iter()
        .zip(built)
        .map(|(p, built)| diff_overlay(p, built, sides, exports, &mut review, &mut rendered))
        .collect();
    if overlays.iter().all(|o| o.error.is_none()) {
        return overlays;
    }
    // Only now are all renders' Secrets known; any overlay's error may echo any of them, or a
    // generator's value that no render holds. Those are read only when there is an error.
    let mut secrets = generator_secrets();
    secrets.extend(rendered);
    for o in &mut overlays {
        if let Some(error) = &mut o.error {
            *error = cap_chars(&secrets.scrub(error), MAX_ERROR_CHARS);
        }
    }
    overlays
}

/// What the diff step does beyond diffing: fields to leave out, risks to find, and the time
/// finding them took.
struct Review<'a> {
    ignore: &'a IgnoreRules,
    risks: &'a RiskSettings,
    risk_time: &'a mut Duration,
}

/// One overlay's result from its builds; the Secrets its renders hold are added to `secrets`.
fn diff_overlay(
    p: &Planned,
    built: Option<Built>,
    sides: &[Loaded; 2],
    exports: &[ExportReport; 2],
    review: &mut Review,
    secrets: &mut SecretValues,
) -> OverlayDiff {
    // Another shard's entry is a placeholder the merge replaces.
    if !p.build || p.elsewhere {
        return overlay(p, OverlayStatus::Unchanged, None, Vec::new());
    }
    let Some(Built { rendering, outputs }) = built else {
        return overlay(p, OverlayStatus::Error, p.blocked.clone(), Vec::new());
    };
    let Rendering { overrides, notes } = rendering;
    let mut rendered: [Option<Vec<Resource>>; 2] = [None, None];
    let mut errors = Vec::new();
    for (side, output) in outputs {
        let revision = &sides[side as usize].revision;
        match output
            .map_err(|f| explain_failure(f, p, &exports[side as usize]))
            .and_then(|yaml| parse_resources(&yaml).map_err(|e| e.to_string()))
        {
            Ok(resources) => {
                secrets.add_secrets(&resources);
                rendered[side as usize] = Some(resources);
            }
            Err(message) => errors.push(format!(
                "at {} ({}): {message}",
                revision.name,
                short(&revision.sha)
            )),
        }
    }
    if !errors.is_empty() {
        let mut failed = overlay(
            p,
            OverlayStatus::Error,
            Some(errors.join("\n\n")),
            Vec::new(),
        );
        failed.overrides = overrides;
        failed.notes = notes;
        return failed;
    }
    let [old, new] = rendered;
    let (mut old, mut new) = (old.unwrap_or_default(), new.unwrap_or_default());
    if !review.ignore.is_empty() {
        review.ignore.apply(&mut old);
        review.ignore.apply(&mut new);
    }
    let images = crate::images::changes(&old, &new);
    let pairs = pair(&old, &new);
    let started = Instant::now();
    let risks = risk::assess(
        &p.path,
        &RiskSides {
            base: &old,
            head: &new,
            pairs: &pairs,
        },
        review.risks,
    );
    *review.risk_time += started.elapsed();
    let resources = diff_paired(old, new, &pairs);
    let status = match (p.at_base, p.at_head) {
        (false, true) => OverlayStatus::Added,
        (true, false) => OverlayStatus::Removed,
        _ if resources.is_empty() => OverlayStatus::Unchanged,
        _ => OverlayStatus::Changed,
    };
    let mut done = overlay(p, status, None, resources);
    done.images = images;
    done.risks = risks;
    done.overrides = overrides;
    done.notes = notes;
    done
}

impl Planned {
    /// Whether kustomize runs for this overlay.
    fn builds(&self) -> bool {
        self.build && self.blocked.is_none() && !self.elsewhere
    }

    /// Why this overlay may not be built with these options, if it may not.
    fn blocked_by(&self, options: &DiffOptions, refusal: Option<&str>) -> Option<String> {
        if let Some(refusal) = refusal {
            return Some(refusal.to_string());
        }
        if options.allow_remote {
            return None;
        }
        // What an unreadable kustomization fetches is unknown; kustomize would find out by
        // fetching it.
        let unreadable = self
            .closures
            .iter()
            .flat_map(|(_, c)| &c.unparseable)
            .next();
        if let Some((file, reason)) = unreadable {
            return Some(format!(
                "not built: {file} cannot be read ({reason}), so whether it fetches anything from \
                 the network is unknown; fix it, or pass --allow-remote to let kustomize try"
            ));
        }
        if !self.remote.is_empty() {
            let list = self.remote.iter().cloned().collect::<Vec<_>>().join(", ");
            return Some(format!(
                "not built: it uses remote bases ({list}); pass --allow-remote to fetch and build them"
            ));
        }
        None
    }
}

/// Why no overlay is built: the code is untrusted and the build args would let it run programs
/// or read outside its tree. Building without those args instead would show a wrong render as
/// if it were right, so nothing is built and every affected overlay says why.
fn privileged_refusal(options: &DiffOptions) -> Option<String> {
    let reason = options.untrusted.as_deref()?;
    if options.allow_privileged {
        return None;
    }
    let all: Vec<String> = options
        .kustomize
        .args
        .iter()
        .chain(&options.build_args)
        .cloned()
        .collect();
    let refused = crate::kustomize::privileged_args(&all);
    if refused.is_empty() {
        return None;
    }
    let (noun, verb) = if refused.len() == 1 {
        ("arg", "lets")
    } else {
        ("args", "let")
    };
    let list = refused
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "not built: the build {noun} {list} {verb} the rendered code run programs or read files \
         outside the repository, and {reason}; set the input `allow-privileged-builds: true` to \
         build it anyway"
    ))
}

fn overlay(
    p: &Planned,
    status: OverlayStatus,
    error: Option<String>,
    resources: Vec<crate::model::ResourceDiff>,
) -> OverlayDiff {
    OverlayDiff {
        error,
        remote: p.remote.iter().cloned().collect(),
        resources,
        application: p.app.as_ref().map(|a| a.info.clone()),
        ..OverlayDiff::new(p.path.clone(), status)
    }
}

/// How one overlay was rendered, beyond its kustomization: Argo CD override files and notes.
#[derive(Debug, Default, PartialEq)]
struct Rendering {
    overrides: Vec<String>,
    notes: Vec<String>,
}

impl Rendering {
    /// Adds one side's override files and notes; both sides usually name the same ones.
    fn add(&mut self, applied: Vec<String>, notes: Vec<String>) {
        for file in applied {
            if !self.overrides.contains(&file) {
                self.overrides.push(file);
            }
        }
        for note in notes {
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
    }
}

/// Where one overlay is prepared at one side: the tree exported for the side, and whether
/// another build reads the same directory there.
struct Site<'a> {
    repo: &'a Repo,
    side: &'a Loaded,
    overlay: &'a str,
    tree: &'a Arc<PathBuf>,
    shared: bool,
    workspace: &'a std::path::Path,
    /// `at <revision> (<sha>)`, which starts every error.
    at: &'a str,
}

impl Site<'_> {
    /// Edits the overlay's kustomization as Argo CD does before building, in a private copy of
    /// the side's tree when another build reads the same directory, so the edit cannot leak
    /// into it. Returns the tree to build in; `what` names the edit in an error.
    fn edit_kustomization(
        &self,
        what: &str,
        edit: impl FnOnce(&mut Value) -> Result<(), String>,
    ) -> Result<Arc<PathBuf>, String> {
        let (at, overlay) = (self.at, self.overlay);
        let tree = if self.shared {
            let private = tempfile::Builder::new()
                .prefix("overlay-")
                .tempdir_in(self.workspace)
                .map_err(|e| format!("{at}: creating a private copy for {overlay}: {e}"))?
                .keep();
            self.repo
                .export(&self.side.snapshot, &private)
                .map_err(|e| format!("{at}: exporting a private copy for {overlay}: {e:#}"))?;
            Arc::new(private)
        } else {
            self.tree.clone()
        };
        let kustomization = &self.side.graph.roots[overlay].file;
        let target = tree.join(kustomization);
        let apply = || -> Result<(), String> {
            let text = std::fs::read_to_string(&target).map_err(|e| e.to_string())?;
            let mut doc: Value = serde_saphyr::from_str(&text).map_err(|e| {
                format!(
                    "not valid YAML: {}",
                    crate::manifest::yaml_error_summary(&e)
                )
            })?;
            edit(&mut doc)?;
            // A symlinked kustomization must not be edited through the link.
            std::fs::remove_file(&target).map_err(|e| e.to_string())?;
            // JSON is YAML, and kustomize reads it as such.
            std::fs::write(
                &target,
                serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())
        };
        apply().map_err(|e| format!("{at}: cannot apply {what} to {kustomization}: {e}"))?;
        Ok(tree)
    }
}

/// Applies the overlay's Argo CD override files (if any set images) to its kustomization in the
/// exported tree, the way Argo CD runs `kustomize edit set image` before building. An overlay
/// that another overlay includes gets a private copy of the tree to edit. Returns the tree to
/// build in and the overrides used, or why the overlay cannot be built as Argo CD would.
fn prepare_overrides(
    repo: &Repo,
    side: &Loaded,
    overlay: &str,
    tree: &Arc<PathBuf>,
    shared: bool,
    workspace: &std::path::Path,
    app: Option<&UnitSide>,
) -> Result<(Arc<PathBuf>, Option<Overrides>), String> {
    let at = format!("at {} ({})", side.revision.name, short(&side.revision.sha));
    let site = Site {
        repo,
        side,
        overlay,
        tree,
        shared,
        workspace,
        at: &at,
    };
    if let Some(app) = app {
        return prepare_application(&site, app);
    }
    let prefix = if overlay == "." {
        ".argocd-".to_string()
    } else {
        format!("{overlay}/.argocd-")
    };
    let candidates: Vec<&String> = side
        .snapshot
        .files
        .range(prefix.clone()..)
        .take_while(|(path, _)| path.starts_with(&prefix))
        .filter(|(_, entry)| !entry.is_symlink())
        .map(|(path, _)| path)
        .collect();
    let (files, mut notes) = source::files_of(overlay, candidates.iter().map(|p| p.as_str()));
    if files.is_empty() {
        return Ok((
            tree.clone(),
            (!notes.is_empty()).then(|| Overrides {
                notes,
                ..Overrides::default()
            }),
        ));
    }
    let mut contents = Vec::new();
    for file in &files {
        let bytes = repo
            .read_blob(side.snapshot.files[file].oid)
            .map_err(|e| format!("{at}: {file}: {e:#}"))?;
        contents.push((file.clone(), bytes));
    }
    let mut overrides = source::merge(&contents).map_err(|e| format!("{at}: {e}"))?;
    overrides.notes.splice(0..0, notes.drain(..));
    if overrides.images.is_empty() {
        return Ok((tree.clone(), Some(overrides)));
    }
    let what = format!("the image overrides of {}", overrides.applied.join(", "));
    let tree = site.edit_kustomization(&what, |doc| source::set_images(doc, &overrides.images))?;
    Ok((tree, Some(overrides)))
}

/// Renders an application's directory the way Argo CD does: its source's kustomize settings,
/// merged with `.argocd-source.yaml` and its own `.argocd-source-<app>.yaml`, applied to the
/// kustomization before the build. Each application gets its own file, so several applications
/// of one directory each render their own way.
fn prepare_application(
    site: &Site,
    unit: &UnitSide,
) -> Result<(Arc<PathBuf>, Option<Overrides>), String> {
    let Site {
        repo,
        side,
        overlay,
        tree,
        at,
        ..
    } = *site;
    // Argo CD docs, "Parameter Overrides" (user-guide/parameters.md): the generic file, then
    // the application's own, merged in that order.
    let mut files = Vec::new();
    for path in crate::argocd::app::override_file_paths(overlay, &unit.app.name) {
        if let Some(entry) = side.snapshot.files.get(&path).filter(|e| !e.is_symlink()) {
            let bytes = repo
                .read_blob(entry.oid)
                .map_err(|e| format!("{at}: {path}: {e:#}"))?;
            files.push((path, bytes));
        }
    }
    let source = &unit.app.sources[unit.source];
    let manifest_source = match unit.app.manifest.pointer("/spec/sources") {
        Some(Value::Array(sources)) => sources.get(unit.source).cloned(),
        _ => unit.app.manifest.pointer("/spec/source").cloned(),
    }
    .unwrap_or(Value::Null);
    let (settings, applied) = crate::argocd::app::with_override_files(&manifest_source, &files)
        .map_err(|e| format!("{at}: {e}"))?;
    let (settings, dropped) =
        crate::argocd::app::drop_missing_components(&settings, &tree.join(overlay));
    let mut overrides = Overrides {
        applied,
        notes: dropped,
        ..Overrides::default()
    };
    if !settings.not_applied.is_empty() {
        overrides.notes.push(format!(
            "not applied by gitops-promote: kustomize.{}",
            settings.not_applied.join(", kustomize.")
        ));
    }
    for tool in &source.other_tools {
        overrides.notes.push(format!(
            "not applied by gitops-promote: the source's {tool} settings"
        ));
    }
    if settings.is_empty() {
        return Ok((tree.clone(), Some(overrides)));
    }
    let what = format!("application {}'s kustomize settings", unit.app.name);
    let tree = site.edit_kustomization(&what, |doc| {
        overrides
            .notes
            .extend(crate::argocd::app::apply_kustomize(doc, &settings)?);
        Ok(())
    })?;
    Ok((tree, Some(overrides)))
}

/// The applications of both sides, when the report is by application.
struct FoundApps {
    resolved: [Resolved; 2],
    placement: Placement,
    branch: String,
    notes: Vec<String>,
}

impl FoundApps {
    /// The application part of the report, once every application is diffed.
    fn report(self, plan: &[Planned], overlays: &[OverlayDiff]) -> AppsReport {
        let mut manifests = applications::manifest_changes([&self.resolved[0], &self.resolved[1]]);
        for change in manifests.iter_mut().filter(|c| c.kind == "Application") {
            let Some(base) = self.resolved[0].apps.get(&change.name) else {
                continue;
            };
            if self.resolved[1].apps.contains_key(&change.name) {
                continue;
            }
            let generated = base.origin.starts_with("ApplicationSet ");
            if !applications::cascades(&base.app) && !generated {
                continue;
            }
            change.deletes = plan
                .iter()
                .zip(overlays)
                .find(|(p, _)| p.app.as_ref().is_some_and(|a| a.info.name == change.name))
                .filter(|(_, o)| o.status == OverlayStatus::Removed)
                .map(|(_, o)| o.resources.len());
        }
        let mut notes = self.notes;
        notes.extend(self.placement.notes);
        AppsReport {
            branch: self.branch,
            not_deployed: self.placement.not_deployed,
            manifests,
            notes,
        }
    }
}

/// Finds the Argo CD applications at both sides: manifests in files, the render of app-of-apps
/// overlays, and ApplicationSets expanded against each side's tree. `None` when the report is by
/// directory: turned off, or no application deploys from this repository.
async fn find_applications(
    repo: &Repo,
    sides: &[Loaded; 2],
    options: &DiffOptions,
    builds: &impl RunBuilds,
    workspace: &std::path::Path,
) -> Result<Option<FoundApps>, DiffError> {
    if options.apps.mode == applications::AppMode::Off {
        return Ok(None);
    }
    let mut scans: Vec<Scan> = sides
        .iter()
        .map(|s| applications::scan(repo, &s.snapshot, &s.graph))
        .collect();
    for (i, side) in sides.iter().enumerate() {
        if scans[i].render.is_empty() {
            continue;
        }
        let tree = workspace.join(format!("applications-{i}"));
        std::fs::create_dir(&tree).with_context(|| format!("creating {}", tree.display()))?;
        repo.export(&side.snapshot, &tree)
            .with_context(|| format!("exporting {} ({})", side.revision.name, side.revision.sha))?;
        let tree = Arc::new(tree);
        let overlays: Vec<String> = scans[i].render.iter().cloned().collect();
        let jobs: Vec<BuildJob> = overlays
            .iter()
            .map(|o| BuildJob {
                tree: tree.clone(),
                overlay: o.clone(),
            })
            .collect();
        let builder = builder(options);
        let outputs = builds.run_all(&builder, &jobs, |_, _| {}).await;
        for (overlay, output) in overlays.iter().zip(outputs) {
            let docs = output
                .map_err(|f| cause_lines(&f.to_string()))
                .and_then(|yaml| parse_resources(&yaml).map_err(|e| e.to_string()));
            match docs {
                Ok(resources) => {
                    scans[i].add_rendered(overlay, resources.into_iter().map(|r| r.body))
                }
                Err(e) => scans[i].notes.push(format!(
                    "at {}: {overlay} holds Argo CD applications but did not render: {e}",
                    side.revision.name
                )),
            }
        }
    }
    if scans.iter().all(Scan::is_empty) {
        return Ok(None);
    }
    let this_repo = options.apps.repo_url.as_deref();
    let mut scans = scans.into_iter();
    let resolve = |scan: Scan, side: &Loaded| {
        let files = applications::SnapshotFiles {
            repo,
            snapshot: &side.snapshot,
        };
        applications::resolve(scan, this_repo.unwrap_or(""), &files)
    };
    let resolved = [
        resolve(scans.next().unwrap_or_default(), &sides[0]),
        resolve(scans.next().unwrap_or_default(), &sides[1]),
    ];
    let from_here = resolved.iter().flat_map(|r| r.apps.values()).any(|l| {
        l.app.sources.iter().any(|s| {
            s.path.is_some()
                && this_repo.is_none_or(|url| crate::argocd::repo_url::same_repo(&s.repo_url, url))
        })
    });
    if !from_here {
        return Ok(None);
    }
    let branch = options
        .apps
        .branch
        .clone()
        .unwrap_or_else(|| applications::branch_name(&options.base).to_string());
    let default_branch = options
        .apps
        .default_branch
        .clone()
        .or_else(|| origin_default_branch(repo))
        .unwrap_or_default();
    let placement = applications::place(
        [&resolved[0], &resolved[1]],
        [&sides[0].graph, &sides[1].graph],
        this_repo,
        &branch,
        &default_branch,
    );
    let mut notes: Vec<String> = Vec::new();
    if this_repo.is_none() {
        notes.push(
            "this repository's URL is unknown, so every application's repoURL was taken for it"
                .to_string(),
        );
    }
    for r in &resolved {
        for note in &r.notes {
            if !notes.contains(note) {
                notes.push(note.clone());
            }
        }
    }
    Ok(Some(FoundApps {
        resolved,
        placement,
        branch,
        notes,
    }))
}

/// The branch `origin/HEAD` names, which `targetRevision: HEAD` means.
fn origin_default_branch(repo: &Repo) -> Option<String> {
    let git = repo.git2();
    let head = git.find_reference("refs/remotes/origin/HEAD").ok()?;
    let target = head.symbolic_target().ok()??;
    Some(target.strip_prefix("refs/remotes/origin/")?.to_string())
}

/// One entry per application deploying from the branch, built when its directory's closure
/// changed or its source settings did. Changed overlays no such application renders are named
/// in a note, so nothing changed goes unmentioned.
fn plan_applications(
    sides: &[Loaded; 2],
    selector: Option<&GlobSet>,
    options: &DiffOptions,
    found: &mut FoundApps,
) -> Vec<Planned> {
    let changed = sides[0].snapshot.changed_paths(&sides[1].snapshot);
    let mut planned = Vec::new();
    let mut rendered_dirs = BTreeSet::new();
    for unit in &found.placement.units {
        let dirs: Vec<&str> = unit
            .sides
            .iter()
            .flatten()
            .map(|s| s.dir.as_str())
            .collect();
        if let Some(globs) = selector
            && !dirs.iter().any(|d| globs.is_match(d))
        {
            continue;
        }
        rendered_dirs.extend(dirs.iter().map(|d| d.to_string()));
        let closures: Vec<(Side, Closure)> = [Side::Base, Side::Head]
            .into_iter()
            .filter_map(|side| {
                let s = unit.sides[side as usize].as_ref()?;
                let loaded = &sides[side as usize];
                Some((side, loaded.graph.closure(&loaded.snapshot, &s.dir)))
            })
            .collect();
        let (at_base, at_head) = (unit.sides[0].is_some(), unit.sides[1].is_some());
        let build = options.all
            || !(at_base && at_head)
            || unit.settings_changed
            || closures.iter().any(|(side, c)| {
                let dir = unit.sides[*side as usize]
                    .as_ref()
                    .map_or("", |s| s.dir.as_str());
                !c.unparseable.is_empty() || c.touched_by(dir, &changed)
            });
        let remote = closures
            .iter()
            .flat_map(|(_, c)| c.remote.iter().cloned())
            .collect();
        let path = unit.sides[1]
            .as_ref()
            .or(unit.sides[0].as_ref())
            .map(|s| s.dir.clone())
            .unwrap_or_default();
        planned.push(Planned {
            path,
            at_base,
            at_head,
            build,
            closures,
            remote,
            blocked: None,
            app: Some(PlannedApp {
                info: unit.info.clone(),
                sides: unit.sides.clone(),
            }),
            elsewhere: false,
        });
    }
    // A directory an application deploys from another branch is not an orphan.
    rendered_dirs.extend(
        found
            .placement
            .not_deployed
            .iter()
            .filter_map(|n| n.path.clone()),
    );
    let orphans: Vec<String> = plan(&sides[0], &sides[1], selector, options)
        .into_iter()
        .filter(|p| p.build && !rendered_dirs.contains(&p.path))
        .map(|p| p.path)
        .collect();
    if !orphans.is_empty() {
        found.notes.push(format!(
            "{} changed overlay(s) that no application deploys from {}: {}",
            orphans.len(),
            found.branch,
            orphans.join(", ")
        ));
    }
    planned
}

fn load_side(repo: &Repo, name: &str, commit: git2::Oid) -> Result<Loaded, DiffError> {
    let snapshot = repo.snapshot(commit)?;
    let graph = Graph::load(repo, &snapshot)
        .with_context(|| format!("reading the kustomizations of {name} ({commit})"))?;
    Ok(Loaded {
        revision: Revision {
            name: name.to_string(),
            sha: commit.to_string(),
        },
        snapshot,
        graph,
    })
}

fn globs(patterns: &[String]) -> Result<Option<GlobSet>, DiffError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    // Directories are matched without a trailing slash, so `overlays/*/` means `overlays/*`.
    let trimmed = patterns.iter().map(|p| p.trim_end_matches('/'));
    glob_set(trimmed, false).map(Some).map_err(|e| match e {
        GlobError::Pattern { index, error } => DiffError::Glob {
            glob: patterns[index].clone(),
            message: error.kind().to_string(),
        },
        GlobError::Set(e) => DiffError::Glob {
            glob: patterns.join(", "),
            message: e.to_string(),
        },
    })
}

/// Decides per overlay whether it must be built: only when its closure at either ref contains
/// a changed path, or cannot be known because a kustomization does not parse.
fn plan(
    base: &Loaded,
    head: &Loaded,
    selector: Option<&GlobSet>,
    options: &DiffOptions,
) -> Vec<Planned> {
    let changed = base.snapshot.changed_paths(&head.snapshot);
    let overlays: BTreeSet<String> = base
        .graph
        .overlays(selector)
        .union(&head.graph.overlays(selector))
        .cloned()
        .collect();
    overlays
        .into_iter()
        .map(|path| {
            let is_overlay = |side: &Loaded| {
                side.graph
                    .roots
                    .get(&path)
                    .is_some_and(|root| !root.component)
            };
            let (at_base, at_head) = (is_overlay(base), is_overlay(head));
            let closures: Vec<(Side, Closure)> =
                [(at_base, Side::Base, base), (at_head, Side::Head, head)]
                    .into_iter()
                    .filter(|(present, _, _)| *present)
                    .map(|(_, side, loaded)| (side, loaded.graph.closure(&loaded.snapshot, &path)))
                    .collect();
            let build = options.all
                || !(at_base && at_head)
                || closures
                    .iter()
                    .any(|(_, c)| !c.unparseable.is_empty() || c.touched_by(&path, &changed));
            let remote = closures
                .iter()
                .flat_map(|(_, c)| c.remote.iter().cloned())
                .collect();
            Planned {
                path,
                at_base,
                at_head,
                build,
                closures,
                remote,
                blocked: None,
                app: None,
                elsewhere: false,
            }
        })
        .collect()
}

/// A failed build's message, plus the one cause kustomize cannot name: a symlink the export
/// left out because it points outside the repository.
fn explain_failure(failure: BuildFailure, p: &Planned, export: &ExportReport) -> String {
    let mut message = match failure {
        BuildFailure::Failed(stderr) => cause_lines(&stderr),
        other => other.to_string(),
    };
    for (link, target) in &export.skipped_links {
        let used = message.contains(link.as_str())
            || p.closures.iter().any(|(_, c)| c.files.contains(link));
        if used {
            message.push_str(&format!(
                "\nnote: {link} is a symlink to {target}, outside the repository; it was not exported"
            ));
        }
    }
    message
}

/// Most characters of one overlay's error kept for comments, annotations and JSON.
const MAX_ERROR_CHARS: usize = 4_000;
/// Lines kept after each line that names a cause.
const CONTEXT_LINES: usize = 3;
/// Lines kept of one build's message.
const MAX_CAUSE_LINES: usize = 20;

/// The lines of kustomize's (or Helm's) stderr that name the cause: each `Error:`/`error:` line
/// (and kubectl's `"command failed"` line) with a few after it; else the first lines. Whole
/// lines only: the message is cut to a length after Secret values are scrubbed, so a value is
/// never split where the scrubber cannot recognise it.
fn cause_lines(message: &str) -> String {
    let lines: Vec<&str> = message.lines().collect();
    let is_cause = |line: &str| {
        let line = line.trim_start();
        line.starts_with("Error:")
            || line.starts_with("error:")
            || line.contains("\"command failed\"")
    };
    let mut keep = vec![false; lines.len()];
    for (index, _) in lines.iter().enumerate().filter(|(_, l)| is_cause(l)) {
        let end = (index + 1 + CONTEXT_LINES).min(lines.len());
        keep[index..end].iter_mut().for_each(|k| *k = true);
    }
    if !keep.contains(&true) {
        keep.iter_mut().for_each(|k| *k = true);
    }
    let kept: Vec<&str> = lines
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(line, _)| *line)
        .collect();
    let mut text = kept[..kept.len().min(MAX_CAUSE_LINES)].join("\n");
    let dropped = lines.len() - kept.len().min(MAX_CAUSE_LINES);
    if dropped > 0 {
        text.push_str(&format!("\n({dropped} more lines not shown)"));
    }
    text
}

/// `text` cut to `max` characters, saying so.
fn cap_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}… (cut)", &text[..cut]),
        None => text.to_string(),
    }
}

fn progress_bar(enabled: bool, total: usize) -> indicatif::ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() || total == 0 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} building overlays {pos}/{len} {wide_bar} {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// One build per core unless told otherwise.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=master",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    /// A repository whose one overlay, `app`, changes between `master` and `develop`; each
    /// `(path, content)` of `files` is written on `develop` too.
    fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, content: &str| {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        };
        git(dir.path(), &["init", "-q"]);
        write("app/kustomization.yaml", "resources: [cm.yaml]\n");
        write(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: '1'}\n",
        );
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "base"]);
        git(dir.path(), &["checkout", "-q", "-b", "develop"]);
        write(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: '2'}\n",
        );
        for (path, content) in files {
            write(path, content);
        }
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "change"]);
        dir
    }

    /// Runs each build one at a time with std's process API. These tests are about what the
    /// pipeline decides and reports; starting, limiting and killing processes is the binary's.
    struct Sequential;

    impl RunBuilds for Sequential {
        async fn run_all(
            &self,
            builder: &Builder,
            jobs: &[BuildJob],
            on_done: impl Fn(usize, Duration) + Send + Sync + 'static,
        ) -> Vec<Result<String, BuildFailure>> {
            jobs.iter()
                .enumerate()
                .map(|(index, job)| {
                    let started = Instant::now();
                    let out = Command::new(&builder.command.program)
                        .args(&builder.command.args)
                        .args(&builder.build_args)
                        .arg(job.tree.join(&job.overlay))
                        .current_dir(job.tree.as_path())
                        .output();
                    on_done(index, started.elapsed());
                    match out {
                        Ok(out) if out.status.success() => {
                            Ok(String::from_utf8(out.stdout).unwrap())
                        }
                        Ok(out) => Err(BuildFailure::Failed(
                            String::from_utf8_lossy(&out.stderr).trim().to_string(),
                        )),
                        Err(e) => Err(BuildFailure::NotStarted(e.to_string())),
                    }
                })
                .collect()
        }
    }

    /// Options running `kustomize` (a shell script body) on `repo`, master against develop.
    fn options(repo: &Path, tools: &Path, kustomize: &str) -> DiffOptions {
        let script = tools.join("kustomize.sh");
        std::fs::write(&script, kustomize).unwrap();
        DiffOptions {
            repo: repo.to_path_buf(),
            base: "master".to_string(),
            head: "develop".to_string(),
            merge_base: false,
            paths: Vec::new(),
            all: false,
            kustomize: KustomizeCommand {
                program: "sh".to_string(),
                args: vec![script.to_string_lossy().into_owned()],
            },
            build_args: Vec::new(),
            jobs: 1,
            timeout: Duration::from_secs(60),
            allow_remote: false,
            untrusted: None,
            allow_privileged: false,
            progress: false,
            ignore: IgnoreRules::default(),
            risks: RiskSettings::default(),
            apps: AppOptions::default(),
        }
    }

    /// A kustomize that notes each run in `ran` and renders the overlay's `cm.yaml`.
    fn recording_kustomize(ran: &Path) -> String {
        format!(
            "echo \"$@\" >> '{}'\nfor last; do :; done\ncat \"$last/cm.yaml\"\n",
            ran.display()
        )
    }

    #[tokio::test]
    async fn untrusted_code_is_not_built_with_privileged_args() {
        let repo = repo_with(&[]);
        let tools = tempfile::tempdir().unwrap();
        let ran = tools.path().join("ran");
        let mut options = options(repo.path(), tools.path(), &recording_kustomize(&ran));
        options.build_args = vec!["--enable-helm=true".to_string()];
        options.untrusted = Some("the pull request comes from a fork".to_string());

        let report = run(&options, &Sequential).await.unwrap();

        assert!(
            !ran.exists(),
            "kustomize ran: {:?}",
            std::fs::read_to_string(&ran)
        );
        let [app] = &report.overlays[..] else {
            panic!("one overlay: {:?}", report.overlays);
        };
        assert_eq!(app.status, OverlayStatus::Error);
        expect_test::expect!["not built: the build arg `--enable-helm=true` lets the rendered code run programs or read files outside the repository, and the pull request comes from a fork; set the input `allow-privileged-builds: true` to build it anyway"]
        .assert_eq(app.error.as_deref().unwrap());
    }

    #[tokio::test]
    async fn privileged_args_build_when_trusted_or_allowed() {
        let repo = repo_with(&[]);
        let tools = tempfile::tempdir().unwrap();
        let ran = tools.path().join("ran");
        let mut options = options(repo.path(), tools.path(), &recording_kustomize(&ran));
        options.build_args = vec!["--enable-helm".to_string()];
        let trusted = run(&options, &Sequential).await.unwrap();
        assert_eq!(trusted.overlays[0].status, OverlayStatus::Changed);

        options.untrusted = Some("the pull request comes from a fork".to_string());
        options.allow_privileged = true;
        let allowed = run(&options, &Sequential).await.unwrap();
        assert_eq!(allowed.overlays[0].status, OverlayStatus::Changed);
        assert_eq!(std::fs::read_to_string(&ran).unwrap().lines().count(), 4);
    }

    #[tokio::test]
    async fn untrusted_code_builds_with_ordinary_args() {
        let repo = repo_with(&[]);
        let tools = tempfile::tempdir().unwrap();
        let ran = tools.path().join("ran");
        let mut options = options(repo.path(), tools.path(), &recording_kustomize(&ran));
        options.build_args = vec![
            "--enable-helm=false".to_string(),
            "--load-restrictor".to_string(),
            "LoadRestrictionsRootOnly".to_string(),
        ];
        options.untrusted = Some("the pull request comes from a fork".to_string());
        let report = run(&options, &Sequential).await.unwrap();
        assert_eq!(
            report.overlays[0].status,
            OverlayStatus::Changed,
            "{:?}",
            report.overlays[0].error
        );
    }

    #[test]
    fn build_messages_keep_the_lines_that_name_the_cause() {
        let noisy = format!(
            "{}Error: accumulating resources from 'x.yaml': missing\n  at line 3\n{}",
            "I1204 helm: fetching index\n".repeat(30),
            "debug trace\n".repeat(30)
        );
        expect_test::expect![[r#"
            Error: accumulating resources from 'x.yaml': missing
              at line 3
            debug trace
            debug trace
            (58 more lines not shown)"#]]
        .assert_eq(&cause_lines(&noisy));
        assert_eq!(cause_lines("exit 1 with no words"), "exit 1 with no words");
        assert_eq!(cap_chars("abcdef", 3), "abc… (cut)");
        assert_eq!(cap_chars("abc", 3), "abc");
    }

    /// Both sides of `repo_with`'s repository, master and develop, loaded as `run` loads them.
    fn sides_of(dir: &Path) -> (Repo, [Loaded; 2]) {
        let repo = Repo::open(dir).unwrap();
        let base = repo.resolve("master").unwrap();
        let head = repo.resolve("develop").unwrap();
        let sides = [
            load_side(&repo, "master", base).unwrap(),
            load_side(&repo, "develop", head).unwrap(),
        ];
        (repo, sides)
    }

    #[test]
    fn the_plan_blocks_every_affected_overlay_when_privileged_args_are_refused() {
        let dir = repo_with(&[]);
        let tools = tempfile::tempdir().unwrap();
        let mut options = options(dir.path(), tools.path(), "exit 1");
        let (_repo, sides) = sides_of(dir.path());

        let plan = plan_overlays(&sides, None, &options);
        let [app] = &plan[..] else {
            panic!("one overlay")
        };
        assert!(app.build && app.at_base && app.at_head && app.builds());

        options.build_args = vec!["--enable-exec".to_string()];
        options.untrusted = Some("it is a fork".to_string());
        let plan = plan_overlays(&sides, None, &options);
        assert!(!plan[0].builds());
        assert!(
            plan[0]
                .blocked
                .as_deref()
                .unwrap()
                .contains("`--enable-exec`")
        );
    }

    #[test]
    fn materialising_exports_each_side_and_prepares_one_job_per_side() {
        let dir = repo_with(&[]);
        let tools = tempfile::tempdir().unwrap();
        let options = options(dir.path(), tools.path(), "exit 1");
        let (repo, sides) = sides_of(dir.path());
        let plan = plan_overlays(&sides, None, &options);
        let workspace = tempfile::tempdir().unwrap();

        let materialised = materialise(&repo, &plan, &sides, workspace.path()).unwrap();

        assert_eq!(materialised.builds(), 2);
        let [Some(app)] = &materialised.overlays[..] else {
            panic!("one built overlay")
        };
        let sides: Vec<Side> = app.sides.iter().map(|(side, _)| *side).collect();
        assert_eq!(sides, [Side::Base, Side::Head]);
        let cm = |side: &str| {
            std::fs::read_to_string(workspace.path().join(side).join("app/cm.yaml")).unwrap()
        };
        assert!(cm("base").contains("a: '1'") && cm("head").contains("a: '2'"));
        assert_eq!(app.rendering, Rendering::default());
    }

    #[test]
    fn nothing_is_exported_for_a_plan_that_builds_nothing() {
        let dir = repo_with(&[]);
        let tools = tempfile::tempdir().unwrap();
        let mut options = options(dir.path(), tools.path(), "exit 1");
        options.build_args = vec!["--enable-exec".to_string()];
        options.untrusted = Some("it is a fork".to_string());
        let (repo, sides) = sides_of(dir.path());
        let plan = plan_overlays(&sides, None, &options);
        let workspace = tempfile::tempdir().unwrap();

        let materialised = materialise(&repo, &plan, &sides, workspace.path()).unwrap();

        assert_eq!(materialised.builds(), 0);
        assert!(materialised.overlays[0].is_none());
        assert!(!workspace.path().join("head/app").exists());
    }

    #[tokio::test]
    async fn each_build_output_goes_back_to_its_overlay_and_side() {
        let tools = tempfile::tempdir().unwrap();
        // Renders the tree and overlay it was given, so each output says where it came from.
        let options = options(
            Path::new("."),
            tools.path(),
            "for last; do :; done\necho \"/$(basename \"$PWD\")/$(basename \"$last\")\"\n",
        );
        for tree in ["base", "head"] {
            std::fs::create_dir(tools.path().join(tree)).unwrap();
        }
        let job = |tree: &str, overlay: &str| BuildJob {
            tree: Arc::new(tools.path().join(tree.trim_start_matches('/'))),
            overlay: overlay.to_string(),
        };
        let prepared = vec![
            Some(Prepared {
                rendering: Rendering::default(),
                sides: vec![
                    (Side::Base, Ok(job("/base", "a"))),
                    (Side::Head, Ok(job("/head", "a"))),
                ],
            }),
            None,
            Some(Prepared {
                rendering: Rendering::default(),
                sides: vec![
                    (Side::Base, Err("no override".to_string())),
                    (Side::Head, Ok(job("/head", "b"))),
                ],
            }),
        ];

        let built = build(prepared, &options, &Sequential).await;

        let outputs: Vec<Option<Vec<(Side, String)>>> = built
            .into_iter()
            .map(|b| {
                b.map(|b| {
                    b.outputs
                        .into_iter()
                        .map(|(side, out)| {
                            let text = match out {
                                Ok(yaml) => yaml.trim().to_string(),
                                Err(BuildFailure::Failed(message)) => format!("failed: {message}"),
                                Err(other) => format!("{other:?}"),
                            };
                            (side, text)
                        })
                        .collect()
                })
            })
            .collect();
        assert_eq!(
            outputs,
            [
                Some(vec![
                    (Side::Base, "/base/a".to_string()),
                    (Side::Head, "/head/a".to_string())
                ]),
                None,
                Some(vec![
                    (Side::Base, "failed: no override".to_string()),
                    (Side::Head, "/head/b".to_string())
                ]),
            ]
        );
    }

    #[test]
    fn diffing_an_overlay_reports_changes_failures_and_blocked_builds() {
        let dir = repo_with(&[]);
        let (_repo, sides) = sides_of(dir.path());
        let exports: [ExportReport; 2] = Default::default();
        let planned = |build: bool, blocked: Option<&str>| Planned {
            path: "app".to_string(),
            at_base: true,
            at_head: true,
            build,
            closures: Vec::new(),
            remote: BTreeSet::new(),
            blocked: blocked.map(str::to_string),
            app: None,
            elsewhere: false,
        };
        let cm = |value: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web}}\ndata: {{a: '{value}'}}\n"
            )
        };
        let built = |base: Result<String, BuildFailure>| Built {
            rendering: Rendering {
                overrides: vec!["app/.argocd-source.yaml".to_string()],
                notes: Vec::new(),
            },
            outputs: vec![(Side::Base, base), (Side::Head, Ok(cm("2")))],
        };
        let mut secrets = SecretValues::default();
        let (ignore, risks, mut risk_time) = (
            IgnoreRules::default(),
            RiskSettings::default(),
            Duration::ZERO,
        );
        let mut review = Review {
            ignore: &ignore,
            risks: &risks,
            risk_time: &mut risk_time,
        };

        let changed = diff_overlay(
            &planned(true, None),
            Some(built(Ok(cm("1")))),
            &sides,
            &exports,
            &mut review,
            &mut secrets,
        );
        assert_eq!(changed.status, OverlayStatus::Changed);
        assert_eq!(changed.resources.len(), 1);
        assert_eq!(changed.overrides, ["app/.argocd-source.yaml"]);

        let failed = diff_overlay(
            &planned(true, None),
            Some(built(Err(BuildFailure::Failed("boom".to_string())))),
            &sides,
            &exports,
            &mut review,
            &mut secrets,
        );
        assert_eq!(failed.status, OverlayStatus::Error);
        let error = failed.error.unwrap();
        assert!(error.starts_with("at master ("), "{error}");
        assert!(error.contains("boom"), "{error}");
        assert_eq!(failed.overrides, ["app/.argocd-source.yaml"]);

        let blocked = diff_overlay(
            &planned(true, Some("not built: remote")),
            None,
            &sides,
            &exports,
            &mut review,
            &mut secrets,
        );
        assert_eq!(blocked.status, OverlayStatus::Error);
        assert_eq!(blocked.error.as_deref(), Some("not built: remote"));

        let unaffected = diff_overlay(
            &planned(false, None),
            None,
            &sides,
            &exports,
            &mut review,
            &mut secrets,
        );
        assert_eq!(unaffected.status, OverlayStatus::Unchanged);
    }

    #[test]
    fn renderings_list_each_override_file_and_note_once() {
        let mut rendering = Rendering::default();
        let files = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        rendering.add(files(&["a", "b"]), files(&["n"]));
        rendering.add(files(&["b", "c"]), files(&["n", "m"]));
        assert_eq!(rendering.overrides, ["a", "b", "c"]);
        assert_eq!(rendering.notes, ["n", "m"]);
    }

    /// Runs the diff on a repository whose `develop` writes `files`; returns the one overlay's
    /// result and whether kustomize ran.
    async fn diff_remote(files: &[(&str, &str)], allow_remote: bool) -> (OverlayDiff, bool) {
        let repo = repo_with(files);
        let tools = tempfile::tempdir().unwrap();
        let ran = tools.path().join("ran");
        let mut options = options(repo.path(), tools.path(), &recording_kustomize(&ran));
        options.allow_remote = allow_remote;
        let report = run(&options, &Sequential).await.unwrap();
        let [app] = &report.overlays[..] else {
            panic!("one overlay: {:?}", report.overlays);
        };
        (app.clone(), ran.exists())
    }

    #[tokio::test]
    async fn everything_kustomize_would_fetch_is_remote_and_not_built() {
        /// What the case is, the files `develop` writes, and what the report lists as remote.
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 6] = [
            (
                "a Helm chart from a repository",
                &[(
                    "app/kustomization.yaml",
                    "resources: [cm.yaml]\nhelmCharts:\n- name: redis\n  repo: https://charts.example.com/stable\n",
                )],
                "helm chart redis from https://charts.example.com/stable",
            ),
            (
                "a patch by URL",
                &[(
                    "app/kustomization.yaml",
                    "resources: [cm.yaml]\npatches:\n- path: https://example.com/patch.yaml\n",
                )],
                "https://example.com/patch.yaml",
            ),
            (
                "CRDs and an OpenAPI schema by URL",
                &[(
                    "app/kustomization.yaml",
                    "resources: [cm.yaml]\ncrds: [ssh://git@example.com/crds.yaml]\nopenapi: {path: 'https://example.com/schema.json'}\n",
                )],
                "https://example.com/schema.json, ssh://git@example.com/crds.yaml",
            ),
            (
                "a component by git URL",
                &[(
                    "app/kustomization.yaml",
                    "resources: [cm.yaml]\ncomponents: ['github.com/acme/parts//monitoring?ref=v1']\n",
                )],
                "github.com/acme/parts//monitoring?ref=v1",
            ),
            (
                "an inline Helm generator",
                &[(
                    "app/kustomization.yaml",
                    "resources: [cm.yaml]\ngenerators:\n- |\n  apiVersion: builtin\n  kind: HelmChartInflationGenerator\n  metadata: {name: redis}\n  name: redis\n  repo: oci://registry.example.com/charts\n",
                )],
                "helm chart redis from oci://registry.example.com/charts",
            ),
            (
                "a Helm generator file",
                &[
                    (
                        "app/kustomization.yaml",
                        "resources: [cm.yaml]\ngenerators: [redis.yaml]\n",
                    ),
                    (
                        "app/redis.yaml",
                        "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata: {name: redis}\nname: redis\nrepo: https://charts.example.com/stable\n",
                    ),
                ],
                "helm chart redis from https://charts.example.com/stable",
            ),
        ];
        for (case, files, remote) in cases {
            let (app, ran) = diff_remote(files, false).await;
            assert!(!ran, "{case}: kustomize ran");
            assert_eq!(app.status, OverlayStatus::Error, "{case}");
            assert_eq!(
                app.error.as_deref(),
                Some(
                    format!(
                        "not built: it uses remote bases ({remote}); pass --allow-remote to fetch and build them"
                    )
                    .as_str()
                ),
                "{case}"
            );
        }
    }

    #[tokio::test]
    async fn an_unreadable_kustomization_is_not_built_without_allow_remote() {
        let files = [
            ("app/kustomization.yaml", "resources: [cm.yaml, ../base]\n"),
            ("base/kustomization.yaml", "resources: [\"unclosed\n"),
        ];
        let (app, ran) = diff_remote(&files, false).await;
        assert!(!ran, "kustomize ran");
        assert_eq!(app.status, OverlayStatus::Error);
        let error = app.error.unwrap();
        assert!(
            error.starts_with("not built: base/kustomization.yaml cannot be read ("),
            "{error}"
        );
        assert!(
            error.ends_with("pass --allow-remote to let kustomize try"),
            "{error}"
        );

        let (_, ran) = diff_remote(&files, true).await;
        assert!(ran, "with --allow-remote kustomize is left to judge");
    }
}
