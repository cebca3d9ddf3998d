//! Terminal output: per overlay a header with counts, then each resource's unified diff,
//! coloured like `git diff` when asked to.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use crate::diff::{Change, OverlayDiff, OverlayStatus, Report, ResourceDiff};
use crate::engine::short;

const HEADER: Style = Style::new().bold();
const ADDED: Style = AnsiColor::Green.on_default();
const REMOVED: Style = AnsiColor::Red.on_default();
const HUNK: Style = AnsiColor::Cyan.on_default();
const ERROR: Style = AnsiColor::Red.on_default().bold();

pub fn render(report: &Report, color: bool) -> String {
    let paint = |style: Style, text: &str| {
        if color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    let base = &report.base;
    let head = &report.head;
    let how = if report.merge_base {
        " (from their merge base)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "Comparing {} ({}) with {} ({}){how}",
        base.name,
        short(&base.sha),
        head.name,
        short(&head.sha)
    );
    if report.shown().any(|o| !o.images.is_empty()) {
        let _ = writeln!(out, "\n{}", paint(HEADER, "Images:"));
        for overlay in report.shown() {
            for change in &overlay.images {
                let _ = writeln!(out, "  {}: {change}", overlay.path);
            }
        }
    }
    for overlay in report.shown() {
        out.push('\n');
        let _ = writeln!(out, "{}", paint(HEADER, &overlay_header(overlay)));
        for file in &overlay.overrides {
            let _ = writeln!(out, "  Argo CD override applied: {file}");
        }
        for note in &overlay.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        if let Some(error) = &overlay.error {
            for line in error.lines() {
                let _ = writeln!(out, "  {}", paint(ERROR, line));
            }
        }
        for resource in &overlay.resources {
            let _ = writeln!(out, "{}", paint(HEADER, &resource_header(resource)));
            for line in resource.diff.lines() {
                let style = match line.as_bytes().first() {
                    Some(b'+') => Some(ADDED),
                    Some(b'-') => Some(REMOVED),
                    Some(b'@') => Some(HUNK),
                    _ => None,
                };
                let _ = match style {
                    Some(style) => writeln!(out, "{}", paint(style, line)),
                    None => writeln!(out, "{line}"),
                };
            }
        }
    }
    out.push('\n');
    out.push_str(&footer(report));
    out.push('\n');
    out
}

fn overlay_header(overlay: &OverlayDiff) -> String {
    let counts = overlay.counts();
    let status = match overlay.status {
        OverlayStatus::Added => " (new overlay)",
        OverlayStatus::Removed => " (overlay removed)",
        OverlayStatus::Error => return format!("=== {}: build failed", overlay.path),
        _ => "",
    };
    format!(
        "=== {}{status}: {} added, {} modified, {} removed",
        overlay.path, counts.added, counts.modified, counts.removed
    )
}

fn resource_header(resource: &ResourceDiff) -> String {
    let sign = match resource.change {
        Change::Added => '+',
        Change::Modified => '~',
        Change::Removed => '-',
    };
    let was = resource
        .previous_name
        .as_ref()
        .map(|p| format!(", was {p}"))
        .unwrap_or_default();
    format!("{sign} {} ({}{was})", resource.key, resource.api_version)
}

/// One closing line that also says what was not shown.
pub fn footer(report: &Report) -> String {
    let count = |status: OverlayStatus| {
        report
            .overlays
            .iter()
            .filter(|o| o.status == status)
            .count()
    };
    let changed =
        count(OverlayStatus::Changed) + count(OverlayStatus::Added) + count(OverlayStatus::Removed);
    let s = &report.stats;
    format!(
        "{changed} overlay(s) changed, {} unchanged, {} failed; {} kustomize build(s) in {:.1}s",
        count(OverlayStatus::Unchanged),
        count(OverlayStatus::Error),
        s.builds,
        s.seconds
    )
}
