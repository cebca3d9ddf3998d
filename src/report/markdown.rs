//! GitHub-flavoured markdown: a summary table a reviewer reads in seconds, then one collapsible
//! section per overlay with a fenced diff per resource.

use std::fmt::Write;

use crate::diff::{Change, OverlayDiff, OverlayStatus, Report, ResourceDiff};
use crate::engine::short;

/// Ends every overlay section; a section split between comments ends each piece with it.
pub const OVERLAY_CLOSE: &str = "</details>\n";

pub fn render(report: &Report) -> String {
    let mut out = summary(report);
    for overlay in report.shown() {
        out.push('\n');
        out.push_str(&overlay_section(overlay));
    }
    out
}

/// The heading, the comparison line and the table of overlays that are not unchanged.
pub fn summary(report: &Report) -> String {
    let listed: Vec<&OverlayDiff> = report.shown().collect();
    summary_listing(report, &listed)
}

/// The summary with a table row for `listed` only (shown overlays, in report order); a line
/// counts the shown overlays left out, so a summary that must shrink still says what it omits.
pub fn summary_listing(report: &Report, listed: &[&OverlayDiff]) -> String {
    let mut out = String::new();
    let (base, head) = (&report.base, &report.head);
    let _ = writeln!(
        out,
        "### Rendered manifests: `{}` → `{}`\n",
        base.name, head.name
    );
    let how = if report.merge_base {
        ", from their merge base"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "Compared `{}` (`{}`) with `{}` (`{}`){how}.\n",
        base.name,
        short(&base.sha),
        head.name,
        short(&head.sha)
    );
    let shown: Vec<&OverlayDiff> = report.shown().collect();
    let unchanged = report.overlays.len() - shown.len();
    if shown.is_empty() {
        let _ = writeln!(
            out,
            "No rendered changes in {} overlay(s).",
            report.overlays.len()
        );
        return out;
    }
    out.push_str(&image_lines(listed));
    if !listed.is_empty() {
        out.push_str("| Overlay | Added | Modified | Removed | Status |\n");
        out.push_str("| --- | ---: | ---: | ---: | --- |\n");
    }
    for overlay in listed {
        let c = overlay.counts();
        let counts = if overlay.status == OverlayStatus::Error {
            "— | — | —".to_string()
        } else {
            format!("{} | {} | {}", c.added, c.modified, c.removed)
        };
        let _ = writeln!(
            out,
            "| {} | {counts} | {} |",
            // A `|` would end the cell even inside code.
            code_span(&overlay.path).replace('|', "\\|"),
            status_label(overlay.status)
        );
    }
    let failed = |list: &[&OverlayDiff]| {
        list.iter()
            .filter(|o| o.status == OverlayStatus::Error)
            .count()
    };
    let left_out = shown.len().saturating_sub(listed.len());
    if left_out > 0 {
        let failed = match failed(&shown).saturating_sub(failed(listed)) {
            0 => String::new(),
            n => format!(", {n} of them failed to build"),
        };
        let more = if listed.is_empty() { "" } else { " more" };
        let _ = writeln!(
            out,
            "\n{left_out}{more} overlay(s) with changes not listed here{failed}."
        );
    }
    if unchanged > 0 {
        let _ = writeln!(out, "\n{unchanged} other overlay(s) unchanged.");
    }
    out
}

/// One line per image an overlay now runs differently: the deploy at a glance.
fn image_lines(listed: &[&OverlayDiff]) -> String {
    let mut out = String::new();
    for overlay in listed {
        for change in &overlay.images {
            let _ = writeln!(
                out,
                "- {}: {}",
                code_span(&overlay.path),
                code_span(&change.to_string())
            );
        }
    }
    if out.is_empty() {
        return out;
    }
    format!("**Images**\n\n{out}\n")
}

/// Inline code that no backtick inside can end early; line breaks become spaces.
pub fn code_span(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn status_label(status: OverlayStatus) -> &'static str {
    match status {
        OverlayStatus::Changed => "changed",
        OverlayStatus::Unchanged => "unchanged",
        OverlayStatus::Added => "new overlay",
        OverlayStatus::Removed => "overlay removed",
        OverlayStatus::Error => "⚠️ error",
    }
}

/// One `<details>` block; self-contained so a caller may split a long report between sections.
pub fn overlay_section(overlay: &OverlayDiff) -> String {
    let mut out = overlay_heading(overlay, false);
    if let Some(error) = &overlay.error {
        out.push_str(&build_error(error));
    }
    for resource in &overlay.resources {
        out.push_str(&resource_section(resource));
        out.push('\n');
    }
    out.push_str(OVERLAY_CLOSE);
    out
}

/// Opens an overlay's `<details>` block. A `continued` block carries on one closed at the end of
/// an earlier comment, so it says so and does not repeat the remote bases.
pub fn overlay_heading(overlay: &OverlayDiff, continued: bool) -> String {
    let mut out = String::new();
    let c = overlay.counts();
    let open = if overlay.status == OverlayStatus::Error {
        " open"
    } else {
        ""
    };
    let what = if overlay.status == OverlayStatus::Error {
        "build failed".to_string()
    } else {
        format!("+{} ~{} −{}", c.added, c.modified, c.removed)
    };
    let more = if continued { " (continued)" } else { "" };
    let _ = writeln!(
        out,
        "<details{open}>\n<summary><code>{}</code>: {what}{more}</summary>\n",
        escape_html(&overlay.path),
    );
    if !overlay.remote.is_empty() && !continued {
        let list: Vec<String> = overlay.remote.iter().map(|r| code_span(r)).collect();
        let _ = writeln!(out, "Remote bases: {}\n", list.join(", "));
    }
    if !continued {
        if !overlay.overrides.is_empty() {
            let list: Vec<String> = overlay.overrides.iter().map(|f| code_span(f)).collect();
            let _ = writeln!(
                out,
                "Rendered with Argo CD overrides from {}, as Argo CD applies them.\n",
                list.join(", ")
            );
        }
        for note in &overlay.notes {
            let _ = writeln!(out, "> [!NOTE]\n> {}\n", note.replace('\n', " "));
        }
    }
    out
}

/// Why an overlay has no diff: the build's error output.
pub fn build_error(error: &str) -> String {
    format!("**Build failed:**\n\n{}\n", fenced("text", error))
}

pub fn resource_section(resource: &ResourceDiff) -> String {
    resource_section_showing(resource, &resource.diff)
}

/// A resource's section showing `diff` in place of its whole diff, for a caller that shortened it.
pub fn resource_section_showing(resource: &ResourceDiff, diff: &str) -> String {
    let change = match resource.change {
        Change::Added => "added",
        Change::Modified => "modified",
        Change::Removed => "removed",
    };
    let namespace = resource
        .key
        .namespace
        .as_ref()
        .map(|ns| format!("{ns}/"))
        .unwrap_or_default();
    let was = resource
        .previous_name
        .as_ref()
        .map(|p| format!(", was `{p}`"))
        .unwrap_or_default();
    format!(
        "**{}** `{namespace}{}` ({change}{was})\n\n{}",
        resource.key.kind,
        resource.key.name,
        fenced("diff", diff)
    )
}

/// A code block whose fence is longer than any backtick run inside, so content can never close
/// it early.
pub fn fenced(language: &str, content: &str) -> String {
    let longest = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let newline = if content.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{language}\n{content}{newline}{fence}\n")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_paths_stay_inside_their_code_span_and_table_cell() {
        assert_eq!(code_span("overlays/a`b"), "``overlays/a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_span("a\nb"), "`a b`");
        let overlay = OverlayDiff {
            path: "overlays/a|b".into(),
            status: OverlayStatus::Changed,
            error: None,
            remote: vec!["https://example.com/`base`".into()],
            resources: Vec::new(),
            images: Vec::new(),
            overrides: Vec::new(),
            notes: Vec::new(),
        };
        let report = Report {
            base: crate::diff::Revision {
                name: "a".into(),
                sha: "0".repeat(40),
            },
            head: crate::diff::Revision {
                name: "b".into(),
                sha: "1".repeat(40),
            },
            merge_base: false,
            overlays: vec![overlay.clone()],
            stats: crate::diff::Stats::default(),
        };
        assert!(summary(&report).contains("| `overlays/a\\|b` | 0 | 0 | 0 | changed |"));
        assert!(
            overlay_heading(&overlay, false)
                .contains("Remote bases: `` https://example.com/`base` ``")
        );
    }

    #[test]
    fn fences_outgrow_any_backtick_run_inside() {
        assert_eq!(fenced("diff", "+a\n"), "```diff\n+a\n```\n");
        assert_eq!(
            fenced("diff", "+x: ```` code\n"),
            "`````diff\n+x: ```` code\n`````\n"
        );
        assert_eq!(fenced("text", "no newline"), "```text\nno newline\n```\n");
    }
}
