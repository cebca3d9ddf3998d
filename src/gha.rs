//! The GitHub Actions runner protocol: step outputs, the job summary, annotations, masks and log
//! groups, written the way the runner parses them and within the limits it enforces.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};

/// GitHub refuses to show a step summary larger than 1 MiB and shows an error instead.
pub(crate) const SUMMARY_LIMIT_BYTES: usize = 1_048_576;

/// GitHub shows at most ten error (and ten warning) annotations per step; more are silently lost.
pub(crate) const ANNOTATIONS_PER_STEP: usize = 10;

/// Appended where an oversized summary was cut, so readers know the rest exists.
const SUMMARY_CUT_NOTE: &str = "\n> [!NOTE]\n> The rest of this summary was cut: GitHub limits a \
                                step summary to 1 MiB. The full report is in the step log.\n";

/// Writes to the files and the log stream the Actions runner reads.
///
/// Methods take `&self` so one runner can be shared by concurrent tasks; each workflow command is
/// written and flushed under a lock so lines never interleave.
pub(crate) struct Runner {
    output_file: Option<PathBuf>,
    summary_file: Option<PathBuf>,
    out: Mutex<Box<dyn Write + Send>>,
    /// Set once the summary hit the limit; later appends are dropped so nothing follows the note.
    summary_cut: AtomicBool,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("output_file", &self.output_file)
            .field("summary_file", &self.summary_file)
            .finish_non_exhaustive()
    }
}

/// Severity of an annotation; each has its own command and its own per-step display limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Notice,
    Warning,
    Error,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// A message GitHub attaches to the run page and, with `file`/`line`, to the changed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Annotation {
    pub(crate) title: Option<String>,
    /// Path relative to the repository root, as the PR's "Files changed" tab shows it.
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) message: String,
}

impl Annotation {
    /// An annotation with only a message, not tied to a file.
    pub(crate) fn message(message: impl Into<String>) -> Self {
        Annotation {
            message: message.into(),
            ..Annotation::default()
        }
    }
}

impl Runner {
    /// The runner of the current job: `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` (either may be
    /// unset on a local run), workflow commands on stdout, where the runner looks for them.
    pub(crate) fn from_env() -> Self {
        Runner::new(
            env_path("GITHUB_OUTPUT"),
            env_path("GITHUB_STEP_SUMMARY"),
            std::io::stdout(),
        )
    }

    /// A runner writing to the given files and command stream; tests pass temp files and a buffer.
    pub(crate) fn new(
        output_file: Option<PathBuf>,
        summary_file: Option<PathBuf>,
        out: impl Write + Send + 'static,
    ) -> Self {
        Runner {
            output_file,
            summary_file,
            out: Mutex::new(Box::new(out)),
            summary_cut: AtomicBool::new(false),
        }
    }

    /// Sets a step output (`steps.<id>.outputs.<name>`).
    ///
    /// Always uses the heredoc form with a fresh random delimiter, so a value can hold newlines and
    /// no value (a PR title, a diff) can end the block early and inject outputs of its own.
    /// Without `GITHUB_OUTPUT` (a local run) there is no reader for outputs; they go to stderr in
    /// the same form so a developer can see what a workflow would receive, and stdout stays clean
    /// for the report.
    pub(crate) fn set_output(&self, name: &str, value: &str) -> anyhow::Result<()> {
        validate_output_name(name)?;
        let delimiter = choose_delimiter(value, random_delimiter);
        let record = format_output(name, value, &delimiter);
        match &self.output_file {
            Some(path) => append(path, record.as_bytes())
                .with_context(|| format!("cannot set step output `{name}`")),
            None => {
                eprint!("{record}");
                Ok(())
            }
        }
    }

    /// Appends Markdown to the job summary (a no-op without `GITHUB_STEP_SUMMARY`).
    ///
    /// Keeps the file within [`SUMMARY_LIMIT_BYTES`]: content that does not fit is cut at a line
    /// boundary outside code fences, open fences and `<details>` are closed, and a note says so;
    /// later appends are dropped. Each call should pass self-contained Markdown, since the cut
    /// only sees fences opened within the call.
    pub(crate) fn append_summary(&self, markdown: &str) -> anyhow::Result<()> {
        let Some(path) = &self.summary_file else {
            return Ok(());
        };
        if self.summary_cut.load(Ordering::SeqCst) {
            return Ok(());
        }
        // The limit applies to the file, so count whatever is already in it (earlier calls, or a
        // launcher script in the same step), not only what this call has seen.
        let used = match std::fs::metadata(path) {
            Ok(meta) => usize::try_from(meta.len()).unwrap_or(usize::MAX),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot read the size of the job summary {}", path.display())
                });
            }
        };
        let available = SUMMARY_LIMIT_BYTES.saturating_sub(used);
        let text = if markdown.len() <= available {
            std::borrow::Cow::Borrowed(markdown)
        } else {
            self.summary_cut.store(true, Ordering::SeqCst);
            std::borrow::Cow::Owned(cut_markdown(markdown, available))
        };
        if text.is_empty() {
            return Ok(());
        }
        append(path, text.as_bytes()).context("cannot write the job summary")
    }

    /// Hides `secret` in every later log line. A multi-line secret is registered line by line,
    /// because the runner matches masks within single lines.
    pub(crate) fn mask(&self, secret: &str) {
        let mut commands = String::new();
        for line in secret.lines() {
            // Masking an empty or blank string would be meaningless, and the runner ignores it.
            if !line.trim().is_empty() {
                let _ = writeln!(commands, "::add-mask::{}", escape_data(line));
            }
        }
        self.write_out(&commands);
    }

    pub(crate) fn notice(&self, annotation: Annotation) {
        self.annotate(Level::Notice, &annotation);
    }

    pub(crate) fn warning(&self, annotation: Annotation) {
        self.annotate(Level::Warning, &annotation);
    }

    pub(crate) fn error(&self, annotation: Annotation) {
        self.annotate(Level::Error, &annotation);
    }

    pub(crate) fn annotate(&self, level: Level, annotation: &Annotation) {
        self.write_out(&format_annotation(level, annotation));
    }

    /// Starts a collapsible section in the log, closed by [`Runner::end_group`].
    pub(crate) fn group(&self, name: &str) {
        self.write_out(&format!("::group::{}\n", escape_data(name)));
    }

    pub(crate) fn end_group(&self) {
        self.write_out("::endgroup::\n");
    }

    /// Writes plain text to the log. Text that comes from the repository or a tool (a kustomize
    /// error, a commit message) could contain a workflow command; such text is wrapped in
    /// `::stop-commands::` with a random token so the runner prints it verbatim.
    pub(crate) fn info(&self, text: &str) {
        self.write_out(&format_info(text, random_hex));
    }

    /// Log writes do not fail the run, like `@actions/core`'s: a stream that cannot be written
    /// shows nothing, so there is nothing to report to and, for masks, nothing to leak into.
    fn write_out(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        // A poisoned lock only means another thread panicked mid-write; the stream is still usable.
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
}

/// What the promotion flow and the publisher say while they work. The Actions runner is the
/// one implementation; the trait keeps those flows from depending on how a step talks to it.
pub(crate) trait Log: Sync {
    /// A plain log line.
    fn info(&self, text: &str);
    fn notice(&self, message: String);
    fn warning(&self, message: String);
    /// What a dry run shows instead of doing it, written as is where the user reads results.
    fn show(&self, text: &str);
}

impl Log for Runner {
    fn info(&self, text: &str) {
        Runner::info(self, text);
    }

    fn notice(&self, message: String) {
        Runner::notice(self, Annotation::message(message));
    }

    fn warning(&self, message: String) {
        Runner::warning(self, Annotation::message(message));
    }

    fn show(&self, text: &str) {
        self.write_out(text);
    }
}

/// Emits at most `limit` annotations of one level, then plain log lines, and finally one notice
/// saying how many were not annotated; beyond GitHub's own cap they would vanish without a word.
#[must_use = "call finish() so the count of unannotated messages is reported"]
pub(crate) struct AnnotationBudget<'a> {
    runner: &'a Runner,
    level: Level,
    limit: usize,
    emitted: usize,
    overflow: usize,
}

impl<'a> AnnotationBudget<'a> {
    pub(crate) fn new(runner: &'a Runner, level: Level, limit: usize) -> Self {
        AnnotationBudget {
            runner,
            level,
            limit,
            emitted: 0,
            overflow: 0,
        }
    }

    /// A budget matching GitHub's display limit of [`ANNOTATIONS_PER_STEP`].
    pub(crate) fn per_step(runner: &'a Runner, level: Level) -> Self {
        AnnotationBudget::new(runner, level, ANNOTATIONS_PER_STEP)
    }

    pub(crate) fn add(&mut self, annotation: Annotation) {
        if self.emitted < self.limit {
            self.emitted += 1;
            self.runner.annotate(self.level, &annotation);
            return;
        }
        self.overflow += 1;
        // Still in the log, so nothing is lost; just not on the run page.
        self.runner.info(&format_plain(self.level, &annotation));
    }

    pub(crate) fn finish(self) {
        if self.overflow == 0 {
            return;
        }
        let noun = match (self.level, self.overflow) {
            (Level::Error, 1) => "error",
            (Level::Error, _) => "errors",
            (Level::Warning, 1) => "warning",
            (Level::Warning, _) => "warnings",
            (Level::Notice, 1) => "notice",
            (Level::Notice, _) => "notices",
        };
        self.runner.notice(Annotation::message(format!(
            "… and {} more {noun}; see the step log",
            self.overflow
        )));
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn append(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot open {} for appending", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write to {}", path.display()))
}

/// Output names become `steps.<id>.outputs.<name>` expressions, so they follow GitHub's rule for
/// identifiers: a letter or `_` first, then letters, digits, `-` or `_`.
fn validate_output_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!(
            "invalid step output name {name:?}: it must start with a letter or `_` and contain \
             only letters, digits, `-` and `_`"
        );
    }
    Ok(())
}

fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn random_delimiter() -> String {
    format!("ghadelimiter_{}", random_hex())
}

/// Draws delimiters until one does not occur in the value; with 128 random bits the first one
/// almost always fits, but a value may quote an earlier delimiter verbatim.
fn choose_delimiter(value: &str, mut candidate: impl FnMut() -> String) -> String {
    loop {
        let delimiter = candidate();
        if !value.contains(&delimiter) {
            return delimiter;
        }
    }
}

fn format_output(name: &str, value: &str, delimiter: &str) -> String {
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

fn format_annotation(level: Level, annotation: &Annotation) -> String {
    let mut properties = Vec::new();
    if let Some(file) = &annotation.file {
        properties.push(format!("file={}", escape_property(file)));
    }
    if let Some(line) = annotation.line {
        properties.push(format!("line={line}"));
    }
    if let Some(title) = &annotation.title {
        properties.push(format!("title={}", escape_property(title)));
    }
    let separator = if properties.is_empty() { "" } else { " " };
    format!(
        "::{}{separator}{}::{}\n",
        level.command(),
        properties.join(","),
        escape_data(&annotation.message)
    )
}

/// The log form of an annotation past the budget: `error: file:line: title: message`.
fn format_plain(level: Level, annotation: &Annotation) -> String {
    let mut text = format!("{}: ", level.command());
    if let Some(file) = &annotation.file {
        text.push_str(file);
        if let Some(line) = annotation.line {
            let _ = write!(text, ":{line}");
        }
        text.push_str(": ");
    }
    if let Some(title) = &annotation.title {
        let _ = write!(text, "{title}: ");
    }
    text.push_str(&annotation.message);
    text
}

fn format_info(text: &str, mut token: impl FnMut() -> String) -> String {
    let mut body = text.to_owned();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    // The runner runs `::command::` at the start of a (left-trimmed) line, and the legacy
    // `##[command]` anywhere in a line.
    let looks_like_command = |l: &str| l.trim_start().starts_with("::") || l.contains("##[");
    if !body.lines().any(looks_like_command) {
        return body;
    }
    // The runner resumes on a command named like the token, compared ignoring case, so the
    // token must not occur in the text in any case.
    let lower = body.to_ascii_lowercase();
    let token = loop {
        let candidate = token().to_ascii_lowercase();
        if !lower.contains(&candidate) {
            break candidate;
        }
    };
    format!("::stop-commands::{token}\n{body}::{token}::\n")
}

/// Escapes a command's message (the text after the second `::`), as `@actions/core` does.
pub(crate) fn escape_data(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command property value; `:` and `,` would otherwise end the property list.
pub(crate) fn escape_property(value: &str) -> String {
    escape_data(value).replace(':', "%3A").replace(',', "%2C")
}

/// A CommonMark code fence opener or closer: the fence character and the run length.
fn fence(line: &str) -> Option<(char, usize)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let ch = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let run = rest.len() - rest.trim_start_matches(ch).len();
    (run >= 3).then_some((ch, run))
}

/// The longest prefix of `markdown` that fits `budget` bytes together with whatever closes it
/// (open fence, open `<details>`) and the cut note, ending at a line boundary outside a fence
/// where possible. Empty when not even the note fits.
fn cut_markdown(markdown: &str, budget: usize) -> String {
    #[derive(Clone, Copy)]
    struct State {
        end: usize,
        fence: Option<(char, usize)>,
        details: usize,
    }

    fn closing(state: &State) -> String {
        let mut tail = String::new();
        if let Some((ch, run)) = state.fence {
            tail.push_str(&ch.to_string().repeat(run));
            tail.push('\n');
        }
        for _ in 0..state.details {
            tail.push_str("\n</details>\n");
        }
        tail.push_str(SUMMARY_CUT_NOTE);
        tail
    }

    let mut state = State {
        end: 0,
        fence: None,
        details: 0,
    };
    // The last line boundary that fits, and the last one outside a fence.
    let mut best = state;
    let mut best_outside = state;
    for line in markdown.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let mut next = state;
        next.end += line.len();
        match (state.fence, fence(bare)) {
            (None, Some(open)) => next.fence = Some(open),
            (Some((ch, run)), Some((c, r)))
                if c == ch
                    && r >= run
                    && bare.trim_start().trim_start_matches(c).trim().is_empty() =>
            {
                next.fence = None;
            }
            (None, None) => {
                // Count tags rather than lines: `<details>…</details>` often shares one line.
                let lower = bare.to_ascii_lowercase();
                next.details += lower.matches("<details").count();
                next.details = next
                    .details
                    .saturating_sub(lower.matches("</details").count());
            }
            _ => {}
        }
        // A line without its newline would leave the closing text glued to it.
        if !line.ends_with('\n') || next.end + closing(&next).len() > budget {
            break;
        }
        state = next;
        best = state;
        if state.fence.is_none() {
            best_outside = state;
        }
    }
    // Keep the cut outside a fence unless that would throw away most of what fits (one huge
    // code block); then cut inside it and close the fence.
    let chosen = if best_outside.end >= best.end / 2 {
        best_outside
    } else {
        best
    };
    let tail = closing(&chosen);
    if chosen.end + tail.len() > budget {
        return String::new();
    }
    format!("{}{tail}", &markdown[..chosen.end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// An in-memory log the test can read after the runner wrote to it.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn runner(dir: &Path) -> (Runner, Capture) {
        let capture = Capture::default();
        let runner = Runner::new(
            Some(dir.join("output")),
            Some(dir.join("summary")),
            capture.clone(),
        );
        (runner, capture)
    }

    /// Parses a `GITHUB_OUTPUT` file the way the runner does.
    fn parse_outputs(text: &str) -> Vec<(String, String)> {
        let mut outputs = Vec::new();
        let mut lines = text.split('\n');
        while let Some(line) = lines.next() {
            if line.is_empty() {
                continue;
            }
            if let Some((name, delimiter)) = line.split_once("<<") {
                let mut value = Vec::new();
                for l in lines.by_ref() {
                    if l == delimiter {
                        break;
                    }
                    value.push(l);
                }
                outputs.push((name.to_owned(), value.join("\n")));
            } else {
                let (name, value) = line.split_once('=').unwrap();
                outputs.push((name.to_owned(), value.to_owned()));
            }
        }
        outputs
    }

    #[test]
    fn outputs_round_trip_through_the_runner_format() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, _) = runner(dir.path());
        let hostile = "line one\nghadelimiter_0123\nEOF\nforged<<X\nX\n";
        runner.set_output("changed", "true").unwrap();
        runner.set_output("comment-body", hostile).unwrap();
        runner.set_output("empty", "").unwrap();
        runner.set_output("trailing", "a\n").unwrap();
        let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
        assert_eq!(
            parse_outputs(&text),
            vec![
                ("changed".to_owned(), "true".to_owned()),
                ("comment-body".to_owned(), hostile.to_owned()),
                ("empty".to_owned(), String::new()),
                ("trailing".to_owned(), "a\n".to_owned()),
            ]
        );
        assert!(text.starts_with("changed<<ghadelimiter_"));
    }

    #[test]
    fn a_delimiter_found_in_the_value_is_drawn_again() {
        let value = "x\nghadelimiter_aaaa\ny";
        let mut candidates = ["ghadelimiter_aaaa", "ghadelimiter_bbbb"].into_iter();
        let delimiter = choose_delimiter(value, || candidates.next().unwrap().to_owned());
        assert_eq!(delimiter, "ghadelimiter_bbbb");
        assert_eq!(
            format_output("body", value, &delimiter),
            "body<<ghadelimiter_bbbb\nx\nghadelimiter_aaaa\ny\nghadelimiter_bbbb\n"
        );
    }

    #[test]
    fn random_delimiters_differ() {
        let a = random_delimiter();
        assert!(a.starts_with("ghadelimiter_") && a.len() == "ghadelimiter_".len() + 32);
        assert_ne!(a, random_delimiter());
    }

    #[test]
    fn output_names_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, _) = runner(dir.path());
        for bad in ["", "1st", "a b", "a=b", "a<<b", "x\ny", "naïve"] {
            let err = runner.set_output(bad, "v").unwrap_err().to_string();
            assert!(err.contains("invalid step output name"), "{bad:?}: {err}");
        }
        for good in ["changed", "_x", "overlay-count", "a_1"] {
            runner.set_output(good, "v").unwrap();
        }
    }

    #[test]
    fn annotations_escape_data_and_properties() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, log) = runner(dir.path());
        runner.error(Annotation {
            title: Some("build failed: 100%, really".to_owned()),
            file: Some("overlays/prod,eu/kustomization.yaml".to_owned()),
            line: Some(7),
            message: "50% done\r\nnext line: a, b".to_owned(),
        });
        runner.warning(Annotation::message("plain"));
        runner.notice(Annotation {
            title: Some("t".to_owned()),
            ..Annotation::message("m")
        });
        assert_eq!(
            log.text(),
            "::error file=overlays/prod%2Ceu/kustomization.yaml,line=7,\
             title=build failed%3A 100%25%2C really::50%25 done%0D%0Anext line: a, b\n\
             ::warning::plain\n\
             ::notice title=t::m\n"
        );
    }

    #[test]
    fn masks_each_line_of_a_multi_line_secret() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, log) = runner(dir.path());
        runner.mask("-----BEGIN KEY-----\r\nab%cd\n\n-----END KEY-----");
        assert_eq!(
            log.text(),
            "::add-mask::-----BEGIN KEY-----\n::add-mask::ab%25cd\n::add-mask::-----END KEY-----\n"
        );
    }

    #[test]
    fn groups_and_info() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, log) = runner(dir.path());
        runner.group("kustomize build overlays/prod");
        runner.info("rendered 12 resources");
        runner.end_group();
        assert_eq!(
            log.text(),
            "::group::kustomize build overlays/prod\nrendered 12 resources\n::endgroup::\n"
        );
    }

    #[test]
    fn info_lines_that_look_like_commands_are_not_run() {
        let text = "Error: bad patch\n  ::add-mask::oops\n";
        assert_eq!(
            format_info(text, || "tok".to_owned()),
            "::stop-commands::tok\nError: bad patch\n  ::add-mask::oops\n::tok::\n"
        );
        // The legacy form is parsed anywhere in a line.
        assert_eq!(
            format_info("commit: x ##[error]boom", || "tok".to_owned()),
            "::stop-commands::tok\ncommit: x ##[error]boom\n::tok::\n"
        );
        // A token the text contains, in any case, would let the text resume commands.
        let mut tokens = ["aaa", "bbb"].into_iter();
        assert_eq!(
            format_info("::AAA::\n", || tokens.next().unwrap().to_owned()),
            "::stop-commands::bbb\n::AAA::\n::bbb::\n"
        );
        assert_eq!(format_info("a :: b", || unreachable!()), "a :: b\n");
    }

    #[test]
    fn the_annotation_budget_reports_the_overflow_once() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, log) = runner(dir.path());
        let mut budget = AnnotationBudget::new(&runner, Level::Error, 2);
        for i in 1..=5 {
            budget.add(Annotation {
                file: Some(format!("overlays/o{i}/kustomization.yaml")),
                line: Some(1),
                ..Annotation::message(format!("failed {i}"))
            });
        }
        budget.finish();
        let text = log.text();
        assert_eq!(text.matches("::error ").count(), 2);
        assert!(text.contains("error: overlays/o3/kustomization.yaml:1: failed 3\n"));
        assert!(text.ends_with("::notice::… and 3 more errors; see the step log\n"));
    }

    #[test]
    fn summaries_append_and_a_missing_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, _) = runner(dir.path());
        runner.append_summary("# Diff\n").unwrap();
        runner.append_summary("no changes\n").unwrap();
        let summary = std::fs::read_to_string(dir.path().join("summary")).unwrap();
        assert_eq!(summary, "# Diff\nno changes\n");

        let local = Runner::new(None, None, Capture::default());
        local.append_summary("ignored").unwrap();
    }

    #[test]
    fn an_oversized_summary_is_cut_outside_fences_and_later_appends_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, _) = runner(dir.path());
        runner.append_summary("# Report\n").unwrap();
        let block = format!("## overlay\n\n```diff\n{}```\n\n", "+ line\n".repeat(5_000));
        let big = block.repeat(40); // about 1.4 MB
        runner.append_summary(&big).unwrap();
        runner.append_summary("dropped\n").unwrap();

        let summary = std::fs::read_to_string(dir.path().join("summary")).unwrap();
        assert!(summary.len() <= SUMMARY_LIMIT_BYTES, "{}", summary.len());
        assert!(summary.len() > SUMMARY_LIMIT_BYTES - block.len() - 200);
        // The last boundary outside a fence is just before the next block's code.
        assert!(summary.ends_with(&format!("```\n\n## overlay\n\n{SUMMARY_CUT_NOTE}")));
        assert!(!summary.contains("dropped"));
        // Cut between blocks: every fence that opens also closes.
        assert_eq!(summary.matches("```").count() % 2, 0);
    }

    #[test]
    fn a_single_huge_code_block_is_cut_inside_and_closed() {
        let body = format!(
            "<details><summary>prod</summary>\n\n````yaml\n{}````\n</details>\n",
            "a: 1\n".repeat(100)
        );
        let cut = cut_markdown(&body, 400);
        assert!(cut.len() <= 400);
        assert!(cut.contains("a: 1\n````\n\n</details>\n"), "{cut}");
        assert!(cut.ends_with(SUMMARY_CUT_NOTE));
    }

    #[test]
    fn details_closed_on_their_own_line_are_not_closed_again() {
        let body = format!(
            "<details><summary>a</summary>x</details>\n<details>\n\n{}",
            "line\n".repeat(100)
        );
        let cut = cut_markdown(&body, 300);
        assert_eq!(cut.matches("</details>").count(), 2, "{cut}");
        assert!(cut.ends_with(&format!("line\n\n</details>\n{SUMMARY_CUT_NOTE}")));
    }

    #[test]
    fn nothing_is_written_when_not_even_the_note_fits() {
        assert_eq!(cut_markdown("some text\n", 10), "");
    }

    #[test]
    fn fences_follow_commonmark() {
        assert_eq!(fence("```diff"), Some(('`', 3)));
        assert_eq!(fence("   ~~~~"), Some(('~', 4)));
        assert_eq!(fence("    ```"), None);
        assert_eq!(fence("``"), None);
        assert_eq!(fence("text ```"), None);
    }
}
