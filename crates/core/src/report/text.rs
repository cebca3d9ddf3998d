//! Terminal output: per overlay a header with counts, then each resource's unified diff,
//! coloured like `git diff` when asked to.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use crate::model::short;
use crate::model::{Change, OverlayDiff, OverlayStatus, Report, ResourceDiff};

const HEADER: Style = Style::new().bold();
const ADDED: Style = AnsiColor::Green.on_default();
const REMOVED: Style = AnsiColor::Red.on_default();
const HUNK: Style = AnsiColor::Cyan.on_default();
const ERROR: Style = AnsiColor::Red.on_default().bold();
const RISK: Style = AnsiColor::Yellow.on_default().bold();

pub fn render(report: &Report, color: bool) -> String {
    let paint = |style: Style, text: &str| {
        let text = printable(text);
        if color {
            format!("{style}{text}{style:#}")
        } else {
            text
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
        printable(&base.name),
        short(&base.sha),
        printable(&head.name),
        short(&head.sha)
    );
    if report.risks().next().is_some() {
        let _ = writeln!(out, "\n{}", paint(RISK, "⚠ Risks:"));
        for (overlay, f) in report.risks() {
            let line = format!(
                "{} {}: {}: {} [{}]",
                f.severity().as_str(),
                overlay.label(),
                f.resource(),
                f.message,
                f.rule.id()
            );
            let _ = writeln!(out, "  {}", printable(&line));
        }
    }
    if report.shown().any(|o| !o.images.is_empty()) {
        let _ = writeln!(out, "\n{}", paint(HEADER, "Images:"));
        for overlay in report.shown() {
            for change in &overlay.images {
                let line = format!("{}: {change}", overlay.label());
                let _ = writeln!(out, "  {}", printable(&line));
            }
        }
    }
    if let Some(apps) = &report.applications {
        let _ = writeln!(
            out,
            "\nBy Argo CD application: what deploys from {}",
            printable(&apps.branch)
        );
        for m in &apps.manifests {
            let change = match m.change {
                Change::Added => "added",
                Change::Modified => "modified",
                Change::Removed => "removed",
            };
            let mut line = format!("{} {}: {change}", m.kind, m.name);
            for detail in &m.details {
                line.push_str("; ");
                line.push_str(detail);
            }
            if let Some(n) = m.deletes {
                line.push_str(&format!(" — this deletes {n} resource(s) on sync"));
            }
            let _ = writeln!(out, "  {}", printable(&line));
        }
        for n in &apps.not_deployed {
            let line = format!("{}: {} (tracks {})", n.name, n.reason, n.target_revision);
            let _ = writeln!(out, "  {}", printable(&line));
        }
        for note in &apps.notes {
            let _ = writeln!(out, "  note: {}", printable(note));
        }
    }
    for overlay in report.shown() {
        out.push('\n');
        let _ = writeln!(out, "{}", paint(HEADER, &overlay_header(overlay)));
        for file in &overlay.overrides {
            let _ = writeln!(out, "  Argo CD override applied: {}", printable(file));
        }
        for note in &overlay.notes {
            let _ = writeln!(out, "  note: {}", printable(note));
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
                    None => writeln!(out, "{}", printable(line)),
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
        OverlayStatus::Error => {
            let name = match &overlay.application {
                Some(app) => format!("{} ({})", app.name, overlay.path),
                None => overlay.path.clone(),
            };
            return format!("=== {name}: build failed");
        }
        _ => "",
    };
    let name = match &overlay.application {
        Some(app) => format!(
            "{} ({}, tracks {})",
            app.name, overlay.path, app.target_revision
        ),
        None => overlay.path.clone(),
    };
    format!(
        "=== {name}{status}: {} added, {} modified, {} removed",
        counts.added, counts.modified, counts.removed
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

/// `text` as it may reach a terminal or a runner's log: names and lines come from the PR, and a
/// control character in them could move the cursor, recolour or hide output, or start a line
/// the runner reads as a workflow command, and a direction override could make a line display
/// as something it is not. Tabs stay; a line break shows as `⏎`; anything else is `�`.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => c,
            '\n' | '\r' => '⏎',
            c if c.is_control() || crate::report::markdown::is_bidi_control(c) => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// One closing line that also says what was not shown.
pub(crate) fn footer(report: &Report) -> String {
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
    let risks = match report.risks().count() {
        0 => String::new(),
        n => format!(", {n} risk(s)"),
    };
    let mut out = format!(
        "{changed} overlay(s) changed, {} unchanged, {} failed{risks}; {} kustomize build(s) in {:.1}s",
        count(OverlayStatus::Unchanged),
        count(OverlayStatus::Error),
        s.builds,
        s.seconds
    );
    if let Some(c) = &s.cache {
        let _ = write!(out, "\nRender cache: {c}");
    }
    let filters = &report.filters;
    if !filters.ignored_fields.is_empty() {
        let _ = write!(
            out,
            "\nFields left out (ignore): {}",
            printable(&filters.ignored_fields.join("; "))
        );
    }
    if !filters.ignored_risks.is_empty() {
        let _ = write!(
            out,
            "\nRisk rules not checked (risk-ignore): {}",
            printable(&filters.ignored_risks.join(", "))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::markdown::tests::hostile_report;

    #[test]
    fn names_and_lines_from_a_pr_cannot_drive_the_terminal_or_the_runner() {
        let evil = "\u{1b}[2J\u{1b}]0;title\u{7}\r\n::add-mask::secret\n::error::forged";
        let mut report = hostile_report();
        report.base.name = format!("base{evil}");
        let overlay = &mut report.overlays[0];
        overlay.path = format!("path{evil}");
        overlay.notes = vec![format!("note{evil}")];
        overlay.overrides = vec![format!("override{evil}")];
        overlay.resources[0].key.name = format!("name{evil}");
        overlay.resources[0].previous_name = Some(format!("previous{evil}"));
        // A diff line always starts with its sign; a lone CR inside it must not start another.
        overlay.resources[0].diff = "@@ -1 +1 @@\n-old\n+new\u{1b}[2J\r::error::forged\n".into();
        report.overlays[1].error = Some(format!("error{evil}"));

        for color in [false, true] {
            let out = render(&report, color);
            for line in out.lines() {
                assert!(!line.starts_with("::"), "a runner command line: {line:?}");
                assert!(!line.contains('\r') && !line.contains('\u{7}'), "{line:?}");
            }
            if !color {
                assert!(!out.contains('\u{1b}'), "{out}");
            }
        }
        let plain = render(&report, false);
        assert!(plain.contains("name\u{FFFD}[2J"), "{plain}");
        assert!(
            plain.contains("⏎::add-mask::secret⏎::error::forged"),
            "{plain}"
        );
    }
}
