//! Fits the markdown report into GitHub comments of at most 65,536 characters: summary first, the
//! largest diffs shortened first, then numbered parts, and at worst the summary alone.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write;

use super::markdown::{self, OVERLAY_CLOSE};
use crate::model::{OverlayDiff, OverlayStatus, Report, ResourceDiff};

/// GitHub rejects a comment body longer than this many characters (characters, not bytes).
pub const COMMENT_LIMIT: usize = 65_536;

/// A shortened diff still shows its first lines, so the start of every change stays visible;
/// only a resource too big for a comment of its own goes below this.
const FLOOR_LINES: usize = 40;
/// In a shortened diff, longer lines are cut here: one minified JSON value (a Grafana dashboard
/// in a ConfigMap) is a single line that could fill a comment by itself.
const LINE_CAP: usize = 500;
/// Build errors are short in practice; this guards against a tool that dumps a whole manifest.
const ERROR_CAP: usize = 4_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Characters per comment body (COMMENT_LIMIT in production; small in tests).
    pub limit: usize,
    /// Characters each body must leave free for what the publisher adds (hidden marker, part header).
    pub reserve: usize,
    /// Most comments a report may take (input `max-comments`, default 3, at least 1).
    pub max_parts: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FittedComment {
    /// Bodies in order; part 1 always starts with the summary table.
    pub parts: Vec<String>,
    /// Resource diffs that were shortened.
    pub(crate) trimmed_resources: usize,
    /// Only the summary fitted; diffs are in the job summary / report file.
    pub(crate) summary_only: bool,
}

/// Lays `report` out in at most `budget.max_parts` bodies of at most `limit − reserve` characters
/// each. Every body is valid markdown on its own: code fences and `<details>` blocks are closed in
/// the body that opens them.
///
/// The first layout that fits wins: the whole report in one body; then, for one, two, … parts,
/// the fewest cuts that make it fit, taken from the largest diffs first; then the summary alone,
/// build errors included. Fewer comments come before fewer cuts: a diff too long for one comment
/// is rarely read line by line, the full report is one link away, and every extra comment pushes
/// the PR's conversation further down. Within a number of parts nothing is cut that fits.
///
/// `note`: optional extra paragraph to show right under the summary (e.g. "GitHub had no merge
/// commit; compared merge-base…").
/// `full_report_hint`: text pointing to where the full report is (e.g. "Full report: job summary
/// of run <url>"), shown whenever anything was trimmed or left out.
///
/// Only a budget too small for the summary's heading, comparison line and note (a few hundred
/// characters without a note) can yield a body over the limit.
pub fn fit(
    report: &Report,
    budget: &Budget,
    note: Option<&str>,
    full_report_hint: &str,
) -> FittedComment {
    let layout = Layout::new(report, budget, note, full_report_hint);
    layout
        .whole()
        .or_else(|| (1..=layout.max_parts).find_map(|parts| layout.in_parts(parts)))
        .unwrap_or_else(|| layout.summary_only())
}

/// What the paragraph under the summary has to say about how the report was fitted.
#[derive(Clone, Copy)]
enum Shape {
    Whole,
    Parts { parts: usize, trimmed: usize },
    SummaryOnly,
}

/// The report rendered once into the pieces every attempt rearranges.
struct Layout<'a> {
    report: &'a Report,
    /// Characters one body may hold.
    cap: usize,
    max_parts: usize,
    note: Option<&'a str>,
    hint: &'a str,
    summary: String,
    overlays: Vec<Overlay<'a>>,
    /// Some build error was too long to show whole, which the hint must then point past.
    errors_capped: bool,
}

/// One shown overlay.
struct Overlay<'a> {
    source: &'a OverlayDiff,
    /// Opens the overlay's first piece, with its (capped) build error.
    opening: String,
    /// Opens each later piece, in a following comment.
    continued: String,
    sections: Vec<Section<'a>>,
}

/// One resource and its section in full.
struct Section<'a> {
    /// Position in the report, so a resource shortened twice is counted once.
    id: usize,
    resource: &'a ResourceDiff,
    diff_chars: usize,
    full: String,
    full_chars: usize,
}

/// A section as one attempt shows it.
struct Placed<'s> {
    id: usize,
    resource: &'s ResourceDiff,
    text: Cow<'s, str>,
    chars: usize,
    trimmed: bool,
}

/// The bodies of one successful attempt; part 1's head is added when the outcome is known.
struct Packed {
    bodies: Vec<String>,
    trimmed: BTreeSet<usize>,
}

impl<'a> Layout<'a> {
    fn new(report: &'a Report, budget: &Budget, note: Option<&'a str>, hint: &'a str) -> Self {
        let cap = budget.limit.saturating_sub(budget.reserve);
        let error_cap = ERROR_CAP.min(cap / 4);
        let mut errors_capped = false;
        let mut id = 0;
        let overlays = report
            .shown()
            .map(|source| {
                let mut opening = markdown::overlay_heading(source, false);
                if let Some(error) = &source.error {
                    let shown = cap_error(error, error_cap);
                    errors_capped |= matches!(shown, Cow::Owned(_));
                    opening.push_str(&markdown::build_error(&shown));
                }
                let sections = source
                    .resources
                    .iter()
                    .map(|resource| {
                        id += 1;
                        let full = markdown::resource_section(resource);
                        Section {
                            id,
                            resource,
                            diff_chars: chars(&resource.diff),
                            full_chars: chars(&full),
                            full,
                        }
                    })
                    .collect();
                Overlay {
                    source,
                    opening,
                    continued: markdown::overlay_heading(source, true),
                    sections,
                }
            })
            .collect();
        Layout {
            report,
            cap,
            max_parts: budget.max_parts.max(1),
            note,
            hint: hint.trim(),
            summary: markdown::summary(report, markdown::COMMENT_RISK_LINES),
            overlays,
            errors_capped,
        }
    }

    /// The report exactly as `markdown::render` writes it (plus the note), if it fits.
    fn whole(&self) -> Option<FittedComment> {
        let mut body = self.head(&self.summary, Shape::Whole);
        for overlay in &self.overlays {
            body.push('\n');
            body.push_str(&markdown::overlay_section(overlay.source));
        }
        (chars(&body) <= self.cap).then(|| FittedComment {
            parts: vec![body],
            trimmed_resources: 0,
            summary_only: false,
        })
    }

    /// The least shortened layout in at most `parts` bodies. Diffs longer than a level are cut to
    /// it (never below the floor); the level is searched so that the largest diffs lose the most
    /// and nothing is cut that fits.
    fn in_parts(&self, parts: usize) -> Option<FittedComment> {
        let resources = self
            .overlays
            .iter()
            .map(|o| o.sections.len())
            .sum::<usize>();
        // Part 1's paragraph is written when the outcome is known; room is kept for its longest
        // form, which the final one never exceeds.
        let head_room = chars(&self.head(
            &self.summary,
            Shape::Parts {
                parts,
                trimmed: resources.max(1),
            },
        ));
        let attempt = |level: usize| self.pack_at(level, parts, head_room);
        let top = self
            .overlays
            .iter()
            .flat_map(|o| &o.sections)
            .map(|s| s.diff_chars)
            .max()
            .unwrap_or(0);
        if let Some(packed) = attempt(top) {
            return Some(self.finish(packed));
        }
        let mut best = attempt(0)?;
        // Invariant: `low` fits, `high` does not.
        let (mut low, mut high) = (0, top);
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            match attempt(mid) {
                Some(packed) => (low, best) = (mid, packed),
                None => high = mid,
            }
        }
        Some(self.finish(best))
    }

    fn pack_at(&self, level: usize, parts: usize, head_room: usize) -> Option<Packed> {
        let placed: Vec<Vec<Placed>> = self
            .overlays
            .iter()
            .map(|o| o.sections.iter().map(|s| s.at_level(level)).collect())
            .collect();
        // Keeping each overlay in one comment reads better; filling every comment to the brim
        // is the fallback when that needs a comment too many.
        [true, false]
            .into_iter()
            .find_map(|intact| self.pack(&placed, parts, head_room, intact))
    }

    fn pack(
        &self,
        placed: &[Vec<Placed>],
        parts: usize,
        head_room: usize,
        intact: bool,
    ) -> Option<Packed> {
        let mut packer = Packer {
            cap: self.cap,
            max_parts: parts,
            later_room: chars(&self.part_heading(parts, parts)),
            bodies: vec![String::new()],
            used: head_room,
            trimmed: placed
                .iter()
                .flatten()
                .filter(|p| p.trimmed)
                .map(|p| p.id)
                .collect(),
        };
        if packer.used > packer.cap {
            return None;
        }
        for (overlay, sections) in self.overlays.iter().zip(placed) {
            packer.overlay(overlay, sections, intact)?;
        }
        Some(Packed {
            bodies: packer.bodies,
            trimmed: packer.trimmed,
        })
    }

    fn finish(&self, packed: Packed) -> FittedComment {
        let count = packed.bodies.len();
        let trimmed = packed.trimmed.len();
        let head = self.head(
            &self.summary,
            Shape::Parts {
                parts: count,
                trimmed,
            },
        );
        let parts = packed
            .bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| match i {
                0 => head.clone() + &body,
                _ => self.part_heading(i + 1, count) + &body,
            })
            .collect();
        FittedComment {
            parts,
            trimmed_resources: trimmed,
            summary_only: false,
        }
    }

    /// The summary and build errors, with as many table rows as fit: every failed overlay's
    /// first, since those need the reviewer most.
    fn summary_only(&self) -> FittedComment {
        let shown: Vec<&OverlayDiff> = self.report.shown().collect();
        let errors = shown.iter().filter(|o| failed(o)).count();
        let others = shown.len() - errors;
        let listing = |errors_kept: usize, others_kept: usize| -> Vec<&OverlayDiff> {
            let (mut e, mut o) = (0, 0);
            shown
                .iter()
                .filter(|overlay| {
                    let (seen, kept) = if failed(overlay) {
                        (&mut e, errors_kept)
                    } else {
                        (&mut o, others_kept)
                    };
                    *seen += 1;
                    *seen <= kept
                })
                .copied()
                .collect()
        };
        let head = |listed: &[&OverlayDiff]| {
            self.head(
                &markdown::summary_listing(self.report, listed, markdown::COMMENT_RISK_LINES),
                Shape::SummaryOnly,
            )
        };
        let fits = |errors_kept: usize, others_kept: usize| {
            chars(&head(&listing(errors_kept, others_kept))) <= self.cap
        };
        let (errors_kept, others_kept) = if fits(errors, others) {
            (errors, others)
        } else if fits(errors, 0) {
            (errors, most_that_fit(others, |n| fits(errors, n)))
        } else {
            (most_that_fit(errors, |n| fits(n, 0)), 0)
        };
        let mut body = head(&listing(errors_kept, others_kept));
        for overlay in self.overlays.iter().filter(|o| failed(o.source)) {
            let piece = format!("\n{}{OVERLAY_CLOSE}", overlay.opening);
            if chars(&body) + chars(&piece) <= self.cap {
                body.push_str(&piece);
            }
        }
        FittedComment {
            parts: vec![body],
            trimmed_resources: 0,
            summary_only: true,
        }
    }

    /// Part 1's opening: the summary, the caller's note, then what was done to fit the report.
    fn head(&self, summary: &str, shape: Shape) -> String {
        let mut out = summary.to_string();
        if let Some(note) = self.note.map(str::trim).filter(|n| !n.is_empty()) {
            let _ = writeln!(out, "\n{note}");
        }
        let mut said: Vec<String> = Vec::new();
        let left_out = match shape {
            Shape::Whole => false,
            Shape::Parts { parts, trimmed } => {
                if parts > 1 {
                    said.push(format!("This report is split into {parts} comments."));
                }
                if trimmed > 0 {
                    let diffs = plural(
                        trimmed,
                        "large resource diff is",
                        "large resource diffs are",
                    );
                    said.push(format!(
                        "{trimmed} {diffs} shortened to fit GitHub's comment size limit."
                    ));
                }
                trimmed > 0 || self.errors_capped
            }
            Shape::SummaryOnly => {
                let comments = plural(self.max_parts, "comment", "comments");
                said.push(format!(
                    "The diffs do not fit in {} {comments}, so only the summary is shown.",
                    self.max_parts
                ));
                true
            }
        };
        if left_out && !self.hint.is_empty() {
            said.push(self.hint.to_string());
        }
        if !said.is_empty() {
            let _ = writeln!(out, "\n{}", said.join(" "));
        }
        out
    }

    fn part_heading(&self, part: usize, parts: usize) -> String {
        format!(
            "### Rendered manifests: {} → {} (part {part} of {parts})\n",
            markdown::code_span(&self.report.base.name),
            markdown::code_span(&self.report.head.name)
        )
    }
}

impl Section<'_> {
    /// This section with its diff cut to `level` characters if it is longer.
    fn at_level(&self, level: usize) -> Placed<'_> {
        let whole = || Placed {
            id: self.id,
            resource: self.resource,
            text: Cow::Borrowed(&self.full),
            chars: self.full_chars,
            trimmed: false,
        };
        if self.diff_chars <= level {
            return whole();
        }
        let Some(diff) = cut_diff(&self.resource.diff, level, FLOOR_LINES) else {
            return whole();
        };
        let text = markdown::resource_section_showing(self.resource, &diff);
        Placed {
            id: self.id,
            resource: self.resource,
            chars: chars(&text),
            text: Cow::Owned(text),
            trimmed: true,
        }
    }
}

/// Fills bodies in order. Every piece it writes starts with the blank line that separates
/// overlay sections, as in the whole report.
struct Packer {
    cap: usize,
    max_parts: usize,
    /// What a later part's heading takes.
    later_room: usize,
    bodies: Vec<String>,
    /// Characters in the current body, its heading (or part 1's head) included.
    used: usize,
    trimmed: BTreeSet<usize>,
}

impl Packer {
    fn room(&self) -> usize {
        self.cap.saturating_sub(self.used)
    }

    /// Nothing but a heading in the current body yet.
    fn fresh(&self) -> bool {
        self.bodies.last().is_none_or(String::is_empty)
    }

    fn push(&mut self, text: &str) {
        self.used += chars(text);
        self.bodies
            .last_mut()
            .expect("a packer always has a body")
            .push_str(text);
    }

    fn next_part(&mut self) -> Option<()> {
        if self.bodies.len() >= self.max_parts {
            return None;
        }
        self.bodies.push(String::new());
        self.used = self.later_room;
        Some(())
    }

    /// Places one overlay, whole where it fits, else split between resource sections; a section
    /// too big even for a comment of its own is shortened to fit one.
    fn overlay(&mut self, overlay: &Overlay, sections: &[Placed], intact: bool) -> Option<()> {
        let close = chars(OVERLAY_CLOSE);
        let whole = 1
            + chars(&overlay.opening)
            + sections.iter().map(|s| s.chars + 1).sum::<usize>()
            + close;
        let fits_a_part = self.later_room + whole <= self.cap;
        if whole > self.room() && !self.fresh() && (sections.is_empty() || (intact && fits_a_part))
        {
            self.next_part()?;
        }
        if whole <= self.room() {
            self.push("\n");
            self.push(&overlay.opening);
            for section in sections {
                self.push(&section.text);
                self.push("\n");
            }
            self.push(OVERLAY_CLOSE);
            return Some(());
        }
        if sections.is_empty() {
            return None;
        }
        // Whether a piece of this overlay is open in the current part.
        let mut started = false;
        for section in sections {
            if started {
                if section.chars + 1 + close <= self.room() {
                    self.push(&section.text);
                    self.push("\n");
                    continue;
                }
                self.push(OVERLAY_CLOSE);
                self.next_part()?;
            }
            let opener = if started {
                &overlay.continued
            } else {
                &overlay.opening
            };
            let frame = 1 + chars(opener) + 1 + close;
            if frame + section.chars > self.room() {
                if !self.fresh() {
                    self.next_part()?;
                } else if self.bodies.len() == 1
                    && self.later_room + frame + section.chars <= self.cap
                {
                    // Part 1 holds only the summary: a later part can show this section whole;
                    // if there is none left, it is shortened here instead.
                    let _ = self.next_part();
                }
            }
            let room = self.room();
            let text = if frame + section.chars <= room {
                Cow::Borrowed(section.text.as_ref())
            } else {
                self.trimmed.insert(section.id);
                Cow::Owned(fit_section(section.resource, room.checked_sub(frame)?)?)
            };
            self.push("\n");
            self.push(opener);
            self.push(&text);
            self.push("\n");
            started = true;
        }
        self.push(OVERLAY_CLOSE);
        Some(())
    }
}

/// The first lines of `diff` within `max_chars` (never fewer than `min_lines`), long lines cut,
/// and a last line saying how many lines are not shown; `None` if nothing had to go.
fn cut_diff(diff: &str, max_chars: usize, min_lines: usize) -> Option<String> {
    // As `split_inclusive('\n').count()`, but this runs on every long diff in every attempt.
    let total = diff.bytes().filter(|&b| b == b'\n').count()
        + usize::from(!diff.is_empty() && !diff.ends_with('\n'));
    let mut text = String::new();
    let (mut used, mut kept, mut shortened, mut last) = (0, 0, false, 0);
    for line in diff.split_inclusive('\n') {
        let shown = shorten_line(line);
        let n = chars(&shown);
        if kept >= min_lines && used + n > max_chars {
            break;
        }
        shortened |= matches!(shown, Cow::Owned(_));
        last = text.len();
        text.push_str(&shown);
        (used, kept) = (used + n, kept + 1);
    }
    // A hunk header with none of its lines under it says nothing.
    if kept < total && kept > 0 && text[last..].starts_with("@@") {
        text.truncate(last);
        kept -= 1;
    }
    let cut = total - kept;
    if cut == 0 && !shortened {
        return None;
    }
    if cut > 0 {
        let lines = plural(cut, "line", "lines");
        let _ = writeln!(
            text,
            "… {cut} more {lines} cut; the full report has the whole diff"
        );
    }
    Some(text)
}

/// `line` with everything past LINE_CAP characters replaced by a count.
fn shorten_line(line: &str) -> Cow<'_, str> {
    let (body, end) = match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    };
    let n = chars(body);
    if n <= LINE_CAP {
        return Cow::Borrowed(line);
    }
    let kept: String = body.chars().take(LINE_CAP).collect();
    Cow::Owned(format!("{kept} … {} more characters{end}", n - LINE_CAP))
}

/// The resource's section shortened to at most `max_chars` characters, for a resource too big
/// for a comment of its own; `None` if not even its heading fits.
fn fit_section(resource: &ResourceDiff, max_chars: usize) -> Option<String> {
    let frame = chars(&markdown::resource_section_showing(resource, ""));
    let mut budget = max_chars.saturating_sub(frame);
    loop {
        let diff = cut_diff(&resource.diff, budget, 0).unwrap_or_else(|| resource.diff.clone());
        let text = markdown::resource_section_showing(resource, &diff);
        let n = chars(&text);
        if n <= max_chars {
            return Some(text);
        }
        if budget == 0 {
            return None;
        }
        // The note and a longer fence can overshoot the estimate; each round shrinks the budget.
        budget = budget.saturating_sub(n - max_chars);
    }
}

/// The error's start and (longer) end: kustomize prints the cause last.
fn cap_error(error: &str, max_chars: usize) -> Cow<'_, str> {
    let n = chars(error);
    if n <= max_chars {
        return Cow::Borrowed(error);
    }
    let keep = max_chars.saturating_sub(48);
    let (head, tail) = (keep / 4, keep - keep / 4);
    let start: String = error.chars().take(head).collect();
    let end: String = error.chars().skip(n - tail).collect();
    Cow::Owned(format!(
        "{start}\n… {} characters cut …\n{end}",
        n - head - tail
    ))
}

/// The largest `n` in `0..=max` for which `fits(n)`, given `fits(0)` and that fitting is monotone.
fn most_that_fit(max: usize, fits: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, max + 1);
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if fits(mid) {
            low = mid;
        } else {
            high = mid;
        }
    }
    low
}

fn plural<'s>(n: usize, one: &'s str, many: &'s str) -> &'s str {
    if n == 1 { one } else { many }
}

fn failed(overlay: &OverlayDiff) -> bool {
    overlay.status == OverlayStatus::Error
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use comrak::nodes::NodeValue;
    use comrak::{Arena, Options, parse_document};

    use super::*;
    use crate::diff::diff_resources;
    use crate::manifest::{ResourceKey, parse_resources};
    use crate::model::{Revision, Stats};

    const HINT: &str =
        "Full report: job summary of run https://github.com/acme/gitops/actions/runs/42";
    const BROKEN_ERROR: &str = "Error: accumulating resources: accumulation err='accumulating resources from 'missing.yaml'': open missing.yaml: no such file or directory";

    fn small(limit: usize, max_parts: usize) -> Budget {
        Budget {
            limit,
            reserve: 100,
            max_parts,
        }
    }

    fn github() -> Budget {
        Budget {
            limit: COMMENT_LIMIT,
            reserve: 300,
            max_parts: 3,
        }
    }

    /// A ConfigMap whose `lines` data entries each read `<value> <i>`.
    fn config_map(name: &str, lines: usize, value: &str) -> String {
        let mut yaml = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\ndata:\n"
        );
        for i in 0..lines {
            let _ = writeln!(yaml, "  key-{i:05}: {value} {i}");
        }
        yaml
    }

    /// A ConfigMap whose `lines` entries all change: a diff of about 2 × `lines` lines.
    fn changed(name: &str, lines: usize) -> ResourceDiff {
        changed_from(
            &config_map(name, lines, "old"),
            &config_map(name, lines, "new"),
        )
    }

    fn changed_from(base: &str, head: &str) -> ResourceDiff {
        let mut diffs = diff_resources(
            parse_resources(base).unwrap(),
            parse_resources(head).unwrap(),
        );
        assert_eq!(diffs.len(), 1);
        diffs.remove(0)
    }

    fn overlay(path: &str, resources: Vec<ResourceDiff>) -> OverlayDiff {
        OverlayDiff {
            resources,
            ..OverlayDiff::new(path, OverlayStatus::Changed)
        }
    }

    fn broken(path: &str, error: &str) -> OverlayDiff {
        OverlayDiff {
            error: Some(error.into()),
            ..OverlayDiff::new(path, OverlayStatus::Error)
        }
    }

    fn report(overlays: Vec<OverlayDiff>) -> Report {
        Report {
            base: Revision {
                name: "master".into(),
                sha: "1a356d0f00000000000000000000000000000000".into(),
            },
            head: Revision {
                name: "develop".into(),
                sha: "8426902b00000000000000000000000000000000".into(),
            },
            merge_base: false,
            overlays,
            applications: None,
            filters: Default::default(),
            stats: Stats::default(),
        }
    }

    /// A broken overlay, then `overlays` overlays of `per` ConfigMaps with `lines` changed
    /// entries each, then an unchanged one.
    fn many(overlays: usize, per: usize, lines: usize) -> Report {
        // One diff renamed is much faster than parsing and diffing each copy.
        let template = changed("template", lines);
        let renamed = |name: String| ResourceDiff {
            diff: template.diff.replace("template", &name),
            key: ResourceKey {
                name,
                ..template.key.clone()
            },
            ..template.clone()
        };
        let mut all = vec![broken("overlays/broken", BROKEN_ERROR)];
        for o in 0..overlays {
            let resources = (0..per)
                .map(|r| renamed(format!("app{o:02}-config{r}")))
                .collect();
            all.push(overlay(&format!("overlays/app{o:02}"), resources));
        }
        all.push(OverlayDiff {
            status: OverlayStatus::Unchanged,
            ..overlay("overlays/quiet", Vec::new())
        });
        report(all)
    }

    /// A ConfigMap diff whose lines hold backtick runs of three and eight.
    fn backticks(name: &str, lines: usize) -> ResourceDiff {
        changed_from(
            &config_map(name, lines, "run ```kubectl``` then ```````` fence"),
            &config_map(name, lines, "use ```kubectl``` or ```````` fence"),
        )
    }

    /// Markdown GitHub would render the way we mean it: every fenced block closed, `<details>`
    /// opened and closed at the top level, never nested, and balanced.
    fn assert_well_formed(part: &str) -> Vec<String> {
        let arena = Arena::new();
        let mut options = Options::default();
        options.extension.table = true;
        options.extension.strikethrough = true;
        options.extension.autolink = true;
        let root = parse_document(&arena, part, &options);
        let mut depth = 0;
        let mut diffs = Vec::new();
        for node in root.descendants() {
            match &node.data().value {
                NodeValue::CodeBlock(block) => {
                    assert!(block.fenced, "an indented code block:\n{part}");
                    assert!(block.closed, "an unclosed fence:\n{part}");
                    if block.info == "diff" {
                        diffs.push(block.literal.clone());
                    }
                }
                NodeValue::HtmlBlock(html) => {
                    let top = node
                        .parent()
                        .is_some_and(|p| matches!(p.data().value, NodeValue::Document));
                    assert!(top, "a nested HTML block:\n{part}");
                    depth += html.literal.matches("<details").count();
                    let closes = html.literal.matches("</details>").count();
                    assert!(closes <= depth, "</details> without <details>:\n{part}");
                    depth -= closes;
                    assert!(depth <= 1, "nested <details>:\n{part}");
                }
                NodeValue::HtmlInline(html) => {
                    assert!(!html.contains("details"), "inline {html}:\n{part}")
                }
                _ => {}
            }
        }
        assert_eq!(depth, 0, "unbalanced <details>:\n{part}");
        diffs
    }

    /// Whether `shown` is the start of `diff`, allowing for cut lines and shortened ones.
    fn shows_start_of(shown: &str, diff: &str) -> bool {
        let shown: Vec<&str> = shown.lines().filter(|l| !l.starts_with("… ")).collect();
        let mut original = diff.lines();
        shown.iter().all(|line| {
            original.next().is_some_and(|o| {
                o == *line
                    || line.rsplit_once(" … ").is_some_and(|(kept, rest)| {
                        rest.ends_with(" more characters") && o.starts_with(kept)
                    })
            })
        })
    }

    /// What holds for every fitted comment.
    fn check(fitted: &FittedComment, report: &Report, budget: &Budget) {
        let cap = budget.limit - budget.reserve;
        assert!(!fitted.parts.is_empty());
        assert!(fitted.parts.len() <= budget.max_parts.max(1));
        for (i, part) in fitted.parts.iter().enumerate() {
            let n = part.chars().count();
            assert!(n <= cap, "part {} has {n} > {cap} characters", i + 1);
        }
        let first = &fitted.parts[0];
        assert!(
            first.starts_with("### Rendered manifests: `master` → `develop`\n"),
            "{first}"
        );
        for o in report
            .overlays
            .iter()
            .filter(|o| o.status == OverlayStatus::Error)
        {
            let row = format!("| `{}` | — | — | — | ⚠️ error |", o.path);
            assert!(first.contains(&row), "{row} missing from:\n{first}");
        }
        let resources: Vec<&ResourceDiff> =
            report.overlays.iter().flat_map(|o| &o.resources).collect();
        let mut shortened = 0;
        for (i, part) in fitted.parts.iter().enumerate() {
            if i > 0 {
                let heading = format!(
                    "### Rendered manifests: `master` → `develop` (part {} of {})\n\n<details",
                    i + 1,
                    fitted.parts.len()
                );
                assert!(part.starts_with(&heading), "{part}");
            }
            for shown in assert_well_formed(part) {
                let whole = resources.iter().any(|r| r.diff == shown);
                let start = resources.iter().any(|r| shows_start_of(&shown, &r.diff));
                assert!(whole || start, "a diff that is no resource's:\n{shown}");
                shortened += usize::from(!whole);
            }
        }
        assert_eq!(fitted.trimmed_resources, shortened);
        let all = fitted.parts.concat();
        if fitted.summary_only {
            assert!(all.contains(HINT), "{all}");
            assert!(!all.contains("```diff"), "{all}");
        } else {
            // Nothing is left out: every resource is shown exactly once.
            for r in &resources {
                let heading = format!("**{}** `shop/{}` (", r.key.kind, r.key.name);
                assert_eq!(all.matches(&heading).count(), 1, "{heading}");
            }
            let capped_error = first.contains(" characters cut …\n");
            assert_eq!(
                fitted.trimmed_resources > 0 || capped_error,
                first.contains(HINT)
            );
        }
    }

    fn fit_checked(report: &Report, budget: &Budget) -> FittedComment {
        let fitted = fit(report, budget, None, HINT);
        check(&fitted, report, budget);
        fitted
    }

    #[test]
    fn a_small_report_is_one_untouched_comment() {
        let report = report(vec![
            broken("overlays/broken", BROKEN_ERROR),
            overlay(
                "overlays/production",
                vec![changed("web", 3), backticks("notes", 2)],
            ),
        ]);
        let fitted = fit_checked(&report, &github());
        assert_eq!(fitted.parts, [markdown::render(&report)]);
        assert_eq!((fitted.trimmed_resources, fitted.summary_only), (0, false));
    }

    #[test]
    fn the_note_sits_right_under_the_summary() {
        let report = report(vec![overlay(
            "overlays/production",
            vec![changed("web", 3)],
        )]);
        let note = "GitHub had no merge commit; compared the merge base with the head.";
        let fitted = fit(&report, &github(), Some(note), HINT);
        let summary = markdown::summary(&report, usize::MAX);
        let rest = &markdown::render(&report)[summary.len()..];
        assert_eq!(fitted.parts, [format!("{summary}\n{note}\n{rest}")]);
    }

    #[test]
    fn characters_count_not_bytes() {
        let wide = changed_from(
            &config_map("greetings", 40, "grüße aus köln ✓"),
            &config_map("greetings", 40, "ça va très bien ✓"),
        );
        let report = report(vec![overlay("overlays/production", vec![wide])]);
        let whole = markdown::render(&report);
        let budget = Budget {
            limit: whole.chars().count() + 100,
            reserve: 100,
            max_parts: 1,
        };
        assert!(
            whole.len() > budget.limit,
            "the test needs more bytes than the limit"
        );
        assert_eq!(fit_checked(&report, &budget).parts, [whole]);
    }

    #[test]
    fn one_giant_diff_is_shortened_and_the_rest_left_whole() {
        let (before, giant, after) = (
            changed("a-small", 3),
            changed("giant", 1500),
            changed("z-small", 4),
        );
        let total_lines = giant.diff.lines().count();
        let report = report(vec![
            broken("overlays/broken", BROKEN_ERROR),
            overlay(
                "overlays/production",
                vec![before.clone(), giant, after.clone()],
            ),
        ]);
        let budget = small(4_000, 3);
        let fitted = fit_checked(&report, &budget);
        assert_eq!(fitted.parts.len(), 1);
        assert_eq!(fitted.trimmed_resources, 1);
        let part = &fitted.parts[0];
        assert!(part.contains(&markdown::resource_section(&before)));
        assert!(part.contains(&markdown::resource_section(&after)));
        assert!(part.contains(&format!(
            "1 large resource diff is shortened to fit GitHub's comment size limit. {HINT}"
        )));
        // The note counts exactly the lines that are not shown.
        let shown = assert_well_formed(part)
            .into_iter()
            .find(|d| d.contains("more lines cut"))
            .unwrap();
        let (kept, note) = shown.trim_end().rsplit_once('\n').unwrap();
        let cut: usize = note
            .strip_prefix("… ")
            .and_then(|n| n.split(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(kept.lines().count() + cut, total_lines);
        // The comment is used, not left half empty.
        assert!(part.chars().count() > 3_000, "{}", part.chars().count());
    }

    #[test]
    fn a_report_too_big_for_one_comment_is_split_into_numbered_parts() {
        let report = many(8, 2, 25);
        let budget = small(8_000, 5);
        let fitted = fit_checked(&report, &budget);
        assert!(fitted.parts.len() > 1);
        assert_eq!(
            fitted.trimmed_resources, 0,
            "parts are enough; nothing is cut"
        );
        assert!(!fitted.summary_only);
        assert!(fitted.parts[0].contains(&format!(
            "This report is split into {} comments.",
            fitted.parts.len()
        )));
    }

    #[test]
    fn an_overlay_too_big_for_one_part_continues_in_the_next() {
        let report = report(vec![overlay(
            "overlays/production",
            (0..6).map(|i| changed(&format!("config{i}"), 20)).collect(),
        )]);
        let fitted = fit_checked(&report, &small(3_000, 3));
        assert!(fitted.parts.len() > 1);
        assert!(
            fitted.parts[1].contains(
                "<summary><code>overlays/production</code>: +0 ~6 −0 (continued)</summary>"
            )
        );
    }

    #[test]
    fn thirty_overlays_of_big_diffs_fit_the_real_limit() {
        let report = many(30, 3, 150);
        assert!(markdown::render(&report).chars().count() > 3 * COMMENT_LIMIT);
        let fitted = fit_checked(&report, &github());
        assert!(!fitted.summary_only);
        assert!(fitted.trimmed_resources > 0);
    }

    #[test]
    fn beyond_max_parts_only_the_summary_is_left() {
        let report = many(30, 3, 150);
        let budget = small(4_000, 2);
        let fitted = fit_checked(&report, &budget);
        assert!(fitted.summary_only);
        assert_eq!(fitted.parts.len(), 1);
        let part = &fitted.parts[0];
        assert!(
            part.contains("| `overlays/app29` | 0 | 3 | 0 | changed |"),
            "{part}"
        );
        assert!(part.contains(&format!(
            "The diffs do not fit in 2 comments, so only the summary is shown. {HINT}"
        )));
        assert!(
            part.contains(BROKEN_ERROR),
            "the build error is what needs acting on"
        );
    }

    #[test]
    fn a_summary_too_long_keeps_its_failed_rows_and_counts_the_rest() {
        let mut report = many(120, 1, 3);
        report
            .overlays
            .push(broken("overlays/zz-broken-last", BROKEN_ERROR));
        let fitted = fit_checked(&report, &small(4_000, 3));
        assert!(fitted.summary_only);
        let part = &fitted.parts[0];
        assert!(part.contains("| `overlays/app00` |"), "{part}");
        assert!(!part.contains("| `overlays/app119` |"), "{part}");
        assert!(
            part.contains(" more overlay(s) with changes not listed here."),
            "{part}"
        );
    }

    #[test]
    fn a_long_build_error_is_capped_and_pointed_past() {
        let noise = "W0612 warning: kustomize dumped this line again\n".repeat(2_000);
        let error = format!("{noise}Error: accumulating resources from 'missing.yaml'");
        let report = report(vec![
            broken("overlays/broken", &error),
            overlay("overlays/production", vec![changed("web", 3)]),
        ]);
        let fitted = fit_checked(&report, &github());
        assert_eq!(fitted.parts.len(), 1);
        let part = &fitted.parts[0];
        assert!(part.contains("characters cut …"), "{part}");
        // kustomize prints the cause last; that end stays.
        assert!(part.contains("Error: accumulating resources from 'missing.yaml'\n```"));
        assert!(part.contains(HINT));
    }

    #[test]
    fn backtick_runs_never_close_a_fence_early() {
        let report = report(vec![
            broken(
                "overlays/broken",
                "Error: bad ```` fence in `kustomization.yaml`",
            ),
            overlay(
                "overlays/production",
                vec![backticks("notes", 400), backticks("more-notes", 30)],
            ),
            overlay("overlays/staging", vec![backticks("staging-notes", 60)]),
        ]);
        let mut shapes = Vec::new();
        for budget in [small(3_000, 1), small(3_000, 4), small(10_000, 1), github()] {
            let fitted = fit_checked(&report, &budget);
            let shape = (
                fitted.parts.len(),
                fitted.trimmed_resources,
                fitted.summary_only,
            );
            assert!(shape.2 || fitted.parts.concat().contains("`````````diff\n"));
            shapes.push(shape);
        }
        // Summary only; split and shortened; shortened; whole.
        assert_eq!(
            shapes,
            [(1, 0, true), (4, 3, false), (1, 3, false), (1, 0, false)]
        );
    }

    #[test]
    fn a_single_line_bigger_than_a_comment_is_shortened() {
        let dashboard = |panels: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dashboards\n  namespace: shop\ndata:\n  web.json: '{{\"panels\":[{}]}}'\n",
                panels
            )
        };
        let panel = |i: usize, title: &str| format!("{{\"id\":{i},\"title\":\"{title} {i}\"}}");
        let old: Vec<String> = (0..4_000).map(|i| panel(i, "old")).collect();
        let new: Vec<String> = (0..4_000).map(|i| panel(i, "new")).collect();
        let diff = changed_from(&dashboard(&old.join(",")), &dashboard(&new.join(",")));
        assert!(diff.diff.chars().count() > 2 * COMMENT_LIMIT);
        let report = report(vec![overlay("overlays/monitoring", vec![diff])]);
        let fitted = fit_checked(&report, &github());
        assert_eq!((fitted.parts.len(), fitted.trimmed_resources), (1, 1));
        assert!(fitted.parts[0].contains(" more characters\n"));
    }

    #[test]
    fn every_budget_gives_valid_parts() {
        let mut report = many(6, 2, 30);
        report.overlays[2].resources.push(changed("giant", 700));
        report.overlays[3].resources.push(backticks("notes", 50));
        report.overlays[4].remote = vec!["github.com/acme/base?ref=v1".into()];
        for limit in [1_500, 2_500, 4_000, 10_000, 30_000] {
            for max_parts in [0, 1, 2, 3, 5] {
                let budget = Budget {
                    limit,
                    reserve: 200,
                    max_parts,
                };
                fit_checked(&report, &budget);
            }
        }
    }

    #[test]
    fn a_small_split_looks_like_this() {
        let report = report(vec![
            overlay(
                "overlays/production",
                ["web", "worker", "cron", "mail"]
                    .map(|name| changed(name, 1))
                    .into(),
            ),
            broken("overlays/staging", "Error: missing.yaml: no such file"),
        ]);
        let budget = small(900, 3);
        let fitted = fit_checked(&report, &budget);
        assert_eq!(fitted.parts.len(), 2);
        expect_test::expect![[r#"
            ### Rendered manifests: `master` → `develop`

            Compared `master` (`1a356d0`) with `develop` (`8426902`).

            | Overlay | Added | Modified | Removed | Status |
            | --- | ---: | ---: | ---: | --- |
            | `overlays/production` | 0 | 4 | 0 | changed |
            | `overlays/staging` | — | — | — | ⚠️ error |

            This report is split into 2 comments.

            <details>
            <summary><code>overlays/production</code>: +0 ~4 −0</summary>

            **ConfigMap** `shop/web` (modified)

            ```diff
            @@ -4,4 +4,4 @@
               name: web
               namespace: shop
             data:
            -  key-00000: old 0
            +  key-00000: new 0
            ```

            </details>

            ======== next comment ========
            ### Rendered manifests: `master` → `develop` (part 2 of 2)

            <details>
            <summary><code>overlays/production</code>: +0 ~4 −0 (continued)</summary>

            **ConfigMap** `shop/worker` (modified)

            ```diff
            @@ -4,4 +4,4 @@
               name: worker
               namespace: shop
             data:
            -  key-00000: old 0
            +  key-00000: new 0
            ```

            **ConfigMap** `shop/cron` (modified)

            ```diff
            @@ -4,4 +4,4 @@
               name: cron
               namespace: shop
             data:
            -  key-00000: old 0
            +  key-00000: new 0
            ```

            **ConfigMap** `shop/mail` (modified)

            ```diff
            @@ -4,4 +4,4 @@
               name: mail
               namespace: shop
             data:
            -  key-00000: old 0
            +  key-00000: new 0
            ```

            </details>

            <details open>
            <summary><code>overlays/staging</code>: build failed</summary>

            **Build failed:**

            ```text
            Error: missing.yaml: no such file
            ```

            </details>
        "#]]
        .assert_eq(&fitted.parts.join("\n======== next comment ========\n"));
    }

    #[test]
    fn hostile_names_stay_text_in_every_part_and_in_the_summary_alone() {
        let mut report = markdown::tests::hostile_report();
        report.overlays[0]
            .resources
            .extend((0..6).map(|i| changed(&format!("config{i}"), 20)));
        let names = [report.base.name.clone(), report.head.name.clone()];
        let mut shapes = Vec::new();
        for budget in [small(9_000, 4), small(5_000, 1)] {
            let fitted = fit(&report, &budget, None, "");
            shapes.push((fitted.parts.len() > 1, fitted.summary_only));
            for (i, part) in fitted.parts.iter().enumerate() {
                assert_well_formed(part);
                // A name cannot start a line, so each of these lines is one we wrote.
                let sections = part.lines().filter(|l| l.starts_with("<details")).count();
                markdown::tests::assert_contained(part, sections, usize::from(i == 0), &names);
            }
        }
        assert_eq!(shapes, [(true, false), (false, true)]);
    }
}
