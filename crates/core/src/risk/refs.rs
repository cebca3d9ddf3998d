//! Reference rules: a workload naming a ConfigMap, Secret, ServiceAccount or
//! PersistentVolumeClaim the overlay does not render, or reading a Secret key that is gone. Pods
//! that do so never start, and nothing in the diff of the workload itself shows it.
//!
//! Each side resolves against its own render, so kustomize's hash-suffixed names (rewritten in
//! the workload at each side) need no special case. A reference broken at both sides is not this
//! change's doing and stays quiet.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Context, Finding, Rule, Sides, containers, pod_spec};
use crate::manifest::{Resource, ResourceKey};

/// Marks references to objects created outside the overlay: `Kind/name`, comma-separated.
const EXTERNAL_ANNOTATION: &str = "gitops-promote.dev/external";

/// Where the annotation may sit: the workload's metadata or its pod template's.
const ANNOTATION_PLACES: &[&str] = &[
    "/metadata/annotations",
    "/spec/template/metadata/annotations",
    "/spec/jobTemplate/spec/template/metadata/annotations",
    "/template/metadata/annotations",
];

/// One place a pod spec names an object (and, for Secrets read by key, the key).
struct Reference {
    kind: &'static str,
    name: String,
    key: Option<String>,
    optional: bool,
    place: String,
}

pub(super) fn check(sides: &Sides, _context: &Context, out: &mut Vec<Finding>) {
    let base_render = Render::new(sides.base);
    let head_render = Render::new(sides.head);
    // Secrets at head → their base selves, hash-suffix renames included.
    let earlier_secret: BTreeMap<&ResourceKey, &Resource> = sides
        .pairs()
        .filter_map(|p| Some((p.head?, p.base?)))
        .filter(|(h, _)| is_core(h, "Secret"))
        .map(|(h, b)| (&h.key, b))
        .collect();
    for pair in sides.pairs() {
        let Some(head) = pair.head else { continue };
        let Some(head_pod) = pod_spec(head) else {
            continue;
        };
        let head_refs = references(head, head_pod);
        let base_refs = pair
            .base
            .and_then(|b| Some(references(b, pod_spec(b)?)))
            .unwrap_or_default();
        unresolved(
            head,
            &head_refs,
            &base_refs,
            &head_render,
            &base_render,
            out,
        );
        keys_removed(
            head,
            &head_refs,
            &base_refs,
            &head_render,
            &earlier_secret,
            out,
        );
    }
}

fn unresolved(
    workload: &Resource,
    head_refs: &[Reference],
    base_refs: &[Reference],
    head_render: &Render,
    base_render: &Render,
    out: &mut Vec<Finding>,
) {
    let namespace = workload.key.namespace.as_deref();
    let external = externals(workload);
    let broken_at_base: BTreeSet<(&str, &str)> = by_object(base_refs)
        .into_iter()
        .filter(|((kind, name), required)| {
            !required.is_empty() && !base_render.has(kind, namespace, name)
        })
        .map(|(object, _)| object)
        .collect();
    for ((kind, name), required) in by_object(head_refs) {
        if required.is_empty()
            || head_render.has(kind, namespace, name)
            || external.contains(&(kind.to_ascii_lowercase(), name.to_string()))
            || broken_at_base.contains(&(kind, name))
        {
            continue;
        }
        out.push(Finding::new(
            Rule::UnresolvedReference,
            workload,
            format!(
                "{kind} {name} ({}) is not rendered by this overlay; if it is created elsewhere, list {kind}/{name} in the {EXTERNAL_ANNOTATION} annotation",
                places(&required)
            ),
        ));
    }
}

fn keys_removed(
    workload: &Resource,
    head_refs: &[Reference],
    base_refs: &[Reference],
    head_render: &Render,
    earlier_secret: &BTreeMap<&ResourceKey, &Resource>,
    out: &mut Vec<Finding>,
) {
    let namespace = workload.key.namespace.as_deref();
    let mut missing: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for r in head_refs.iter().filter(|r| !r.optional) {
        let Some(key) = r.key.as_deref() else {
            continue;
        };
        let Some(secret) = head_render.get("Secret", namespace, &r.name) else {
            continue;
        };
        if secret_keys(secret).contains(key) {
            continue;
        }
        // Only a key this workload read successfully at base is a removal by this change.
        let Some(earlier) = earlier_secret.get(&secret.key) else {
            continue;
        };
        let read_at_base = base_refs.iter().any(|b| {
            b.kind == "Secret" && b.name == earlier.key.name && b.key.as_deref() == Some(key)
        });
        if read_at_base && secret_keys(earlier).contains(key) {
            missing
                .entry((r.name.as_str(), key))
                .or_default()
                .push(r.place.clone());
        }
    }
    for ((name, key), used) in missing {
        out.push(Finding::new(
            Rule::SecretKeyRemoved,
            workload,
            format!(
                "Secret {name} no longer has key {key}, which {} reads",
                places(&used)
            ),
        ));
    }
}

/// Every object a workload names, with the places that require it (not `optional: true`);
/// none if every use is optional.
fn by_object(refs: &[Reference]) -> BTreeMap<(&str, &str), Vec<String>> {
    let mut objects: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for r in refs {
        let required = objects.entry((r.kind, r.name.as_str())).or_default();
        if !r.optional && !required.contains(&r.place) {
            required.push(r.place.clone());
        }
    }
    objects
}

fn places(places: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = places[..places.len().min(SHOWN)].join(", ");
    if places.len() > SHOWN {
        text.push_str(&format!(" and {} more", places.len() - SHOWN));
    }
    text
}

/// `(lowercased kind, name)` of the objects the workload declares as created elsewhere.
fn externals(workload: &Resource) -> BTreeSet<(String, String)> {
    ANNOTATION_PLACES
        .iter()
        .filter_map(|p| workload.body.pointer(p)?.get(EXTERNAL_ANNOTATION)?.as_str())
        .flat_map(|list| list.split(','))
        .filter_map(|entry| {
            let (kind, name) = entry.trim().split_once('/')?;
            Some((kind.trim().to_ascii_lowercase(), name.trim().to_string()))
        })
        .collect()
}

fn is_core(resource: &Resource, kind: &str) -> bool {
    resource.key.group.is_empty() && resource.key.kind == kind
}

fn secret_keys(secret: &Resource) -> BTreeSet<&str> {
    ["data", "stringData"]
        .into_iter()
        .filter_map(|field| secret.body.get(field)?.as_object())
        .flat_map(|map| map.keys().map(String::as_str))
        .collect()
}

/// What one render provides to references.
struct Render<'a> {
    objects: BTreeMap<(&'a str, Option<&'a str>, &'a str), &'a Resource>,
    /// `(namespace, "<template>-<statefulset>-")`: the claims a StatefulSet creates, one per
    /// ordinal, which other workloads (a backup Job) may name.
    claim_prefixes: Vec<(Option<&'a str>, String)>,
}

impl<'a> Render<'a> {
    fn new(resources: &'a [Resource]) -> Render<'a> {
        let objects = resources
            .iter()
            .filter(|r| r.key.group.is_empty())
            .map(|r| {
                (
                    (
                        r.key.kind.as_str(),
                        r.key.namespace.as_deref(),
                        r.key.name.as_str(),
                    ),
                    r,
                )
            })
            .collect();
        let claim_prefixes = resources
            .iter()
            .filter(|r| r.key.group == "apps" && r.key.kind == "StatefulSet")
            .flat_map(|sts| {
                claim_templates(sts).into_iter().map(|template| {
                    (
                        sts.key.namespace.as_deref(),
                        format!("{template}-{}-", sts.key.name),
                    )
                })
            })
            .collect();
        Render {
            objects,
            claim_prefixes,
        }
    }

    fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&'a Resource> {
        self.objects.get(&(kind, namespace, name)).copied()
    }

    fn has(&self, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        self.get(kind, namespace, name).is_some()
            || (kind == "PersistentVolumeClaim"
                && self.claim_prefixes.iter().any(|(ns, prefix)| {
                    *ns == namespace
                        && name.strip_prefix(prefix.as_str()).is_some_and(|ordinal| {
                            !ordinal.is_empty() && ordinal.chars().all(|c| c.is_ascii_digit())
                        })
                }))
    }
}

fn claim_templates(statefulset: &Resource) -> Vec<&str> {
    statefulset
        .body
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.pointer("/metadata/name")?.as_str())
        .collect()
}

fn text<'v>(value: &'v Value, field: &str) -> Option<&'v str> {
    value
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn array<'v>(value: &'v Value, field: &str) -> impl Iterator<Item = &'v Value> {
    value
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn optional(value: &Value) -> bool {
    value.get("optional").and_then(Value::as_bool) == Some(true)
}

/// Every object (and Secret key) a workload's pod spec names.
fn references(workload: &Resource, pod: &Value) -> Vec<Reference> {
    let mut refs = Vec::new();
    let mut add =
        |kind: &'static str, name: &str, key: Option<&str>, optional: bool, place: String| {
            refs.push(Reference {
                kind,
                name: name.to_string(),
                key: key.map(str::to_string),
                optional,
                place,
            })
        };
    for (container, spec) in containers(pod) {
        for source in array(spec, "envFrom") {
            for (field, kind) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
                if let Some(r) = source.get(field)
                    && let Some(name) = text(r, "name")
                {
                    add(
                        kind,
                        name,
                        None,
                        optional(r),
                        format!("envFrom of container {container}"),
                    );
                }
            }
        }
        for var in array(spec, "env") {
            let env = text(var, "name").unwrap_or("");
            for (field, kind) in [("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")] {
                let Some(r) = var.pointer(&format!("/valueFrom/{field}")) else {
                    continue;
                };
                let Some(name) = text(r, "name") else {
                    continue;
                };
                // Only Secret keys are followed: a missing Secret key is what keeps pods from
                // starting with no other sign in the diff (secret-key-removed).
                let key = if kind == "Secret" {
                    text(r, "key")
                } else {
                    None
                };
                add(
                    kind,
                    name,
                    key,
                    optional(r),
                    format!("env {env} of container {container}"),
                );
            }
        }
    }
    let templates = if workload.key.kind == "StatefulSet" {
        claim_templates(workload)
    } else {
        Vec::new()
    };
    for volume in array(pod, "volumes") {
        let place = format!("volume {}", text(volume, "name").unwrap_or(""));
        if let Some(v) = volume.get("configMap")
            && let Some(name) = text(v, "name")
        {
            add("ConfigMap", name, None, optional(v), place.clone());
        }
        if let Some(v) = volume.get("secret")
            && let Some(name) = text(v, "secretName")
        {
            add("Secret", name, None, optional(v), place.clone());
            for key in array(v, "items").filter_map(|i| text(i, "key")) {
                add("Secret", name, Some(key), optional(v), place.clone());
            }
        }
        if let Some(v) = volume.get("persistentVolumeClaim")
            && let Some(name) = text(v, "claimName")
            && !templates.contains(&name)
        {
            add("PersistentVolumeClaim", name, None, false, place.clone());
        }
        for source in volume
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(v) = source.get("configMap")
                && let Some(name) = text(v, "name")
            {
                add("ConfigMap", name, None, optional(v), place.clone());
            }
            if let Some(v) = source.get("secret")
                && let Some(name) = text(v, "name")
            {
                add("Secret", name, None, optional(v), place.clone());
                for key in array(v, "items").filter_map(|i| text(i, "key")) {
                    add("Secret", name, Some(key), optional(v), place.clone());
                }
            }
        }
    }
    // `serviceAccount` is the deprecated spelling; the API server prefers `serviceAccountName`.
    let account = text(pod, "serviceAccountName").or_else(|| text(pod, "serviceAccount"));
    if let Some(account) = account.filter(|a| *a != "default") {
        add(
            "ServiceAccount",
            account,
            None,
            false,
            "serviceAccountName".to_string(),
        );
    }
    for secret in array(pod, "imagePullSecrets") {
        if let Some(name) = text(secret, "name") {
            add("Secret", name, None, false, "imagePullSecrets".to_string());
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::super::RiskSettings;
    use super::super::tests::{assess_yaml, ids};
    use super::*;

    const NONE: [&str; 0] = [];

    /// A Deployment in `shop` whose pod spec is `pod`, with `annotations` on its metadata.
    fn deployment(annotations: &str, pod: &str) -> String {
        let pod: String = pod.lines().map(|l| format!("      {l}\n")).collect();
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  annotations: {{{annotations}}}\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n{pod}"
        )
    }

    fn object(kind: &str, name: &str, extra: &str) -> String {
        format!(
            "apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: shop\n{extra}"
        )
    }

    fn run(base: &[String], head: &[String]) -> Vec<Finding> {
        assess_yaml(
            "overlays/staging",
            &base.join("---\n"),
            &head.join("---\n"),
            &RiskSettings::default(),
        )
    }

    fn messages(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.message.as_str()).collect()
    }

    const ENV_FROM: &str = "containers:
- name: web
  image: nginx:1.27
  envFrom:
  - configMapRef: {name: settings}
";

    #[test]
    fn unresolved_reference_fires_when_the_object_leaves_the_render() {
        let web = deployment("", ENV_FROM);
        let findings = run(&[web.clone(), object("ConfigMap", "settings", "")], &[web]);
        assert_eq!(ids(&findings), ["unresolved-reference"]);
        assert_eq!(
            messages(&findings),
            [
                "ConfigMap settings (envFrom of container web) is not rendered by this overlay; if it is created elsewhere, list ConfigMap/settings in the gitops-promote.dev/external annotation"
            ]
        );
    }

    #[test]
    fn unresolved_reference_fires_for_a_new_reference_or_workload() {
        let plain = deployment("", "containers:\n- {name: web, image: nginx:1.27}\n");
        let pod = "serviceAccountName: ci
imagePullSecrets: [{name: registry}]
containers:
- name: web
  image: nginx:1.27
volumes:
- {name: data, persistentVolumeClaim: {claimName: data}}
- name: all
  projected:
    sources:
    - secret: {name: tls}
";
        let findings = run(&[plain], &[deployment("", pod)]);
        assert_eq!(ids(&findings), ["unresolved-reference"; 4]);
        let findings = run(&[], &[deployment("", pod)]);
        assert_eq!(ids(&findings), ["unresolved-reference"; 4]);
        let mut messages = messages(&findings);
        messages.sort();
        assert!(messages[0].starts_with("PersistentVolumeClaim data (volume data)"));
        assert!(messages[1].starts_with("Secret registry (imagePullSecrets)"));
        assert!(messages[2].starts_with("Secret tls (volume all)"));
        assert!(messages[3].starts_with("ServiceAccount ci (serviceAccountName)"));
    }

    #[test]
    fn unresolved_reference_resolved_optional_default_or_external_is_quiet() {
        let settings = object("ConfigMap", "settings", "");
        let web = deployment("", ENV_FROM);
        // Resolved at both sides, the workload changed.
        let changed = deployment("", &ENV_FROM.replace("1.27", "1.28"));
        assert_eq!(
            ids(&run(&[web.clone(), settings.clone()], &[changed, settings])),
            NONE
        );
        // Optional, the default ServiceAccount, or declared external (on the pod template too).
        let pod = "serviceAccountName: default
containers:
- name: web
  image: nginx:1.27
  envFrom:
  - configMapRef: {name: settings, optional: true}
  env:
  - name: PASSWORD
    valueFrom:
      secretKeyRef: {name: db, key: password}
";
        let external = deployment(
            "gitops-promote.dev/external: ' secret/db , ServiceAccount/ci'",
            pod,
        );
        assert_eq!(ids(&run(&[], &[external])), NONE);
        let on_template = deployment("", pod).replace(
            "      labels: {app: web}\n",
            "      labels: {app: web}\n      annotations: {gitops-promote.dev/external: Secret/db}\n",
        );
        assert_eq!(ids(&run(&[], &[on_template])), NONE);
        // Broken at both sides: not this change's doing.
        let changed = deployment("", &ENV_FROM.replace("1.27", "1.28"));
        assert_eq!(ids(&run(&[web], &[changed])), NONE);
    }

    #[test]
    fn unresolved_reference_namespaces_must_match() {
        let web = deployment("", ENV_FROM);
        let elsewhere =
            object("ConfigMap", "settings", "").replace("namespace: shop", "namespace: ops");
        assert_eq!(
            ids(&run(&[], &[web.clone(), elsewhere])),
            ["unresolved-reference"]
        );
        // Neither namespaced: the same namespace.
        let unnamespaced = |s: String| s.replace("  namespace: shop\n", "");
        let findings = run(
            &[],
            &[
                unnamespaced(web),
                unnamespaced(object("ConfigMap", "settings", "")),
            ],
        );
        assert_eq!(ids(&findings), NONE);
    }

    #[test]
    fn unresolved_reference_follows_generated_names_at_each_side() {
        let with = |name: &str| deployment("", &ENV_FROM.replace("settings", name));
        // A regenerated ConfigMap: the workload follows the new hash.
        let base = [
            with("settings-2k7fh8m9dc"),
            object("ConfigMap", "settings-2k7fh8m9dc", ""),
        ];
        let head = [
            with("settings-b6t5g8f7h4"),
            object("ConfigMap", "settings-b6t5g8f7h4", ""),
        ];
        assert_eq!(ids(&run(&base, &head)), NONE);
        // The generator removed: kustomize no longer rewrites the name.
        assert_eq!(
            ids(&run(&base, &[with("settings")])),
            ["unresolved-reference"]
        );
    }

    #[test]
    fn statefulset_claims_resolve_by_template() {
        let sts = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"
        .to_string();
        let backup = deployment(
            "",
            "containers:\n- {name: web, image: nginx:1.27}\nvolumes:\n- {name: d, persistentVolumeClaim: {claimName: data-db-0}}\n",
        );
        assert_eq!(ids(&run(&[], &[sts.clone(), backup.clone()])), NONE);
        assert_eq!(ids(&run(&[], &[backup])), ["unresolved-reference"]);
    }

    fn secret(name: &str, keys: &[&str]) -> String {
        let data: Vec<String> = keys.iter().map(|k| format!("{k}: c2VjcmV0")).collect();
        object("Secret", name, &format!("data: {{{}}}\n", data.join(", ")))
    }

    const READS_KEY: &str = "containers:
- name: web
  image: nginx:1.27
  env:
  - name: DB_PASSWORD
    valueFrom:
      secretKeyRef: {name: db, key: password}
";

    #[test]
    fn secret_key_removed_fires_when_a_read_key_goes() {
        let web = deployment("", READS_KEY);
        let findings = run(
            &[web.clone(), secret("db", &["user", "password"])],
            &[web.clone(), secret("db", &["user"])],
        );
        assert_eq!(ids(&findings), ["secret-key-removed"]);
        assert_eq!(
            messages(&findings),
            ["Secret db no longer has key password, which env DB_PASSWORD of container web reads"]
        );
        // A regenerated Secret pairs by its name stem; a volume's items read keys too.
        let pod = |name: &str| {
            format!(
                "containers:\n- {{name: web, image: nginx:1.27}}\nvolumes:\n- name: creds\n  secret:\n    secretName: {name}\n    items: [{{key: password, path: pw}}]\n"
            )
        };
        let findings = run(
            &[
                deployment("", &pod("db-2k7fh8m9dc")),
                secret("db-2k7fh8m9dc", &["password"]),
            ],
            &[
                deployment("", &pod("db-b6t5g8f7h4")),
                secret("db-b6t5g8f7h4", &["user"]),
            ],
        );
        assert_eq!(ids(&findings), ["secret-key-removed"]);
        assert_eq!(
            messages(&findings),
            ["Secret db-b6t5g8f7h4 no longer has key password, which volume creds reads"]
        );
    }

    #[test]
    fn secret_key_kept_optional_or_missing_at_base_is_quiet() {
        let web = deployment("", READS_KEY);
        // Another key removed, the read one moved from data to stringData.
        let head = object("Secret", "db", "stringData: {password: x}\n");
        assert_eq!(
            ids(&run(
                &[web.clone(), secret("db", &["user", "password"])],
                &[web.clone(), head]
            )),
            NONE
        );
        // Optional.
        let optional = deployment(
            "",
            &READS_KEY.replace("key: password", "key: password, optional: true"),
        );
        assert_eq!(
            ids(&run(
                &[optional.clone(), secret("db", &["password"])],
                &[optional, secret("db", &["user"])]
            )),
            NONE
        );
        // Already missing at base.
        assert_eq!(
            ids(&run(
                &[web.clone(), secret("db", &["user"])],
                &[web, secret("db", &["user"])]
            )),
            NONE
        );
        // ConfigMap keys are not this rule's.
        let config = deployment("", &READS_KEY.replace("secretKeyRef", "configMapKeyRef"));
        assert_eq!(
            ids(&run(
                &[
                    config.clone(),
                    object("ConfigMap", "db", "data: {password: x}\n")
                ],
                &[config, object("ConfigMap", "db", "data: {user: x}\n")]
            )),
            NONE
        );
    }
}
