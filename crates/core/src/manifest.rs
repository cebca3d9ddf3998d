//! Turns kustomize's multi-document output into resources keyed by (group, kind, namespace,
//! name), normalises them, and replaces Secret values by key-level markers.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

/// The default most one build may print as its render: far above real overlays (a large CRD
/// bundle is a few MiB), low enough that a runaway plugin cannot exhaust the runner's memory.
pub(crate) const DEFAULT_MAX_RENDER_BYTES: usize = 256 * 1024 * 1024;

/// Dropped everywhere: it repeats the whole object, Secret values included.
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Identifies a resource the way the API server does; the version is not part of it, so a move
/// from `v1beta1` to `v1` is a modification, not a replacement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub(crate) struct ResourceKey {
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.kind)?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)
    }
}

/// One rendered Kubernetes object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resource {
    pub(crate) key: ResourceKey,
    pub(crate) api_version: String,
    pub(crate) body: Value,
}

impl Resource {
    pub(crate) fn is_secret(&self) -> bool {
        self.key.group.is_empty() && self.key.kind == "Secret"
    }
}

/// Most documents one render may hold: a hundred times a large real overlay.
pub(crate) const MAX_DOCUMENTS: usize = 100_000;
/// Deepest nesting read: a CRD schema takes two YAML levels per level of its own, so the
/// parser's default of 64 turns away real CRDs; the bound still keeps recursion off the stack's end.
pub(crate) const MAX_DEPTH: usize = 128;
/// Stack for the parser's thread: debug builds spend up to ~32 KiB per nesting level. Only the
/// pages used are ever committed.
const PARSER_STACK_BYTES: usize = 64 * 1024 * 1024;
/// Most nodes (maps, lists, scalars) one render may hold: a 256 MiB render of short values.
const MAX_NODES: usize = 30_000_000;

/// The parser's budgets, sized for kustomize's output rather than for a hand-written file: the
/// render is already capped in bytes while it is read, so these bound the work per byte.
fn render_budget() -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = MAX_DOCUMENTS;
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_events = 3 * MAX_NODES;
    budget.max_total_scalar_bytes = DEFAULT_MAX_RENDER_BYTES;
    budget
}

/// A breached budget in the reader's words, naming the limit.
fn budget_breach(error: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::budget::BudgetBreach;
    // The parser wraps its errors in a source excerpt; the cause is inside.
    let serde_saphyr::Error::Budget { breach, .. } = error.without_snippet() else {
        return None;
    };
    let what = match breach {
        BudgetBreach::Documents { .. } => format!("has more than {MAX_DOCUMENTS} documents"),
        BudgetBreach::Depth { .. } => format!("nests deeper than {MAX_DEPTH} levels"),
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => {
            format!("has more than {MAX_NODES} values")
        }
        BudgetBreach::ScalarBytes { .. } => format!(
            "holds more than {} MiB of text",
            DEFAULT_MAX_RENDER_BYTES >> 20
        ),
        other => format!("breaks a parser limit ({other:?})"),
    };
    Some(format!(
        "the kustomize output {what}, the most gitops-promote reads"
    ))
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ManifestError {
    #[error("kustomize output is not valid YAML: {0}")]
    Yaml(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("document {index} of the kustomize output is not a Kubernetes object: {reason}")]
    NotAnObject { index: usize, reason: String },
}

/// Splits kustomize's output into resources, normalised and sorted by key.
pub(crate) fn parse_resources(yaml: &str) -> Result<Vec<Resource>, ManifestError> {
    // The parser recurses once per nesting level, with large frames in debug builds: a deep CRD
    // would overflow an ordinary thread's stack (2 MiB) long before MAX_DEPTH. Its own thread
    // with room for MAX_DEPTH levels keeps a deep render an ordinary value.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("parse-render".to_string())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, || parse_documents(yaml))
            .map_err(|e| ManifestError::Yaml(format!("cannot start the parser's thread: {e}")))?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn parse_documents(yaml: &str) -> Result<Vec<Resource>, ManifestError> {
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(render_budget());
    let documents: Vec<Value> =
        serde_saphyr::from_multiple_with_options(yaml, options).map_err(|e| {
            budget_breach(&e).map_or_else(
                || ManifestError::Yaml(yaml_error_summary(&e)),
                ManifestError::TooLarge,
            )
        })?;
    let mut resources = Vec::new();
    for (index, doc) in documents.into_iter().enumerate() {
        match doc {
            Value::Null => continue,
            Value::Object(map) => resources.push(resource(index + 1, map)?),
            _ => {
                return Err(ManifestError::NotAnObject {
                    index: index + 1,
                    reason: "it is not a mapping".to_string(),
                });
            }
        }
    }
    resources.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(resources)
}

/// A YAML parser's error as one short line: its cause and position. The parser's full message
/// quotes the offending source lines, which may hold a Secret value or a generator literal, so
/// nothing past the first line may reach a report, a comment or a log.
pub(crate) fn yaml_error_summary(error: &impl std::fmt::Display) -> String {
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

fn resource(index: usize, mut map: Map<String, Value>) -> Result<Resource, ManifestError> {
    let text = |map: &Map<String, Value>, field: &str| {
        map.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ManifestError::NotAnObject {
                index,
                reason: format!("`{field}` is missing"),
            })
    };
    let api_version = text(&map, "apiVersion")?;
    let kind = text(&map, "kind")?;
    let metadata = map.get("metadata").and_then(Value::as_object);
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| ManifestError::NotAnObject {
            index,
            reason: "`metadata.name` is missing".to_string(),
        })?
        .to_string();
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let group = match api_version.split_once('/') {
        Some((group, _)) => group.to_string(),
        None => String::new(),
    };
    drop_last_applied(&mut map);
    Ok(Resource {
        key: ResourceKey {
            group,
            kind,
            namespace,
            name,
        },
        api_version,
        body: Value::Object(map),
    })
}

fn drop_last_applied(map: &mut Map<String, Value>) {
    let Some(Value::Object(metadata)) = map.get_mut("metadata") else {
        return;
    };
    let Some(Value::Object(annotations)) = metadata.get_mut("annotations") else {
        return;
    };
    annotations.shift_remove(LAST_APPLIED);
    if annotations.is_empty() {
        metadata.shift_remove("annotations");
    }
}

/// Marker texts for redacted Secret values, chosen so a changed key still shows as a changed line.
pub(crate) mod marker {
    pub(crate) const UNCHANGED: &str = "<redacted: unchanged>";
    pub(crate) const ADDED: &str = "<redacted: added>";
    pub(crate) const REMOVED: &str = "<redacted: removed>";
    pub(crate) const CHANGED: &str = "<redacted: changed>";
    pub(crate) const PREVIOUS: &str = "<redacted: previous value>";
    pub(crate) const WHOLE: &str = "<redacted>";
    pub(crate) const ALL: [&str; 6] = [UNCHANGED, ADDED, REMOVED, CHANGED, PREVIOUS, WHOLE];
}

/// Replaces every value under `data` and `stringData` of a Secret pair by a marker that says
/// how the key changed. Either side may be absent (an added or removed Secret).
pub(crate) fn redact_secret_pair(base: Option<&mut Value>, head: Option<&mut Value>) {
    let base_values = base.as_deref().map(effective_values).unwrap_or_default();
    let head_values = head.as_deref().map(effective_values).unwrap_or_default();
    let has_base = base.is_some();
    let has_head = head.is_some();
    if let Some(base) = base {
        redact(base, |key| match head_values.get(key) {
            _ if !has_head => marker::REMOVED,
            None => marker::REMOVED,
            Some(v) if base_values.get(key) == Some(v) => marker::UNCHANGED,
            Some(_) => marker::PREVIOUS,
        });
    }
    if let Some(head) = head {
        redact(head, |key| match base_values.get(key) {
            _ if !has_base => marker::ADDED,
            None => marker::ADDED,
            Some(v) if head_values.get(key) == Some(v) => marker::UNCHANGED,
            Some(_) => marker::CHANGED,
        });
    }
}

/// A Secret's value per key as the API server stores it: `stringData` wins over `data`.
/// Values are only compared, never shown.
fn effective_values(secret: &Value) -> BTreeMap<String, Vec<u8>> {
    use base64::Engine;
    let mut values = BTreeMap::new();
    for field in ["data", "stringData"] {
        if let Some(Value::Object(map)) = secret.get(field) {
            for (key, value) in map {
                let value = match (field, value) {
                    ("data", Value::String(b64)) => base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .unwrap_or_else(|_| b64.clone().into_bytes()),
                    (_, Value::String(text)) => text.clone().into_bytes(),
                    (_, other) => other.to_string().into_bytes(),
                };
                values.insert(key.clone(), value);
            }
        }
    }
    values
}

fn redact(secret: &mut Value, marker_for: impl Fn(&str) -> &'static str) {
    for field in ["data", "stringData"] {
        match secret.get_mut(field) {
            Some(Value::Object(map)) => {
                for (key, value) in map.iter_mut() {
                    *value = Value::String(marker_for(key).to_string());
                }
            }
            // Not a map: nothing key-level to show, but never the content.
            Some(other) if !other.is_null() => *other = Value::String(marker::WHOLE.to_string()),
            _ => {}
        }
    }
}

/// Every Secret value a run has seen (rendered `data`/`stringData`, generator literals), so
/// that text kustomize or Helm printed can be shown without them: an error may echo a value
/// ("node contents: <base64>") even when the render failed.
///
/// Values shorter than `MIN_LEN` characters are not replaced: `true`, `1` or `dev` would turn
/// every such word of a message into a marker while hiding nothing worth hiding.
#[derive(Debug, Default)]
pub(crate) struct SecretValues {
    values: std::collections::BTreeSet<String>,
}

impl SecretValues {
    pub(crate) const MIN_LEN: usize = 4;

    /// Adds every value `other` knows.
    pub(crate) fn extend(&mut self, other: SecretValues) {
        self.values.extend(other.values);
    }

    /// Adds a plain value, with its base64 forms and each of its lines (a PEM key may be
    /// echoed a line at a time).
    pub(crate) fn add(&mut self, value: &str) {
        use base64::Engine;
        let mut candidates = vec![value.to_string()];
        candidates.extend(value.lines().map(str::to_string));
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        candidates.push(encoded.trim_end_matches('=').to_string());
        candidates.push(encoded);
        for candidate in candidates {
            if candidate.trim().chars().count() >= Self::MIN_LEN {
                self.values.insert(candidate);
            }
        }
    }

    /// Adds the values of every Secret among `resources`.
    pub(crate) fn add_secrets(&mut self, resources: &[Resource]) {
        use base64::Engine;
        for secret in resources.iter().filter(|r| r.is_secret()) {
            if let Some(Value::Object(data)) = secret.body.get("data") {
                for value in data.values().filter_map(Value::as_str) {
                    self.add(value);
                    if let Ok(decoded) =
                        base64::engine::general_purpose::STANDARD.decode(value.trim())
                    {
                        self.add(&String::from_utf8_lossy(&decoded));
                    }
                }
            }
            if let Some(Value::Object(data)) = secret.body.get("stringData") {
                for value in data.values() {
                    match value {
                        Value::String(text) => self.add(text),
                        other => self.add(&other.to_string()),
                    }
                }
            }
        }
    }

    /// `text` with every known value replaced by a marker, longest first so a value that
    /// contains another is replaced whole.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut values: Vec<&String> = self.values.iter().collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.into_iter().fold(text.to_string(), |text, value| {
            if text.contains(value.as_str()) {
                text.replace(value.as_str(), marker::WHOLE)
            } else {
                text
            }
        })
    }
}

/// Renders a resource as YAML for diffing: block style, multi-line strings as literal blocks,
/// long lines never folded (folding would turn a one-word change into a paragraph change).
pub(crate) fn to_yaml(body: &Value) -> String {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX / 2;
    options.min_fold_chars = usize::MAX / 2;
    let yaml = serde_saphyr::to_string_with_options(body, options)
        .unwrap_or_else(|e| format!("# cannot render this resource as YAML: {e}\n"));
    // The serializer must quote markers (they hold `: `); unquoted they read as the notes they are.
    marker::ALL.iter().fold(yaml, |yaml, m| {
        yaml.replace(&format!("\"{m}\""), m)
            .replace(&format!("'{m}'"), m)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"secret":"hunter2"}'
  name: web
  namespace: shop
spec:
  replicas: 2
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
"#;

    #[test]
    fn documents_become_sorted_keyed_resources() {
        let resources = parse_resources(OUTPUT).unwrap();
        let keys: Vec<String> = resources
            .iter()
            .map(|r| format!("{}|{}", r.key.group, r.key))
            .collect();
        assert_eq!(
            keys,
            [
                "|Service shop/web",
                "apps|Deployment shop/web",
                "rbac.authorization.k8s.io|ClusterRole reader"
            ]
        );
        let deployment = &resources[1];
        assert_eq!(deployment.api_version, "apps/v1");
        assert!(deployment.body["metadata"].get("annotations").is_none());
        assert!(!to_yaml(&deployment.body).contains("hunter2"));
    }

    fn config_maps(count: usize) -> String {
        (0..count)
            .map(|i| {
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  k: v{i}\n"
                )
            })
            .collect::<Vec<_>>()
            .join("---\n")
    }

    /// A CRD whose schema nests `levels` objects, padded with descriptions to about `bytes`.
    fn deep_crd(levels: usize, bytes: usize) -> String {
        let mut schema = serde_json::json!({"type": "string"});
        for level in 0..levels {
            schema = serde_json::json!({
                "type": "object",
                "description": "x".repeat(bytes / levels),
                "properties": {format!("field{level}"): schema}
            });
        }
        let crd = serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": schema}}]}
        });
        to_yaml(&crd)
    }

    #[test]
    fn thousands_of_documents_and_a_deep_several_mib_crd_are_read() {
        let many = config_maps(5_000);
        assert_eq!(parse_resources(&many).unwrap().len(), 5_000);
        // Each schema level is two YAML levels (the schema and its `properties`).
        let crd = deep_crd(60, 4 << 20);
        assert!(crd.len() > 4 << 20);
        let parsed = parse_resources(&format!("{many}---\n{crd}")).unwrap();
        assert_eq!(parsed.len(), 5_001);
        // And it can be shown and diffed on an ordinary thread.
        let changed = parse_resources(&crd.replace("field0", "renamed")).unwrap();
        let crd = parsed
            .into_iter()
            .find(|r| r.key.kind == "CustomResourceDefinition");
        let diffs = crate::diff::diff_resources(crd.into_iter().collect(), changed);
        assert_eq!(diffs.len(), 1);
        assert!(diffs[0].diff.contains("renamed:"));
    }

    #[test]
    fn a_render_over_the_limits_is_an_error_that_names_the_limit() {
        let err = parse_resources(&"---\na: 1\n".repeat(MAX_DOCUMENTS + 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the kustomize output has more than {MAX_DOCUMENTS} documents, the most gitops-promote reads"
            )
        );
        let err = parse_resources(&deep_crd(MAX_DEPTH / 2, 0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the kustomize output nests deeper than {MAX_DEPTH} levels, the most gitops-promote reads"
            )
        );
    }

    #[test]
    fn secret_values_are_scrubbed_in_every_form_but_short_ones() {
        let rendered = parse_resources(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: aHVudGVyMi1wYXNz, b: eWVz}\nstringData:\n  c: |\n    line-one\n    line-two\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {d: not-a-secret}\n",
        )
        .unwrap();
        let mut values = SecretValues::default();
        values.add_secrets(&rendered);
        values.add("literal-from-a-generator");
        expect_test::expect![[r#"
            Error: node contents: <redacted> / <redacted> / <redacted>
            line <redacted> and <redacted> / yes / not-a-secret"#]]
        .assert_eq(&values.scrub(
            "Error: node contents: aHVudGVyMi1wYXNz / hunter2-pass / bGl0ZXJhbC1mcm9tLWEtZ2VuZXJhdG9y\nline line-one and line-two / yes / not-a-secret",
        ));
    }

    #[test]
    fn a_document_without_a_name_is_an_error_naming_it() {
        let err = parse_resources("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "document 1 of the kustomize output is not a Kubernetes object: `metadata.name` is missing"
        );
    }

    #[test]
    fn secret_values_become_markers_that_tell_the_change() {
        let mut base = serde_json::json!({
            "kind": "Secret",
            "data": {"same": "c2FtZQ==", "old": "b2xk", "gone": "Z29uZQ=="},
            "stringData": {"plain": "was"}
        });
        let mut head = serde_json::json!({
            "kind": "Secret",
            "data": {"same": "c2FtZQ==", "old": "bmV3", "new": "bmV3"},
            "stringData": {"plain": "is"}
        });
        redact_secret_pair(Some(&mut base), Some(&mut head));
        assert_eq!(
            base,
            serde_json::json!({"kind": "Secret",
                "data": {"same": marker::UNCHANGED, "old": marker::PREVIOUS, "gone": marker::REMOVED},
                "stringData": {"plain": marker::PREVIOUS}})
        );
        assert_eq!(
            head,
            serde_json::json!({"kind": "Secret",
                "data": {"same": marker::UNCHANGED, "old": marker::CHANGED, "new": marker::ADDED},
                "stringData": {"plain": marker::CHANGED}})
        );
    }

    #[test]
    fn data_and_string_data_compare_by_decoded_value() {
        let mut base = serde_json::json!({"data": {"k": "cGFzcw=="}});
        let mut head = serde_json::json!({"stringData": {"k": "pass"}});
        redact_secret_pair(Some(&mut base), Some(&mut head));
        assert_eq!(head["stringData"]["k"], marker::UNCHANGED);
        let mut added = serde_json::json!({"data": {"k": "cGFzcw=="}, "stringData": "oops"});
        redact_secret_pair(None, Some(&mut added));
        assert_eq!(
            added,
            serde_json::json!({"data": {"k": marker::ADDED}, "stringData": "<redacted>"})
        );
    }

    #[test]
    fn yaml_keeps_multi_line_strings_as_blocks_and_long_lines_whole() {
        let long = "word ".repeat(40);
        let body = serde_json::json!({"data": {"conf": "a: 1\nb: 2\n", "long": long.trim(), "flag": "true"}});
        let yaml = to_yaml(&body);
        assert!(yaml.contains("conf: |\n    a: 1\n    b: 2\n"), "{yaml}");
        assert!(yaml.contains(&format!("long: {}\n", long.trim())), "{yaml}");
        assert!(
            yaml.contains("flag: 'true'") || yaml.contains("flag: \"true\""),
            "{yaml}"
        );
    }
}
