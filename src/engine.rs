//! The diff flow end to end: plan which overlays to build, export each needed tree once, build in
//! parallel, parse and diff. Returns a `Report`; rendering and publishing happen elsewhere.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::diff::{OverlayDiff, OverlayStatus, Report, Revision, Stats, diff_resources};
use crate::git::{ExportReport, GitError, Repo, Snapshot};
use crate::kustomize::{BuildFailure, BuildJob, Builder, Closure, Graph, KustomizeCommand};
use crate::manifest::{Resource, parse_resources};

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
    /// Show a progress bar on stderr when it is a terminal.
    pub progress: bool,
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
    closures: Vec<Closure>,
    remote: BTreeSet<String>,
}

/// One side of the comparison: its commit, files and kustomizations.
struct Loaded {
    revision: Revision,
    snapshot: Snapshot,
    graph: Graph,
}

pub async fn run(options: &DiffOptions) -> Result<Report, DiffError> {
    let started = Instant::now();
    let selector = globs(&options.paths)?;
    let repo = Repo::open(&options.repo)?;
    let head_commit = repo.resolve(&options.head)?;
    let mut base_commit = repo.resolve(&options.base)?;
    if options.merge_base {
        base_commit = repo.merge_base(base_commit, head_commit)?;
    }
    let base = load_side(&repo, &options.base, base_commit)?;
    let head = load_side(&repo, &options.head, head_commit)?;

    let plan = plan(&base, &head, selector.as_ref(), options);
    let needs = |side: Side| {
        plan.iter().any(|p| {
            p.build
                && p.remote_ok(options)
                && if side == Side::Base {
                    p.at_base
                } else {
                    p.at_head
                }
        })
    };
    let workspace = tempfile::Builder::new()
        .prefix("gitops-promote-")
        .tempdir()
        .context("creating a temporary directory for the exported trees")?;
    let export = |side: Side, s: &Loaded| -> anyhow::Result<(Arc<PathBuf>, ExportReport)> {
        let dir = workspace
            .path()
            .join(if side == Side::Base { "base" } else { "head" });
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let report = if needs(side) {
            repo.export(&s.snapshot, &dir)
                .with_context(|| format!("exporting {} ({})", s.revision.name, s.revision.sha))?
        } else {
            ExportReport::default()
        };
        Ok((Arc::new(dir), report))
    };
    let (base_dir, base_export) = export(Side::Base, &base)?;
    let (head_dir, head_export) = export(Side::Head, &head)?;

    let mut jobs = Vec::new();
    let mut job_sides = Vec::new();
    for p in plan.iter().filter(|p| p.build && p.remote_ok(options)) {
        for (side, present, dir) in [
            (Side::Base, p.at_base, &base_dir),
            (Side::Head, p.at_head, &head_dir),
        ] {
            if present {
                jobs.push(BuildJob {
                    tree: dir.clone(),
                    overlay: p.path.clone(),
                });
                job_sides.push(side);
            }
        }
    }

    let builder = Builder {
        command: options.kustomize.clone(),
        build_args: options.build_args.clone(),
        jobs: options.jobs,
        timeout: options.timeout,
    };
    let bar = progress_bar(options.progress, jobs.len());
    let tick = bar.clone();
    let outputs = builder.run_all(&jobs, move || tick.inc(1)).await;
    bar.finish_and_clear();

    let mut results = jobs.iter().zip(job_sides).zip(outputs);
    let mut overlays = Vec::new();
    for p in &plan {
        if !p.build {
            overlays.push(overlay(p, OverlayStatus::Unchanged, None, Vec::new()));
            continue;
        }
        if !p.remote_ok(options) {
            let list = p.remote.iter().cloned().collect::<Vec<_>>().join(", ");
            let message = format!(
                "not built: it uses remote bases ({list}); pass --allow-remote to fetch and build them"
            );
            overlays.push(overlay(p, OverlayStatus::Error, Some(message), Vec::new()));
            continue;
        }
        let mut rendered: [Option<Vec<Resource>>; 2] = [None, None];
        let mut errors = Vec::new();
        for _ in 0..(usize::from(p.at_base) + usize::from(p.at_head)) {
            let ((_, side), output) = results.next().expect("one result per job");
            let (revision, export) = match side {
                Side::Base => (&base.revision, &base_export),
                Side::Head => (&head.revision, &head_export),
            };
            match output
                .map_err(|f| explain_failure(f, p, export))
                .and_then(|yaml| parse_resources(&yaml).map_err(|e| e.to_string()))
            {
                Ok(resources) => rendered[side as usize] = Some(resources),
                Err(message) => errors.push(format!(
                    "at {} ({}): {message}",
                    revision.name,
                    short(&revision.sha)
                )),
            }
        }
        if !errors.is_empty() {
            overlays.push(overlay(
                p,
                OverlayStatus::Error,
                Some(errors.join("\n\n")),
                Vec::new(),
            ));
            continue;
        }
        let [old, new] = rendered;
        let resources = diff_resources(old.unwrap_or_default(), new.unwrap_or_default());
        let status = match (p.at_base, p.at_head) {
            (false, true) => OverlayStatus::Added,
            (true, false) => OverlayStatus::Removed,
            _ if resources.is_empty() => OverlayStatus::Unchanged,
            _ => OverlayStatus::Changed,
        };
        overlays.push(overlay(p, status, None, resources));
    }

    let roots: BTreeSet<&String> = base
        .graph
        .roots
        .keys()
        .chain(head.graph.roots.keys())
        .collect();
    let stats = Stats {
        roots: roots.len(),
        overlays: plan.len(),
        affected: plan.iter().filter(|p| p.build).count(),
        builds: jobs.len(),
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_kb: peak_rss_kb(),
    };
    drop(workspace);
    Ok(Report {
        base: base.revision,
        head: head.revision,
        merge_base: options.merge_base,
        overlays,
        stats,
    })
}

impl Planned {
    fn remote_ok(&self, options: &DiffOptions) -> bool {
        self.remote.is_empty() || options.allow_remote
    }
}

fn overlay(
    p: &Planned,
    status: OverlayStatus,
    error: Option<String>,
    resources: Vec<crate::diff::ResourceDiff>,
) -> OverlayDiff {
    OverlayDiff {
        path: p.path.clone(),
        status,
        error,
        remote: p.remote.iter().cloned().collect(),
        resources,
    }
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
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        // Directories are matched without a trailing slash, so `overlays/*/` means `overlays/*`.
        let trimmed = pattern.trim_end_matches('/');
        let glob = Glob::new(trimmed).map_err(|e| DiffError::Glob {
            glob: pattern.clone(),
            message: e.kind().to_string(),
        })?;
        set.add(glob);
    }
    set.build().map(Some).map_err(|e| DiffError::Glob {
        glob: patterns.join(", "),
        message: e.to_string(),
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
            let closures: Vec<Closure> = [(at_base, base), (at_head, head)]
                .into_iter()
                .filter(|(present, _)| *present)
                .map(|(_, side)| side.graph.closure(&side.snapshot, &path))
                .collect();
            let build = options.all
                || !(at_base && at_head)
                || closures
                    .iter()
                    .any(|c| !c.unparseable.is_empty() || c.touched_by(&path, &changed));
            let remote = closures
                .iter()
                .flat_map(|c| c.remote.iter().cloned())
                .collect();
            Planned {
                path,
                at_base,
                at_head,
                build,
                closures,
                remote,
            }
        })
        .collect()
}

/// A failed build's message, plus the one cause kustomize cannot name: a symlink the export
/// left out because it points outside the repository.
fn explain_failure(failure: BuildFailure, p: &Planned, export: &ExportReport) -> String {
    let mut message = failure.to_string();
    for (link, target) in &export.skipped_links {
        let used =
            message.contains(link.as_str()) || p.closures.iter().any(|c| c.files.contains(link));
        if used {
            message.push_str(&format!(
                "\nnote: {link} is a symlink to {target}, outside the repository; it was not exported"
            ));
        }
    }
    message
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

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
