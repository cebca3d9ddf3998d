//! Argo CD applications as the unit of a report: which Applications and ApplicationSets the
//! repository holds at each side, which of them deploy from the compared branch, and what each
//! one's manifest change means. The engine renders each deployed application's path with its
//! own kustomize settings; this module decides what to render and describes the rest.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::argocd::app::{self, Application};
use crate::argocd::appset::{self, RepoFiles};
use crate::git::{Repo, Snapshot};
use crate::kustomize::Graph;
use crate::manifest::to_yaml;
use crate::model::Change;

/// Whether reports group by application.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AppMode {
    /// By application when the repository holds an Application or ApplicationSet that deploys
    /// from it; by directory otherwise.
    #[default]
    Auto,
    /// Always by directory.
    Off,
}

impl std::str::FromStr for AppMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" => Ok(AppMode::Auto),
            "off" => Ok(AppMode::Off),
            other => Err(format!("must be auto or off (got '{other}')")),
        }
    }
}

/// What the engine needs to know to find and place applications.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    pub mode: AppMode,
    /// This repository's URL, which an application's `repoURL` must name. `None`: every
    /// `repoURL` is taken for this repository (a note says so).
    pub repo_url: Option<String>,
    /// The branch the change lands on, whose applications the report renders; `None` takes the
    /// base ref's name.
    pub branch: Option<String>,
    /// What `targetRevision: HEAD` means.
    pub default_branch: Option<String>,
}

/// An Application or ApplicationSet manifest at one side, with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// A repository file, `ApplicationSet <name>` or `rendered by <overlay>`.
    pub(crate) origin: String,
    pub(crate) manifest: Value,
}

/// One side's Argo CD manifests, before ApplicationSets are expanded.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) applications: Vec<Found>,
    pub(crate) appsets: Vec<Found>,
    /// Overlays whose build holds Application or ApplicationSet manifests (app of apps):
    /// kustomize may change them, so they are taken from the render, not the files.
    pub(crate) render: BTreeSet<String>,
    pub(crate) notes: Vec<String>,
}

/// Files larger than this are not read for Argo CD manifests: Applications are small, and a
/// multi-megabyte CRD bundle is not one.
const MAX_SCAN_BYTES: usize = 1024 * 1024;

fn is_argo(doc: &Value, kind: &str) -> bool {
    doc.get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("argoproj.io/"))
        && doc.get("kind").and_then(Value::as_str) == Some(kind)
}

/// Reads every YAML file of a side for Application and ApplicationSet documents. A file that a
/// kustomize overlay builds is left to that overlay's render (listed in `render`).
pub(crate) fn scan(repo: &Repo, snapshot: &Snapshot, graph: &Graph) -> Scan {
    let mut scan = Scan::default();
    let mut in_files: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (path, entry) in &snapshot.files {
        if entry.is_symlink() || !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            continue;
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        if crate::argocd::source::is_override_file(name) {
            continue;
        }
        let Ok(bytes) = repo.read_blob(entry.oid) else {
            continue;
        };
        if bytes.len() > MAX_SCAN_BYTES {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        if !text.contains("argoproj.io") || !text.contains("Application") {
            continue;
        }
        let docs: Vec<Value> = match serde_saphyr::from_multiple(&text) {
            Ok(docs) => docs,
            Err(e) => {
                scan.notes.push(format!(
                    "{path}: not read for Argo CD applications: {}",
                    crate::manifest::yaml_error_summary(&e)
                ));
                continue;
            }
        };
        let argo: Vec<Value> = docs
            .into_iter()
            .filter(|d| is_argo(d, "Application") || is_argo(d, "ApplicationSet"))
            .collect();
        if !argo.is_empty() {
            in_files.insert(path.clone(), argo);
        }
    }
    if in_files.is_empty() {
        return scan;
    }
    // Argo CD docs, "Cluster Bootstrapping" (operator-manual/cluster-bootstrapping.md): an app
    // of apps is an application whose path renders Applications; what Argo CD creates is that
    // render, patches and prefixes included.
    let mut built: BTreeSet<String> = BTreeSet::new();
    for overlay in graph.overlays(None) {
        let closure = graph.closure(snapshot, &overlay);
        if closure.files.iter().any(|f| in_files.contains_key(f)) {
            built.extend(
                closure
                    .files
                    .iter()
                    .filter(|f| in_files.contains_key(*f))
                    .cloned(),
            );
            scan.render.insert(overlay);
        }
    }
    for (path, docs) in in_files {
        if built.contains(&path) {
            continue;
        }
        // A directory with a kustomization is applied through it (Argo CD docs, "Tool
        // Detection": a kustomization file makes the directory a kustomize application), so a
        // file beside it that no overlay builds is applied by nothing.
        let dir = path.rsplit_once('/').map_or(".", |(dir, _)| dir);
        if graph.roots.contains_key(dir) {
            continue;
        }
        for doc in docs {
            add(&mut scan, path.clone(), doc);
        }
    }
    scan
}

fn add(scan: &mut Scan, origin: String, doc: Value) {
    if is_argo(&doc, "ApplicationSet") {
        scan.appsets.push(Found {
            origin,
            manifest: doc,
        });
    } else {
        scan.applications.push(Found {
            origin,
            manifest: doc,
        });
    }
}

impl Scan {
    /// Adds the Argo CD manifests an app-of-apps overlay rendered.
    pub(crate) fn add_rendered(&mut self, overlay: &str, docs: impl IntoIterator<Item = Value>) {
        for doc in docs {
            if is_argo(&doc, "Application") || is_argo(&doc, "ApplicationSet") {
                add(self, format!("rendered by {overlay}"), doc);
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.applications.is_empty() && self.appsets.is_empty()
    }
}

/// A side's tree as the git generators read it.
pub(crate) struct SnapshotFiles<'a> {
    pub(crate) repo: &'a Repo,
    pub(crate) snapshot: &'a Snapshot,
}

impl RepoFiles for SnapshotFiles<'_> {
    fn directories(&self) -> Vec<String> {
        let mut dirs = BTreeSet::new();
        for path in self.snapshot.files.keys() {
            let mut dir = path.as_str();
            while let Some((parent, _)) = dir.rsplit_once('/') {
                if !dirs.insert(parent.to_string()) {
                    break;
                }
                dir = parent;
            }
        }
        dirs.into_iter().collect()
    }

    fn files(&self) -> Vec<String> {
        self.snapshot.files.keys().cloned().collect()
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let entry = self.snapshot.files.get(path)?;
        self.repo.read_blob(entry.oid).ok()
    }
}

/// One Application at one side, parsed, with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub(crate) origin: String,
    pub(crate) app: Application,
}

/// Every Application of a side by name (ApplicationSets expanded), and what could not be read.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    pub(crate) apps: BTreeMap<String, Located>,
    /// ApplicationSet name → the names of the applications it generates.
    pub(crate) appsets: BTreeMap<String, (Value, Vec<String>)>,
    pub(crate) notes: Vec<String>,
}

/// Parses the side's Applications and expands its ApplicationSets against its own tree.
pub(crate) fn resolve(scan: Scan, this_repo: &str, files: &dyn RepoFiles) -> Resolved {
    let mut resolved = Resolved {
        notes: scan.notes,
        ..Resolved::default()
    };
    let mut found = scan.applications;
    for set in scan.appsets {
        let name = set
            .manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
            .to_string();
        match appset::expand(&set.manifest, this_repo, files) {
            Ok(expanded) => {
                for skipped in &expanded.skipped {
                    resolved
                        .notes
                        .push(format!("ApplicationSet {name} ({}): {skipped}", set.origin));
                }
                let mut names = Vec::new();
                for manifest in expanded.applications {
                    if let Some(n) = manifest.pointer("/metadata/name").and_then(Value::as_str) {
                        names.push(n.to_string());
                    }
                    found.push(Found {
                        origin: format!("ApplicationSet {name}"),
                        manifest,
                    });
                }
                resolved.appsets.insert(name, (set.manifest, names));
            }
            Err(e) => resolved.notes.push(format!("{}: {e}", set.origin)),
        }
    }
    for f in found {
        match app::parse(&f.manifest) {
            Ok(parsed) => {
                if let Some(earlier) = resolved.apps.get(&parsed.name) {
                    resolved.notes.push(format!(
                        "Application {} is defined twice ({} and {}); the first is used",
                        parsed.name, earlier.origin, f.origin
                    ));
                    continue;
                }
                resolved.apps.insert(
                    parsed.name.clone(),
                    Located {
                        origin: f.origin,
                        app: parsed,
                    },
                );
            }
            Err(e) => resolved.notes.push(format!("{}: {e}", f.origin)),
        }
    }
    resolved
}

/// An application the report shows, and how it deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    pub name: String,
    /// The branch (or revision) it deploys from.
    pub target_revision: String,
    /// Where its manifest lives: a file, an ApplicationSet, or an app-of-apps overlay.
    pub origin: String,
}

/// An application that does not deploy from the compared branch, or from this repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotDeployed {
    pub name: String,
    pub target_revision: String,
    pub path: Option<String>,
    /// Why it was not rendered.
    pub reason: String,
}

/// How an Application or ApplicationSet manifest itself changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestChange {
    pub kind: String,
    pub name: String,
    pub(crate) change: Change,
    /// What the change means, one line each (a sync policy turned off, a new path…).
    pub details: Vec<String>,
    /// The manifest's unified diff.
    pub diff: String,
    /// A removed Application that takes its resources with it: how many it deployed.
    pub deletes: Option<usize>,
}

/// The application view of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppsReport {
    /// The branch whose applications were rendered.
    pub branch: String,
    pub not_deployed: Vec<NotDeployed>,
    pub manifests: Vec<ManifestChange>,
    /// Generators skipped, manifests that could not be read, overlays no application deploys.
    pub notes: Vec<String>,
}

/// One application to render: its source directory and settings at each side it deploys at.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub(crate) info: AppInfo,
    /// The application's source directory (a kustomization root), per side; `None` where it
    /// does not deploy from the branch at that side.
    pub(crate) sides: [Option<UnitSide>; 2],
    /// The source or its settings differ between the sides: built even when no file of its
    /// directory changed.
    pub(crate) settings_changed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct UnitSide {
    pub(crate) dir: String,
    pub(crate) app: Application,
    /// The index of the rendered source among the app's sources.
    pub(crate) source: usize,
}

/// The applications to render and those the report only lists.
pub(crate) struct Placement {
    pub(crate) units: Vec<Unit>,
    pub(crate) not_deployed: Vec<NotDeployed>,
    pub(crate) notes: Vec<String>,
}

/// Strips what only says where a branch name came from.
pub(crate) fn branch_name(rev: &str) -> &str {
    rev.strip_prefix("refs/heads/")
        .or_else(|| rev.strip_prefix("refs/remotes/origin/"))
        .or_else(|| rev.strip_prefix("origin/"))
        .unwrap_or(rev)
}

/// Decides which applications deploy from `branch` and what of each to render.
pub(crate) fn place(
    sides: [&Resolved; 2],
    graphs: [&Graph; 2],
    this_repo: Option<&str>,
    branch: &str,
    default_branch: &str,
) -> Placement {
    let mut placement = Placement {
        units: Vec::new(),
        not_deployed: Vec::new(),
        notes: Vec::new(),
    };
    let notes = std::cell::RefCell::new(Vec::new());
    let names: BTreeSet<&String> = sides.iter().flat_map(|s| s.apps.keys()).collect();
    for name in names {
        let located = [sides[0].apps.get(name), sides[1].apps.get(name)];
        let latest = located[1].or(located[0]).expect("named by one side");
        let side_of = |i: usize| -> Result<Option<UnitSide>, NotDeployed> {
            let Some(l) = located[i] else {
                return Ok(None);
            };
            let sources: Vec<(usize, &app::AppSource)> = l
                .app
                .sources
                .iter()
                .enumerate()
                .filter(|(_, s)| s.path.is_some())
                .filter(|(_, s)| {
                    this_repo.is_none_or(|url| crate::argocd::repo_url::same_repo(&s.repo_url, url))
                })
                .collect();
            let Some((index, source)) = sources.first() else {
                return Err(NotDeployed {
                    name: name.clone(),
                    target_revision: l
                        .app
                        .sources
                        .first()
                        .map(|s| s.target_revision.clone())
                        .unwrap_or_default(),
                    path: None,
                    reason: "renders from another repository or a Helm chart".to_string(),
                });
            };
            if !app::tracks(&source.target_revision, branch, default_branch) {
                return Err(NotDeployed {
                    name: name.clone(),
                    target_revision: shown_revision(&source.target_revision),
                    path: source.path.clone(),
                    reason: "not deployed from this branch".to_string(),
                });
            }
            let dir = source.path.clone().unwrap_or_default();
            if !graphs[i].roots.contains_key(&dir) {
                return Err(NotDeployed {
                    name: name.clone(),
                    target_revision: shown_revision(&source.target_revision),
                    path: Some(dir),
                    reason: "its path is not a kustomization (plain and Helm directories are not rendered)".to_string(),
                });
            }
            if sources.len() > 1 {
                notes.borrow_mut().push(format!(
                    "Application {name} has {} sources from this repository; only the first ({dir}) is rendered",
                    sources.len()
                ));
            }
            Ok(Some(UnitSide {
                dir,
                app: l.app.clone(),
                source: *index,
            }))
        };
        let (base, head) = (side_of(0), side_of(1));
        match (base, head) {
            (Ok(None), Ok(None)) => {}
            (Err(listed), Ok(None)) | (Ok(None), Err(listed)) | (_, Err(listed)) => {
                // What the app does now decides; a base-only error still says why it is left out.
                if located[1].is_some() || located[0].is_some() {
                    placement.not_deployed.push(listed);
                }
            }
            (base, Ok(head)) => {
                let base = base.unwrap_or(None);
                let settings_changed = match (&base, &head) {
                    (Some(b), Some(h)) => {
                        b.dir != h.dir || b.app.sources.get(b.source) != h.app.sources.get(h.source)
                    }
                    _ => true,
                };
                let source = head
                    .as_ref()
                    .or(base.as_ref())
                    .map(|s| &s.app.sources[s.source]);
                placement.units.push(Unit {
                    info: AppInfo {
                        name: name.clone(),
                        target_revision: source
                            .map(|s| shown_revision(&s.target_revision))
                            .unwrap_or_default(),
                        origin: latest.origin.clone(),
                    },
                    sides: [base, head],
                    settings_changed,
                });
            }
        }
    }
    for note in notes.into_inner() {
        if !placement.notes.contains(&note) {
            placement.notes.push(note);
        }
    }
    placement
}

fn shown_revision(target_revision: &str) -> String {
    if target_revision.is_empty() {
        "HEAD".to_string()
    } else {
        target_revision.to_string()
    }
}

/// What changed in the Application and ApplicationSet manifests between the sides.
pub(crate) fn manifest_changes(sides: [&Resolved; 2]) -> Vec<ManifestChange> {
    let mut changes = Vec::new();
    let names: BTreeSet<&String> = sides.iter().flat_map(|s| s.apps.keys()).collect();
    for name in names {
        let (base, head) = (sides[0].apps.get(name), sides[1].apps.get(name));
        if let Some(change) = compare(
            "Application",
            name,
            base.map(|l| &l.app.manifest),
            head.map(|l| &l.app.manifest),
        ) {
            let mut change = change;
            change.details = app_details(base.map(|l| &l.app), head.map(|l| &l.app));
            changes.push(change);
        }
    }
    let sets: BTreeSet<&String> = sides.iter().flat_map(|s| s.appsets.keys()).collect();
    for name in sets {
        let (base, head) = (sides[0].appsets.get(name), sides[1].appsets.get(name));
        if let Some(mut change) = compare(
            "ApplicationSet",
            name,
            base.map(|(m, _)| m),
            head.map(|(m, _)| m),
        ) {
            let count = |s: Option<&(Value, Vec<String>)>| s.map_or(0, |(_, apps)| apps.len());
            change.details.push(format!(
                "generates {} application(s) (was {})",
                count(head),
                count(base)
            ));
            changes.push(change);
        }
    }
    changes
}

fn compare(
    kind: &str,
    name: &str,
    base: Option<&Value>,
    head: Option<&Value>,
) -> Option<ManifestChange> {
    let change = match (base, head) {
        (Some(b), Some(h)) if b == h => return None,
        (Some(_), Some(_)) => Change::Modified,
        (None, Some(_)) => Change::Added,
        (Some(_), None) => Change::Removed,
        (None, None) => return None,
    };
    let old = base.map(to_yaml).unwrap_or_default();
    let new = head.map(to_yaml).unwrap_or_default();
    let diff = similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .to_string();
    Some(ManifestChange {
        kind: kind.to_string(),
        name: name.to_string(),
        change,
        details: Vec::new(),
        diff,
        deletes: None,
    })
}

/// The lines a reviewer needs about an Application's own change.
fn app_details(base: Option<&Application>, head: Option<&Application>) -> Vec<String> {
    let mut details = Vec::new();
    let policy = |a: &Application| match (a.automated, a.prune) {
        (false, _) => "manual sync".to_string(),
        (true, false) => "automated sync without prune".to_string(),
        (true, true) => "automated sync with prune".to_string(),
    };
    match (base, head) {
        (None, Some(h)) => details.push(format!(
            "new application: {} into {}",
            policy(h),
            destination(h)
        )),
        // Argo CD docs, "App Deletion" (user-guide/app_deletion.md): deleting an Application
        // that carries the resources finalizer deletes what it deployed (a cascade); an app of
        // apps with automated prune deletes a child Application whose manifest is gone.
        (Some(b), None) if cascades(b) => details.push(
            "removed: Argo CD deletes the application and, with it, every resource it deployed".to_string(),
        ),
        (Some(_), None) => details.push(
            "removed: Argo CD stops managing it; its resources stay in the cluster (no resources finalizer)".to_string(),
        ),
        (Some(b), Some(h)) => {
            if policy(b) != policy(h) {
                details.push(format!("sync policy: {} → {}", policy(b), policy(h)));
            }
            if destination(b) != destination(h) {
                details.push(format!(
                    "destination: {} → {}",
                    destination(b),
                    destination(h)
                ));
            }
            let source = |a: &Application| {
                a.sources
                    .iter()
                    .map(|s| {
                        format!(
                            "{}@{}",
                            s.path.as_deref().or(s.chart.as_deref()).unwrap_or("?"),
                            shown_revision(&s.target_revision)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if source(b) != source(h) {
                details.push(format!("source: {} → {}", source(b), source(h)));
            }
            let settings = |a: &Application| {
                a.sources
                    .iter()
                    .map(|s| format!("{:?}", s.kustomize))
                    .collect::<Vec<_>>()
            };
            if settings(b) != settings(h) {
                details.push("kustomize settings changed".to_string());
            }
        }
        (None, None) => {}
    }
    details
}

/// Whether deleting the Application deletes its resources too.
pub(crate) fn cascades(a: &Application) -> bool {
    a.manifest
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| {
            f.iter().any(|f| {
                f.as_str()
                    .is_some_and(|f| f.starts_with("resources-finalizer.argocd.argoproj.io"))
            })
        })
}

fn destination(a: &Application) -> String {
    match &a.destination_namespace {
        Some(ns) => format!("{} namespace {ns}", a.destination),
        None => a.destination.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str, path: &str, revision: &str, extra: &str) -> Located {
        let manifest: Value = serde_saphyr::from_str(&format!(
            "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
spec:
  project: default
  source:
    repoURL: https://github.com/acme/manifests
    targetRevision: {revision}
    path: {path}
{extra}  destination:
    server: https://kubernetes.default.svc
    namespace: {name}
"
        ))
        .unwrap();
        Located {
            origin: format!("argocd/{name}.yaml"),
            app: app::parse(&manifest).unwrap(),
        }
    }

    fn side(apps: Vec<Located>) -> Resolved {
        Resolved {
            apps: apps.into_iter().map(|l| (l.app.name.clone(), l)).collect(),
            ..Resolved::default()
        }
    }

    fn graph(roots: &[&str]) -> Graph {
        let mut graph = Graph::default();
        for root in roots {
            graph.roots.insert(
                root.to_string(),
                crate::kustomize::graph::Root {
                    dir: root.to_string(),
                    file: format!("{root}/kustomization.yaml"),
                    component: false,
                    refs: Ok(Default::default()),
                },
            );
        }
        graph
    }

    #[test]
    fn branch_names_lose_what_only_says_where_they_came_from() {
        for rev in [
            "develop",
            "origin/develop",
            "refs/heads/develop",
            "refs/remotes/origin/develop",
        ] {
            assert_eq!(branch_name(rev), "develop", "{rev}");
        }
        assert_eq!(branch_name("v1.2.0"), "v1.2.0");
    }

    #[test]
    fn only_applications_tracking_the_branch_render_the_others_are_listed_with_why() {
        let both = side(vec![
            app("web-staging", "overlays/staging", "develop", ""),
            app("web-production", "overlays/production", "master", ""),
            app("docs", "docs", "develop", ""),
            app("head-app", "overlays/staging", "HEAD", ""),
        ]);
        let graphs = graph(&["overlays/staging", "overlays/production"]);
        let placed = place(
            [&both, &both],
            [&graphs, &graphs],
            Some("git@github.com:acme/manifests.git"),
            "develop",
            "develop",
        );
        let units: Vec<&str> = placed.units.iter().map(|u| u.info.name.as_str()).collect();
        assert_eq!(units, ["head-app", "web-staging"]);
        assert!(placed.units.iter().all(|u| !u.settings_changed));
        let listed: Vec<(&str, &str)> = placed
            .not_deployed
            .iter()
            .map(|n| (n.name.as_str(), n.reason.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                (
                    "docs",
                    "its path is not a kustomization (plain and Helm directories are not rendered)"
                ),
                ("web-production", "not deployed from this branch"),
            ]
        );

        let other_repo = place(
            [&both, &both],
            [&graphs, &graphs],
            Some("https://github.com/acme/other"),
            "develop",
            "develop",
        );
        assert!(other_repo.units.is_empty());
        assert!(
            other_repo
                .not_deployed
                .iter()
                .all(|n| n.reason == "renders from another repository or a Helm chart")
        );
    }

    #[test]
    fn a_second_source_from_this_repository_is_named_in_a_note() {
        let manifest: Value = serde_saphyr::from_str(
            "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: multi
spec:
  project: default
  sources:
  - repoURL: https://github.com/acme/manifests
    targetRevision: develop
    path: overlays/staging
  - repoURL: https://github.com/acme/manifests
    targetRevision: develop
    path: overlays/extra
  destination:
    server: https://kubernetes.default.svc
",
        )
        .unwrap();
        let both = side(vec![Located {
            origin: "argocd/multi.yaml".into(),
            app: app::parse(&manifest).unwrap(),
        }]);
        let graphs = graph(&["overlays/staging", "overlays/extra"]);
        let placed = place([&both, &both], [&graphs, &graphs], None, "develop", "main");
        assert_eq!(placed.units.len(), 1);
        assert_eq!(
            placed.notes,
            [
                "Application multi has 2 sources from this repository; only the first (overlays/staging) is rendered"
            ]
        );
    }

    #[test]
    fn a_new_an_edited_and_a_removed_application_are_placed_and_described() {
        let base = side(vec![
            app("kept", "overlays/staging", "develop", ""),
            app(
                "retired",
                "overlays/staging",
                "develop",
                "    kustomize:\n      namePrefix: old-\n",
            ),
        ]);
        let head = side(vec![
            app(
                "kept",
                "overlays/staging",
                "develop",
                "    kustomize:\n      namePrefix: new-\n",
            ),
            app("fresh", "overlays/staging", "develop", ""),
        ]);
        let graphs = graph(&["overlays/staging"]);
        let placed = place([&base, &head], [&graphs, &graphs], None, "develop", "main");
        let shape: Vec<(&str, bool, bool, bool)> = placed
            .units
            .iter()
            .map(|u| {
                (
                    u.info.name.as_str(),
                    u.sides[0].is_some(),
                    u.sides[1].is_some(),
                    u.settings_changed,
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("fresh", false, true, true),
                ("kept", true, true, true),
                ("retired", true, false, true),
            ]
        );
        let changes = manifest_changes([&base, &head]);
        let described: Vec<(&str, Change, Vec<String>)> = changes
            .iter()
            .map(|c| (c.name.as_str(), c.change, c.details.clone()))
            .collect();
        assert_eq!(
            described,
            [
                (
                    "fresh",
                    Change::Added,
                    vec!["new application: manual sync into https://kubernetes.default.svc namespace fresh".to_string()]
                ),
                (
                    "kept",
                    Change::Modified,
                    vec!["kustomize settings changed".to_string()]
                ),
                (
                    "retired",
                    Change::Removed,
                    vec!["removed: Argo CD stops managing it; its resources stay in the cluster (no resources finalizer)".to_string()]
                ),
            ]
        );
        assert!(
            changes[1].diff.contains("+      namePrefix: new-"),
            "{}",
            changes[1].diff
        );
    }
}
