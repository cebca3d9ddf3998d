//! `/deploy-branch <name>` points the staging Argo CD Image Updater at a branch's images by
//! rewriting its allow-tags filter in the GitOps repository; `/deploy-branch reset` writes the
//! default back.
//!
//! The result is committed as is, so the edit has to be surgical: the YAML is parsed only to find
//! where each filter value sits in the source, and just those bytes are replaced. Comments,
//! ordering, indentation, quoting elsewhere and line endings stay exactly as they were, and the
//! commit shows a one-line diff instead of a reformatted file.

use std::fmt::Write as _;
use std::ops::Range;

use serde_json::Value;
use serde_saphyr::granit_parser::{Event, Options, Parser, ScalarStyle, Span, StructureStyle};

use crate::manifest::yaml_error_summary;

/// Image Updater reads per-image settings from annotations `<prefix><alias>.<setting>`.
const ANNOTATION_PREFIX: &str = "argocd-image-updater.argoproj.io/";
const ANNOTATION_SUFFIX: &str = ".allow-tags";
/// A Docker tag is at most 128 characters; CI appends something (a SHA, a build number) to the
/// branch prefix, so the prefix must leave room for it.
const MAX_BRANCH_LEN: usize = 100;

/// Checks a `/deploy-branch` name before it reaches a regexp, a commit message and a PR reply.
///
/// The name comes from an untrusted PR comment. Image Updater matches image *tags*, so only what
/// can start a Docker tag (`[A-Za-z0-9_][A-Za-z0-9_.-]*`) could ever match; anything else is
/// refused with a sentence meant for a PR reply, which never repeats control characters or
/// non-ASCII input verbatim.
pub fn validate_branch(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(
            "the branch name is empty; use `/deploy-branch <branch>` or `/deploy-branch reset`"
                .to_owned(),
        );
    }
    let length = name.chars().count();
    if length > MAX_BRANCH_LEN {
        return Err(format!(
            "the branch name is {length} characters long; image tags are limited to 128 \
             characters and need room for the suffix CI appends, so at most {MAX_BRANCH_LEN} \
             are accepted"
        ));
    }
    if let Some(c) = name.chars().find(|&c| !is_tag_char(c) && c != '/') {
        return Err(format!(
            "the branch name contains {}, which cannot appear in an image tag; use only ASCII \
             letters, digits, '_', '.' and '-'",
            describe_char(c)
        ));
    }
    if name.contains('/') {
        let slug = name.replace('/', "-");
        return Err(if validate_tag_prefix(&slug).is_ok() {
            format!(
                "image tags cannot contain '/'; if CI tags `{name}` as `{slug}-…`, use \
                 `/deploy-branch {slug}`"
            )
        } else {
            "image tags cannot contain '/'; give the prefix CI puts in the image tag instead, \
             e.g. `/deploy-branch feature-login` for `feature/login`"
                .to_owned()
        });
    }
    validate_tag_prefix(name)
}

/// The remaining rule once every character is known to be a tag character.
fn validate_tag_prefix(name: &str) -> Result<(), String> {
    match name.chars().next() {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => Ok(()),
        // Only tag characters get here, so echoing the name is harmless.
        Some(c) => Err(format!(
            "`{name}` cannot be an image tag prefix: Docker tags must start with a letter, a \
             digit or '_', not '{c}'"
        )),
        None => Err("the branch name is empty".to_owned()),
    }
}

fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Names a rejected character without writing it into a Markdown reply as is: control characters
/// and non-ASCII are shown by code point, Markdown-active quotes by name.
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        '\n' | '\r' => "a line break".to_owned(),
        '`' => "a backtick".to_owned(),
        '\'' => "a single quote".to_owned(),
        '"' => "a double quote".to_owned(),
        c if c.is_ascii_graphic() => format!("'{c}'"),
        c if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
        c => format!("the non-ASCII character U+{:04X}", u32::from(c)),
    }
}

/// Makes `text` match literally in an Image Updater `regexp:` filter.
///
/// Image Updater is written in Go, so the filter is an RE2 expression; this escapes the same set
/// as Go's `regexp.QuoteMeta`. In RE2 a backslash before punctuation is always a literal, never
/// an unknown escape.
pub(crate) fn escape_regex(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The allow-tags value for a branch. CI tags images `<branch>-<build>`; the anchor and the
/// trailing `-` keep `feat` from also picking up `feature-…` or `hotfeat-…` images (a branch
/// literally named `feat-x` still matches, which no tag-based filter can tell apart).
pub fn branch_filter(name: &str) -> String {
    format!("regexp:^{}-", escape_regex(name))
}

/// One allow-tags value that the edit changed, for the commit message and the PR reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowTagsEdit {
    /// 1-based line of the edited value.
    pub line: usize,
    /// Where, for humans: e.g. `Application staging-api: annotation argocd-image-updater.argoproj.io/api.allow-tags`
    /// or `ImageUpdater staging: spec.applicationRefs[0].images[1].commonUpdateSettings.allowTags`.
    pub field: String,
    /// The value as YAML reads it (quotes and escapes resolved), not the source text.
    pub old: String,
    /// The value written, as YAML reads it.
    pub new: String,
}

/// The edited file. `changes` lists only values that actually changed, so an empty list means
/// "nothing to commit" and a repeated command does not create a second commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The whole file after the edit; identical to the input when `changes` is empty.
    pub text: String,
    /// The changed values in file order.
    pub changes: Vec<AllowTagsEdit>,
}

/// Why the allow-tags filters in a file could not be set. Every message starts with the file
/// path, because it is shown in a PR reply without further context.
#[derive(Debug, thiserror::Error)]
pub enum AllowTagsError {
    /// The file does not parse, so nothing can be located in it.
    #[error("{path} is not valid YAML: {reason}")]
    InvalidYaml {
        /// Repository path of the file.
        path: String,
        /// The parser's message, first line only.
        reason: String,
    },
    /// Nothing in the file is an allow-tags filter Image Updater would read.
    #[error(
        "{path}: no Argo CD Application with an argocd-image-updater.argoproj.io/<alias>.allow-tags annotation and no ImageUpdater with allowTags found"
    )]
    NotFound {
        /// Repository path of the file.
        path: String,
    },
    /// A filter is written in a form that cannot be replaced without reformatting around it.
    #[error("{path}: the allow-tags value at line {line} ({field}) is {what}; edit it by hand")]
    Unsupported {
        /// Repository path of the file.
        path: String,
        /// 1-based line of the value.
        line: usize,
        /// Where the value is, as in [`AllowTagsEdit::field`].
        field: String,
        /// What the value is, e.g. "a block scalar".
        what: &'static str,
    },
    /// Re-reading the edited text did not show exactly the intended change; the edit is dropped
    /// rather than committing a file that means something else.
    #[error("{path}: refusing to write the edit: {reason}")]
    Unverified {
        /// Repository path of the file.
        path: String,
        /// What did not match.
        reason: String,
    },
}

/// Sets every allow-tags filter in `text` (the contents of the file at repo path `path`) to
/// `value`.
///
/// Filters are Image Updater's `<alias>.allow-tags` annotations on Argo CD Applications and every
/// `allowTags` key under an ImageUpdater's `spec`. Only the bytes of those values change, and the
/// result is re-parsed and compared with the original before it is returned.
pub fn set_allow_tags(path: &str, text: &str, value: &str) -> Result<Edit, AllowTagsError> {
    let documents = parse_documents(text).map_err(|reason| AllowTagsError::InvalidYaml {
        path: path.to_owned(),
        reason,
    })?;
    let mut targets = Vec::new();
    for document in &documents {
        collect_targets(document, &mut targets);
    }
    if targets.is_empty() {
        return Err(AllowTagsError::NotFound {
            path: path.to_owned(),
        });
    }

    let mut replacements: Vec<(Range<usize>, String)> = Vec::new();
    let mut changes = Vec::new();
    for target in &targets {
        let unsupported = |what| AllowTagsError::Unsupported {
            path: path.to_owned(),
            line: target.key_line,
            field: target.field.clone(),
            what,
        };
        let (old, style, span) = match &target.node.kind {
            NodeKind::Scalar {
                style: ScalarStyle::Literal | ScalarStyle::Folded,
                ..
            } => return Err(unsupported("a block scalar")),
            NodeKind::Scalar { span, .. } if span.is_empty() => return Err(unsupported("empty")),
            NodeKind::Scalar { value, style, span } => (value, *style, span),
            NodeKind::Alias => return Err(unsupported("an alias")),
            NodeKind::Mapping { .. } | NodeKind::Sequence { .. } => {
                return Err(unsupported("a mapping or list, not a string"));
            }
        };
        if old == value {
            continue;
        }
        if !span_looks_right(text, span, style) {
            return Err(AllowTagsError::Unverified {
                path: path.to_owned(),
                reason: format!(
                    "the parser reported an unexpected source position for {} at line {}",
                    target.field, target.node.line
                ),
            });
        }
        replacements.push((span.clone(), render(value, style, target.flow)));
        changes.push(AllowTagsEdit {
            line: target.node.line,
            field: target.field.clone(),
            old: old.clone(),
            new: value.to_owned(),
        });
    }
    if replacements.is_empty() {
        return Ok(Edit {
            text: text.to_owned(),
            changes,
        });
    }

    let mut order: Vec<usize> = (0..replacements.len()).collect();
    order.sort_by_key(|&i| replacements[i].0.start);
    let mut edited = String::with_capacity(text.len() + 64);
    let mut position = 0;
    for &i in &order {
        let (span, replacement) = &replacements[i];
        if span.start < position {
            return Err(AllowTagsError::Unverified {
                path: path.to_owned(),
                reason: format!("two allow-tags values overlap at line {}", changes[i].line),
            });
        }
        edited.push_str(&text[position..span.start]);
        edited.push_str(replacement);
        position = span.end;
    }
    edited.push_str(&text[position..]);
    changes.sort_by_key(|change| change.line);

    verify(path, text, &edited, value)?;
    Ok(Edit {
        text: edited,
        changes,
    })
}

/// A YAML node with just what locating and describing a value needs.
#[derive(Debug)]
struct Node {
    /// 1-based line where the node starts.
    line: usize,
    kind: NodeKind,
}

#[derive(Debug)]
enum NodeKind {
    Scalar {
        value: String,
        style: ScalarStyle,
        /// Byte range of the scalar in the source, quotes included, anchor and tag excluded.
        span: Range<usize>,
    },
    Mapping {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
    Sequence {
        items: Vec<Node>,
    },
    Alias,
}

impl Node {
    fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value of the first entry whose key is the scalar `key`.
    fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Mapping { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Builds one tree per YAML document from the parser's event stream.
fn parse_documents(text: &str) -> Result<Vec<Node>, String> {
    let mut options = Options::default();
    // Comments are skipped anyway; not emitting them also avoids the parser's limit on
    // buffered comment events.
    options.set_emit_comments(false);
    let mut events = Events {
        parser: Parser::new_from_str_with_options(text, options),
        text,
    };
    let mut documents = Vec::new();
    loop {
        let (event, span) = events.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(documents),
            Event::DocumentStart(..) => {
                let (event, span) = events.next()?;
                documents.push(events.node(event, span)?);
            }
            other => {
                return Err(format!(
                    "unexpected {other:?} at line {}",
                    span.start.line()
                ));
            }
        }
    }
}

struct Events<'a> {
    parser: Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
    text: &'a str,
}

impl<'a> Events<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), String> {
        match self.parser.next() {
            Some(Ok(next)) => Ok(next),
            Some(Err(e)) => Err(format!(
                "{} at line {} column {}",
                e.info().lines().next().unwrap_or("syntax error"),
                e.marker().line(),
                e.marker().col() + 1
            )),
            None => Err("the YAML event stream ended early".to_owned()),
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, String> {
        let line = span.start.line();
        let kind = match event {
            Event::Scalar(value, style, _, _) => NodeKind::Scalar {
                value: value.into_owned(),
                style,
                span: byte_range(self.text, &span)
                    .ok_or_else(|| format!("no source position for the value at line {line}"))?,
            },
            Event::MappingStart(style, _, _) => {
                let mut entries = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(event, span)?;
                    let (event, span) = self.next()?;
                    entries.push((key, self.node(event, span)?));
                }
                NodeKind::Mapping {
                    entries,
                    flow: style == StructureStyle::Flow,
                }
            }
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span)?);
                }
                NodeKind::Sequence { items }
            }
            Event::Alias(_) => NodeKind::Alias,
            other => return Err(format!("unexpected {other:?} at line {line}")),
        };
        Ok(Node { line, kind })
    }
}

/// Byte offsets into `text`. A parser over a `&str` reports them directly; markers without them
/// only carry a *character* index, which must be converted before slicing a UTF-8 string.
fn byte_range(text: &str, span: &Span) -> Option<Range<usize>> {
    span.byte_range().or_else(|| {
        Some(char_to_byte(text, span.start.index())?..char_to_byte(text, span.end.index())?)
    })
}

fn char_to_byte(text: &str, chars: usize) -> Option<usize> {
    text.char_indices()
        .map(|(byte, _)| byte)
        .chain(std::iter::once(text.len()))
        .nth(chars)
}

/// A value to overwrite, with what the error messages and the rendering need.
struct Target<'n> {
    node: &'n Node,
    /// Where the key is: a block scalar's content only starts on the next line, and the error
    /// should point at the line that needs the hand edit.
    key_line: usize,
    field: String,
    /// Whether the value sits in a flow collection, where `,[]{}` end a plain scalar.
    flow: bool,
}

fn collect_targets<'n>(document: &'n Node, targets: &mut Vec<Target<'n>>) {
    let kind = document.get("kind").and_then(Node::scalar);
    let api_version = document
        .get("apiVersion")
        .and_then(Node::scalar)
        .unwrap_or("");
    let metadata = document.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Node::scalar)
        .unwrap_or("(unnamed)");
    if kind == Some("Application") && api_version.starts_with("argoproj.io/") {
        let Some(annotations) = metadata.and_then(|m| m.get("annotations")) else {
            return;
        };
        let NodeKind::Mapping { entries, flow } = &annotations.kind else {
            return;
        };
        for (key, value) in entries {
            if let Some(alias_key) = key.scalar().filter(|k| is_allow_tags_annotation(k)) {
                targets.push(Target {
                    node: value,
                    key_line: key.line,
                    field: format!("Application {name}: annotation {alias_key}"),
                    flow: *flow,
                });
            }
        }
    } else if kind == Some("ImageUpdater")
        && api_version.starts_with("argocd-image-updater.argoproj.io/")
        && let Some(spec) = document.get("spec")
    {
        collect_spec_targets(spec, "spec", name, targets);
    }
}

fn collect_spec_targets<'n>(node: &'n Node, path: &str, name: &str, targets: &mut Vec<Target<'n>>) {
    match &node.kind {
        NodeKind::Mapping { entries, flow } => {
            for (key_node, value) in entries {
                let Some(key) = key_node.scalar() else {
                    continue;
                };
                let path = format!("{path}.{key}");
                if key == "allowTags" {
                    targets.push(Target {
                        node: value,
                        key_line: key_node.line,
                        field: format!("ImageUpdater {name}: {path}"),
                        flow: *flow,
                    });
                } else {
                    collect_spec_targets(value, &path, name, targets);
                }
            }
        }
        NodeKind::Sequence { items } => {
            for (index, item) in items.iter().enumerate() {
                collect_spec_targets(item, &format!("{path}[{index}]"), name, targets);
            }
        }
        NodeKind::Scalar { .. } | NodeKind::Alias => {}
    }
}

fn is_allow_tags_annotation(key: &str) -> bool {
    key.strip_prefix(ANNOTATION_PREFIX)
        .and_then(|rest| rest.strip_suffix(ANNOTATION_SUFFIX))
        .is_some_and(|alias| !alias.is_empty() && !alias.contains('/'))
}

/// Guards the splice against a span that does not cover the scalar it claims to.
fn span_looks_right(text: &str, span: &Range<usize>, style: ScalarStyle) -> bool {
    let Some(source) = text.get(span.clone()) else {
        return false;
    };
    match style {
        ScalarStyle::SingleQuoted => {
            source.len() >= 2 && source.starts_with('\'') && source.ends_with('\'')
        }
        ScalarStyle::DoubleQuoted => {
            source.len() >= 2 && source.starts_with('"') && source.ends_with('"')
        }
        _ => !source.is_empty() && !source.starts_with(char::is_whitespace),
    }
}

/// Source text for `value`, keeping the original quoting where it can express the value, so the
/// diff shows only the value.
fn render(value: &str, original: ScalarStyle, flow: bool) -> String {
    match original {
        ScalarStyle::DoubleQuoted => double_quoted(value),
        ScalarStyle::SingleQuoted if single_quotable(value) => single_quoted(value),
        ScalarStyle::SingleQuoted => double_quoted(value),
        _ if plain_safe(value, flow) => value.to_owned(),
        _ if single_quotable(value) => single_quoted(value),
        _ => double_quoted(value),
    }
}

/// Characters only a double-quoted scalar can carry (as escapes).
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')
}

fn single_quotable(value: &str) -> bool {
    !value.chars().any(needs_escape)
}

fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                // Writing to a String cannot fail.
                let _ = if code <= 0xFFFF {
                    write!(out, "\\u{code:04X}")
                } else {
                    write!(out, "\\U{code:08X}")
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` reads back as the same *string* when written without quotes. Deliberately
/// conservative: anything that might be an indicator, a comment, a number, a boolean or null in
/// YAML 1.1 or 1.2 gets quoted; the re-parse check catches anything missed here.
fn plain_safe(value: &str, flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if value.chars().any(needs_escape)
        || first.is_whitespace()
        || value.ends_with(char::is_whitespace)
        || "-?:,[]{}#&*!|>'\"%@`+.~".contains(first)
        || first.is_ascii_digit()
        || value.contains(": ")
        || value.ends_with(':')
        || value.contains(" #")
        || (flow && value.contains([',', '[', ']', '{', '}']))
    {
        return false;
    }
    !matches!(
        value.to_ascii_lowercase().as_str(),
        "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "nan" | "inf"
    )
}

/// Re-reads both texts with serde-saphyr (a different code path than the event walk that found
/// the values) and requires that the edited file equals the original with exactly the allow-tags
/// values set: a wrong span, a quoting mistake or an anchor shared with another field all show up
/// as a difference here instead of in a commit.
fn verify(path: &str, original: &str, edited: &str, value: &str) -> Result<(), AllowTagsError> {
    let before: Vec<Value> =
        serde_saphyr::from_multiple(original).map_err(|e| AllowTagsError::InvalidYaml {
            path: path.to_owned(),
            reason: yaml_error_summary(&e),
        })?;
    let after: Vec<Value> =
        serde_saphyr::from_multiple(edited).map_err(|e| AllowTagsError::Unverified {
            path: path.to_owned(),
            reason: format!(
                "the edited file no longer parses ({})",
                yaml_error_summary(&e)
            ),
        })?;
    let mut expected = before;
    for document in &mut expected {
        set_in_value(document, value);
    }
    if expected.len() != after.len() {
        return Err(AllowTagsError::Unverified {
            path: path.to_owned(),
            reason: format!(
                "the edited file has {} documents instead of {}",
                after.len(),
                expected.len()
            ),
        });
    }
    if let Some(index) = expected.iter().zip(&after).position(|(e, a)| e != a) {
        return Err(AllowTagsError::Unverified {
            path: path.to_owned(),
            reason: format!(
                "document {} changes in more than its allow-tags values when re-read",
                index + 1
            ),
        });
    }
    Ok(())
}

/// The same selection as [`collect_targets`], on parsed values instead of source events.
fn set_in_value(document: &mut Value, value: &str) {
    let Value::Object(map) = document else {
        return;
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind == "Application" && api_version.starts_with("argoproj.io/") {
        if let Some(Value::Object(annotations)) = map
            .get_mut("metadata")
            .and_then(|metadata| metadata.get_mut("annotations"))
        {
            for (key, v) in annotations.iter_mut() {
                if is_allow_tags_annotation(key) {
                    *v = Value::String(value.to_owned());
                }
            }
        }
    } else if kind == "ImageUpdater"
        && api_version.starts_with("argocd-image-updater.argoproj.io/")
        && let Some(spec) = map.get_mut("spec")
    {
        set_in_spec(spec, value);
    }
}

fn set_in_spec(node: &mut Value, value: &str) {
    match node {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "allowTags" {
                    *v = Value::String(value.to_owned());
                } else {
                    set_in_spec(v, value);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                set_in_spec(item, value);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "apps/staging/api.yaml";

    fn set(text: &str, value: &str) -> Edit {
        set_allow_tags(PATH, text, value).unwrap()
    }

    fn error(text: &str, value: &str) -> String {
        set_allow_tags(PATH, text, value).unwrap_err().to_string()
    }

    #[test]
    fn application_edits_only_the_allow_tags_annotation() {
        let text = "\
# staging API, managed by Argo CD
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
    name: staging-api   # odd indentation on purpose
    annotations:
        # which images to track
        argocd-image-updater.argoproj.io/image-list: api=ghcr.io/acme/api, worker=ghcr.io/acme/worker
        argocd-image-updater.argoproj.io/api.allow-tags: regexp:^develop-    # staging follows develop
        argocd-image-updater.argoproj.io/api.update-strategy: newest-build
        argocd-image-updater.argoproj.io/worker.update-strategy: newest-build
        argocd-image-updater.argoproj.io/allow-tags: no-alias
        example.com/api.allow-tags: not-image-updater
spec:
  project: default
";
        let edit = set(text, &branch_filter("feature.x"));
        assert_eq!(
            edit.text,
            text.replace(
                "api.allow-tags: regexp:^develop-    #",
                "api.allow-tags: regexp:^feature\\.x-    #"
            )
        );
        assert_eq!(
            edit.changes,
            vec![AllowTagsEdit {
                line: 9,
                field: "Application staging-api: annotation argocd-image-updater.argoproj.io/api.allow-tags"
                    .to_owned(),
                old: "regexp:^develop-".to_owned(),
                new: "regexp:^feature\\.x-".to_owned(),
            }]
        );
    }

    #[test]
    fn quoted_values_keep_their_quote_style() {
        let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  annotations:
    argocd-image-updater.argoproj.io/a.allow-tags: 'regexp:^develop-'
    argocd-image-updater.argoproj.io/b.allow-tags: \"regexp:^develop-\" # dq
";
        let edit = set(text, "regexp:^feature\\.x-");
        assert_eq!(
            edit.text,
            "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  annotations:
    argocd-image-updater.argoproj.io/a.allow-tags: 'regexp:^feature\\.x-'
    argocd-image-updater.argoproj.io/b.allow-tags: \"regexp:^feature\\\\.x-\" # dq
"
        );
        assert_eq!(edit.changes.len(), 2);
        assert!(edit.changes.iter().all(|c| c.new == "regexp:^feature\\.x-"));
        assert_eq!(
            (edit.changes[0].line, edit.changes[1].line),
            (6, 7),
            "{:?}",
            edit.changes
        );

        // Quotes inside the value are escaped the way each style needs.
        let edit = set(text, "it's \"x\"");
        assert!(
            edit.text
                .contains("a.allow-tags: 'it''s \"x\"'\n    argocd-image-updater.argoproj.io/b.allow-tags: \"it's \\\"x\\\"\" # dq\n"),
            "{}",
            edit.text
        );
    }

    #[test]
    fn plain_values_that_would_change_meaning_are_quoted() {
        let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  annotations:
    argocd-image-updater.argoproj.io/a.allow-tags: regexp:^develop-
";
        let expect = |value: &str, written: &str| {
            assert_eq!(
                set(text, value).text,
                text.replace(
                    "allow-tags: regexp:^develop-",
                    &format!("allow-tags: {written}")
                ),
                "value {value:?}"
            );
        };
        expect("true", "'true'");
        expect("1.2", "'1.2'");
        expect("a: b", "'a: b'");
        expect("a #b", "'a #b'");
        expect("regexp:^v[0-9]+-", "regexp:^v[0-9]+-");
        expect("line\nbreak", "\"line\\nbreak\"");
    }

    #[test]
    fn flow_mapping_annotations() {
        let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: staging-web, annotations: {argocd-image-updater.argoproj.io/web.allow-tags: regexp:^develop-, team: web}}
spec: {project: default}
";
        let edit = set(text, "regexp:^main-");
        assert_eq!(
            edit.text,
            text.replace("regexp:^develop-,", "regexp:^main-,")
        );
        assert_eq!(
            edit.changes[0].field,
            "Application staging-web: annotation argocd-image-updater.argoproj.io/web.allow-tags"
        );
        assert_eq!(edit.changes[0].line, 3);

        // In a flow mapping `,[]{}` end a plain scalar, so such a value is quoted there.
        let edit = set(text, "regexp:^v[0-9]+-");
        assert_eq!(
            edit.text,
            text.replace("regexp:^develop-,", "'regexp:^v[0-9]+-',")
        );
    }

    const IMAGE_UPDATER: &str = "\
apiVersion: argocd-image-updater.argoproj.io/v1alpha1
kind: ImageUpdater
metadata: {name: staging, namespace: argocd}
spec:
  commonUpdateSettings:
    allowTags: \"regexp:^develop-\"
  applicationRefs:
    - namePattern: \"staging-*\"
      images:
        - alias: web
          imageName: ghcr.io/acme/web
        - alias: api
          imageName: ghcr.io/acme/api
          commonUpdateSettings:
            allowTags: regexp:^develop-
            updateStrategy: newest-build
";

    #[test]
    fn image_updater_allow_tags_at_every_level() {
        let edit = set(IMAGE_UPDATER, "regexp:^feature-login-");
        assert_eq!(
            edit.text,
            "\
apiVersion: argocd-image-updater.argoproj.io/v1alpha1
kind: ImageUpdater
metadata: {name: staging, namespace: argocd}
spec:
  commonUpdateSettings:
    allowTags: \"regexp:^feature-login-\"
  applicationRefs:
    - namePattern: \"staging-*\"
      images:
        - alias: web
          imageName: ghcr.io/acme/web
        - alias: api
          imageName: ghcr.io/acme/api
          commonUpdateSettings:
            allowTags: regexp:^feature-login-
            updateStrategy: newest-build
"
        );
        let fields: Vec<(usize, &str)> = edit
            .changes
            .iter()
            .map(|c| (c.line, c.field.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (
                    6,
                    "ImageUpdater staging: spec.commonUpdateSettings.allowTags"
                ),
                (
                    15,
                    "ImageUpdater staging: spec.applicationRefs[0].images[1].commonUpdateSettings.allowTags"
                ),
            ]
        );
    }

    #[test]
    fn multi_document_file_leaves_other_kinds_alone() {
        let text = format!(
            "\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  allowTags: regexp:^develop-
---
# the Application
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: staging-api
  annotations:
    argocd-image-updater.argoproj.io/api.allow-tags: regexp:^develop-
---
{IMAGE_UPDATER}"
        );
        let edit = set(&text, "regexp:^main-");
        let expected = format!(
            "\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  allowTags: regexp:^develop-
---
# the Application
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: staging-api
  annotations:
    argocd-image-updater.argoproj.io/api.allow-tags: regexp:^main-
---
{}",
            IMAGE_UPDATER.replace("regexp:^develop-", "regexp:^main-")
        );
        assert_eq!(edit.text, expected);
        let lines: Vec<usize> = edit.changes.iter().map(|c| c.line).collect();
        assert_eq!(lines, vec![15, 22, 31]);
    }

    #[test]
    fn nothing_to_edit_names_the_file() {
        let text = "\
apiVersion: example.com/v1
kind: Application
metadata:
  annotations:
    argocd-image-updater.argoproj.io/api.allow-tags: regexp:^develop-
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  annotations:
    argocd-image-updater.argoproj.io/api.update-strategy: digest
---
apiVersion: v1
kind: ConfigMap
data:
  allowTags: x
";
        let err = set_allow_tags(PATH, text, "regexp:^main-").unwrap_err();
        assert!(matches!(err, AllowTagsError::NotFound { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "apps/staging/api.yaml: no Argo CD Application with an \
             argocd-image-updater.argoproj.io/<alias>.allow-tags annotation and no ImageUpdater \
             with allowTags found"
        );
    }

    #[test]
    fn invalid_yaml_names_the_file() {
        let message = error("a: [b\nc: d\n", "x");
        assert!(
            message.starts_with("apps/staging/api.yaml is not valid YAML: "),
            "{message}"
        );
        assert!(message.contains("line"), "{message}");
    }

    #[test]
    fn values_that_cannot_be_replaced_in_place_are_refused() {
        let head = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  annotations:\n";
        let field = "(Application web: annotation argocd-image-updater.argoproj.io/web.allow-tags)";
        let cases = [
            ("|\n      regexp:^develop-\n", "a block scalar"),
            (">-\n      regexp:^develop-\n", "a block scalar"),
            ("\n", "empty"),
            ("[a, b]\n", "a mapping or list, not a string"),
        ];
        for (value, what) in cases {
            let text =
                format!("{head}    argocd-image-updater.argoproj.io/web.allow-tags: {value}");
            assert_eq!(
                error(&text, "regexp:^main-"),
                format!(
                    "apps/staging/api.yaml: the allow-tags value at line 6 {field} is {what}; edit it by hand"
                ),
                "{value:?}"
            );
        }

        let text = format!(
            "{head}    other: &tags regexp:^develop-\n    argocd-image-updater.argoproj.io/web.allow-tags: *tags\n"
        );
        assert_eq!(
            error(&text, "regexp:^main-"),
            format!(
                "apps/staging/api.yaml: the allow-tags value at line 7 {field} is an alias; edit it by hand"
            )
        );
    }

    #[test]
    fn anchored_value_shared_elsewhere_is_caught_by_the_reparse() {
        let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  annotations:
    argocd-image-updater.argoproj.io/api.allow-tags: &tags regexp:^develop-
  labels:
    copy: *tags
";
        let err = set_allow_tags(PATH, text, "regexp:^main-").unwrap_err();
        assert!(matches!(err, AllowTagsError::Unverified { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("apps/staging/api.yaml: refusing"),
            "{err}"
        );
    }

    #[test]
    fn already_set_means_no_changes_and_identical_text() {
        let edit = set(IMAGE_UPDATER, "regexp:^develop-");
        assert_eq!(edit.text, IMAGE_UPDATER);
        assert!(edit.changes.is_empty());

        // Only the value that differs is reported.
        let once = set(IMAGE_UPDATER, "regexp:^main-");
        let partly = IMAGE_UPDATER.replacen("\"regexp:^develop-\"", "\"regexp:^main-\"", 1);
        let edit = set(&partly, "regexp:^main-");
        assert_eq!(edit.text, once.text);
        assert_eq!(edit.changes.len(), 1);
        assert_eq!(edit.changes[0].line, 15);
        // Running the same command again changes nothing.
        assert_eq!(set(&once.text, "regexp:^main-").changes, vec![]);
    }

    #[test]
    fn crlf_line_endings_are_kept() {
        let text = "apiVersion: argoproj.io/v1alpha1\r\nkind: Application\r\nmetadata:\r\n  name: web # c\r\n  annotations:\r\n    argocd-image-updater.argoproj.io/web.allow-tags: regexp:^develop-\r\n    x: y\r\n";
        let edit = set(text, "regexp:^main-");
        assert_eq!(
            edit.text,
            "apiVersion: argoproj.io/v1alpha1\r\nkind: Application\r\nmetadata:\r\n  name: web # c\r\n  annotations:\r\n    argocd-image-updater.argoproj.io/web.allow-tags: regexp:^main-\r\n    x: y\r\n"
        );
        assert_eq!(edit.changes[0].line, 6);
    }

    #[test]
    fn non_ascii_before_the_value_does_not_shift_the_edit() {
        let text = "\
# Zuständig: Team Ärger 🚀 — bitte nicht ändern
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: staging-größe # ü
  annotations:
    description: \"Größe → 🚀\"
    argocd-image-updater.argoproj.io/api.allow-tags: 'regexp:^develop-' # ✓
";
        let edit = set(text, "regexp:^main-");
        assert_eq!(
            edit.text,
            text.replace("'regexp:^develop-'", "'regexp:^main-'")
        );
        assert_eq!(
            edit.changes[0].field,
            "Application staging-größe: annotation argocd-image-updater.argoproj.io/api.allow-tags"
        );
        assert_eq!(edit.changes[0].line, 8);
    }

    #[test]
    fn char_indices_convert_to_byte_offsets() {
        let text = "ä🚀b";
        assert_eq!(char_to_byte(text, 0), Some(0));
        assert_eq!(char_to_byte(text, 1), Some(2));
        assert_eq!(char_to_byte(text, 2), Some(6));
        assert_eq!(char_to_byte(text, 3), Some(7));
        assert_eq!(char_to_byte(text, 4), None);
    }

    #[test]
    fn ordinary_branch_names_are_accepted() {
        for name in [
            "main",
            "feature-login",
            "release-1.2",
            "_tmp",
            "v2",
            "a..b",
            "x_Y.z-9",
        ] {
            assert_eq!(validate_branch(name), Ok(()), "{name}");
        }
        assert_eq!(validate_branch(&"a".repeat(100)), Ok(()));
    }

    #[test]
    fn hostile_branch_names_are_refused() {
        let cases: &[(&str, &str)] = &[
            ("", "the branch name is empty"),
            ("$(rm -rf /)", "contains '$'"),
            ("`id`", "contains a backtick"),
            ("main\ninjected", "contains a line break"),
            ("main\r", "contains a line break"),
            ("a\u{7}b", "contains the control character U+0007"),
            (".*", "contains '*'"),
            ("feature login", "contains a space"),
            ("fé", "contains the non-ASCII character U+00E9"),
            ("main\u{202e}", "contains the non-ASCII character U+202E"),
            ("a;b", "contains ';'"),
            ("'x'", "contains a single quote"),
            ("..", "must start with a letter, a digit or '_', not '.'"),
            ("-rf", "must start with a letter, a digit or '_', not '-'"),
        ];
        for (name, expected) in cases {
            let message = validate_branch(name).unwrap_err();
            assert!(message.contains(expected), "{name:?}: {message}");
            assert!(
                !message.chars().any(char::is_control),
                "{name:?}: {message:?}"
            );
            assert!(
                message.is_ascii() || message.contains('…'),
                "{name:?}: {message}"
            );
        }
        let long = "a".repeat(10_000);
        let message = validate_branch(&long).unwrap_err();
        assert!(message.contains("10000 characters long"), "{message}");
        assert!(message.len() < 300, "{message}");
        assert!(validate_branch(&"a".repeat(101)).is_err());
    }

    #[test]
    fn slash_suggests_the_ci_slug() {
        assert_eq!(
            validate_branch("feature/login").unwrap_err(),
            "image tags cannot contain '/'; if CI tags `feature/login` as `feature-login-…`, use `/deploy-branch feature-login`"
        );
        let message = validate_branch("/login").unwrap_err();
        assert!(
            message.starts_with("image tags cannot contain '/';"),
            "{message}"
        );
        assert!(!message.contains("`-login"), "{message}");
        assert!(
            validate_branch("feature/$x")
                .unwrap_err()
                .contains("contains '$'")
        );
    }

    #[test]
    fn escape_regex_quotes_every_re2_metacharacter() {
        assert_eq!(escape_regex("a.b+c(d)"), "a\\.b\\+c\\(d\\)");
        assert_eq!(
            escape_regex(r"\.+*?()|[]{}^$"),
            r"\\\.\+\*\?\(\)\|\[\]\{\}\^\$"
        );
        assert_eq!(escape_regex("feature-login_1"), "feature-login_1");
        assert_eq!(escape_regex("ä.b"), "ä\\.b");
    }

    #[test]
    fn branch_filter_anchors_the_escaped_prefix() {
        assert_eq!(branch_filter("release-1.2"), "regexp:^release-1\\.2-");
        assert_eq!(branch_filter("main"), "regexp:^main-");
    }
}
