//! Risks: what a reviewer must not miss in a change, found by comparing an overlay's two renders.
//! Each finding names its rule, the resource and why it matters; the report puts them above the
//! diff. Every rule is one [`Rule`] with an id, a severity and a one-line explanation, so the
//! catalogue, `risk-ignore` and README's table cannot drift apart.

mod apis;
mod objects;
mod pods;
mod rbac;
mod refs;

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

pub use apis::KubernetesVersion;

use crate::diff::Pairing;
use crate::manifest::{Resource, ResourceKey};

/// How much a finding matters: `risk-level: high` fails the step on high findings only.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Medium,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
        }
    }
}

macro_rules! rules {
    ($($variant:ident = $id:literal, $severity:ident, $explanation:literal;)*) => {
        /// Every risk rule; the id is what reports, `risk-ignore` and README use.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $($variant,)*
        }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            pub fn id(self) -> &'static str {
                match self {
                    $(Rule::$variant => $id,)*
                }
            }

            pub fn severity(self) -> Severity {
                match self {
                    $(Rule::$variant => Severity::$severity,)*
                }
            }

            /// Why a finding of this rule matters, in one line.
            pub fn explanation(self) -> &'static str {
                match self {
                    $(Rule::$variant => $explanation,)*
                }
            }
        }
    };
}

rules! {
    // Immutable fields: the apply fails, or Argo CD must delete and recreate the object.
    SelectorChanged = "selector-changed", High,
        "A workload's `spec.selector` is immutable: the apply fails until the object is deleted and recreated, and the old pods are orphaned.";
    StatefulSetFieldChanged = "statefulset-field-changed", High,
        "A StatefulSet's `volumeClaimTemplates`, `serviceName` and `podManagementPolicy` are immutable: the apply fails until it is deleted and recreated.";
    ServiceClusterIpChanged = "service-cluster-ip-changed", High,
        "A Service's `spec.clusterIP` is immutable: the apply fails, and recreating the Service changes the address clients use.";
    ServiceExternalName = "service-external-name", High,
        "A Service changing `type` to or from `ExternalName` gains or loses its cluster IP: clients resolve it differently and the apply may need a recreate.";
    JobTemplateChanged = "job-template-changed", High,
        "A Job's `spec.template` is immutable: the apply fails unless the Job is replaced, which runs it again.";
    PvcStorageClassChanged = "pvc-storage-class-changed", High,
        "A PersistentVolumeClaim's `storageClassName` is immutable: the apply fails, and recreating the claim loses its volume.";
    PvcShrunk = "pvc-shrunk", High,
        "A PersistentVolumeClaim's storage request cannot shrink: the apply fails.";
    ImmutableDataChanged = "immutable-data-changed", High,
        "A ConfigMap or Secret marked `immutable: true` cannot be edited: the apply fails until it is deleted and recreated.";
    // Removals of what cannot simply come back.
    StatefulRemoved = "stateful-removed", High,
        "Removing a Namespace, PersistentVolumeClaim, PersistentVolume, CustomResourceDefinition or StatefulSet deletes data or everything that depends on it when Argo CD prunes.";
    ProductionRemoved = "production-removed", High,
        "A resource disappears from a production overlay: Argo CD deletes it from production when it prunes.";
    // Availability.
    ReplicasZero = "replicas-zero", High,
        "A workload scaled to zero replicas stops serving.";
    HpaMinAboveMax = "hpa-min-above-max", High,
        "A HorizontalPodAutoscaler with `minReplicas` above `maxReplicas` is rejected or pins the workload.";
    PdbBlocksEviction = "pdb-blocks-eviction", Medium,
        "A PodDisruptionBudget that allows no disruption blocks every eviction: node drains and cluster upgrades hang.";
    PdbSelectsAll = "pdb-selects-all", Medium,
        "A PodDisruptionBudget with an empty selector covers every pod in its namespace.";
    ProbeRemoved = "probe-removed", Medium,
        "A container lost a liveness, readiness or startup probe: broken pods get traffic or are never restarted.";
    ResourcesRemoved = "resources-removed", Medium,
        "A container lost its resource requests or limits: it can starve its neighbours or be evicted first.";
    ImageLatest = "image-latest", Medium,
        "A container now runs the `latest` tag (or no tag): what runs changes with every pull and cannot be rolled back.";
    ImageDigestToTag = "image-digest-to-tag", Medium,
        "A container's image moved from a pinned digest to a tag, which can be moved under it.";
    // Security.
    RbacWildcard = "rbac-wildcard", High,
        "A Role or ClusterRole gained a `*` in its verbs, resources or API groups: it grants everything, including what is added later.";
    RbacClusterAdmin = "rbac-cluster-admin", High,
        "A binding now grants `cluster-admin`: full control of the cluster.";
    RbacClusterBinding = "rbac-cluster-binding", High,
        "A ClusterRoleBinding now grants a group or service account a role across every namespace.";
    Privileged = "privileged", High,
        "A container now runs `privileged`: it has the node's full power.";
    HostNamespace = "host-namespace", High,
        "A pod now shares the node's network, PID or IPC namespace.";
    HostPath = "host-path", High,
        "A pod now mounts a `hostPath` volume: it reads or writes the node's files.";
    CapabilitiesAdded = "capabilities-added", High,
        "A container gained Linux capabilities.";
    RunAsNonRootDropped = "run-as-non-root-dropped", Medium,
        "`runAsNonRoot: true` was dropped: the container may now run as root.";
    SecretKeyRemoved = "secret-key-removed", High,
        "A Secret lost a key that a workload still reads: its pods fail to start.";
    // References.
    UnresolvedReference = "unresolved-reference", High,
        "A workload names a ConfigMap, Secret, ServiceAccount or PersistentVolumeClaim that the overlay no longer renders: its pods fail to start.";
    // API versions for the cluster's Kubernetes version (`kubernetes-version`).
    ApiRemoved = "api-removed", High,
        "The resource uses an API version the target Kubernetes version no longer serves: the apply fails.";
    ApiDeprecated = "api-deprecated", Medium,
        "The resource uses an API version the target Kubernetes version deprecates: it will fail after an upgrade.";
}

impl Rule {
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl<'de> serde::Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        Rule::ALL
            .iter()
            .copied()
            .find(|r| r.id() == id)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown risk rule {id:?}")))
    }
}

/// One risk in one overlay.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Finding {
    pub rule: Rule,
    pub(crate) key: ResourceKey,
    pub(crate) api_version: String,
    /// What changed and why it matters here, in one sentence (plain text, not markdown).
    pub message: String,
}

impl Finding {
    pub(crate) fn new(rule: Rule, resource: &Resource, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            key: resource.key.clone(),
            api_version: resource.api_version.clone(),
            message: message.into(),
        }
    }

    pub fn severity(&self) -> Severity {
        self.rule.severity()
    }

    /// `Kind namespace/name`, as headings name resources.
    pub fn resource(&self) -> String {
        self.key.to_string()
    }

    pub fn kind(&self) -> &str {
        &self.key.kind
    }

    pub fn namespace(&self) -> Option<&str> {
        self.key.namespace.as_deref()
    }

    pub fn name(&self) -> &str {
        &self.key.name
    }

    pub fn api_version(&self) -> &str {
        &self.api_version
    }
}

/// Which rules run and what they know about the target cluster.
#[derive(Debug, Clone, Default)]
pub struct RiskSettings {
    /// Rules not to report (`risk-ignore`).
    pub ignore: BTreeSet<Rule>,
    /// The cluster's version, for `api-removed` and `api-deprecated`; those rules are quiet
    /// without it.
    pub kubernetes: Option<KubernetesVersion>,
    /// Which overlays deploy to production (`production-removed`).
    pub production: Production,
    /// Skip the assessment altogether (the benchmark's baseline, `risk-ignore: all`).
    pub off: bool,
}

impl RiskSettings {
    /// Reads `risk-ignore`: rule ids, or `all` to skip the assessment. An unknown id is an
    /// error naming the known ones, so a typo does not silently keep a rule on.
    pub fn ignore_ids(&mut self, ids: &[String]) -> Result<(), String> {
        for id in ids {
            if id == "all" {
                self.off = true;
                continue;
            }
            let rule = Rule::from_id(id).ok_or_else(|| {
                let known: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
                format!(
                    "'{id}' is not a risk rule id; the ids are {}, or all",
                    known.join(", ")
                )
            })?;
            self.ignore.insert(rule);
        }
        Ok(())
    }
}

/// Reads `risk-level`: which findings fail the step. `none` (never), `high` or `any`.
pub fn failing_level(value: &str) -> Result<Option<Severity>, String> {
    match value.trim() {
        "none" => Ok(None),
        "high" => Ok(Some(Severity::High)),
        "any" => Ok(Some(Severity::Medium)),
        other => Err(format!("must be none, high or any (got '{other}')")),
    }
}

/// How an overlay is known to deploy to production.
#[derive(Debug, Clone, Default)]
pub struct Production {
    /// Every overlay of this comparison deploys to production: the base is the production
    /// branch (a PR to it, or a promotion PR).
    pub all: bool,
    /// Overlay directories that deploy to production; `None` means the default naming
    /// convention (see [`Production::is_production`]).
    pub paths: Option<globset::GlobSet>,
}

impl Production {
    /// Whether `overlay` deploys to production. Without `paths`, a directory named `prod`,
    /// `production` or `prd`, or one starting or ending with `prod-`/`-prod` (`production`
    /// alike), anywhere in the overlay's path, says so.
    pub fn is_production(&self, overlay: &str) -> bool {
        if self.all {
            return true;
        }
        if let Some(paths) = &self.paths {
            return paths.is_match(overlay);
        }
        overlay.split('/').any(|dir| {
            let dir = dir.to_ascii_lowercase();
            ["prod", "production", "prd"].iter().any(|p| {
                dir == *p
                    || dir.starts_with(&format!("{p}-"))
                    || dir.ends_with(&format!("-{p}"))
                    || dir.starts_with(&format!("{p}_"))
                    || dir.ends_with(&format!("_{p}"))
            })
        })
    }
}

/// What the rules see of one overlay: its two renders and which object is which.
pub(crate) struct Sides<'a> {
    pub(crate) base: &'a [Resource],
    pub(crate) head: &'a [Resource],
    pub(crate) pairs: &'a [Pairing],
}

/// One object at base and head; at least one is present.
#[derive(Clone, Copy)]
pub(crate) struct Pair<'a> {
    pub(crate) base: Option<&'a Resource>,
    pub(crate) head: Option<&'a Resource>,
}

impl<'a> Sides<'a> {
    pub(crate) fn pairs(&self) -> impl Iterator<Item = Pair<'a>> + '_ {
        self.pairs.iter().map(|p| Pair {
            base: p.base.map(|i| &self.base[i]),
            head: p.head.map(|i| &self.head[i]),
        })
    }

    /// Pairs whose object was added, removed or changed.
    pub(crate) fn changed(&self) -> impl Iterator<Item = Pair<'a>> + '_ {
        self.pairs().filter(|p| match (p.base, p.head) {
            (Some(b), Some(h)) => b.body != h.body || b.api_version != h.api_version,
            _ => true,
        })
    }
}

/// What a rule knows about the overlay beyond its renders.
pub(crate) struct Context {
    pub(crate) production: bool,
    pub(crate) kubernetes: Option<KubernetesVersion>,
}

/// Every finding for one overlay, most severe first, then by resource.
pub(crate) fn assess(overlay: &str, sides: &Sides, settings: &RiskSettings) -> Vec<Finding> {
    if settings.off {
        return Vec::new();
    }
    let context = Context {
        production: settings.production.is_production(overlay),
        kubernetes: settings.kubernetes,
    };
    let mut findings = Vec::new();
    objects::check(sides, &context, &mut findings);
    pods::check(sides, &context, &mut findings);
    rbac::check(sides, &context, &mut findings);
    refs::check(sides, &context, &mut findings);
    apis::check(sides, &context, &mut findings);
    findings.retain(|f| !settings.ignore.contains(&f.rule));
    findings.sort_by(|a, b| {
        (a.severity(), &a.key, a.rule, &a.message).cmp(&(b.severity(), &b.key, b.rule, &b.message))
    });
    findings.dedup();
    findings
}

/// The pod spec a workload runs: a Pod's own, a controller's template, a CronJob's job
/// template, an Argo Rollout's template.
pub(crate) fn pod_spec(resource: &Resource) -> Option<&Value> {
    let pointer = match (resource.key.group.as_str(), resource.key.kind.as_str()) {
        ("", "Pod") => "/spec",
        ("", "ReplicationController" | "PodTemplate")
        | ("apps" | "extensions", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job")
        | ("argoproj.io", "Rollout") => "/spec/template/spec",
        ("batch", "CronJob") => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    };
    let pointer = if resource.key.kind == "PodTemplate" {
        "/template/spec"
    } else {
        pointer
    };
    resource.body.pointer(pointer).filter(|v| v.is_object())
}

/// Every container of a pod spec, init and ephemeral containers included, by name.
pub(crate) fn containers(pod_spec: &Value) -> impl Iterator<Item = (&str, &Value)> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .filter_map(move |field| pod_spec.get(field).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| Some((c.get("name")?.as_str()?, c)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::diff::pair;
    use crate::manifest::parse_resources;

    /// Findings for `base` → `head` (multi-document YAML) in an overlay at `overlay`.
    pub(crate) fn assess_yaml(
        overlay: &str,
        base: &str,
        head: &str,
        settings: &RiskSettings,
    ) -> Vec<Finding> {
        let base = parse_resources(base).unwrap();
        let head = parse_resources(head).unwrap();
        let pairs = pair(&base, &head);
        let sides = Sides {
            base: &base,
            head: &head,
            pairs: &pairs,
        };
        assess(overlay, &sides, settings)
    }

    /// The rule ids found, in order.
    pub(crate) fn ids(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.rule.id()).collect()
    }

    #[test]
    fn rule_ids_are_unique_kebab_case_and_explained() {
        let mut seen = BTreeSet::new();
        for rule in Rule::ALL {
            assert!(seen.insert(rule.id()), "{} twice", rule.id());
            assert!(
                rule.id()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                rule.id()
            );
            assert_eq!(Rule::from_id(rule.id()), Some(*rule));
            assert!(rule.explanation().ends_with('.'), "{}", rule.id());
        }
    }

    #[test]
    fn production_overlays_by_name_or_by_setting() {
        let default = Production::default();
        for overlay in [
            "overlays/production",
            "apps/web/overlays/prod",
            "envs/prod-eu/web",
            "clusters/eu-prd",
        ] {
            assert!(default.is_production(overlay), "{overlay}");
        }
        for overlay in [
            "overlays/staging",
            "apps/products/overlays/dev",
            "overlays/preprod",
        ] {
            assert!(!default.is_production(overlay), "{overlay}");
        }
        let all = Production {
            all: true,
            paths: None,
        };
        assert!(all.is_production("overlays/staging"));
        let globs = crate::globs::glob_set(["live/**"], false).unwrap();
        let custom = Production {
            all: false,
            paths: Some(globs),
        };
        assert!(custom.is_production("live/eu"));
        assert!(!custom.is_production("overlays/production"));
    }
}
