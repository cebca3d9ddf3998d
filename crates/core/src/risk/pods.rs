//! Pod-level rules: what a workload's pod spec newly risks (privileges, host access, floating
//! images) or lost (probes, resources, `runAsNonRoot`). Containers pair by name, init and
//! ephemeral ones included; a container or workload new at head counts as new, so it fires the
//! "newly risky" rules, while "removed" rules need the container at both sides.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Context, Finding, Rule, Sides, containers, pod_spec};

/// One container at head, with its earlier self and both pod specs (for pod-level defaults).
struct Container<'a> {
    name: &'a str,
    base: Option<&'a Value>,
    head: &'a Value,
    base_pod: Option<&'a Value>,
    head_pod: &'a Value,
}

type ContainerRule = fn(&Container) -> Option<String>;

/// Each rule with what follows from it, which ends every finding's message: the line a
/// reviewer reads must say why it matters, not only what changed.
const CONTAINER_RULES: &[(Rule, ContainerRule, &str)] = &[
    (
        Rule::ProbeRemoved,
        probe_removed,
        "broken pods may get traffic or never be restarted",
    ),
    (
        Rule::ResourcesRemoved,
        resources_removed,
        "it can starve its neighbours and is evicted first under pressure",
    ),
    (
        Rule::ImageLatest,
        image_latest,
        "what runs changes with every pull and cannot be rolled back",
    ),
    (
        Rule::ImageDigestToTag,
        image_digest_to_tag,
        "the tag can be moved to other content under it",
    ),
    (Rule::Privileged, privileged, "it has the node's full power"),
    (
        Rule::CapabilitiesAdded,
        capabilities_added,
        "it may do more on the node than before",
    ),
    (
        Rule::RunAsNonRootDropped,
        run_as_non_root_dropped,
        "it may now run as root",
    ),
];

type PodRule = fn(Option<&Value>, &Value) -> Vec<String>;

const POD_RULES: &[(Rule, PodRule, &str)] = &[
    (
        Rule::HostNamespace,
        host_namespace,
        "the pod sees and reaches what the node does",
    ),
    (
        Rule::HostPath,
        host_path,
        "the pod reads or writes the node's files",
    ),
];

pub(super) fn check(sides: &Sides, _context: &Context, out: &mut Vec<Finding>) {
    for pair in sides.changed() {
        let Some(head) = pair.head else { continue };
        let Some(head_pod) = pod_spec(head) else {
            continue;
        };
        let base_pod = pair.base.and_then(pod_spec);
        for (rule, check, why) in POD_RULES {
            for message in check(base_pod, head_pod) {
                out.push(Finding::new(*rule, head, format!("{message}; {why}")));
            }
        }
        let base_containers: BTreeMap<&str, &Value> =
            base_pod.into_iter().flat_map(containers).collect();
        for (name, container) in containers(head_pod) {
            let container = Container {
                name,
                base: base_containers.get(name).copied(),
                head: container,
                base_pod,
                head_pod,
            };
            for (rule, check, why) in CONTAINER_RULES {
                if let Some(message) = check(&container) {
                    out.push(Finding::new(*rule, head, format!("{message}; {why}")));
                }
            }
        }
    }
}

/// Whether a field is set to something: Kubernetes reads `null` and `{}` as absent.
fn present(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Object(map)) => !map.is_empty(),
        Some(_) => true,
    }
}

fn is_true(value: Option<&Value>) -> bool {
    value.and_then(Value::as_bool) == Some(true)
}

/// `a`, `a and b`, `a, b and c`.
fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
    }
}

fn probe_removed(c: &Container) -> Option<String> {
    let base = c.base?;
    let lost: Vec<&str> = ["livenessProbe", "readinessProbe", "startupProbe"]
        .into_iter()
        .filter(|probe| present(base.get(*probe)) && !present(c.head.get(*probe)))
        .collect();
    (!lost.is_empty()).then(|| format!("container {} lost its {}", c.name, and_list(&lost)))
}

/// Only a whole half (`requests` or `limits`) going away counts: a changed or dropped value
/// inside a half that stays is a tuning decision, not a removal.
fn resources_removed(c: &Container) -> Option<String> {
    let base = c.base?;
    let lost: Vec<String> = ["requests", "limits"]
        .into_iter()
        .filter_map(|half| {
            let was = base.pointer(&format!("/resources/{half}"));
            let is = c.head.pointer(&format!("/resources/{half}"));
            (present(was) && !present(is)).then(|| {
                let values: Vec<String> = was
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k} {}", scalar(v)))
                    .collect();
                format!("resources.{half} (was {})", values.join(", "))
            })
        })
        .collect();
    (!lost.is_empty()).then(|| format!("container {} lost {}", c.name, and_list(&lost)))
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An image reference split into its tag and digest. A `:` before the last `/` belongs to the
/// registry host's port (`registry:5000/app` has no tag).
struct ImageRef<'a> {
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    fn parse(image: &'a str) -> ImageRef<'a> {
        let (rest, digest) = match image.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (image, None),
        };
        let last = rest.rsplit('/').next().unwrap_or(rest);
        ImageRef {
            tag: last.split_once(':').map(|(_, tag)| tag),
            digest,
        }
    }

    /// Whether each pull may get something else: `latest` or no tag, and no digest (a digest
    /// pins the image whatever the tag says).
    fn floats(&self) -> bool {
        self.digest.is_none() && matches!(self.tag, None | Some("latest"))
    }
}

fn image(container: &Value) -> Option<&str> {
    container
        .get("image")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
}

fn image_latest(c: &Container) -> Option<String> {
    let head = image(c.head)?;
    if !ImageRef::parse(head).floats() {
        return None;
    }
    let implicit = if ImageRef::parse(head).tag.is_none() {
        ", which pulls latest"
    } else {
        ""
    };
    match c.base.and_then(image) {
        Some(base) if ImageRef::parse(base).floats() => None,
        Some(base) => Some(format!(
            "container {} image changed from {base} to {head}{implicit}",
            c.name
        )),
        None => Some(format!("container {} runs {head}{implicit}", c.name)),
    }
}

fn image_digest_to_tag(c: &Container) -> Option<String> {
    let base = c.base.and_then(image)?;
    let head = image(c.head)?;
    (ImageRef::parse(base).digest.is_some() && ImageRef::parse(head).digest.is_none()).then(|| {
        format!(
            "container {} image changed from {base} (pinned by digest) to {head}",
            c.name
        )
    })
}

fn privileged(c: &Container) -> Option<String> {
    let pointer = "/securityContext/privileged";
    let was = c.base.is_some_and(|b| is_true(b.pointer(pointer)));
    (is_true(c.head.pointer(pointer)) && !was).then(|| {
        format!(
            "container {} now sets securityContext.privileged: true",
            c.name
        )
    })
}

/// The runtime adds the `CAP_` prefix when it is missing and compares case-insensitively, so
/// `net_admin` and `CAP_NET_ADMIN` are the same capability.
fn capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_string)
        .unwrap_or(upper)
}

fn capabilities_added(c: &Container) -> Option<String> {
    let added = |container: &Value| -> Vec<String> {
        container
            .pointer("/securityContext/capabilities/add")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let before: BTreeSet<String> = c
        .base
        .map(added)
        .unwrap_or_default()
        .iter()
        .map(|name| capability(name))
        .collect();
    let mut seen = BTreeSet::new();
    let new: Vec<String> = added(c.head)
        .into_iter()
        .filter(|name| !before.contains(&capability(name)) && seen.insert(capability(name)))
        .collect();
    (!new.is_empty()).then(|| format!("container {} adds capabilities {}", c.name, new.join(", ")))
}

/// The container's own `runAsNonRoot` wins over the pod's; `None` when neither sets it.
fn run_as_non_root(container: &Value, pod: &Value) -> (Option<bool>, &'static str) {
    let field = "/securityContext/runAsNonRoot";
    match container.pointer(field).and_then(Value::as_bool) {
        Some(set) => (Some(set), "container"),
        None => (pod.pointer(field).and_then(Value::as_bool), "pod"),
    }
}

fn run_as_non_root_dropped(c: &Container) -> Option<String> {
    let (was, level) = run_as_non_root(c.base?, c.base_pod?);
    let (is, _) = run_as_non_root(c.head, c.head_pod);
    if was != Some(true) || is == Some(true) {
        return None;
    }
    let now = if is == Some(false) { "false" } else { "unset" };
    Some(format!(
        "container {} runAsNonRoot changed from true (set on the {level}) to {now}",
        c.name
    ))
}

fn host_namespace(base: Option<&Value>, head: &Value) -> Vec<String> {
    let shared: Vec<&str> = ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|field| is_true(head.get(*field)) && !base.is_some_and(|b| is_true(b.get(*field))))
        .collect();
    if shared.is_empty() {
        return Vec::new();
    }
    let verb = if shared.len() == 1 { "is" } else { "are" };
    vec![format!("{} {verb} now true", and_list(&shared))]
}

/// `(volume name, node path)` of every hostPath volume: a volume renamed or pointed elsewhere
/// is new access to review.
fn host_paths(pod: &Value) -> Vec<(&str, &str)> {
    pod.get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let path = v.pointer("/hostPath/path")?.as_str()?;
            Some((v.get("name").and_then(Value::as_str).unwrap_or(""), path))
        })
        .collect()
}

fn host_path(base: Option<&Value>, head: &Value) -> Vec<String> {
    let before: BTreeSet<(&str, &str)> = base
        .map(host_paths)
        .unwrap_or_default()
        .into_iter()
        .collect();
    host_paths(head)
        .into_iter()
        .filter(|v| !before.contains(v))
        .map(|(name, path)| format!("volume {name} mounts the node's {path} (hostPath)"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::RiskSettings;
    use super::super::tests::{assess_yaml, ids};
    use super::*;

    /// A Deployment whose pod spec is `pod` (YAML indented as under `spec.template.spec`).
    fn deployment(pod: &str) -> String {
        let pod: String = pod.lines().map(|l| format!("      {l}\n")).collect();
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n{pod}"
        )
    }

    fn findings(base: &str, head: &str) -> Vec<Finding> {
        assess_yaml(
            "overlays/staging",
            &deployment(base),
            &deployment(head),
            &RiskSettings::default(),
        )
    }

    fn found(base: &str, head: &str) -> Vec<&'static str> {
        ids(&findings(base, head))
    }

    fn messages(base: &str, head: &str) -> Vec<String> {
        findings(base, head)
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    const PROBED: &str = "containers:
- name: web
  image: nginx:1.27
  livenessProbe: {httpGet: {path: /healthz, port: 80}}
  readinessProbe: {httpGet: {path: /ready, port: 80}}
  startupProbe: {httpGet: {path: /healthz, port: 80}}
";

    #[test]
    fn probe_removed_names_the_probes_lost() {
        let head = "containers:
- name: web
  image: nginx:1.27
  startupProbe: {httpGet: {path: /healthz, port: 80}}
";
        assert_eq!(found(PROBED, head), ["probe-removed"]);
        assert_eq!(
            messages(PROBED, head),
            [
                "container web lost its livenessProbe and readinessProbe; broken pods may get traffic or never be restarted"
            ]
        );
    }

    #[test]
    fn probe_changed_or_container_renamed_is_quiet() {
        let changed = PROBED.replace("/ready", "/readyz");
        assert_eq!(found(PROBED, &changed), Vec::<&str>::new());
        // A container replaced by another is not the same container losing its probes.
        let renamed = "containers:\n- name: api\n  image: nginx:1.27\n";
        assert_eq!(found(PROBED, renamed), Vec::<&str>::new());
    }

    const RESOURCED: &str = "containers:
- name: web
  image: nginx:1.27
  resources:
    requests: {cpu: 100m, memory: 128Mi}
    limits: {memory: 256Mi}
";

    #[test]
    fn resources_removed_names_the_half_lost() {
        let head = "containers:
- name: web
  image: nginx:1.27
  resources:
    requests: {cpu: 100m, memory: 128Mi}
";
        assert_eq!(found(RESOURCED, head), ["resources-removed"]);
        assert_eq!(
            messages(RESOURCED, head),
            [
                "container web lost resources.limits (was memory 256Mi); it can starve its neighbours and is evicted first under pressure"
            ]
        );
        let none = "containers:\n- name: web\n  image: nginx:1.27\n  resources: {}\n";
        assert_eq!(
            messages(RESOURCED, none),
            [
                "container web lost resources.requests (was cpu 100m, memory 128Mi) and resources.limits (was memory 256Mi); it can starve its neighbours and is evicted first under pressure"
            ]
        );
    }

    #[test]
    fn resources_changed_is_quiet() {
        let head = RESOURCED
            .replace("256Mi", "512Mi")
            .replace("cpu: 100m, ", "");
        assert_eq!(found(RESOURCED, &head), Vec::<&str>::new());
    }

    fn with_image(image: &str) -> String {
        format!("containers:\n- name: web\n  image: {image}\n")
    }

    #[test]
    fn image_latest_fires_for_latest_or_no_tag() {
        assert_eq!(
            messages(&with_image("nginx:1.27"), &with_image("nginx:latest")),
            [
                "container web image changed from nginx:1.27 to nginx:latest; what runs changes with every pull and cannot be rolled back"
            ]
        );
        assert_eq!(
            messages(
                &with_image("nginx:1.27"),
                &with_image("registry:5000/team/app")
            ),
            [
                "container web image changed from nginx:1.27 to registry:5000/team/app, which pulls latest; what runs changes with every pull and cannot be rolled back"
            ]
        );
        // A new container counts as new.
        let two =
            "containers:\n- name: web\n  image: nginx:1.27\n- name: sidecar\n  image: busybox\n";
        assert_eq!(
            messages(&with_image("nginx:1.27"), two),
            [
                "container sidecar runs busybox, which pulls latest; what runs changes with every pull and cannot be rolled back"
            ]
        );
    }

    #[test]
    fn image_latest_already_floating_or_pinned_is_quiet() {
        assert_eq!(
            found(&with_image("nginx"), &with_image("nginx:latest")),
            Vec::<&str>::new()
        );
        assert_eq!(
            found(
                &with_image("nginx:1.27"),
                &with_image("registry:5000/app:1.28")
            ),
            Vec::<&str>::new()
        );
        let pinned = format!("nginx:latest@sha256:{}", "a".repeat(64));
        assert_eq!(
            found(&with_image("nginx:1.27"), &with_image(&pinned)),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn image_digest_to_tag_fires_when_the_digest_goes() {
        let base = format!("nginx@sha256:{}", "a".repeat(64));
        assert_eq!(
            found(&with_image(&base), &with_image("nginx:1.27")),
            ["image-digest-to-tag"]
        );
        // Both rules when the digest gives way to latest.
        assert_eq!(
            found(&with_image(&base), &with_image("nginx:latest")),
            ["image-latest", "image-digest-to-tag"]
        );
    }

    #[test]
    fn image_digest_changed_is_quiet() {
        let base = format!("nginx@sha256:{}", "a".repeat(64));
        let head = format!("nginx:1.27@sha256:{}", "b".repeat(64));
        assert_eq!(
            found(&with_image(&base), &with_image(&head)),
            Vec::<&str>::new()
        );
    }

    fn with_security(context: &str) -> String {
        format!("containers:\n- name: web\n  image: nginx:1.27\n  securityContext: {context}\n")
    }

    #[test]
    fn privileged_fires_when_turned_on_or_new() {
        assert_eq!(
            found(&with_security("{}"), &with_security("{privileged: true}")),
            ["privileged"]
        );
        let new = "containers:\n- name: web\n  image: nginx:1.27\n- name: debug\n  image: busybox:1.36\n  securityContext: {privileged: true}\n";
        assert_eq!(
            messages(&with_security("{}"), new),
            [
                "container debug now sets securityContext.privileged: true; it has the node's full power"
            ]
        );
    }

    #[test]
    fn privileged_unchanged_or_off_is_quiet() {
        let on = with_security("{privileged: true, readOnlyRootFilesystem: true}");
        let still = with_security("{privileged: true}");
        assert_eq!(found(&on, &still), Vec::<&str>::new());
        assert_eq!(
            found(&with_security("{}"), &with_security("{privileged: false}")),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn capabilities_added_names_only_the_new_ones() {
        let base = with_security("{capabilities: {add: [NET_BIND_SERVICE]}}");
        let head = with_security("{capabilities: {add: [NET_BIND_SERVICE, NET_ADMIN, ALL]}}");
        assert_eq!(found(&base, &head), ["capabilities-added"]);
        assert_eq!(
            messages(&base, &head),
            [
                "container web adds capabilities NET_ADMIN, ALL; it may do more on the node than before"
            ]
        );
    }

    #[test]
    fn capabilities_dropped_or_respelled_is_quiet() {
        let base = with_security("{capabilities: {add: [NET_ADMIN, SYS_TIME]}}");
        let head = with_security("{capabilities: {add: [CAP_NET_ADMIN], drop: [ALL]}}");
        assert_eq!(found(&base, &head), Vec::<&str>::new());
    }

    #[test]
    fn run_as_non_root_dropped_follows_the_container_over_the_pod() {
        let base = "securityContext: {runAsNonRoot: true}\ncontainers:\n- name: web\n  image: nginx:1.27\n";
        let head = "containers:\n- name: web\n  image: nginx:1.27\n";
        assert_eq!(found(base, head), ["run-as-non-root-dropped"]);
        assert_eq!(
            messages(base, head),
            [
                "container web runAsNonRoot changed from true (set on the pod) to unset; it may now run as root"
            ]
        );
        let overridden = "securityContext: {runAsNonRoot: true}\ncontainers:\n- name: web\n  image: nginx:1.27\n  securityContext: {runAsNonRoot: false}\n";
        assert_eq!(
            messages(base, overridden),
            [
                "container web runAsNonRoot changed from true (set on the pod) to false; it may now run as root"
            ]
        );
    }

    #[test]
    fn run_as_non_root_moved_between_levels_is_quiet() {
        let base = "securityContext: {runAsNonRoot: true}\ncontainers:\n- name: web\n  image: nginx:1.27\n";
        let head = with_security("{runAsNonRoot: true}");
        assert_eq!(found(base, &head), Vec::<&str>::new());
        // Never true at base: nothing was dropped.
        assert_eq!(
            found(
                &with_security("{runAsNonRoot: false}"),
                &with_security("{}")
            ),
            Vec::<&str>::new()
        );
    }

    const PLAIN: &str = "containers:\n- name: web\n  image: nginx:1.27\n";

    #[test]
    fn host_namespace_names_what_is_shared() {
        let head = format!("hostNetwork: true\nhostPID: true\n{PLAIN}");
        assert_eq!(found(PLAIN, &head), ["host-namespace"]);
        assert_eq!(
            messages(PLAIN, &head),
            ["hostNetwork and hostPID are now true; the pod sees and reaches what the node does"]
        );
    }

    #[test]
    fn host_namespace_unchanged_or_false_is_quiet() {
        let on = format!("hostNetwork: true\n{PLAIN}");
        let still = format!("hostNetwork: true\nhostIPC: false\n{PLAIN}");
        assert_eq!(found(&on, &still), Vec::<&str>::new());
    }

    #[test]
    fn host_path_names_each_new_path() {
        let base = format!("volumes:\n- {{name: logs, hostPath: {{path: /var/log}}}}\n{PLAIN}");
        let head = format!(
            "volumes:\n- {{name: logs, hostPath: {{path: /var/log}}}}\n- {{name: sock, hostPath: {{path: /var/run/docker.sock}}}}\n{PLAIN}"
        );
        assert_eq!(found(&base, &head), ["host-path"]);
        assert_eq!(
            messages(&base, &head),
            [
                "volume sock mounts the node's /var/run/docker.sock (hostPath); the pod reads or writes the node's files"
            ]
        );
    }

    #[test]
    fn host_path_unchanged_or_other_volumes_is_quiet() {
        let base = format!("volumes:\n- {{name: logs, hostPath: {{path: /var/log}}}}\n{PLAIN}");
        let head = format!(
            "volumes:\n- {{name: logs, hostPath: {{path: /var/log, type: Directory}}}}\n- {{name: tmp, emptyDir: {{}}}}\n{PLAIN}"
        );
        assert_eq!(found(&base, &head), Vec::<&str>::new());
    }

    #[test]
    fn a_new_workload_counts_as_new_but_loses_nothing() {
        let head = deployment(
            "hostIPC: true\ncontainers:\n- name: web\n  image: nginx\n  securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN]}}\n",
        );
        let findings = assess_yaml("overlays/staging", "", &head, &RiskSettings::default());
        assert_eq!(
            ids(&findings),
            [
                "privileged",
                "host-namespace",
                "capabilities-added",
                "image-latest"
            ]
        );
    }

    #[test]
    fn init_containers_and_cron_jobs_are_read() {
        let cron = |image: &str| {
            format!(
                "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: nightly}}\nspec:\n  schedule: '0 0 * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers:\n          - {{name: init, image: {image}}}\n          containers:\n          - {{name: job, image: busybox:1.36}}\n"
            )
        };
        let findings = assess_yaml(
            "overlays/staging",
            &cron("busybox:1.36"),
            &cron("busybox:latest"),
            &RiskSettings::default(),
        );
        assert_eq!(ids(&findings), ["image-latest"]);
        assert_eq!(
            findings[0].message,
            "container init image changed from busybox:1.36 to busybox:latest; what runs changes with every pull and cannot be rolled back"
        );
    }

    #[test]
    fn image_references_split_tag_from_registry_port() {
        for (image, tag, digest) in [
            ("nginx", None, None),
            ("nginx:1.27", Some("1.27"), None),
            ("registry:5000/app", None, None),
            ("registry:5000/app:v2", Some("v2"), None),
            ("app@sha256:abc", None, Some("sha256:abc")),
            (
                "ghcr.io/o/app:v1@sha256:abc",
                Some("v1"),
                Some("sha256:abc"),
            ),
        ] {
            let parsed = ImageRef::parse(image);
            assert_eq!((parsed.tag, parsed.digest), (tag, digest), "{image}");
        }
    }
}
