//! The report model: what differs per overlay and per resource between two revisions. The
//! pipeline produces it once per run; every renderer and publisher only reads it.

use serde::{Deserialize, Serialize};

use crate::applications::{AppInfo, AppsReport};
use crate::images::ImageChange;
use crate::manifest::ResourceKey;
use crate::risk::{Finding, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Change {
    Added,
    Modified,
    Removed,
}

/// One resource that differs between base and head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceDiff {
    /// The head's key, or the base's for a removed resource.
    pub(crate) key: ResourceKey,
    pub(crate) api_version: String,
    pub(crate) change: Change,
    /// The base's name when a generated ConfigMap/Secret changed only its hash suffix.
    pub(crate) previous_name: Option<String>,
    /// Unified diff hunks (no file header), Secrets already redacted.
    pub(crate) diff: String,
    pub(crate) lines_added: usize,
    pub(crate) lines_removed: usize,
    /// Another object of this overlay has the same key under another apiVersion: headings
    /// name the version, or the two would read alike.
    pub(crate) twin: bool,
}

/// Counts per change kind, for headers and summary tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    pub(crate) added: usize,
    pub(crate) modified: usize,
    pub(crate) removed: usize,
}

impl Counts {
    pub(crate) fn of(resources: &[ResourceDiff]) -> Counts {
        let mut counts = Counts::default();
        for r in resources {
            match r.change {
                Change::Added => counts.added += 1,
                Change::Modified => counts.modified += 1,
                Change::Removed => counts.removed += 1,
            }
        }
        counts
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverlayStatus {
    Changed,
    Unchanged,
    Added,
    Removed,
    Error,
}

/// The result for one overlay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverlayDiff {
    pub path: String,
    pub status: OverlayStatus,
    pub error: Option<String>,
    pub remote: Vec<String>,
    pub resources: Vec<ResourceDiff>,
    /// Images deployed differently, from the rendered containers.
    pub images: Vec<ImageChange>,
    /// Argo CD override files (`.argocd-source*.yaml`) applied before building.
    pub overrides: Vec<String>,
    /// What a reader should know about how the overlay was rendered.
    pub notes: Vec<String>,
    /// What the change risks, most severe first.
    pub risks: Vec<Finding>,
    /// The Argo CD application this entry renders, in a report by application.
    pub application: Option<AppInfo>,
}

impl OverlayDiff {
    /// An overlay with `status` and nothing else to show yet; fill in the rest with struct
    /// update syntax.
    pub fn new(path: impl Into<String>, status: OverlayStatus) -> OverlayDiff {
        OverlayDiff {
            path: path.into(),
            status,
            error: None,
            remote: Vec::new(),
            resources: Vec::new(),
            images: Vec::new(),
            overrides: Vec::new(),
            notes: Vec::new(),
            risks: Vec::new(),
            application: None,
        }
    }

    /// What a reader calls this entry: its application, else its directory.
    pub fn label(&self) -> &str {
        self.application
            .as_ref()
            .map_or(self.path.as_str(), |a| a.name.as_str())
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts::of(&self.resources)
    }
}

/// A compared revision: what the user typed and the commit it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub name: String,
    pub sha: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Kustomization directories found (union of both refs).
    pub(crate) roots: usize,
    /// Overlays considered.
    pub(crate) overlays: usize,
    /// Overlays the change touches (or all with `--all`).
    pub(crate) affected: usize,
    /// Kustomize invocations.
    pub(crate) builds: usize,
    pub(crate) seconds: f64,
    /// Time spent finding risks, within `seconds`.
    pub(crate) risk_seconds: f64,
    /// This process's peak resident memory, where the OS tells it.
    pub(crate) peak_rss_kb: Option<u64>,
    /// What the render cache did, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache: Option<crate::cache::CacheStats>,
}

impl Stats {
    /// Kustomize invocations.
    pub fn builds(&self) -> usize {
        self.builds
    }

    /// What the render cache did, when there was one.
    pub fn cache(&self) -> Option<&crate::cache::CacheStats> {
        self.cache.as_ref()
    }
}

/// Everything a renderer needs; produced once per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub base: Revision,
    pub head: Revision,
    /// The base is the merge base of the given refs.
    pub merge_base: bool,
    pub overlays: Vec<OverlayDiff>,
    /// The report is by Argo CD application: what deploys from the compared branch, what does
    /// not, and how the Application manifests themselves changed.
    pub applications: Option<AppsReport>,
    /// How the report was filtered: the `ignore` rules and the `risk-ignore` ids, as given.
    pub filters: Filters,
    pub stats: Stats,
}

/// What a reader must know the report leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// Fields left out of every diff and count (`ignore`), one rule each.
    pub ignored_fields: Vec<String>,
    /// Risk rules not checked (`risk-ignore`), by id.
    pub ignored_risks: Vec<String>,
}

impl Report {
    /// The overlays a report lists and details: every one that is not unchanged, in order.
    pub fn shown(&self) -> impl Iterator<Item = &OverlayDiff> {
        self.overlays
            .iter()
            .filter(|o| o.status != OverlayStatus::Unchanged)
    }

    pub fn has_changes(&self) -> bool {
        self.overlays.iter().any(|o| !o.resources.is_empty())
    }

    /// Every risk with the overlay it was found in, in report order.
    pub fn risks(&self) -> impl Iterator<Item = (&OverlayDiff, &Finding)> {
        self.overlays
            .iter()
            .flat_map(|o| o.risks.iter().map(move |f| (o, f)))
    }

    /// Whether any risk at `level` or worse was found (`None`: never).
    pub fn has_risks_at(&self, level: Option<Severity>) -> bool {
        level.is_some_and(|level| self.risks().any(|(_, f)| f.severity() <= level))
    }

    pub fn has_errors(&self) -> bool {
        self.overlays
            .iter()
            .any(|o| o.status == OverlayStatus::Error)
    }
}

/// A commit id as people quote it: its first seven characters.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}
