//! The JSON report: a stable shape for scripts and for the Action's outputs.

use serde_json::{Value, json};

use crate::model::{OverlayDiff, Report, ResourceDiff};

pub fn render(report: &Report) -> String {
    let mut text =
        serde_json::to_string_pretty(&to_value(report)).expect("JSON values always serialise");
    text.push('\n');
    text
}

pub(crate) fn to_value(report: &Report) -> Value {
    json!({
        "base": report.base.sha,
        "head": report.head.sha,
        "base_ref": report.base.name,
        "head_ref": report.head.name,
        "merge_base": report.merge_base,
        "overlays": report.overlays.iter().map(overlay).collect::<Vec<_>>(),
        "stats": report.stats,
    })
}

fn overlay(o: &OverlayDiff) -> Value {
    let mut value = json!({
        "path": o.path,
        "status": o.status,
        "counts": o.counts(),
        "remote": o.remote,
        "resources": o.resources.iter().map(resource).collect::<Vec<_>>(),
        "images": o.images,
        "argocd_overrides": o.overrides,
        "notes": o.notes,
    });
    if let Some(error) = &o.error {
        value["error"] = json!(error);
    }
    value
}

fn resource(r: &ResourceDiff) -> Value {
    let mut value = json!({
        "apiVersion": r.api_version,
        "kind": r.key.kind,
        "namespace": r.key.namespace,
        "name": r.key.name,
        "change": r.change,
        "diff": r.diff,
    });
    if let Some(previous) = &r.previous_name {
        value["previous_name"] = json!(previous);
    }
    value
}
