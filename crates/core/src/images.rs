//! Which container images an overlay's change deploys, read from the rendered objects (so image
//! transformers, patches and Argo CD overrides are all accounted for), condensed to one line per
//! image: `ghcr.io/acme/api: 1.4.2 → 1.5.0`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::argocd::source::split_image;
use crate::manifest::Resource;

/// One image that runs somewhere else after the change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct ImageChange {
    /// The repository, without tag or digest (the head's, unless the image was removed).
    pub image: String,
    /// Full reference at the base; `None` where no container ran it.
    pub old: Option<String>,
    pub new: Option<String>,
    /// Where it runs, e.g. `Deployment api (container app)`.
    pub containers: Vec<String>,
}

impl fmt::Display for ImageChange {
    /// `repo: old → new` with only tags/digests on the right when the repository stays;
    /// the full references when it moves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = |reference: &str| {
            let (_, tag, digest) = split_image(reference);
            match (tag, digest) {
                ("", "") => "latest".to_string(),
                (tag, "") => tag.to_string(),
                ("", digest) => short_digest(digest),
                (tag, digest) => format!("{tag}@{}", short_digest(digest)),
            }
        };
        let name = |reference: &str| split_image(reference).0.to_string();
        match (&self.old, &self.new) {
            (Some(old), Some(new)) if name(old) == name(new) => {
                write!(f, "{}: {} → {}", self.image, version(old), version(new))
            }
            (Some(old), Some(new)) => write!(f, "{old} → {new}"),
            (None, Some(new)) => write!(f, "{}: (none) → {}", self.image, version(new)),
            (Some(old), None) => write!(f, "{}: {} → (none)", self.image, version(old)),
            (None, None) => write!(f, "{}", self.image),
        }
    }
}

/// `sha256:` and the first 12 hex digits: enough to tell digests apart in a summary line.
fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        // Rendered manifests may hold anything here: cut at a character, not a byte.
        Some((algorithm, hex)) if hex.chars().count() > 12 => {
            format!("{algorithm}:{}", hex.chars().take(12).collect::<String>())
        }
        _ => digest.to_string(),
    }
}

/// Every container (and init container) of every object, by where it sits.
fn containers(resources: &[Resource]) -> BTreeMap<(String, String), String> {
    let mut found = BTreeMap::new();
    for resource in resources.iter().filter(|r| !r.is_secret()) {
        let owner = format!("{} {}", resource.key.kind, resource.key.name);
        let owner = match &resource.key.namespace {
            Some(ns) => format!("{owner} ({ns})"),
            None => owner,
        };
        walk(&resource.body, "", &mut |path, name, image| {
            let what = if path.ends_with("initContainers") {
                "init container"
            } else {
                "container"
            };
            found.insert(
                (format!("{owner}{path}"), name.to_string()),
                (format!("{owner}, {what} {name}"), image.to_string()),
            );
        });
    }
    found
        .into_iter()
        .map(|(key, (label, image))| ((key.0, label), image))
        .collect()
}

/// Finds `containers`/`initContainers` lists anywhere in an object, so workloads of any kind
/// (Deployments, CronJobs, Argo Rollouts, Knative Services…) are covered without a list.
fn walk(value: &Value, path: &str, found: &mut impl FnMut(&str, &str, &str)) {
    let Value::Object(map) = value else { return };
    for (key, child) in map {
        if key == "metadata" || key == "data" || key == "stringData" {
            continue;
        }
        let here = format!("{path}.{key}");
        match child {
            Value::Array(items) if key == "containers" || key == "initContainers" => {
                for item in items {
                    let name = item.get("name").and_then(Value::as_str);
                    let image = item.get("image").and_then(Value::as_str);
                    if let (Some(name), Some(image)) = (name, image) {
                        found(&here, name, image);
                    }
                }
            }
            Value::Object(_) => walk(child, &here, found),
            _ => {}
        }
    }
}

/// The images that change between one overlay's rendering at base and at head. Containers are
/// paired by object and container name; identical changes in several places make one line.
pub(crate) fn changes(base: &[Resource], head: &[Resource]) -> Vec<ImageChange> {
    let old = containers(base);
    let new = containers(head);
    let mut grouped: BTreeMap<(Option<String>, Option<String>), Vec<String>> = BTreeMap::new();
    let keys: std::collections::BTreeSet<&(String, String)> =
        old.keys().chain(new.keys()).collect();
    for key in keys {
        let (before, after) = (old.get(key), new.get(key));
        if before == after {
            continue;
        }
        grouped
            .entry((before.cloned(), after.cloned()))
            .or_default()
            .push(key.1.clone());
    }
    let mut list: Vec<ImageChange> = grouped
        .into_iter()
        .map(|((old, new), containers)| {
            let image = new
                .as_deref()
                .or(old.as_deref())
                .map(|r| split_image(r).0.to_string())
                .unwrap_or_default();
            ImageChange {
                image,
                old,
                new,
                containers,
            }
        })
        .collect();
    list.sort();
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_resources;

    fn deployment(name: &str, app: &str, init: Option<&str>) -> String {
        let init = init
            .map(|i| format!("      initContainers:\n      - name: migrate\n        image: {i}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: prod\n\
             spec:\n  template:\n    spec:\n{init}      containers:\n      - name: app\n        image: {app}\n      - name: sidecar\n        image: envoy:1.30\n---\n"
        )
    }

    fn parse(text: &str) -> Vec<Resource> {
        parse_resources(text).unwrap()
    }

    #[test]
    fn one_line_per_image_change_with_where_it_runs() {
        let base = parse(
            &(deployment(
                "api",
                "ghcr.io/acme/api:1.4.2",
                Some("ghcr.io/acme/api:1.4.2"),
            ) + &deployment("worker", "ghcr.io/acme/api:1.4.2", None)),
        );
        let head = parse(
            &(deployment(
                "api",
                "ghcr.io/acme/api:1.5.0",
                Some("ghcr.io/acme/api:1.5.0"),
            ) + &deployment("worker", "ghcr.io/acme/api:1.5.0", None)),
        );
        let changes = changes(&base, &head);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].to_string(), "ghcr.io/acme/api: 1.4.2 → 1.5.0");
        assert_eq!(
            changes[0].containers,
            [
                "Deployment api (prod), container app",
                "Deployment api (prod), init container migrate",
                "Deployment worker (prod), container app",
            ]
        );
    }

    #[test]
    fn cronjobs_new_workloads_and_moved_repositories() {
        let cron = |image: &str| {
            format!(
                "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: job\n            image: {image}\n"
            )
        };
        let base = parse(&cron(
            "registry.local:5000/jobs/report@sha256:0123456789abcdef0123",
        ));
        let head = parse(
            &(cron("ghcr.io/acme/report:2")
                + "---\n"
                + &deployment("api", "ghcr.io/acme/api:1", None)),
        );
        let lines: Vec<String> = changes(&base, &head)
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "envoy: (none) → 1.30",
                "ghcr.io/acme/api: (none) → 1",
                "registry.local:5000/jobs/report@sha256:0123456789abcdef0123 → ghcr.io/acme/report:2",
            ]
        );
    }

    #[test]
    fn a_malformed_digest_does_not_panic() {
        let change = ImageChange {
            image: "app".into(),
            old: Some("app@sha256:aääääääääääääää".into()),
            new: Some("app:1".into()),
            containers: Vec::new(),
        };
        assert_eq!(change.to_string(), "app: sha256:aäääääääääää → 1");
    }

    #[test]
    fn nothing_when_images_stay_and_digests_are_shortened() {
        let same = parse(&deployment("api", "nginx:1", None));
        assert!(changes(&same, &same).is_empty());
        let old = parse(&deployment(
            "api",
            "nginx@sha256:aaaaaaaaaaaaaaaaaaaaaaaa",
            None,
        ));
        let new = parse(&deployment(
            "api",
            "nginx:1.27@sha256:bbbbbbbbbbbbbbbbbbbbbbbb",
            None,
        ));
        assert_eq!(
            changes(&old, &new)[0].to_string(),
            "nginx: sha256:aaaaaaaaaaaa → 1.27@sha256:bbbbbbbbbbbb"
        );
    }
}
