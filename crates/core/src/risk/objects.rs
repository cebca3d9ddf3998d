//! Rules about whole objects: fields the API server will not change in place, removals that
//! take data or production traffic with them, and settings that stop serving or block drains.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::{Map, Value};

use super::{Context, Finding, Pair, Rule, Sides};
use crate::manifest::Resource;

pub(super) fn check(sides: &Sides, context: &Context, out: &mut Vec<Finding>) {
    for pair in sides.pairs() {
        match (pair.base, pair.head) {
            (Some(base), Some(head)) if base.body != head.body => changed(base, head, out),
            (Some(base), None) => removed(base, context, out),
            _ => {}
        }
        if let Some(head) = pair.head {
            hpa_min_above_max(pair, head, out);
            pdb(sides, pair, head, out);
        }
    }
}

fn changed(base: &Resource, head: &Resource, out: &mut Vec<Finding>) {
    immutable_fields(base, head, out);
    service(base, head, out);
    pvc_shrunk(base, head, out);
    immutable_data(base, head, out);
    replicas_zero(base, head, out);
}

fn is(resource: &Resource, groups: &[&str], kinds: &[&str]) -> bool {
    groups.contains(&resource.key.group.as_str()) && kinds.contains(&resource.key.kind.as_str())
}

// ---------------------------------------------------------------------------------------------
// Fields the API server refuses to change in place.

/// One field and the value the API server gives it when it is absent (or empty, for a plain
/// string), so that spelling the default out is no change.
struct Field {
    pointer: &'static str,
    default: Option<&'static str>,
}

struct Immutable {
    rule: Rule,
    groups: &'static [&'static str],
    kinds: &'static [&'static str],
    fields: &'static [Field],
    /// What the reviewer faces; `{kind}` becomes the object's kind.
    then: &'static str,
}

const fn field(pointer: &'static str) -> Field {
    Field {
        pointer,
        default: None,
    }
}

const IMMUTABLE: &[Immutable] = &[
    Immutable {
        rule: Rule::SelectorChanged,
        groups: &["apps", "extensions"],
        kinds: &["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"],
        fields: &[field("/spec/selector")],
        then: "the apply fails until the {kind} is deleted and recreated, and its old pods are orphaned",
    },
    Immutable {
        rule: Rule::StatefulSetFieldChanged,
        groups: &["apps"],
        kinds: &["StatefulSet"],
        fields: &[
            field("/spec/volumeClaimTemplates"),
            Field {
                pointer: "/spec/serviceName",
                default: Some(""),
            },
            Field {
                pointer: "/spec/podManagementPolicy",
                default: Some("OrderedReady"),
            },
        ],
        then: "the apply fails until the StatefulSet is deleted and recreated",
    },
    Immutable {
        rule: Rule::JobTemplateChanged,
        groups: &["batch"],
        kinds: &["Job"],
        fields: &[field("/spec/template")],
        then: "the apply fails unless the Job is deleted and recreated, which runs it again",
    },
    Immutable {
        rule: Rule::PvcStorageClassChanged,
        // `storageClassName` is a pointer: "" (no class) and absent (the default class) differ.
        groups: &[""],
        kinds: &["PersistentVolumeClaim"],
        fields: &[field("/spec/storageClassName")],
        then: "the apply fails, and recreating the claim loses its volume",
    },
];

fn immutable_fields(base: &Resource, head: &Resource, out: &mut Vec<Finding>) {
    for table in IMMUTABLE.iter().filter(|t| is(head, t.groups, t.kinds)) {
        let changes: Vec<String> = table
            .fields
            .iter()
            .filter_map(|f| {
                let (b, h) = (
                    comparable(f, base.body.pointer(f.pointer)),
                    comparable(f, head.body.pointer(f.pointer)),
                );
                (b != h).then(|| {
                    describe(
                        f,
                        base.body.pointer(f.pointer),
                        head.body.pointer(f.pointer),
                    )
                })
            })
            .collect();
        if !changes.is_empty() {
            let then = table.then.replace("{kind}", &head.key.kind);
            out.push(Finding::new(
                table.rule,
                head,
                format!("{}; {then}", changes.join(" and ")),
            ));
        }
    }
}

/// The field as the API server compares it: defaults filled in, null and empty lists (nil and
/// empty are equal to its semantic comparison) dropped, claim templates without what the
/// server adds or ignores.
fn comparable(field: &Field, value: Option<&Value>) -> Value {
    let value = value.filter(|v| !v.is_null());
    if let Some(default) = field.default {
        return match value {
            None => Value::String(default.to_string()),
            Some(Value::String(s)) if s.is_empty() => Value::String(default.to_string()),
            Some(v) => v.clone(),
        };
    }
    let Some(value) = value else {
        return Value::Null;
    };
    let mut value = value.clone();
    if field.pointer == "/spec/volumeClaimTemplates"
        && let Value::Array(templates) = &mut value
    {
        templates.iter_mut().for_each(claim_template);
    }
    prune(&mut value);
    value
}

/// Map-typed fields whose `{}` the API server stores as absent.
const MAP_FIELDS: &[&str] = &["matchLabels", "labels", "annotations", "nodeSelector"];

fn prune(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(prune);
            map.retain(|k, v| {
                !(v.is_null()
                    || v.as_array().is_some_and(Vec::is_empty)
                    || (MAP_FIELDS.contains(&k.as_str())
                        && v.as_object().is_some_and(Map::is_empty)))
            });
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

/// A claim template as the server compares it: `apiVersion`, `kind` and `status` are not kept,
/// `volumeMode` defaults to Filesystem, and quantities compare by value (1Gi is 1024Mi).
fn claim_template(template: &mut Value) {
    let Some(map) = template.as_object_mut() else {
        return;
    };
    for dropped in ["apiVersion", "kind", "status"] {
        map.remove(dropped);
    }
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        meta.remove("creationTimestamp");
    }
    let Some(Value::Object(spec)) = map.get_mut("spec") else {
        return;
    };
    spec.entry("volumeMode")
        .or_insert_with(|| Value::String("Filesystem".into()));
    if let Some(Value::Object(resources)) = spec.get_mut("resources") {
        for list in ["requests", "limits"] {
            if let Some(Value::Object(amounts)) = resources.get_mut(list) {
                for amount in amounts.values_mut() {
                    if let Some(n) = quantity_value(amount) {
                        *amount = Value::String(format!("{n}n"));
                    }
                }
            }
        }
    }
}

fn describe(field: &Field, base: Option<&Value>, head: Option<&Value>) -> String {
    let name = field.pointer[1..].replace('/', ".");
    if field.pointer == "/spec/selector" {
        return format!(
            "{name} changed from {} to {}",
            selector_text(base),
            selector_text(head)
        );
    }
    if field.pointer == "/spec/volumeClaimTemplates" {
        let names = changed_templates(field, base, head);
        if !names.is_empty() {
            return format!("{name} changed ({})", names.join(", "));
        }
    }
    // A defaulted field reads as the value the server holds.
    let shown = |v: Option<&Value>| match (field.default, v) {
        (Some(d), None | Some(Value::Null)) if !d.is_empty() => Some(d.to_string()),
        (Some(d), Some(Value::String(s))) if s.is_empty() && !d.is_empty() => Some(d.to_string()),
        (Some(""), Some(Value::String(s))) if s.is_empty() => Some("unset".into()),
        _ => scalar_text(v),
    };
    match (shown(base), shown(head)) {
        (Some(b), Some(h)) => format!("{name} changed from {b} to {h}"),
        _ => format!("{name} changed"),
    }
}

/// Names of the claim templates added, removed or changed.
fn changed_templates(field: &Field, base: Option<&Value>, head: Option<&Value>) -> Vec<String> {
    let by_name = |side: Option<&Value>| -> Vec<(String, Value)> {
        match comparable(field, side) {
            Value::Array(items) => items
                .into_iter()
                .map(|t| {
                    let name = t
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    (name, t)
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let (b, h) = (by_name(base), by_name(head));
    let names: BTreeSet<&String> = b.iter().chain(&h).map(|(n, _)| n).collect();
    names
        .into_iter()
        .filter(|n| {
            let find = |side: &[(String, Value)]| side.iter().find(|(m, _)| m == *n).cloned();
            find(&b) != find(&h)
        })
        .filter(|n| !n.is_empty())
        .cloned()
        .collect()
}

fn scalar_text(value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => Some("unset".into()),
        Some(Value::String(s)) if s.is_empty() => Some("\"\"".into()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

/// A label selector the way `kubectl get -l` spells it.
fn selector_text(selector: Option<&Value>) -> String {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return "unset".into();
    };
    let mut terms: Vec<String> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            terms.push(format!("{k}={}", scalar_text(Some(v)).unwrap_or_default()));
        }
    }
    for e in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<String> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| scalar_text(Some(v)))
            .collect();
        terms.push(
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                op => format!("{key} {} ({})", op.to_lowercase(), values.join(",")),
            },
        );
    }
    if terms.is_empty() {
        "{} (every pod)".into()
    } else {
        terms.join(",")
    }
}

// ---------------------------------------------------------------------------------------------
// Services.

fn service(base: &Resource, head: &Resource, out: &mut Vec<Finding>) {
    if !is(head, &[""], &["Service"]) {
        return;
    }
    fn text<'a>(r: &'a Resource, pointer: &str) -> &'a str {
        r.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    let kind = |r: &'_ Resource| -> String {
        match text(r, "/spec/type") {
            "" => "ClusterIP".into(),
            t => t.into(),
        }
    };
    let (was, now) = (kind(base), kind(head));
    if (was == "ExternalName") != (now == "ExternalName") {
        let message = if now == "ExternalName" {
            format!(
                "spec.type changed from {was} to ExternalName; the Service loses its cluster IP and clients get a DNS alias for {} instead",
                or_unset(text(head, "/spec/externalName"))
            )
        } else {
            format!(
                "spec.type changed from ExternalName to {now}; the Service gets a cluster IP and stops being a DNS alias for {}",
                or_unset(text(base, "/spec/externalName"))
            )
        };
        out.push(Finding::new(Rule::ServiceExternalName, head, message));
        // Moving to or from ExternalName is the one change that may drop or set clusterIP.
        return;
    }
    if now == "ExternalName" {
        return;
    }
    // An unset or empty clusterIP asks for an allocated address, and on update keeps the
    // allocated one, so base-set → head-unset is quiet; except that a headless Service ("None")
    // cannot gain an address in place, nor an allocated one become headless or another address.
    let (b, h) = (text(base, "/spec/clusterIP"), text(head, "/spec/clusterIP"));
    let fires = match (b, h) {
        (_, "") => b == "None",
        ("", _) => true,
        _ => b != h,
    };
    if fires {
        let side = |ip: &str| match ip {
            "" => "unset (an allocated address)".to_string(),
            "None" => "None (headless)".to_string(),
            ip => ip.to_string(),
        };
        out.push(Finding::new(
            Rule::ServiceClusterIpChanged,
            head,
            format!(
                "spec.clusterIP changed from {} to {}; the apply fails until the Service is deleted and recreated, which changes the address its clients use",
                side(b),
                side(h)
            ),
        ));
    }
}

fn or_unset(s: &str) -> &str {
    if s.is_empty() { "(unset)" } else { s }
}

// ---------------------------------------------------------------------------------------------
// Persistent volume claims.

const STORAGE: &str = "/spec/resources/requests/storage";

fn pvc_shrunk(base: &Resource, head: &Resource, out: &mut Vec<Finding>) {
    if !is(head, &[""], &["PersistentVolumeClaim"]) {
        return;
    }
    let (Some(b), Some(h)) = (base.body.pointer(STORAGE), head.body.pointer(STORAGE)) else {
        return;
    };
    let (Some(bv), Some(hv)) = (quantity_value(b), quantity_value(h)) else {
        return;
    };
    if hv < bv {
        out.push(Finding::new(
            Rule::PvcShrunk,
            head,
            format!(
                "spec.resources.requests.storage shrank from {} to {}; the API server rejects a smaller request, and the volume keeps its size",
                scalar_text(Some(b)).unwrap_or_default(),
                scalar_text(Some(h)).unwrap_or_default()
            ),
        ));
    }
}

fn quantity_value(value: &Value) -> Option<i128> {
    match value {
        Value::String(s) => parse_quantity(s),
        Value::Number(n) => parse_quantity(&n.to_string()),
        _ => None,
    }
}

/// A Kubernetes quantity (`resource.Quantity`) in nano-units, rounded up as Kubernetes rounds
/// below its nano precision; `None` for what Kubernetes would not parse or what overflows.
/// Written here because the crates that parse quantities bring all of k8s-openapi along.
pub(crate) fn parse_quantity(text: &str) -> Option<i128> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    let mut mantissa: i128 = 0;
    for d in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i128::from(d - b'0'))?;
    }
    let (decimal, binary): (i32, u32) = match suffix {
        "" => (0, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (exponent.parse().ok()?, 0)
        }
    };
    let scale = decimal
        .checked_add(9)?
        .checked_sub(i32::try_from(fraction.len()).ok()?)?;
    let mut value = mantissa.checked_mul(1i128.checked_shl(binary)?)?;
    if scale >= 0 {
        value = value.checked_mul(10i128.checked_pow(u32::try_from(scale).ok()?)?)?;
    } else {
        let divisor = 10i128.checked_pow(scale.unsigned_abs())?;
        value = (value + divisor - 1) / divisor;
    }
    Some(if negative { -value } else { value })
}

// ---------------------------------------------------------------------------------------------
// Immutable ConfigMaps and Secrets.

fn immutable_data(base: &Resource, head: &Resource, out: &mut Vec<Finding>) {
    if !is(head, &[""], &["ConfigMap", "Secret"])
        || base.body.get("immutable") != Some(&Value::Bool(true))
        // A hash-suffix rename is a new object to the API server: nothing is edited in place.
        || base.key.name != head.key.name
    {
        return;
    }
    let mut what = Vec::new();
    match head.body.get("immutable") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => what.push("immutable changed from true to false".to_string()),
        _ => what.push("immutable changed from true to unset".to_string()),
    }
    let keys = changed_keys(base, head);
    if !keys.is_empty() {
        let mut shown: Vec<&str> = keys.iter().take(5).map(String::as_str).collect();
        let more = keys.len().saturating_sub(shown.len());
        let extra = format!("and {more} more");
        if more > 0 {
            shown.push(&extra);
        }
        let noun = if keys.len() == 1 { "key" } else { "keys" };
        what.push(format!("{noun} {} changed", shown.join(", ")));
    }
    if !what.is_empty() {
        out.push(Finding::new(
            Rule::ImmutableDataChanged,
            head,
            format!(
                "{} on a {} marked immutable; the apply fails until it is deleted and recreated, or generated under a new name",
                what.join(" and "),
                head.key.kind
            ),
        ));
    }
}

/// Keys whose content differs; a Secret's `stringData` is written into `data`, so the two are
/// compared as the stored bytes. Only key names leave this function, never values.
fn changed_keys(base: &Resource, head: &Resource) -> BTreeSet<String> {
    let contents = |r: &Resource| -> Vec<(String, Vec<u8>)> {
        let map = |field: &str| {
            r.body
                .get(field)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect::<Vec<_>>()
        };
        let decode = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .unwrap_or_else(|_| s.as_bytes().to_vec())
        };
        let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
        let mut put = |k: String, v: Vec<u8>| {
            entries.retain(|(e, _)| *e != k);
            entries.push((k, v));
        };
        if r.key.kind == "Secret" {
            map("data")
                .into_iter()
                .for_each(|(k, v)| put(k, decode(&v)));
            map("stringData")
                .into_iter()
                .for_each(|(k, v)| put(k, v.into_bytes()));
        } else {
            map("data")
                .into_iter()
                .for_each(|(k, v)| put(k, v.into_bytes()));
            // binaryData keys cannot repeat data keys, so one namespace is enough.
            map("binaryData")
                .into_iter()
                .for_each(|(k, v)| put(k, decode(&v)));
        }
        entries
    };
    let (b, h) = (contents(base), contents(head));
    let get = |side: &[(String, Vec<u8>)], k: &str| {
        side.iter().find(|(e, _)| e == k).map(|(_, v)| v.clone())
    };
    b.iter()
        .chain(&h)
        .map(|(k, _)| k)
        .filter(|k| get(&b, k) != get(&h, k))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Removals.

fn removed(base: &Resource, context: &Context, out: &mut Vec<Finding>) {
    if let Some(lost) = stateful_loss(base) {
        out.push(Finding::new(
            Rule::StatefulRemoved,
            base,
            format!("{} removed; pruning it {lost}", base.key.kind),
        ));
    }
    if context.production {
        out.push(Finding::new(
            Rule::ProductionRemoved,
            base,
            format!(
                "{} removed from a production overlay; Argo CD deletes it from production when it prunes",
                base.key.kind
            ),
        ));
    }
}

/// What pruning a removed object takes with it, for the kinds whose removal loses data.
fn stateful_loss(base: &Resource) -> Option<String> {
    let text = |p: &str| base.body.pointer(p).and_then(Value::as_str);
    Some(match (base.key.group.as_str(), base.key.kind.as_str()) {
        ("", "Namespace") => "deletes every object in the namespace, including those this overlay does not render".into(),
        ("", "PersistentVolumeClaim") => {
            "deletes the claim and, unless its volume's reclaim policy is Retain, the volume's data".into()
        }
        // A PersistentVolume created by hand defaults to Retain.
        ("", "PersistentVolume") => match text("/spec/persistentVolumeReclaimPolicy") {
            Some("Delete") => "deletes the volume and, with reclaim policy Delete, the storage and data behind it".into(),
            Some("Recycle") => "deletes the volume, and reclaim policy Recycle scrubs its data".into(),
            _ => "deletes the volume; its data stays (reclaim policy Retain) but must be bound again by hand".into(),
        },
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let kind = text("/spec/names/kind").unwrap_or("custom resource");
            format!("deletes every {kind} in the cluster ({}), since each custom resource goes with its definition", base.key.name)
        }
        ("apps", "StatefulSet") => match text("/spec/persistentVolumeClaimRetentionPolicy/whenDeleted") {
            Some("Delete") => "deletes its pods and, with persistentVolumeClaimRetentionPolicy whenDeleted Delete, their PersistentVolumeClaims and data".into(),
            _ => "deletes its pods; their PersistentVolumeClaims stay behind".into(),
        },
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Availability.

const REPLICATED: &[(&[&str], &[&str])] = &[
    (
        &["apps", "extensions"],
        &["Deployment", "ReplicaSet", "StatefulSet"],
    ),
    (&[""], &["ReplicationController"]),
    (&["argoproj.io"], &["Rollout"]),
];

fn replicated(resource: &Resource) -> bool {
    REPLICATED.iter().any(|(g, k)| is(resource, g, k))
}

/// `spec.replicas`, 1 when absent as the API server defaults it; `None` when not a number.
fn replicas(resource: &Resource) -> Option<i64> {
    match resource.body.pointer("/spec/replicas") {
        None | Some(Value::Null) => Some(1),
        Some(v) => v.as_i64(),
    }
}

/// Only a workload that was serving can stop: one created with zero replicas is quiet.
fn replicas_zero(base: &Resource, head: &Resource, out: &mut Vec<Finding>) {
    if !replicated(head) || replicas(head) != Some(0) {
        return;
    }
    let Some(before) = replicas(base).filter(|&n| n != 0) else {
        return;
    };
    let before = match base.body.pointer("/spec/replicas") {
        None | Some(Value::Null) => "unset (1)".to_string(),
        _ => before.to_string(),
    };
    out.push(Finding::new(
        Rule::ReplicasZero,
        head,
        format!(
            "spec.replicas changed from {before} to 0; the {} runs no pods and stops serving",
            head.key.kind
        ),
    ));
}

fn is_hpa(r: &Resource) -> bool {
    is(r, &["autoscaling"], &["HorizontalPodAutoscaler"])
}

/// `(minReplicas, maxReplicas)` when min exceeds max; minReplicas defaults to 1.
fn hpa_inverted(r: &Resource) -> Option<(i64, i64)> {
    let max = r.body.pointer("/spec/maxReplicas")?.as_i64()?;
    let min = match r.body.pointer("/spec/minReplicas") {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_i64()?,
    };
    (min > max).then_some((min, max))
}

fn hpa_min_above_max(pair: Pair, head: &Resource, out: &mut Vec<Finding>) {
    if !is_hpa(head) || pair.base.is_some_and(|b| hpa_inverted(b).is_some()) {
        return;
    }
    if let Some((min, max)) = hpa_inverted(head) {
        out.push(Finding::new(
            Rule::HpaMinAboveMax,
            head,
            format!("spec.minReplicas {min} is above spec.maxReplicas {max}; the API server rejects the autoscaler"),
        ));
    }
}

fn is_pdb(r: &Resource) -> bool {
    is(r, &["policy"], &["PodDisruptionBudget"])
}

fn pdb(sides: &Sides, pair: Pair, head: &Resource, out: &mut Vec<Finding>) {
    if !is_pdb(head) {
        return;
    }
    let base = pair.base.filter(|b| is_pdb(b));
    if let Some(why) = blocking(head, sides.head)
        && base.is_none_or(|b| blocking(b, sides.base).is_none())
    {
        out.push(Finding::new(Rule::PdbBlocksEviction, head, why));
    }
    if selects_all(head) && !base.is_some_and(selects_all) {
        let namespace = head
            .key
            .namespace
            .as_deref()
            .map_or("its namespace".to_string(), |ns| format!("namespace {ns}"));
        out.push(Finding::new(
            Rule::PdbSelectsAll,
            head,
            format!("spec.selector is empty, which in policy/v1 covers every pod in {namespace}, not just one workload's"),
        ));
    }
}

/// In policy/v1 an empty selector (`{}`, or one with no labels and no expressions) selects
/// every pod in the namespace, while an absent (null) one selects none; in policy/v1beta1 an
/// empty selector selected none. Kubernetes' PodDisruptionBudget docs say both.
fn selects_all(pdb: &Resource) -> bool {
    if pdb.api_version != "policy/v1" {
        return false;
    }
    let Some(selector) = pdb
        .body
        .pointer("/spec/selector")
        .and_then(Value::as_object)
    else {
        return false;
    };
    let empty = |field: &str| match selector.get(field) {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    empty("matchLabels") && empty("matchExpressions")
}

/// Why a disruption budget allows no eviction, if it does, judged against the render it is in.
/// An integer or percentage `minAvailable` is compared with the pods the selected workloads
/// run together, as the disruption controller sums them (a percentage rounds up); a workload
/// an autoscaler targets counts at its `minReplicas`, where drains happen at quiet times.
/// A budget selecting no rendered workload, or whose selector cannot be read, is quiet.
fn blocking(pdb: &Resource, render: &[Resource]) -> Option<String> {
    let spec = pdb.body.get("spec")?;
    if let Some(max) = spec.get("maxUnavailable") {
        return (int_or_percent(max)?.0 == 0)
            .then(|| "spec.maxUnavailable is 0; no pod it covers can be evicted, so node drains and upgrades hang".to_string());
    }
    let (min, percent) = int_or_percent(spec.get("minAvailable")?)?;
    if percent && min >= 100 {
        return Some("spec.minAvailable is 100%; no pod it covers can be evicted, so node drains and upgrades hang".into());
    }
    let selector = spec.get("selector")?;
    let mut workloads = Vec::new();
    let mut pods = 0;
    for w in render
        .iter()
        .filter(|w| replicated(w) && w.key.namespace == pdb.key.namespace)
    {
        let Some(labels) = w
            .body
            .pointer("/spec/template/metadata/labels")
            .and_then(Value::as_object)
        else {
            continue;
        };
        if !matches(selector, labels)? {
            continue;
        }
        let n = autoscaled_min(w, render).or_else(|| replicas(w))?;
        if n > 0 {
            pods += n;
            workloads.push(format!("{} {}", w.key.kind, w.key.name));
        }
    }
    let required = if percent {
        (min * pods + 99) / 100
    } else {
        min
    };
    (pods > 0 && required >= pods).then(|| {
        let plural = if pods == 1 { "pod" } else { "pods" };
        let value = if percent { format!("{min}%") } else { min.to_string() };
        format!(
            "spec.minAvailable {value} allows no disruption of the {pods} {plural} of {}; evictions are refused, so node drains and upgrades hang",
            workloads.join(" and ")
        )
    })
}

/// `minReplicas` of an autoscaler in the render that scales `workload`.
fn autoscaled_min(workload: &Resource, render: &[Resource]) -> Option<i64> {
    render
        .iter()
        .filter(|h| is_hpa(h) && h.key.namespace == workload.key.namespace)
        .find(|h| {
            let target = |f: &str| {
                h.body
                    .pointer(&format!("/spec/scaleTargetRef/{f}"))
                    .and_then(Value::as_str)
            };
            target("kind") == Some(&workload.key.kind) && target("name") == Some(&workload.key.name)
        })
        .map(|h| {
            h.body
                .pointer("/spec/minReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(1)
        })
}

/// An IntOrString: `(value, is_percent)`.
fn int_or_percent(value: &Value) -> Option<(i64, bool)> {
    match value {
        Value::Number(n) => Some((n.as_i64()?, false)),
        Value::String(s) => match s.strip_suffix('%') {
            Some(p) => Some((p.trim().parse().ok()?, true)),
            None => Some((s.trim().parse().ok()?, false)),
        },
        _ => None,
    }
}

/// Whether a label selector selects these labels; `None` for an operator it does not know.
fn matches(selector: &Value, labels: &Map<String, Value>) -> Option<bool> {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    for (k, v) in selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if label(k) != v.as_str() {
            return Some(false);
        }
    }
    for e in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let have = label(e.get("key")?.as_str()?);
        let listed = || {
            e.get("values")
                .and_then(Value::as_array)
                .is_some_and(|vs| vs.iter().any(|v| v.as_str() == have))
        };
        let ok = match e.get("operator")?.as_str()? {
            "In" => have.is_some() && listed(),
            "NotIn" => have.is_none() || !listed(),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::super::RiskSettings;
    use super::super::tests::{assess_yaml, ids};
    use super::*;

    fn run(base: &str, head: &str) -> Vec<&'static str> {
        ids(&assess_yaml(
            "overlays/staging",
            base,
            head,
            &RiskSettings::default(),
        ))
    }

    fn messages(base: &str, head: &str) -> Vec<String> {
        assess_yaml("overlays/staging", base, head, &RiskSettings::default())
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: SEL}}
  template:
    metadata: {labels: {app: SEL}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
";

    fn deploy(replicas: &str, selector: &str) -> String {
        DEPLOY
            .replace("REPLICAS", replicas)
            .replace("SEL", selector)
    }

    #[test]
    fn quantities_parse_like_kubernetes() {
        let giga = 1_000_000_000i128;
        for (text, nanos) in [
            ("1", giga),
            ("1Gi", (1 << 30) * giga),
            ("1024Mi", (1 << 30) * giga),
            ("1.5Gi", 3 * (1 << 29) * giga),
            ("500M", 500_000_000 * giga),
            ("1e3", 1000 * giga),
            ("1E3", 1000 * giga),
            ("1E", 1_000_000_000_000_000_000 * giga),
            ("2k", 2000 * giga),
            ("100m", 100_000_000),
            ("0.5", 500_000_000),
            (".5", 500_000_000),
            ("1n", 1),
            ("0.1n", 1),
            ("+3", 3 * giga),
            ("-3", -3 * giga),
            ("1e-3", 1_000_000),
        ] {
            assert_eq!(parse_quantity(text), Some(nanos), "{text}");
        }
        for text in [
            "", "Gi", "1.2.3", "1 Gi", "1gi", "1Zi", "1e", "1e+", "abc", "9e99",
        ] {
            assert_eq!(parse_quantity(text), None, "{text}");
        }
        assert!(parse_quantity("1.1G") == parse_quantity("1100M"));
    }

    #[test]
    fn selector_changed_fires_on_a_new_selector_only() {
        assert_eq!(
            run(&deploy("2", "web"), &deploy("2", "web2")),
            ["selector-changed"]
        );
        assert_eq!(
            messages(&deploy("2", "web"), &deploy("2", "web2")),
            [
                "spec.selector changed from app=web to app=web2; the apply fails until the Deployment is deleted and recreated, and its old pods are orphaned"
            ]
        );
        assert!(run(&deploy("2", "web"), &deploy("3", "web")).is_empty());
        // Empty matchLabels is stored as absent.
        let with_empty =
            deploy("2", "web").replace("selector: {", "selector: {matchExpressions: [], ");
        assert!(run(&deploy("2", "web"), &with_empty).is_empty());
    }

    const STS: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: SVC
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: SIZE}}
";

    fn sts(service: &str, size: &str) -> String {
        STS.replace("SVC", service).replace("SIZE", size)
    }

    #[test]
    fn statefulset_field_changed_names_each_field() {
        assert_eq!(
            run(&sts("db", "1Gi"), &sts("db-headless", "2Gi")),
            ["statefulset-field-changed"]
        );
        assert_eq!(
            messages(&sts("db", "1Gi"), &sts("db-headless", "2Gi")),
            [
                "spec.volumeClaimTemplates changed (data) and spec.serviceName changed from db to db-headless; the apply fails until the StatefulSet is deleted and recreated"
            ]
        );
        // Same size spelt differently, an explicit default, and a replica change are no change.
        let same = sts("db", "1024Mi").replace(
            "spec:\n  serviceName",
            "spec:\n  replicas: 3\n  podManagementPolicy: OrderedReady\n  serviceName",
        );
        assert!(run(&sts("db", "1Gi"), &same).is_empty());
        let parallel = sts("db", "1Gi").replace(
            "spec:\n  serviceName",
            "spec:\n  podManagementPolicy: Parallel\n  serviceName",
        );
        assert_eq!(
            messages(&sts("db", "1Gi"), &parallel),
            [
                "spec.podManagementPolicy changed from OrderedReady to Parallel; the apply fails until the StatefulSet is deleted and recreated"
            ]
        );
    }

    fn svc(lines: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: api}}\nspec:\n  ports: [{{port: 80}}]\n{lines}"
        )
    }

    #[test]
    fn service_cluster_ip_changed_fires_when_the_address_must_change() {
        let ip = |v: &str| svc(&format!("  clusterIP: \"{v}\"\n"));
        assert_eq!(
            run(&ip("10.0.0.1"), &ip("10.0.0.2")),
            ["service-cluster-ip-changed"]
        );
        assert_eq!(
            run(&svc(""), &ip("10.0.0.2")),
            ["service-cluster-ip-changed"]
        );
        assert_eq!(run(&svc(""), &ip("None")), ["service-cluster-ip-changed"]);
        assert_eq!(run(&ip("None"), &svc("")), ["service-cluster-ip-changed"]);
        assert_eq!(
            messages(&ip("None"), &svc("")),
            [
                "spec.clusterIP changed from None (headless) to unset (an allocated address); the apply fails until the Service is deleted and recreated, which changes the address its clients use"
            ]
        );
        // The server keeps an allocated address when the field is unset or empty.
        assert!(run(&svc(""), &ip("")).is_empty());
        assert!(run(&ip("10.0.0.1"), &svc("")).is_empty());
        assert!(
            run(
                &ip("None"),
                &format!("{}  selector: {{app: x}}\n", ip("None"))
            )
            .is_empty()
        );
    }

    #[test]
    fn service_external_name_fires_on_a_type_change_to_or_from_it() {
        let alias = svc("  type: ExternalName\n  externalName: db.example.com\n");
        assert_eq!(run(&svc(""), &alias), ["service-external-name"]);
        assert_eq!(
            run(&alias, &svc("  type: NodePort\n")),
            ["service-external-name"]
        );
        assert_eq!(
            messages(&svc("  clusterIP: 10.0.0.1\n"), &alias),
            [
                "spec.type changed from ClusterIP to ExternalName; the Service loses its cluster IP and clients get a DNS alias for db.example.com instead"
            ]
        );
        assert!(run(&svc(""), &svc("  type: NodePort\n")).is_empty());
        assert!(run(&alias, &alias.replace("db.example", "db2.example")).is_empty());
    }

    fn job(args: &str) -> String {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: migrate}}\nspec:\n  backoffLimit: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: m, image: app:1.0, args: [{args}]}}]\n"
        )
    }

    #[test]
    fn job_template_changed_fires_on_the_template_only() {
        assert_eq!(run(&job("up"), &job("up, --all")), ["job-template-changed"]);
        assert_eq!(
            messages(&job("up"), &job("down")),
            [
                "spec.template changed; the apply fails unless the Job is deleted and recreated, which runs it again"
            ]
        );
        assert!(
            run(
                &job("up"),
                &job("up").replace("backoffLimit: 2", "backoffLimit: 4")
            )
            .is_empty()
        );
    }

    fn pvc(class: &str, size: &str) -> String {
        format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: data}}\nspec:\n  accessModes: [ReadWriteOnce]\n{class}  resources: {{requests: {{storage: {size}}}}}\n"
        )
    }

    #[test]
    fn pvc_storage_class_changed_fires_on_any_class_change() {
        let class = |c: &str| format!("  storageClassName: {c}\n");
        assert_eq!(
            run(&pvc(&class("standard"), "1Gi"), &pvc(&class("fast"), "1Gi")),
            ["pvc-storage-class-changed"]
        );
        assert_eq!(
            messages(&pvc("", "1Gi"), &pvc(&class("fast"), "1Gi")),
            [
                "spec.storageClassName changed from unset to fast; the apply fails, and recreating the claim loses its volume"
            ]
        );
        assert!(run(&pvc(&class("fast"), "1Gi"), &pvc(&class("fast"), "2Gi")).is_empty());
    }

    #[test]
    fn pvc_shrunk_fires_on_a_smaller_request_by_value() {
        assert_eq!(run(&pvc("", "10Gi"), &pvc("", "5Gi")), ["pvc-shrunk"]);
        assert_eq!(run(&pvc("", "1Gi"), &pvc("", "1G")), ["pvc-shrunk"]);
        assert_eq!(
            messages(&pvc("", "10Gi"), &pvc("", "5Gi")),
            [
                "spec.resources.requests.storage shrank from 10Gi to 5Gi; the API server rejects a smaller request, and the volume keeps its size"
            ]
        );
        assert!(run(&pvc("", "5Gi"), &pvc("", "10Gi")).is_empty());
        assert!(run(&pvc("", "1Gi"), &pvc("", "1024Mi")).is_empty());
        assert!(run(&pvc("", "10Gi"), &pvc("", "lots")).is_empty());
    }

    fn cm(name: &str, immutable: &str, value: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n{immutable}data: {{mode: {value}, level: info}}\n"
        )
    }

    #[test]
    fn immutable_data_changed_fires_in_place_only() {
        let frozen = "immutable: true\n";
        assert_eq!(
            run(&cm("settings", frozen, "a"), &cm("settings", frozen, "b")),
            ["immutable-data-changed"]
        );
        assert_eq!(
            messages(
                &cm("settings", frozen, "a"),
                &cm("settings", "immutable: false\n", "a")
            ),
            [
                "immutable changed from true to false on a ConfigMap marked immutable; the apply fails until it is deleted and recreated, or generated under a new name"
            ]
        );
        // A generator's new hash suffix is a new object, and an unfrozen map may change.
        assert!(
            run(
                &cm("settings-5t8k2m9b4f", frozen, "a"),
                &cm("settings-6d7g9h2b5c", frozen, "b")
            )
            .is_empty()
        );
        assert!(run(&cm("settings", "", "a"), &cm("settings", "", "b")).is_empty());
        let labelled = cm("settings", frozen, "a")
            .replace("{name: settings}", "{name: settings, labels: {x: y}}");
        assert!(run(&cm("settings", frozen, "a"), &labelled).is_empty());
    }

    #[test]
    fn immutable_secret_names_keys_never_values() {
        let secret = |data: &str| {
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\nimmutable: true\n{data}"
            )
        };
        // stringData is stored into data: the same bytes either way is no change.
        assert!(
            run(
                &secret("data: {password: aHVudGVyMg==}\n"),
                &secret("stringData: {password: hunter2}\n")
            )
            .is_empty()
        );
        let found = messages(
            &secret("data: {password: aHVudGVyMg==}\n"),
            &secret("stringData: {password: hunter3}\n"),
        );
        assert_eq!(
            found,
            [
                "key password changed on a Secret marked immutable; the apply fails until it is deleted and recreated, or generated under a new name"
            ]
        );
        assert!(!found[0].contains("hunter"));
    }

    #[test]
    fn stateful_removed_says_what_is_lost() {
        let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
        let keep = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\n";
        assert_eq!(run(&format!("{ns}---\n{keep}"), keep), ["stateful-removed"]);
        assert_eq!(
            messages(&pvc("", "1Gi"), ""),
            [
                "PersistentVolumeClaim removed; pruning it deletes the claim and, unless its volume's reclaim policy is Retain, the volume's data"
            ]
        );
        let retained = sts("db", "1Gi").replace(
            "spec:\n  serviceName",
            "spec:\n  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete}\n  serviceName",
        );
        assert_eq!(
            messages(&retained, ""),
            [
                "StatefulSet removed; pruning it deletes its pods and, with persistentVolumeClaimRetentionPolicy whenDeleted Delete, their PersistentVolumeClaims and data"
            ]
        );
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n";
        assert_eq!(
            messages(crd, ""),
            [
                "CustomResourceDefinition removed; pruning it deletes every Widget in the cluster (widgets.example.com), since each custom resource goes with its definition"
            ]
        );
        assert!(run(&format!("{keep}---\n{}", deploy("1", "web")), keep).is_empty());
        assert!(run(ns, &ns.replace("shop}", "shop, labels: {a: b}}")).is_empty());
    }

    #[test]
    fn production_removed_fires_per_object_in_production_only() {
        let two = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n";
        let prod = |base: &str, head: &str| {
            ids(&assess_yaml(
                "overlays/production",
                base,
                head,
                &RiskSettings::default(),
            ))
        };
        assert_eq!(prod(two, ""), ["production-removed", "production-removed"]);
        assert_eq!(
            prod(two, two.split("---").next().unwrap()),
            ["production-removed"]
        );
        assert!(prod(two, two).is_empty());
        // A generator's rename is no removal.
        assert!(prod(&cm("s-5t8k2m9b4f", "", "a"), &cm("s-6d7g9h2b5c", "", "b")).is_empty());
        assert!(run(two, "").is_empty());
    }

    #[test]
    fn replicas_zero_fires_when_a_serving_workload_stops() {
        assert_eq!(
            run(&deploy("3", "web"), &deploy("0", "web")),
            ["replicas-zero"]
        );
        let unset = deploy("1", "web").replace("  replicas: 1\n", "");
        assert_eq!(
            messages(&unset, &deploy("0", "web")),
            [
                "spec.replicas changed from unset (1) to 0; the Deployment runs no pods and stops serving"
            ]
        );
        assert!(
            run(
                &deploy("0", "web"),
                &deploy("0", "web").replace("nginx:1.27", "nginx:1.28")
            )
            .is_empty()
        );
        assert!(run("", &deploy("0", "web")).is_empty());
        assert!(run(&deploy("3", "web"), &deploy("1", "web")).is_empty());
    }

    fn hpa(min: &str, max: u32) -> String {
        format!(
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n{min}  maxReplicas: {max}\n"
        )
    }

    #[test]
    fn hpa_min_above_max_fires_when_newly_inverted() {
        assert_eq!(
            run(&hpa("  minReplicas: 2\n", 5), &hpa("  minReplicas: 6\n", 5)),
            ["hpa-min-above-max"]
        );
        assert_eq!(
            messages("", &hpa("", 0)),
            [
                "spec.minReplicas 1 is above spec.maxReplicas 0; the API server rejects the autoscaler"
            ]
        );
        assert!(run(&hpa("  minReplicas: 2\n", 5), &hpa("  minReplicas: 5\n", 5)).is_empty());
        assert!(run(&hpa("  minReplicas: 6\n", 5), &hpa("  minReplicas: 7\n", 5)).is_empty());
    }

    fn pdb(api: &str, spec: &str) -> String {
        format!(
            "apiVersion: {api}\nkind: PodDisruptionBudget\nmetadata: {{name: web}}\nspec:\n{spec}"
        )
    }

    #[test]
    fn pdb_blocks_eviction_fires_when_no_pod_may_go() {
        let min = |n: &str| {
            pdb(
                "policy/v1",
                &format!("  minAvailable: {n}\n  selector: {{matchLabels: {{app: web}}}}\n"),
            )
        };
        let with =
            |replicas: &str, budget: &str| format!("{}---\n{budget}", deploy(replicas, "web"));
        assert_eq!(
            run(&with("2", &min("1")), &with("2", &min("2"))),
            ["pdb-blocks-eviction"]
        );
        assert_eq!(
            messages(&with("2", &min("1")), &with("2", &min("2"))),
            [
                "spec.minAvailable 2 allows no disruption of the 2 pods of Deployment web; evictions are refused, so node drains and upgrades hang"
            ]
        );
        // Fewer replicas under an unchanged budget block it too.
        assert_eq!(
            run(&with("2", &min("1")), &with("1", &min("1"))),
            ["pdb-blocks-eviction"]
        );
        assert_eq!(
            run("", &with("3", &min("\"100%\""))),
            ["pdb-blocks-eviction"]
        );
        assert_eq!(
            run("", &with("1", &min("\"50%\""))),
            ["pdb-blocks-eviction"]
        );
        let zero = pdb(
            "policy/v1",
            "  maxUnavailable: \"0%\"\n  selector: {matchLabels: {app: web}}\n",
        );
        assert_eq!(run("", &zero), ["pdb-blocks-eviction"]);
        // Quiet: room to evict, already blocking, an autoscaler's floor leaves room, nothing selected.
        assert!(run(&with("3", &min("1")), &with("3", &min("2"))).is_empty());
        assert!(
            run(
                &with("1", &min("1")),
                &with("1", &min("1")).replace("nginx:1.27", "nginx:1.28")
            )
            .is_empty()
        );
        let unset = deploy("1", "web").replace("  replicas: 1\n", "");
        assert!(
            run(
                "",
                &format!(
                    "{unset}---\n{}---\n{}",
                    hpa("  minReplicas: 3\n", 6),
                    min("2")
                )
            )
            .is_empty()
        );
        assert!(run("", &min("5")).is_empty());
        assert!(
            run(
                "",
                &pdb(
                    "policy/v1",
                    "  maxUnavailable: 1\n  selector: {matchLabels: {app: web}}\n"
                )
            )
            .is_empty()
        );
    }

    #[test]
    fn pdb_selects_all_fires_on_a_new_empty_v1_selector() {
        let budget =
            |api: &str, selector: &str| pdb(api, &format!("  maxUnavailable: 1\n{selector}"));
        assert_eq!(
            run("", &budget("policy/v1", "  selector: {}\n")),
            ["pdb-selects-all"]
        );
        assert_eq!(
            run(
                &budget("policy/v1", "  selector: {matchLabels: {app: web}}\n"),
                &budget("policy/v1", "  selector: {matchLabels: {}}\n")
            ),
            ["pdb-selects-all"]
        );
        assert_eq!(
            messages("", &budget("policy/v1", "  selector: {}\n")),
            [
                "spec.selector is empty, which in policy/v1 covers every pod in its namespace, not just one workload's"
            ]
        );
        // An absent selector selects nothing, and so did an empty one in policy/v1beta1.
        assert!(run("", &budget("policy/v1", "")).is_empty());
        assert!(run("", &budget("policy/v1beta1", "  selector: {}\n")).is_empty());
        assert!(
            run(
                &budget("policy/v1", "  selector: {}\n"),
                &budget("policy/v1", "  selector: {}\n").replace("1\n", "2\n")
            )
            .is_empty()
        );
    }
}
