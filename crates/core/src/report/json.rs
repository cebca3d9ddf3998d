//! The JSON report: a stable shape for scripts and for the Action's outputs.

use serde_json::{Value, json};

use crate::model::{OverlayDiff, Report, ResourceDiff};
use crate::risk::Finding;

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
        "risks": risks(report),
        "applications": report.applications,
        "overlays": report.overlays.iter().map(overlay).collect::<Vec<_>>(),
        "filters": report.filters,
        "stats": report.stats,
    })
}

/// Every risk of the report, each naming its overlay: the shape of the action's `risks` output.
pub fn risks(report: &Report) -> Value {
    Value::Array(
        report
            .risks()
            .map(|(o, f)| {
                let mut value = risk(f);
                value["overlay"] = json!(o.path);
                if let Some(app) = &o.application {
                    value["application"] = json!(app.name);
                }
                value
            })
            .collect(),
    )
}

fn risk(f: &Finding) -> Value {
    json!({
        "rule": f.rule,
        "severity": f.severity(),
        "apiVersion": f.api_version(),
        "kind": f.kind(),
        "namespace": f.namespace(),
        "name": f.name(),
        "message": f.message,
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
        "risks": o.risks.iter().map(risk).collect::<Vec<_>>(),
    });
    if let Some(error) = &o.error {
        value["error"] = json!(error);
    }
    if let Some(app) = &o.application {
        value["application"] = json!(app);
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
