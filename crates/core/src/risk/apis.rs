//! API versions the target cluster deprecates or no longer serves: `api-removed` and
//! `api-deprecated`. Both need `kubernetes-version`; without it they stay quiet, since the
//! same manifest is fine on one cluster and broken on another.

use std::fmt;
use std::str::FromStr;

use super::{Context, Finding, Rule, Sides};

/// A Kubernetes minor version, as `kubernetes-version` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    pub major: u32,
    pub minor: u32,
}

impl KubernetesVersion {
    const fn v1(minor: u32) -> KubernetesVersion {
        KubernetesVersion { major: 1, minor }
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a Kubernetes version: expected MAJOR.MINOR such as 1.29, optionally with a leading v and a patch (v1.29.3, 1.29.3-eks-1234)"
)]
pub struct KubernetesVersionError(String);

impl FromStr for KubernetesVersion {
    type Err = KubernetesVersionError;

    /// Accepts what clusters report (`v1.29.3-eks-1234`, `v1.29.3+k3s1`) as well as `1.29`: only
    /// the minor version decides which APIs are served, so the patch and any build suffix are
    /// read past.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || KubernetesVersionError(text.to_string());
        let number = |part: &str| -> Option<u32> {
            let plain = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            plain.then(|| part.parse().ok()).flatten()
        };
        let rest = text.trim();
        let rest = rest.strip_prefix('v').unwrap_or(rest);
        let mut parts = rest.splitn(3, '.');
        let major = parts.next().and_then(number).ok_or_else(error)?;
        let minor = parts.next().and_then(number).ok_or_else(error)?;
        if let Some(patch) = parts.next() {
            let (patch, suffix) = match patch.find(['-', '+']) {
                Some(at) => patch.split_at(at),
                None => (patch, ""),
            };
            if number(patch).is_none() || suffix.len() == 1 {
                return Err(error());
            }
        }
        Ok(KubernetesVersion { major, minor })
    }
}

/// One API version the Kubernetes project deprecated and stopped serving, after the deprecated
/// API migration guide (https://kubernetes.io/docs/reference/using-api/deprecation-guide/).
/// The guide names the release that stops serving each version and the release its replacement
/// became available in; it does not always say when the old version was deprecated, so those
/// releases follow the release notes as tools such as Fairwinds' pluto record them (mostly the
/// release the replacement arrived in).
struct Retired {
    api_version: &'static str,
    /// The kinds affected; empty for every kind of the group version.
    kinds: &'static [&'static str],
    deprecated: KubernetesVersion,
    removed: KubernetesVersion,
    /// What to use instead, as an apiVersion (or a short instruction when there is none).
    replacement: &'static str,
}

const fn retired(
    api_version: &'static str,
    kinds: &'static [&'static str],
    deprecated: u32,
    removed: u32,
    replacement: &'static str,
) -> Retired {
    Retired {
        api_version,
        kinds,
        deprecated: KubernetesVersion::v1(deprecated),
        removed: KubernetesVersion::v1(removed),
        replacement,
    }
}

/// Read after "use" in a message.
const NO_PSP: &str =
    "Pod Security Admission or a policy webhook (PodSecurityPolicy has no successor API)";
const FLOWCONTROL_V1: &str = "flowcontrol.apiserver.k8s.io/v1 (v1beta3 before 1.29)";

// One row per retirement, as the guide lists them by release: (apiVersion, kinds, deprecated
// in 1.x, removed in 1.x, replacement).
#[rustfmt::skip]
const RETIRED: &[Retired] = &[
    // Removed in 1.16.
    retired("extensions/v1beta1", &["Deployment", "DaemonSet", "ReplicaSet"], 9, 16, "apps/v1"),
    retired("extensions/v1beta1", &["NetworkPolicy"], 9, 16, "networking.k8s.io/v1"),
    retired("extensions/v1beta1", &["PodSecurityPolicy"], 10, 16, NO_PSP),
    retired("apps/v1beta1", &[], 9, 16, "apps/v1"),
    retired("apps/v1beta2", &[], 9, 16, "apps/v1"),
    // Removed in 1.22.
    retired("extensions/v1beta1", &["Ingress"], 14, 22, "networking.k8s.io/v1"),
    retired("networking.k8s.io/v1beta1", &["Ingress", "IngressClass"], 19, 22, "networking.k8s.io/v1"),
    retired("apiextensions.k8s.io/v1beta1", &[], 16, 22, "apiextensions.k8s.io/v1"),
    retired("admissionregistration.k8s.io/v1beta1", &[], 16, 22, "admissionregistration.k8s.io/v1"),
    retired("rbac.authorization.k8s.io/v1beta1", &[], 17, 22, "rbac.authorization.k8s.io/v1"),
    retired("scheduling.k8s.io/v1beta1", &[], 14, 22, "scheduling.k8s.io/v1"),
    retired("storage.k8s.io/v1beta1", &["CSINode"], 17, 22, "storage.k8s.io/v1"),
    retired("storage.k8s.io/v1beta1", &["CSIDriver"], 19, 22, "storage.k8s.io/v1"),
    retired("storage.k8s.io/v1beta1", &["StorageClass"], 6, 22, "storage.k8s.io/v1"),
    retired("storage.k8s.io/v1beta1", &["VolumeAttachment"], 13, 22, "storage.k8s.io/v1"),
    retired("coordination.k8s.io/v1beta1", &[], 14, 22, "coordination.k8s.io/v1"),
    retired("certificates.k8s.io/v1beta1", &[], 19, 22, "certificates.k8s.io/v1"),
    retired("apiregistration.k8s.io/v1beta1", &[], 10, 22, "apiregistration.k8s.io/v1"),
    // Removed in 1.25.
    retired("batch/v1beta1", &["CronJob"], 21, 25, "batch/v1"),
    retired("discovery.k8s.io/v1beta1", &[], 21, 25, "discovery.k8s.io/v1"),
    retired("events.k8s.io/v1beta1", &[], 19, 25, "events.k8s.io/v1"),
    retired("autoscaling/v2beta1", &[], 22, 25, "autoscaling/v2"),
    retired("policy/v1beta1", &["PodDisruptionBudget"], 21, 25, "policy/v1"),
    retired("policy/v1beta1", &["PodSecurityPolicy"], 21, 25, NO_PSP),
    retired("node.k8s.io/v1beta1", &["RuntimeClass"], 22, 25, "node.k8s.io/v1"),
    // Removed in 1.26 and later.
    retired("autoscaling/v2beta2", &[], 23, 26, "autoscaling/v2"),
    retired("flowcontrol.apiserver.k8s.io/v1beta1", &[], 23, 26, FLOWCONTROL_V1),
    retired("storage.k8s.io/v1beta1", &["CSIStorageCapacity"], 24, 27, "storage.k8s.io/v1"),
    retired("flowcontrol.apiserver.k8s.io/v1beta2", &[], 26, 29, FLOWCONTROL_V1),
    retired("flowcontrol.apiserver.k8s.io/v1beta3", &[], 29, 32, "flowcontrol.apiserver.k8s.io/v1"),
];

fn lookup(api_version: &str, kind: &str) -> Option<&'static Retired> {
    RETIRED
        .iter()
        .find(|r| r.api_version == api_version && (r.kinds.is_empty() || r.kinds.contains(&kind)))
}

pub(super) fn check(sides: &Sides, context: &Context, out: &mut Vec<Finding>) {
    let Some(target) = context.kubernetes else {
        return;
    };
    for pair in sides.changed() {
        let Some(head) = pair.head else { continue };
        let Some(retired) = lookup(&head.api_version, &head.key.kind) else {
            continue;
        };
        let (api, kind) = (&head.api_version, &head.key.kind);
        let (removed, replacement) = (retired.removed, retired.replacement);
        if retired.removed <= target {
            out.push(Finding::new(
                Rule::ApiRemoved,
                head,
                format!(
                    "{api} {kind} is no longer served since Kubernetes {removed} (target {target}); use {replacement}"
                ),
            ));
        } else if retired.deprecated <= target {
            out.push(Finding::new(
                Rule::ApiDeprecated,
                head,
                format!(
                    "{api} {kind} is deprecated since Kubernetes {} and removed in {removed} (target {target}); use {replacement}",
                    retired.deprecated
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::RiskSettings;
    use super::super::tests::{assess_yaml, ids};
    use super::*;

    fn at(version: &str) -> RiskSettings {
        RiskSettings {
            kubernetes: Some(version.parse().unwrap()),
            ..RiskSettings::default()
        }
    }

    const PDB_BETA: &str = "
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
";

    const FLOW_SCHEMA: &str = "
apiVersion: flowcontrol.apiserver.k8s.io/v1beta3
kind: FlowSchema
metadata: {name: batch}
spec: {priorityLevelConfiguration: {name: workload-low}, matchingPrecedence: 1000}
";

    #[test]
    fn versions_parse_from_what_clusters_report() {
        for text in [
            "1.29",
            "v1.29",
            "1.29.3",
            "v1.29.3-eks-1234",
            "v1.29.3+k3s1",
            " 1.29 ",
        ] {
            let version: KubernetesVersion = text.parse().unwrap();
            assert_eq!(version, KubernetesVersion::v1(29), "{text}");
            assert_eq!(version.to_string(), "1.29");
        }
        assert_eq!(
            "1.9".parse::<KubernetesVersion>().unwrap(),
            KubernetesVersion::v1(9)
        );
        for text in [
            "", "1", "v", "1.", "1.x", "1.29.", "1.29.x", "1.29-eks", "1.29.3-", "01.29", "1.029",
            "V1.29", "1.29.3.4", "latest", "-1.29", "1.+29",
        ] {
            let error = text.parse::<KubernetesVersion>().unwrap_err();
            assert!(
                error.to_string().contains(&format!("`{text}`")),
                "{text}: {error}"
            );
        }
        assert!(KubernetesVersion::v1(9) < KubernetesVersion::v1(29));
    }

    #[test]
    fn every_kind_the_task_names_is_in_the_table() {
        for (api, kind, removed) in [
            ("extensions/v1beta1", "Deployment", 16),
            ("extensions/v1beta1", "PodSecurityPolicy", 16),
            ("extensions/v1beta1", "Ingress", 22),
            ("apps/v1beta2", "StatefulSet", 16),
            ("storage.k8s.io/v1beta1", "StorageClass", 22),
            ("storage.k8s.io/v1beta1", "CSIStorageCapacity", 27),
            ("batch/v1beta1", "CronJob", 25),
            ("autoscaling/v2beta2", "HorizontalPodAutoscaler", 26),
            ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", 29),
        ] {
            let retired = lookup(api, kind).unwrap_or_else(|| panic!("{api} {kind}"));
            assert_eq!(
                retired.removed,
                KubernetesVersion::v1(removed),
                "{api} {kind}"
            );
            assert!(retired.deprecated < retired.removed, "{api} {kind}");
        }
        assert!(lookup("extensions/v1beta1", "Ingresses").is_none());
        assert!(lookup("batch/v1", "CronJob").is_none());
        for retired in RETIRED {
            assert!(
                retired.deprecated < retired.removed,
                "{}",
                retired.api_version
            );
        }
    }

    #[test]
    fn a_new_object_on_a_removed_api_fires() {
        let findings = assess_yaml("overlays/dev", "", PDB_BETA, &at("1.29"));
        assert_eq!(ids(&findings), ["api-removed"]);
        assert_eq!(
            findings[0].message,
            "policy/v1beta1 PodDisruptionBudget is no longer served since Kubernetes 1.25 (target 1.29); use policy/v1"
        );
    }

    #[test]
    fn a_changed_object_on_a_deprecated_api_fires() {
        let head = FLOW_SCHEMA.replace("1000", "2000");
        let findings = assess_yaml("overlays/dev", FLOW_SCHEMA, &head, &at("v1.29.3-eks-1234"));
        assert_eq!(ids(&findings), ["api-deprecated"]);
        assert_eq!(
            findings[0].message,
            "flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema is deprecated since Kubernetes 1.29 and removed in 1.32 (target 1.29); use flowcontrol.apiserver.k8s.io/v1"
        );
        // One minor earlier the version is still current; at 1.32 it is gone.
        assert!(assess_yaml("o", FLOW_SCHEMA, &head, &at("1.28")).is_empty());
        assert_eq!(
            ids(&assess_yaml("o", FLOW_SCHEMA, &head, &at("1.32"))),
            ["api-removed"]
        );
    }

    #[test]
    fn a_kind_without_a_successor_says_what_replaces_it() {
        let psp = "
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata: {name: restricted}
spec: {privileged: false}
";
        let findings = assess_yaml("o", "", psp, &at("1.25"));
        assert_eq!(
            findings[0].message,
            "policy/v1beta1 PodSecurityPolicy is no longer served since Kubernetes 1.25 (target 1.25); use Pod Security Admission or a policy webhook (PodSecurityPolicy has no successor API)"
        );
    }

    #[test]
    fn moving_to_a_removed_version_fires() {
        let base = PDB_BETA.replace("policy/v1beta1", "policy/v1");
        assert_eq!(
            ids(&assess_yaml("o", &base, PDB_BETA, &at("1.29"))),
            ["api-removed"]
        );
    }

    #[test]
    fn unchanged_objects_current_versions_and_no_target_stay_quiet() {
        // Untouched by the change: not this PR's doing.
        assert!(assess_yaml("o", PDB_BETA, PDB_BETA, &at("1.29")).is_empty());
        // Moved off the removed version.
        let head = PDB_BETA.replace("policy/v1beta1", "policy/v1");
        assert!(assess_yaml("o", PDB_BETA, &head, &at("1.29")).is_empty());
        // Removed from the overlay.
        assert!(assess_yaml("o", PDB_BETA, "", &at("1.29")).is_empty());
        // No target version given.
        assert!(assess_yaml("o", "", PDB_BETA, &RiskSettings::default()).is_empty());
        // A kind the group version still serves.
        let event = "
apiVersion: storage.k8s.io/v1beta1
kind: Unlisted
metadata: {name: x}
";
        assert!(assess_yaml("o", "", event, &at("1.29")).is_empty());
    }
}
