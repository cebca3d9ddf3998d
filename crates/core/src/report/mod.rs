//! Renders a `Report` for people (coloured text, GitHub markdown) and for machines (JSON).
//! Renderers are pure: they never call git, kustomize or the network.

pub mod budget;
pub mod json;
pub mod markdown;
pub(crate) mod text;

use crate::model::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// Renders the report; `color` only affects text.
pub fn render(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render(report, color),
        Format::Markdown => markdown::render(report),
        Format::Json => json::render(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::diff_resources;
    use crate::manifest::parse_resources;
    use crate::model::{OverlayDiff, OverlayStatus, Revision, Stats};

    const BASE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  template:
    spec:
      containers:
      - image: ghcr.io/acme/web:1.4.2
        name: web
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secrets-b97dgct9f4
  namespace: shop
data:
  DB_PASSWORD: aHVudGVyMg==
";

    const HEAD: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  template:
    spec:
      containers:
      - image: ghcr.io/acme/web:1.5.0
        name: web
        securityContext:
          privileged: true
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secrets-gkfc4tm852
  namespace: shop
data:
  DB_PASSWORD: czNjcjN0
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
  namespace: shop
data:
  README: |
    Run ```kubectl get pods``` first.
";

    fn sample() -> Report {
        let resources = diff_resources(
            parse_resources(BASE).unwrap(),
            parse_resources(HEAD).unwrap(),
        );
        Report {
            base: Revision {
                name: "master".into(),
                sha: "1a356d0f00000000000000000000000000000000".into(),
            },
            head: Revision {
                name: "develop".into(),
                sha: "8426902b00000000000000000000000000000000".into(),
            },
            merge_base: false,
            overlays: vec![
                OverlayDiff {
                    error: Some(
                        "at develop (8426902): Error: accumulating resources from 'missing.yaml'"
                            .into(),
                    ),
                    ..OverlayDiff::new("overlays/broken", OverlayStatus::Error)
                },
                OverlayDiff {
                    resources,
                    images: crate::images::changes(
                        &parse_resources(BASE).unwrap(),
                        &parse_resources(HEAD).unwrap(),
                    ),
                    overrides: vec!["overlays/production/.argocd-source-web-prod.yaml".into()],
                    risks: crate::risk::tests::assess_yaml(
                        "overlays/production",
                        BASE,
                        HEAD,
                        &Default::default(),
                    ),
                    ..OverlayDiff::new("overlays/production", OverlayStatus::Changed)
                },
                OverlayDiff::new("overlays/staging", OverlayStatus::Unchanged),
            ],
            applications: None,
            filters: crate::model::Filters {
                ignored_fields: vec![
                    "* /metadata/annotations/argocd.argoproj.io~1tracking-id".into(),
                ],
                ignored_risks: vec!["image-latest".into()],
            },
            stats: Stats {
                roots: 4,
                overlays: 3,
                affected: 2,
                builds: 4,
                seconds: 1.25,
                risk_seconds: 0.0,
                peak_rss_kb: Some(10_000),
                cache: None,
            },
        }
    }

    #[test]
    fn markdown_report() {
        expect_test::expect_file!["snapshots/report.md"].assert_eq(&render(
            &sample(),
            Format::Markdown,
            false,
        ));
    }

    #[test]
    fn text_report() {
        expect_test::expect_file!["snapshots/report.txt"].assert_eq(&render(
            &sample(),
            Format::Text,
            false,
        ));
    }

    #[test]
    fn coloured_text_marks_additions_and_removals() {
        let text = render(&sample(), Format::Text, true);
        assert!(text.contains("\u{1b}[32m+  replicas: 3\u{1b}[0m"), "{text}");
        assert!(text.contains("\u{1b}[31m-  replicas: 2\u{1b}[0m"), "{text}");
        assert!(!render(&sample(), Format::Text, false).contains('\u{1b}'));
    }

    #[test]
    fn json_report_has_the_documented_shape() {
        let value: serde_json::Value =
            serde_json::from_str(&render(&sample(), Format::Json, false)).unwrap();
        assert_eq!(value["base"], "1a356d0f00000000000000000000000000000000");
        assert_eq!(value["overlays"][0]["status"], "error");
        assert!(
            value["overlays"][0]["error"]
                .as_str()
                .unwrap()
                .contains("missing.yaml")
        );
        let production = &value["overlays"][1];
        assert_eq!(
            production["counts"],
            serde_json::json!({"added": 1, "modified": 2, "removed": 0})
        );
        let resources = production["resources"].as_array().unwrap();
        let secret = resources.iter().find(|r| r["kind"] == "Secret").unwrap();
        assert_eq!(secret["kind"], "Secret");
        assert_eq!(secret["previous_name"], "web-secrets-b97dgct9f4");
        assert_eq!(value["stats"]["builds"], 4);
        assert_eq!(value["risks"][0]["overlay"], "overlays/production");
        assert_eq!(value["risks"][0]["rule"], "privileged");
        assert_eq!(value["risks"][0]["severity"], "high");
        assert_eq!(production["risks"][0]["name"], "web");
        assert_eq!(value["filters"]["ignored_risks"][0], "image-latest");
    }

    #[test]
    fn no_report_format_leaks_a_secret_value() {
        for format in [Format::Text, Format::Markdown, Format::Json] {
            let out = render(&sample(), format, false);
            for secret in ["aHVudGVyMg==", "hunter2", "czNjcjN0", "s3cr3t"] {
                assert!(!out.contains(secret), "{format:?} leaks {secret}");
            }
        }
    }
}
