//! GitHub-flavoured markdown: a summary table a reviewer reads in seconds, then one collapsible
//! section per overlay with a fenced diff per resource.
//!
//! Every name, path, note and error comes from the PR, so none is written as it is: each goes
//! through one of [`code_span`], [`code_cell`], [`inline`], [`html_text`] or [`fenced`], which
//! keep it text in its place. A PR cannot end a `<details>`, open a fence, split a table cell,
//! mention anyone, link anything or write an HTML comment (our hidden marker is one).

use std::fmt::Write;

use crate::model::short;
use crate::model::{Change, OverlayDiff, OverlayStatus, Report, ResourceDiff};
use crate::risk::{Finding, Severity};

/// Ends every overlay section; a section split between comments ends each piece with it.
pub(crate) const OVERLAY_CLOSE: &str = "</details>\n";

/// Most risk lines a comment's summary lists; the job summary, the text and JSON reports and the
/// `risks` output list every one. A shared base can repeat one finding in hundreds of overlays.
pub(crate) const COMMENT_RISK_LINES: usize = 30;

pub fn render(report: &Report) -> String {
    let mut out = summary(report, usize::MAX);
    for overlay in report.shown() {
        out.push('\n');
        out.push_str(&overlay_section(overlay));
    }
    out
}

/// The heading, the comparison line, the risks (at most `risk_lines` of them) and the table of
/// overlays that are not unchanged.
pub(crate) fn summary(report: &Report, risk_lines: usize) -> String {
    let listed: Vec<&OverlayDiff> = report.shown().collect();
    summary_listing(report, &listed, risk_lines)
}

/// The summary with a table row for `listed` only (shown overlays, in report order); a line
/// counts the shown overlays left out, so a summary that must shrink still says what it omits.
pub(crate) fn summary_listing(
    report: &Report,
    listed: &[&OverlayDiff],
    risk_lines: usize,
) -> String {
    let mut out = String::new();
    let (base, head) = (&report.base, &report.head);
    let _ = writeln!(
        out,
        "### Rendered manifests: {} → {}\n",
        code_span(&base.name),
        code_span(&head.name)
    );
    if let Some(apps) = &report.applications {
        let _ = writeln!(
            out,
            "By Argo CD application: what the applications that deploy from {} will sync.\n",
            code_span(&apps.branch)
        );
    }
    let how = if report.merge_base {
        ", from their merge base"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "Compared {} ({}) with {} ({}){how}.\n",
        code_span(&base.name),
        code_span(short(&base.sha)),
        code_span(&head.name),
        code_span(short(&head.sha))
    );
    let shown: Vec<&OverlayDiff> = report.shown().collect();
    let unchanged = report.overlays.len() - shown.len();
    if shown.is_empty() {
        let _ = writeln!(
            out,
            "No rendered changes in {} overlay(s).",
            report.overlays.len()
        );
        out.push_str(&application_lines(report));
        return out;
    }
    out.push_str(&risk_block(report, risk_lines));
    out.push_str(&image_lines(listed));
    if !listed.is_empty() {
        if report.applications.is_some() {
            out.push_str("| Application | Path | Added | Modified | Removed | Status |\n");
            out.push_str("| --- | --- | ---: | ---: | ---: | --- |\n");
        } else {
            out.push_str("| Overlay | Added | Modified | Removed | Status |\n");
            out.push_str("| --- | ---: | ---: | ---: | --- |\n");
        }
    }
    for overlay in listed {
        let c = overlay.counts();
        let counts = if overlay.status == OverlayStatus::Error {
            "— | — | —".to_string()
        } else {
            format!("{} | {} | {}", c.added, c.modified, c.removed)
        };
        let risks = match overlay.risks.len() {
            0 => String::new(),
            1 => " · ⚠ 1 risk".to_string(),
            n => format!(" · ⚠ {n} risks"),
        };
        let name = match &overlay.application {
            Some(app) => format!("{} | ", code_cell(&app.name)),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "| {name}{} | {counts} | {}{risks} |",
            code_cell(&overlay.path),
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
    out.push_str(&application_lines(report));
    out.push_str(&filter_lines(report));
    out
}

/// In a report by application: how the Application manifests changed, what does not deploy
/// from the compared branch, and what could not be read.
fn application_lines(report: &Report) -> String {
    let Some(apps) = &report.applications else {
        return String::new();
    };
    let mut out = String::new();
    if !apps.manifests.is_empty() {
        out.push_str("\n**Argo CD manifests**\n\n");
        for m in &apps.manifests {
            let change = match m.change {
                Change::Added => "added",
                Change::Modified => "modified",
                Change::Removed => "removed",
            };
            let mut line = format!("- {} {}: {change}", m.kind, code_span(&m.name));
            for detail in &m.details {
                let _ = write!(line, "; {}", inline(detail));
            }
            if let Some(n) = m.deletes {
                let _ = write!(line, " — **this deletes {n} resource(s) on sync**");
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    if !apps.not_deployed.is_empty() {
        let list: Vec<String> = apps
            .not_deployed
            .iter()
            .map(|n| {
                if n.reason == "not deployed from this branch" {
                    format!(
                        "{} (tracks {})",
                        code_span(&n.name),
                        code_span(&n.target_revision)
                    )
                } else {
                    format!("{} ({})", code_span(&n.name), inline(&n.reason))
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "\nNot deployed from {}: {}.",
            code_span(&apps.branch),
            list.join(", ")
        );
    }
    for note in &apps.notes {
        let _ = writeln!(out, "\n> [!NOTE]\n> {}", inline(note.trim()));
    }
    out
}

/// The risks, most severe first, one line each naming overlay, resource, why and the rule.
fn risk_block(report: &Report, max_lines: usize) -> String {
    let mut risks: Vec<(&OverlayDiff, &Finding)> = report.risks().collect();
    if risks.is_empty() {
        return String::new();
    }
    risks.sort_by_key(|(_, f)| f.severity());
    let high = risks
        .iter()
        .filter(|(_, f)| f.severity() == Severity::High)
        .count();
    let mut out = format!(
        "**⚠ Risks** ({high} high, {} medium)\n\n",
        risks.len() - high
    );
    for (overlay, f) in risks.iter().take(max_lines) {
        let _ = writeln!(
            out,
            "- **{}** {} {}: {} ({})",
            f.severity().as_str(),
            code_span(overlay.label()),
            code_span(&f.resource()),
            inline(&f.message),
            code_span(f.rule.id())
        );
    }
    if risks.len() > max_lines {
        let _ = writeln!(
            out,
            "- …and {} more: the job summary and the `risks` output list every one.",
            risks.len() - max_lines
        );
    }
    out.push('\n');
    out
}

/// What the report leaves out on purpose, so a reader does not take it for all there is.
fn filter_lines(report: &Report) -> String {
    let filters = &report.filters;
    let mut out = String::new();
    if !filters.ignored_fields.is_empty() {
        let list: Vec<String> = filters
            .ignored_fields
            .iter()
            .map(|f| code_span(f))
            .collect();
        let _ = writeln!(
            out,
            "\nFields left out of every diff and count (`ignore`): {}.",
            list.join(", ")
        );
    }
    if !filters.ignored_risks.is_empty() {
        let list: Vec<String> = filters.ignored_risks.iter().map(|f| code_span(f)).collect();
        let _ = writeln!(
            out,
            "\nRisk rules not checked (`risk-ignore`): {}.",
            list.join(", ")
        );
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
                code_span(overlay.label()),
                code_span(&change.to_string())
            );
        }
    }
    if out.is_empty() {
        return out;
    }
    format!("**Images**\n\n{out}\n")
}

/// Inline code showing `text` as it is, on one line ([`one_line`]). Nothing inside a code span
/// is markup, and GitHub links no mention or issue in code, so only its end needs care: the
/// fence is longer than any backtick run inside. Not for a table cell: see [`code_cell`].
pub fn code_span(text: &str) -> String {
    let text = one_line(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// [`code_span`] for a table cell: a `|` ends a cell even inside code unless escaped, and GitHub
/// drops that escape before it reads the code.
pub(crate) fn code_cell(text: &str) -> String {
    code_span(text).replace('|', "\\|")
}

/// `text` for markdown prose (a paragraph, list item, table cell, strong text), on one line
/// ([`one_line`]), reading as it is and doing nothing else. Escaped is exactly what could start
/// markup, so an ordinary name reads the same in the markdown source:
/// - `&`, `<`, `>` as character references: no HTML tag, comment or entity forms;
/// - `` \ ` * _ [ ] | ~ $ `` with a backslash: no code, emphasis, link, image, footnote, table
///   cell, strikethrough or math starts;
/// - the `:` of `://` and the `.` of `www.` with a backslash: no autolink;
/// - `@` and `#` followed by a word joiner (U+2060, invisible): GitHub mentions users and teams
///   and links issues in rendered text, where a backslash is gone, so only a character in
///   between stops it (and the `@` of an email address);
/// - a leading `#`, `-`, `+`, `=` or `1.`/`1)` with a backslash, for text that begins a line.
pub fn inline(text: &str) -> String {
    let chars: Vec<char> = one_line(text).chars().collect();
    let digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut out = String::with_capacity(chars.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let after_www = i >= 3 && chars[i - 3..i].iter().all(|w| w.eq_ignore_ascii_case(&'w'));
        let escaped = match c {
            '&' => {
                out.push_str("&amp;");
                continue;
            }
            '<' => {
                out.push_str("&lt;");
                continue;
            }
            '>' => {
                out.push_str("&gt;");
                continue;
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' => true,
            ':' => chars[i + 1..].starts_with(&['/', '/']),
            '.' => after_www || (i == digits && digits > 0),
            ')' => i == digits && digits > 0,
            '#' | '-' | '+' | '=' => i == 0,
            _ => false,
        };
        if escaped {
            out.push('\\');
        }
        out.push(c);
        if c == '@' || c == '#' {
            out.push('\u{2060}');
        }
    }
    out
}

/// `text` inside raw HTML such as `<summary>`, where markdown is not read but a blank line would
/// end the HTML block: on one line ([`one_line`]), `&<>"'` as character references. Meant for
/// inside `<code>`, where GitHub links no mention or issue.
pub(crate) fn html_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` on one line: a line break (CR, LF or both) shows as `⏎`, so a name holding one does
/// not read like a name holding a space; a tab is a space; any other control character is `�`.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('⏎');
            }
            '\n' => out.push('⏎'),
            '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Unicode's directional overrides and isolates: invisible, they make text display in another
/// order than it reads ("Trojan Source"), so a name or a diff line could look like something it
/// is not. Shown as `�` wherever PR text is shown.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
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
pub(crate) fn overlay_section(overlay: &OverlayDiff) -> String {
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
pub(crate) fn overlay_heading(overlay: &OverlayDiff, continued: bool) -> String {
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
    let title = match &overlay.application {
        Some(app) => format!(
            "<code>{}</code> (<code>{}</code>, tracks <code>{}</code>)",
            html_text(&app.name),
            html_text(&overlay.path),
            html_text(&app.target_revision)
        ),
        None => format!("<code>{}</code>", html_text(&overlay.path)),
    };
    let _ = writeln!(
        out,
        "<details{open}>\n<summary>{title}: {what}{more}</summary>\n",
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
            let _ = writeln!(out, "> [!NOTE]\n> {}\n", inline(note.trim()));
        }
    }
    out
}

/// Why an overlay has no diff: the build's error output, in a fence of its own, where nothing
/// is markup and line breaks stay.
pub(crate) fn build_error(error: &str) -> String {
    format!("**Build failed:**\n\n{}\n", fenced("text", error))
}

pub(crate) fn resource_section(resource: &ResourceDiff) -> String {
    resource_section_showing(resource, &resource.diff)
}

/// A resource's section showing `diff` in place of its whole diff, for a caller that shortened it.
pub(crate) fn resource_section_showing(resource: &ResourceDiff, diff: &str) -> String {
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
        .map(|p| format!(", was {}", code_span(p)))
        .unwrap_or_default();
    let version = if resource.twin {
        format!(" {}", code_span(&resource.api_version))
    } else {
        String::new()
    };
    format!(
        "**{}**{version} {} ({change}{was})\n\n{}",
        inline(&resource.key.kind),
        code_span(&format!("{namespace}{}", resource.key.name)),
        fenced("diff", diff)
    )
}

/// A code block whose fence is longer than any backtick run inside, so content can never close
/// it early (a `~~~` line cannot close a backtick fence). Inside, GitHub shows HTML, markdown and
/// mentions as plain text, so `content` needs no escaping and keeps its lines.
pub fn fenced(language: &str, content: &str) -> String {
    let content: String = content
        .chars()
        .map(|c| if is_bidi_control(c) { '\u{FFFD}' } else { c })
        .collect();
    let longest = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let newline = if content.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{language}\n{content}{newline}{fence}\n")
}

#[cfg(test)]
mod bidi {
    use super::*;

    #[test]
    fn direction_overrides_are_shown_not_obeyed() {
        // Reads `admin-role`, displays as `admin-elor` flipped around: a name that lies.
        let name = "admin-\u{202E}elor\u{202C}";
        assert_eq!(one_line(name), "admin-\u{FFFD}elor\u{FFFD}");
        assert_eq!(code_span(name), "`admin-\u{FFFD}elor\u{FFFD}`");
        let diff = fenced("diff", "+  verbs: [\"get\"] \u{2067}, \"delete\"\u{2069}\n");
        assert!(!diff.chars().any(is_bidi_control), "{diff}");
        assert!(diff.contains("\u{FFFD}, \"delete\"\u{FFFD}"), "{diff}");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use comrak::nodes::NodeValue;
    use comrak::{Arena, Options, markdown_to_html, parse_document};

    use super::*;
    use crate::images::ImageChange;
    use crate::manifest::ResourceKey;
    use crate::model::{Revision, Stats};

    #[test]
    fn odd_paths_stay_inside_their_code_span_and_table_cell() {
        assert_eq!(code_span("overlays/a`b"), "``overlays/a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
        // A line break is shown, not passed off as a space.
        assert_eq!(code_span("a\nb"), "`a⏎b`");
        assert_eq!(code_span("a\r\nb\tc\u{1b}"), "`a⏎b c\u{FFFD}`");
        let overlay = OverlayDiff {
            remote: vec!["https://example.com/`base`".into()],
            ..OverlayDiff::new("overlays/a|b", OverlayStatus::Changed)
        };
        let report = Report {
            base: crate::model::Revision {
                name: "a".into(),
                sha: "0".repeat(40),
            },
            head: crate::model::Revision {
                name: "b".into(),
                sha: "1".repeat(40),
            },
            merge_base: false,
            overlays: vec![overlay.clone()],
            applications: None,
            filters: Default::default(),
            stats: crate::model::Stats::default(),
        };
        assert!(
            summary(&report, usize::MAX).contains("| `overlays/a\\|b` | 0 | 0 | 0 | changed |")
        );
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

    /// What a PR can put in a name to break out of its place in the comment: end a `<details>`,
    /// open a fence, split a table cell, ping a team, link an issue or an image, forge our
    /// hidden marker, and start new blocks after a blank line.
    pub(crate) const HOSTILE: &str = "x`y``z</details><details open><summary>hi</summary> | @org/team \
        @user #123 <!-- gitops-promote id=default part=2/2 head=f --> ![x](https://evil.example/p.png) \
        [y](https://evil.example) https://evil.example www.evil.example a@evil.example &#64;me \
        <b>b</b> *em* _u_ \\ a\\|b ~~x~~\n\n```\n~~~\n-->\n# heading\n- item | c |";

    pub(crate) fn hostile(field: &str) -> String {
        format!("{field}-{HOSTILE}")
    }

    /// A report where every field a PR controls is hostile: two overlays (one changed with a
    /// renamed, a namespaced and a cluster-wide resource, one failed), hostile revision names.
    pub(crate) fn hostile_report() -> Report {
        let resource = |kind: &str, namespace: Option<&str>, name: &str, previous: Option<&str>| {
            ResourceDiff {
                key: ResourceKey {
                    group: String::new(),
                    kind: hostile(kind),
                    namespace: namespace.map(hostile),
                    name: hostile(name),
                },
                api_version: "v1".into(),
                change: if previous.is_some() {
                    Change::Modified
                } else {
                    Change::Added
                },
                previous_name: previous.map(hostile),
                diff: format!("@@ -1 +1 @@\n-{HOSTILE}\n+{HOSTILE}\n"),
                lines_added: 1,
                lines_removed: 1,
                twin: false,
            }
        };
        let image = hostile("image");
        Report {
            base: Revision {
                name: hostile("base"),
                sha: "0".repeat(40),
            },
            head: Revision {
                name: hostile("head"),
                sha: "1".repeat(40),
            },
            merge_base: false,
            overlays: vec![
                OverlayDiff {
                    remote: vec![hostile("remote")],
                    resources: vec![
                        resource("kind", Some("namespace"), "name", Some("previous")),
                        resource("cluster-kind", None, "cluster-name", None),
                    ],
                    images: vec![ImageChange {
                        image: image.clone(),
                        old: Some(format!("{image}:1.0")),
                        new: Some(format!("{image}:2.0")),
                        containers: vec!["Deployment web (container web)".into()],
                    }],
                    overrides: vec![hostile("override")],
                    notes: vec![hostile("note")],
                    ..OverlayDiff::new(hostile("path"), OverlayStatus::Changed)
                },
                OverlayDiff {
                    error: Some(hostile("error")),
                    ..OverlayDiff::new(hostile("broken"), OverlayStatus::Error)
                },
                OverlayDiff::new(hostile("unchanged"), OverlayStatus::Unchanged),
            ],
            applications: None,
            filters: Default::default(),
            stats: Stats::default(),
        }
    }

    /// Markdown parsed with the extensions GitHub turns on, raw HTML kept as GitHub keeps
    /// `<details>`, so what a name could inject shows up in the HTML.
    pub(crate) fn github_options() -> Options<'static> {
        let mut options = Options::default();
        options.extension.table = true;
        options.extension.strikethrough = true;
        options.extension.autolink = true;
        options.extension.tasklist = true;
        options.extension.footnotes = true;
        options.extension.alerts = true;
        options.render.r#unsafe = true;
        options
    }

    pub(crate) fn github_html(markdown: &str) -> String {
        markdown_to_html(markdown, &github_options())
    }

    /// The HTML's text as GitHub's filters see it: tags dropped, entities decoded.
    fn visible_text(html: &str) -> String {
        let tags = regex::Regex::new(r"<[^>]*>").unwrap();
        tags.replace_all(html, "")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&#64;", "@")
            .replace("&#35;", "#")
            .replace("&amp;", "&")
    }

    /// Checks that hold for any rendering of a hostile report: `sections` `<details>` blocks,
    /// opened and closed in turn; `images` list items; no link, image, tag, comment or mention
    /// made from a name; every name in `names` still readable (a line break shown as `⏎`).
    pub(crate) fn assert_contained(
        markdown: &str,
        sections: usize,
        images: usize,
        names: &[String],
    ) {
        let html = github_html(markdown);
        let tokens = regex::Regex::new(r"</?details\b").unwrap();
        let order: Vec<&str> = tokens.find_iter(&html).map(|m| m.as_str()).collect();
        let expected: Vec<&str> = ["<details", "</details"].repeat(sections);
        assert_eq!(
            order, expected,
            "<details> blocks:\n{markdown}\n---\n{html}"
        );
        for made in [
            "<a ",
            "<img",
            "<b>",
            "<summary>hi",
            "<!--",
            "<h1",
            "<del",
            "<em",
        ] {
            assert!(!html.contains(made), "{made} made from a name:\n{html}");
        }
        // Our one list: an item per image change.
        assert_eq!(html.matches("<li").count(), images, "{html}");
        // GitHub links mentions and issue numbers in text, never in code.
        let code = regex::Regex::new(r"(?s)<pre[^>]*>.*?</pre>|<code[^>]*>.*?</code>").unwrap();
        let outside_code = visible_text(&code.replace_all(&html, ""));
        let linked = regex::Regex::new(r"@[A-Za-z0-9]|#[0-9]").unwrap();
        assert!(
            !linked.is_match(&outside_code),
            "a mention or issue link outside code:\n{outside_code}"
        );
        // A reader does not see the word joiners.
        let text = visible_text(&html).replace('\u{2060}', "");
        for name in names {
            let shown = name.replace('\n', "⏎");
            assert!(text.contains(&shown), "{shown:?} not shown in:\n{text}");
        }
    }

    /// The names the report shows in one line, as they should read.
    fn hostile_names(report: &Report) -> Vec<String> {
        let mut names = vec![report.base.name.clone(), report.head.name.clone()];
        for overlay in report.shown() {
            names.push(overlay.path.clone());
            names.extend(overlay.remote.iter().cloned());
            names.extend(overlay.overrides.iter().cloned());
            names.extend(overlay.notes.iter().cloned());
            names.extend(overlay.images.iter().map(ToString::to_string));
            for r in &overlay.resources {
                names.push(r.key.kind.clone());
                let namespace = r.key.namespace.as_ref().map(|ns| format!("{ns}/"));
                names.push(format!("{}{}", namespace.unwrap_or_default(), r.key.name));
                names.extend(r.previous_name.iter().cloned());
            }
        }
        names
    }

    #[test]
    fn hostile_names_stay_text_in_their_place() {
        let report = hostile_report();
        let markdown = render(&report);
        assert_contained(&markdown, 2, 1, &hostile_names(&report));
    }

    /// A risk's resource and message, and the filters' rules, come from the PR too.
    #[test]
    fn hostile_risks_and_filters_stay_text_in_their_place() {
        let mut report = hostile_report();
        let finding = crate::risk::Finding {
            rule: crate::risk::Rule::ReplicasZero,
            key: ResourceKey {
                group: "apps".into(),
                kind: hostile("risk-kind"),
                namespace: Some(hostile("risk-namespace")),
                name: hostile("risk-name"),
            },
            api_version: "apps/v1".into(),
            message: hostile("message"),
        };
        report.overlays[0].risks = vec![finding.clone()];
        report.filters = crate::model::Filters {
            ignored_fields: vec![hostile("field")],
            ignored_risks: vec![hostile("rule")],
        };
        let markdown = render(&report);
        let mut names = hostile_names(&report);
        names.extend([
            finding.resource(),
            finding.message.clone(),
            hostile("field"),
            hostile("rule"),
        ]);
        // One list item for the image, one for the risk.
        assert_contained(&markdown, 2, 2, &names);
    }

    /// Application names, revisions, origins, details and notes come from manifests in the PR.
    #[test]
    fn hostile_applications_stay_text_in_their_place() {
        use crate::applications::{AppInfo, AppsReport, ManifestChange, NotDeployed};
        let mut report = hostile_report();
        report.overlays[0].application = Some(AppInfo {
            name: hostile("app"),
            target_revision: hostile("revision"),
            origin: hostile("origin"),
        });
        report.applications = Some(AppsReport {
            branch: hostile("branch"),
            not_deployed: vec![NotDeployed {
                name: hostile("other-app"),
                target_revision: hostile("other-revision"),
                path: Some(hostile("other-path")),
                reason: "not deployed from this branch".into(),
            }],
            manifests: vec![ManifestChange {
                kind: "Application".into(),
                name: hostile("changed-app"),
                change: Change::Modified,
                details: vec![hostile("detail")],
                diff: String::new(),
                deletes: Some(3),
            }],
            notes: vec![hostile("apps-note")],
        });
        let markdown = render(&report);
        let mut names = hostile_names(&report);
        names.extend([
            hostile("app"),
            hostile("revision"),
            hostile("branch"),
            hostile("other-app"),
            hostile("other-revision"),
            hostile("changed-app"),
            hostile("detail"),
            hostile("apps-note"),
        ]);
        // One list item for the image, one for the manifest change.
        assert_contained(&markdown, 2, 2, &names);
    }

    #[test]
    fn inline_text_leaves_ordinary_names_alone_and_starts_no_block() {
        let plain =
            "Application staging-web: annotation argocd-image-updater.argoproj.io/web.allow-tags";
        assert_eq!(inline(plain), plain);
        for start in [
            "# heading",
            "- item",
            "+ item",
            "1. item",
            "12) item",
            "> quote",
            "===",
        ] {
            let html = github_html(&format!("> {}\n", inline(start)));
            let text = visible_text(&html).replace('\u{2060}', "");
            assert_eq!(text.trim(), start, "{html}");
            for block in ["<h1", "<li", "<ol", "<ul", "<blockquote>\n<blockquote"] {
                assert!(!html.contains(block), "{start:?}: {html}");
            }
        }
    }

    #[test]
    fn the_summary_table_keeps_one_row_of_five_cells_per_overlay() {
        let report = hostile_report();
        let markdown = render(&report);
        let arena = Arena::new();
        let root = parse_document(&arena, &markdown, &github_options());
        let tables: Vec<_> = root
            .descendants()
            .filter(|n| matches!(n.data().value, NodeValue::Table(..)))
            .collect();
        assert_eq!(tables.len(), 1, "{markdown}");
        let rows: Vec<usize> = tables[0]
            .children()
            .map(|row| row.children().count())
            .collect();
        assert_eq!(rows, [5, 5, 5], "header and two overlays:\n{markdown}");
    }

    #[test]
    fn a_build_error_is_shown_whole_in_one_text_block() {
        let report = hostile_report();
        let markdown = render(&report);
        let arena = Arena::new();
        let root = parse_document(&arena, &markdown, &github_options());
        let error = report.overlays[1].error.clone().unwrap();
        let blocks: Vec<String> = root
            .descendants()
            .filter_map(|n| match &n.data().value {
                NodeValue::CodeBlock(b) if b.info == "text" => Some(b.literal.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(blocks, [format!("{error}\n")], "{markdown}");
    }
}
