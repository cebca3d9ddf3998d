//! Fields the report leaves out (the `ignore` input): noise that changes on every render or
//! every sync, such as a tracking annotation or a generated checksum, would otherwise hide the
//! change a reviewer has to see. Both renders lose the same fields before they are compared, so
//! the diff and its counts agree.
//!
//! One rule per line: a kind, whitespace, then a path.
//!
//! - The kind is `*` (every resource), `Kind` (the core group, e.g. `ConfigMap`), `group/Kind`
//!   (e.g. `apps/Deployment`) or `*/Kind` (that kind in any group). Kinds are case-sensitive.
//! - The path is a JSON Pointer (RFC 6901) starting with `/`, such as
//!   `/metadata/annotations/argocd.argoproj.io~1tracking-id`, where a `*` segment matches any
//!   key or index and a number matches an index or a key of that name; or a JSONPath (RFC 9535)
//!   starting with `$`, such as `$.spec.template.spec.containers[?@.name == 'istio-proxy']`.
//!
//! Blank lines and lines starting with `#` are skipped.

use std::fmt::Write as _;

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::manifest::{Resource, ResourceKey};

/// Fields the report leaves out, per kind.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    rules: Vec<IgnoreRule>,
}

#[derive(Debug, Clone)]
struct IgnoreRule {
    /// The line as written, trimmed.
    text: String,
    kind: KindPattern,
    path: JsonPath,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum KindPattern {
    Any,
    /// `group: None` matches the kind in every group (`*/Kind`).
    Kind {
        group: Option<String>,
        kind: String,
    },
}

impl KindPattern {
    fn parse(text: &str) -> Result<KindPattern, String> {
        if text == "*" {
            return Ok(KindPattern::Any);
        }
        let is_group = |g: &str| {
            !g.is_empty()
                && g.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        };
        let (group, kind, valid_group) = match text.split_once('/') {
            Some(("*", kind)) => (None, kind, true),
            Some((group, kind)) => (Some(group.to_string()), kind, is_group(group)),
            None => (Some(String::new()), text, true),
        };
        let valid_kind = !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid_group || !valid_kind {
            return Err(format!(
                "`{text}` is not a kind: write `*`, `Kind` (core group), `group/Kind` such as apps/Deployment, or `*/Kind`"
            ));
        }
        Ok(KindPattern::Kind {
            group,
            kind: kind.to_string(),
        })
    }

    fn matches(&self, key: &ResourceKey) -> bool {
        match self {
            KindPattern::Any => true,
            KindPattern::Kind { group, kind } => {
                *kind == key.kind && group.as_ref().is_none_or(|g| *g == key.group)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error(
        "ignore rule on line {line} (`{text}`): expected a kind and a path separated by whitespace, such as `apps/Deployment /spec/replicas`"
    )]
    MissingPath { line: usize, text: String },
    #[error("ignore rule on line {line} (`{text}`): {reason}")]
    Kind {
        line: usize,
        text: String,
        reason: String,
    },
    #[error("ignore rule on line {line} (`{text}`): not a JSON Pointer: {reason}")]
    Pointer {
        line: usize,
        text: String,
        reason: String,
    },
    #[error("ignore rule on line {line} (`{text}`): not a JSONPath: {reason}")]
    JsonPath {
        line: usize,
        text: String,
        reason: String,
    },
    #[error(
        "ignore rule on line {line} (`{text}`): the path selects the whole resource; name the fields to leave out"
    )]
    WholeResource { line: usize, text: String },
}

impl IgnoreRules {
    /// One rule per line: a kind (`*`, `Kind`, or `group/Kind`, e.g. `apps/Deployment`; core
    /// group is plain `Kind`; `*/Kind` for any group), whitespace, then a path: a JSON Pointer
    /// (RFC 6901, `/metadata/annotations/argocd.argoproj.io~1tracking-id`; a `*` segment
    /// matches any key or index) or a JSONPath (RFC 9535, starting with `$`). Blank lines and
    /// lines starting with `#` are skipped. Errors name the line number, the line and the cause.
    pub fn parse(text: &str) -> Result<IgnoreRules, IgnoreError> {
        let mut rules = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let owned = || text.to_string();
            let Some((kind, path)) = text.split_once(char::is_whitespace) else {
                return Err(IgnoreError::MissingPath {
                    line,
                    text: owned(),
                });
            };
            let path = path.trim();
            let kind = KindPattern::parse(kind).map_err(|reason| IgnoreError::Kind {
                line,
                text: owned(),
                reason,
            })?;
            if path == "/" {
                return Err(IgnoreError::WholeResource {
                    line,
                    text: owned(),
                });
            }
            let query = if path.starts_with('$') {
                path.to_string()
            } else {
                pointer_to_json_path(path).map_err(|reason| IgnoreError::Pointer {
                    line,
                    text: owned(),
                    reason,
                })?
            };
            let path = JsonPath::parse(&query).map_err(|e| IgnoreError::JsonPath {
                line,
                text: owned(),
                reason: e.to_string(),
            })?;
            // Only the root query `$` selects the root, and it does so in any document.
            let selects_root = path
                .query_located(&Value::Object(Default::default()))
                .iter()
                .any(|node| node.location().is_empty());
            if selects_root {
                return Err(IgnoreError::WholeResource {
                    line,
                    text: owned(),
                });
            }
            rules.push(IgnoreRule {
                text: owned(),
                kind,
                path,
            });
        }
        Ok(IgnoreRules { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules as written (trimmed), for the report to list.
    pub fn listed(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.text.clone()).collect()
    }

    /// Removes every matched field from every resource it applies to; returns how many fields
    /// were removed.
    pub(crate) fn apply(&self, resources: &mut [Resource]) -> usize {
        let mut removed = 0;
        for resource in resources {
            for rule in self.rules.iter().filter(|r| r.kind.matches(&resource.key)) {
                removed += remove_matches(&rule.path, &mut resource.body);
            }
        }
        removed
    }
}

/// One step of a located path, owned so the body can be edited once the query is done.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Key(String),
    Index(usize),
}

fn remove_matches(path: &JsonPath, body: &mut Value) -> usize {
    let mut found: Vec<Vec<Step>> = path
        .query_located(body)
        .iter()
        .map(|node| {
            node.location()
                .iter()
                .map(|element| match element.as_index() {
                    Some(index) => Step::Index(index),
                    None => Step::Key(element.as_name().unwrap_or_default().to_string()),
                })
                .collect()
        })
        .filter(|steps: &Vec<Step>| !steps.is_empty())
        .collect();
    found.sort();
    found.dedup();
    // A field inside one already removed goes with it and is not counted again.
    let mut outermost: Vec<Vec<Step>> = Vec::new();
    for steps in found {
        if !outermost.last().is_some_and(|kept| steps.starts_with(kept)) {
            outermost.push(steps);
        }
    }
    // Last first: a later index in an array is removed before an earlier one moves it.
    let mut removed = 0;
    for steps in outermost.iter().rev() {
        if remove_at(body, steps) {
            removed += 1;
        }
    }
    removed
}

fn get_mut<'v>(value: &'v mut Value, steps: &[Step]) -> Option<&'v mut Value> {
    steps.iter().try_fold(value, |value, step| match step {
        Step::Key(key) => value.get_mut(key.as_str()),
        Step::Index(index) => value.get_mut(*index),
    })
}

fn remove_at(body: &mut Value, steps: &[Step]) -> bool {
    let Some((last, parent_steps)) = steps.split_last() else {
        return false;
    };
    let Some(parent) = get_mut(body, parent_steps) else {
        return false;
    };
    let removed = match (parent, last) {
        (Value::Object(map), Step::Key(key)) => map.shift_remove(key).is_some(),
        (Value::Array(items), Step::Index(index)) if *index < items.len() => {
            items.remove(*index);
            true
        }
        _ => false,
    };
    // Empty labels or annotations mean the same as none to the API server, and kustomize itself
    // drops an empty `metadata.annotations`: left behind, the emptied map would show as a change
    // against a side that never had the ignored field. Elsewhere an empty map can mean something
    // (`emptyDir: {}`, `securityContext: {}`), so it stays.
    if removed
        && let [grand @ .., Step::Key(metadata), Step::Key(map)] = parent_steps
        && metadata == "metadata"
        && (map == "labels" || map == "annotations")
        && get_mut(body, parent_steps).is_some_and(|m| m.as_object().is_some_and(|m| m.is_empty()))
        && let Some(Value::Object(metadata)) = get_mut(body, &parent_steps[..grand.len() + 1])
    {
        metadata.shift_remove(map.as_str());
    }
    removed
}

/// The JSONPath that selects what a JSON Pointer names, with `*` segments as wildcards and a
/// number as an index or a key of that name (a pointer cannot tell which it means).
fn pointer_to_json_path(pointer: &str) -> Result<String, String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(
            "a path starts with / (a JSON Pointer) or $ (a JSONPath), such as /metadata/labels"
                .into(),
        );
    };
    let mut query = String::from("$");
    for segment in rest.split('/') {
        if segment == "*" {
            query.push_str("[*]");
            continue;
        }
        let name = unescape_segment(segment)?;
        let quoted = quote(&name);
        if is_array_index(&name) {
            write!(query, "[{name},{quoted}]").expect("writing to a String");
        } else {
            write!(query, "[{quoted}]").expect("writing to a String");
        }
    }
    Ok(query)
}

/// RFC 6901: `~1` is `/`, `~0` is `~`, and any other `~` is an error.
fn unescape_segment(segment: &str) -> Result<String, String> {
    let mut name = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            name.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => name.push('~'),
            Some('1') => name.push('/'),
            _ => {
                return Err(format!(
                    "`{segment}` has a ~ that is not ~0 (for ~) or ~1 (for /)"
                ));
            }
        }
    }
    Ok(name)
}

/// An array index as RFC 6901 writes it (no leading zeros) and RFC 9535 accepts it (I-JSON's
/// integer range).
fn is_array_index(name: &str) -> bool {
    const MAX: u64 = (1 << 53) - 1;
    name.bytes().all(|b| b.is_ascii_digit())
        && (name == "0" || !name.starts_with('0'))
        && name.parse::<u64>().is_ok_and(|n| n <= MAX)
}

/// A name as an RFC 9535 single-quoted string literal.
fn quote(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('\'');
    for c in name.chars() {
        match c {
            '\'' => quoted.push_str("\\'"),
            '\\' => quoted.push_str("\\\\"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if c < ' ' => write!(quoted, "\\u{:04x}", c as u32).expect("writing to a String"),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_resources;
    use serde_json::json;

    fn apply(rules: &str, yaml: &str) -> (usize, Vec<Resource>) {
        let rules = IgnoreRules::parse(rules).unwrap();
        let mut resources = parse_resources(yaml).unwrap();
        let removed = rules.apply(&mut resources);
        (removed, resources)
    }

    const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    argocd.argoproj.io/tracking-id: web:apps/Deployment:shop/web
    team~a: shop
  labels: {app: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {checksum/config: abc}
    spec:
      containers:
        - {name: web, image: 'nginx:1.27', env: [{name: A, value: '1'}]}
        - {name: istio-proxy, image: 'istio/proxyv2:1.22', env: [{name: B, value: '2'}]}
";

    #[test]
    fn pointers_unescape_slash_and_tilde_and_drop_the_emptied_annotations() {
        let (removed, resources) = apply(
            "apps/Deployment /metadata/annotations/argocd.argoproj.io~1tracking-id\n\
             apps/Deployment /metadata/annotations/team~0a",
            DEPLOYMENT,
        );
        assert_eq!(removed, 2);
        assert_eq!(resources[0].body["metadata"].get("annotations"), None);
        assert_eq!(
            resources[0].body["metadata"]["labels"],
            json!({"app": "web"})
        );
    }

    #[test]
    fn a_wildcard_segment_covers_every_container() {
        let (removed, resources) = apply("* /spec/template/spec/containers/*/env", DEPLOYMENT);
        assert_eq!(removed, 2);
        let containers = &resources[0].body["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            containers,
            &json!([
                {"name": "web", "image": "nginx:1.27"},
                {"name": "istio-proxy", "image": "istio/proxyv2:1.22"}
            ])
        );
    }

    #[test]
    fn a_json_path_filter_removes_only_the_matching_element() {
        let (removed, resources) = apply(
            "apps/Deployment $.spec.template.spec.containers[?@.name == 'istio-proxy']",
            DEPLOYMENT,
        );
        assert_eq!(removed, 1);
        let containers = &resources[0].body["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers.as_array().unwrap().len(), 1);
        assert_eq!(containers[0]["name"], "web");
    }

    #[test]
    fn array_elements_go_from_the_last_so_indexes_stay_valid() {
        let yaml = "
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {}
list: [a, b, c, d]
";
        let (removed, resources) = apply("ConfigMap $.list[0,2]", yaml);
        assert_eq!(removed, 2);
        assert_eq!(resources[0].body["list"], json!(["b", "d"]));
        // A number in a pointer is an index in an array.
        let (removed, resources) = apply("ConfigMap /list/1", yaml);
        assert_eq!(removed, 1);
        assert_eq!(resources[0].body["list"], json!(["a", "c", "d"]));
        // An emptied map outside metadata stays: `data: {}` means something else than none.
        let (_, resources) = apply("ConfigMap /list/*", yaml);
        assert_eq!(resources[0].body["list"], json!([]));
        assert_eq!(resources[0].body["data"], json!({}));
    }

    #[test]
    fn a_number_in_a_pointer_is_also_a_key() {
        let yaml = "
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {'0': zero, '01': one}
";
        let (removed, resources) = apply("ConfigMap /data/0\nConfigMap /data/01", yaml);
        assert_eq!(removed, 2);
        assert_eq!(resources[0].body["data"], json!({}));
    }

    #[test]
    fn nested_matches_count_once() {
        let (removed, resources) = apply("apps/Deployment $..annotations", DEPLOYMENT);
        assert_eq!(removed, 2);
        assert_eq!(resources[0].body["metadata"].get("annotations"), None);
        let (removed, _) = apply("* $.spec..*", DEPLOYMENT);
        assert_eq!(removed, 3, "only spec's own fields are outermost");
    }

    #[test]
    fn kinds_scope_by_group() {
        let yaml = format!(
            "{DEPLOYMENT}---
apiVersion: v1
kind: ConfigMap
metadata: {{name: web, labels: {{app: web}}}}
"
        );
        let count = |kind: &str| apply(&format!("{kind} /metadata/labels"), &yaml).0;
        assert_eq!(count("apps/Deployment"), 1);
        assert_eq!(count("Deployment"), 0, "plain Kind is the core group");
        assert_eq!(count("*/Deployment"), 1);
        assert_eq!(count("extensions/Deployment"), 0);
        assert_eq!(count("deployment"), 0, "kinds are case-sensitive");
        assert_eq!(count("ConfigMap"), 1);
        assert_eq!(count("*"), 2);
    }

    #[test]
    fn nothing_matched_changes_nothing() {
        let before = parse_resources(DEPLOYMENT).unwrap();
        let (removed, after) = apply(
            "apps/Deployment /metadata/annotations/absent\n* $.status\nConfigMap /data",
            DEPLOYMENT,
        );
        assert_eq!(removed, 0);
        assert_eq!(after, before);
        let (removed, _) = apply("", DEPLOYMENT);
        assert_eq!(removed, 0);
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_and_rules_listed_as_written() {
        let rules = IgnoreRules::parse(
            "# noise from Argo CD\n\n  * /metadata/annotations/a   \napps/Deployment\t$.spec.replicas\n",
        )
        .unwrap();
        assert!(!rules.is_empty());
        assert_eq!(
            rules.listed(),
            [
                "* /metadata/annotations/a",
                "apps/Deployment\t$.spec.replicas"
            ]
        );
        assert!(IgnoreRules::parse("# only a comment\n").unwrap().is_empty());
    }

    #[test]
    fn pointers_translate_to_json_paths_that_quote_names() {
        assert_eq!(
            pointer_to_json_path("/a/b~1c/*/0").unwrap(),
            "$['a']['b/c'][*][0,'0']"
        );
        assert_eq!(
            pointer_to_json_path("/it's/back\\slash/~0/\t/007/").unwrap(),
            r"$['it\'s']['back\\slash']['~']['\t']['007']['']"
        );
        // Each translation parses, and finds its key.
        for key in [
            "it's",
            "back\\slash",
            "tab\there",
            "\u{1}",
            "ünïcödé",
            "a.b",
            "[0]",
        ] {
            let escaped = key.replace('~', "~0").replace('/', "~1");
            let path = JsonPath::parse(&pointer_to_json_path(&format!("/{escaped}")).unwrap())
                .unwrap_or_else(|e| panic!("{key:?}: {e}"));
            assert_eq!(path.query(&json!({ key: 1 })).all(), [&json!(1)], "{key:?}");
        }
    }

    #[test]
    fn errors_name_the_line_the_rule_and_the_cause() {
        let cases = [
            (
                "apps/Deployment",
                "line 1 (`apps/Deployment`): expected a kind and a path",
            ),
            (
                "\n# c\napps/ /a",
                "line 3 (`apps/ /a`): `apps/` is not a kind",
            ),
            (
                "apps/v1/Deployment /a",
                "`apps/v1/Deployment` is not a kind",
            ),
            (
                "* spec/replicas",
                "not a JSON Pointer: a path starts with / (a JSON Pointer) or $",
            ),
            (
                "* /a~2b",
                "not a JSON Pointer: `a~2b` has a ~ that is not ~0",
            ),
            ("* $.spec[", "line 1 (`* $.spec[`): not a JSONPath: "),
            ("* /", "the path selects the whole resource"),
            ("* $", "the path selects the whole resource"),
        ];
        for (text, expected) in cases {
            let error = IgnoreRules::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
            assert!(error.starts_with("ignore rule on line "), "{error}");
        }
    }
}
