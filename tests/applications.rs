//! Reports by Argo CD application, through the real binary and the real kustomize. The
//! repository holds manifests in the shapes of the Argo CD docs' examples: an ApplicationSet with
//! a list generator (one app per environment, each tracking its branch), a git files generator
//! (one app per cluster config, each with its own `namePrefix` on one shared directory), git
//! directories with an exclude, a matrix of git directories × a list, and an app of apps whose
//! kustomization patches the Application it renders.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

const URL: &str = "https://github.com/acme/manifests.git";

/// `develop` holds the applications; a test branches `feature` from it, commits its change there
/// and diffs `develop` against `feature`.
fn repo_with_applications() -> GitRepo {
    let repo = GitRepo::base_and_two_overlays();
    repo.checkout("develop");
    repo.write(
        "argocd/environments.yaml",
        &format!(
            "\
# Argo CD docs, \"List Generator\": one application per element.
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: environments
spec:
  generators:
    - list:
        elements:
          - env: staging
            branch: develop
          - env: production
            branch: master
  template:
    metadata:
      name: 'web-{{{{env}}}}'
    spec:
      project: default
      source:
        repoURL: {URL}
        targetRevision: '{{{{branch}}}}'
        path: 'overlays/{{{{env}}}}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{{{env}}}}'
      syncPolicy:
        automated:
          prune: true
"
        ),
    );
    repo.write(
        "argocd/clusters.yaml",
        &format!(
            "\
# Argo CD docs, \"Git Generator\" (files): one application per cluster config.
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: clusters
spec:
  generators:
    - git:
        repoURL: {URL}
        revision: develop
        files:
          - path: clusters/*/config.json
  template:
    metadata:
      name: 'web-{{{{cluster.name}}}}'
    spec:
      project: default
      source:
        repoURL: {URL}
        targetRevision: develop
        path: overlays/staging
        kustomize:
          namePrefix: '{{{{cluster.name}}}}-'
      destination:
        server: '{{{{cluster.address}}}}'
        namespace: staging
"
        ),
    );
    for (name, address) in [
        ("eu", "https://eu.example.com"),
        ("us", "https://us.example.com"),
    ] {
        repo.write(
            &format!("clusters/{name}/config.json"),
            &format!("{{\"cluster\": {{\"name\": \"{name}\", \"address\": \"{address}\"}}}}\n"),
        );
    }
    repo.write(
        "argocd/services.yaml",
        &format!(
            "\
# Argo CD docs, \"Git Generator\" (directories, with exclude) and \"Matrix Generator\".
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: services
spec:
  goTemplate: true
  generators:
    - matrix:
        generators:
          - git:
              repoURL: {URL}
              revision: develop
              directories:
                - path: services/*
                - path: services/legacy
                  exclude: true
          - list:
              elements:
                - cluster: qa
  template:
    metadata:
      name: '{{{{.path.basename}}}}-{{{{.cluster}}}}'
    spec:
      project: default
      source:
        repoURL: {URL}
        targetRevision: develop
        path: '{{{{.path.path}}}}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{{{.cluster}}}}'
"
        ),
    );
    for service in ["api", "worker", "legacy"] {
        repo.write(
            &format!("services/{service}/kustomization.yaml"),
            "resources:\n- configmap.yaml\n",
        );
        repo.write(
            &format!("services/{service}/configmap.yaml"),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {service}\ndata:\n  LEVEL: info\n"),
        );
    }
    // Argo CD docs, "Cluster Bootstrapping": an app of apps whose kustomization patches the
    // child it renders; what Argo CD creates is the patched child.
    repo.write(
        "apps/root/kustomization.yaml",
        "\
resources:
- guestbook.yaml
patches:
- target:
    kind: Application
    name: guestbook
  patch: |-
    - op: replace
      path: /spec/source/targetRevision
      value: develop
",
    );
    repo.write(
        "apps/root/guestbook.yaml",
        &format!(
            "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
  namespace: argocd
  finalizers:
  - resources-finalizer.argocd.argoproj.io
spec:
  project: default
  source:
    repoURL: {URL}
    targetRevision: master
    path: guestbook
  destination:
    server: https://kubernetes.default.svc
    namespace: guestbook
  syncPolicy:
    automated:
      prune: true
"
        ),
    );
    repo.write(
        "guestbook/kustomization.yaml",
        "resources:\n- configmap.yaml\n",
    );
    repo.write(
        "guestbook/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guestbook\ndata:\n  TITLE: hello\n",
    );
    repo.commit("Argo CD applications");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo
}

fn by_application(report: &Report) -> BTreeMap<String, &Value> {
    report
        .overlays()
        .iter()
        .filter_map(|o| Some((o["application"]["name"].as_str()?.to_string(), o)))
        .collect()
}

fn diff(repo: &GitRepo, extra: &[&str]) -> Report {
    let mut args = vec!["--quiet", "--repo-url", URL];
    args.extend_from_slice(extra);
    repo.diff_json("develop", "feature", &args)
        .assert_code(0)
        .report()
}

#[test]
fn each_application_deploying_from_the_branch_is_rendered_its_own_way() {
    let repo = repo_with_applications();
    repo.edit(
        "base/deployment.yaml",
        "image: nginx",
        "image: ghcr.io/acme/nginx",
    );
    repo.edit("services/api/configmap.yaml", "LEVEL: info", "LEVEL: debug");
    repo.commit("a new registry, and debug logs for the api");

    let report = diff(&repo, &[]);
    let apps = &report.0["applications"];
    assert_eq!(apps["branch"], "develop");
    let apps_found = by_application(&report);
    let names: Vec<&str> = apps_found.keys().map(String::as_str).collect();
    // web-production tracks master; legacy is excluded; guestbook tracks develop only once
    // its app of apps has patched it.
    assert_eq!(
        names,
        [
            "api-qa",
            "guestbook",
            "web-eu",
            "web-staging",
            "web-us",
            "worker-qa"
        ],
        "{:#}",
        report.0
    );
    let not_deployed: Vec<(&str, &str)> = apps["not_deployed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap(),
                n["target_revision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(not_deployed, [("web-production", "master")]);

    let status = |name: &str| apps_found[name]["status"].as_str().unwrap().to_string();
    assert_eq!(status("web-staging"), "changed");
    assert_eq!(status("api-qa"), "changed");
    assert_eq!(status("worker-qa"), "unchanged");
    assert_eq!(status("guestbook"), "unchanged");

    // One directory, two applications, each with its own namePrefix.
    for cluster in ["eu", "us"] {
        let app = apps_found[&format!("web-{cluster}")];
        assert_eq!(app["path"], "overlays/staging");
        let names: Vec<&str> = app["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&format!("{cluster}-web").as_str()),
            "{cluster}: {names:?}"
        );
    }
    assert_eq!(
        apps_found["guestbook"]["application"]["target_revision"],
        "develop"
    );
    assert_eq!(
        apps_found["guestbook"]["application"]["origin"],
        "rendered by apps/root"
    );
}

#[test]
fn application_manifest_changes_are_described_and_a_removed_app_counts_what_it_deletes() {
    let repo = repo_with_applications();
    repo.write("apps/root/kustomization.yaml", "resources: []\n");
    repo.edit(
        "argocd/environments.yaml",
        "      syncPolicy:\n        automated:\n          prune: true\n",
        "",
    );
    repo.commit("retire the guestbook; sync the environments by hand");

    let report = diff(&repo, &[]);
    let manifests = report.0["applications"]["manifests"].as_array().unwrap();
    let find = |name: &str| {
        manifests
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no manifest change for {name}: {manifests:#?}"))
    };
    let guestbook = find("guestbook");
    assert_eq!(guestbook["change"], "removed");
    assert_eq!(guestbook["deletes"], 1, "{guestbook:#}");
    let staging = find("web-staging");
    assert_eq!(staging["change"], "modified");
    assert!(
        staging["details"]
            .as_array()
            .unwrap()
            .contains(&Value::from(
                "sync policy: automated sync with prune → manual sync"
            )),
        "{staging:#}"
    );
    let markdown = repo
        .diff_as(
            "markdown",
            "develop",
            "feature",
            &["--quiet", "--repo-url", URL],
        )
        .assert_code(0);
    assert!(
        markdown
            .stdout
            .contains("- Application `guestbook`: removed; removed: Argo CD deletes the application and, with it, every resource it deployed — **this deletes 1 resource(s) on sync**"),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown
            .stdout
            .contains("Not deployed from `develop`: `web-production` (tracks `master`)."),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown
            .stdout
            .contains("| Application | Path | Added | Modified | Removed | Status |"),
        "{}",
        markdown.stdout
    );
}

#[test]
fn without_applications_or_with_them_turned_off_the_report_is_by_directory() {
    let repo = repo_with_applications();
    repo.edit(
        "base/deployment.yaml",
        "image: nginx",
        "image: ghcr.io/acme/nginx",
    );
    repo.commit("a new registry");
    let report = diff(&repo, &["--applications", "off"]);
    assert!(report.0["applications"].is_null(), "{:#}", report.0);
    assert_eq!(
        report
            .statuses()
            .iter()
            .filter(|(_, s)| s == "changed")
            .count(),
        2,
        "{:?}",
        report.statuses()
    );

    let plain = GitRepo::base_and_two_overlays();
    plain.edit(
        "base/deployment.yaml",
        "image: nginx",
        "image: ghcr.io/acme/nginx",
    );
    plain.commit("a new registry");
    let report = plain
        .diff_json("master", "develop", &["--quiet"])
        .assert_code(0)
        .report();
    assert!(report.0["applications"].is_null(), "{:#}", report.0);
}
