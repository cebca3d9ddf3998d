//! Every risk rule, rendered with the real kustomize: `tests/risk_cases/<rule-id>.yaml` holds a
//! case where the rule fires and the harmless change next to it where it stays quiet. All cases
//! become overlays of one repository (`master` the base side, `develop` the head side), the real
//! binary diffs them once, and each overlay must carry exactly the rule ids its case expects.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use gitops_promote_core::risk::Rule;
use serde::Deserialize;

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/risk_cases");
/// The cluster version the cases are written for (`api-removed`, `api-deprecated`).
const KUBERNETES: &str = "1.29";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    production: bool,
    #[serde(default)]
    kustomization: String,
    base: String,
    head: String,
    expect: Vec<String>,
}

/// Every case file by its rule id, parsed.
fn case_files() -> BTreeMap<String, CaseFile> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(CASES).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let file: CaseFile =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        files.insert(stem, file);
    }
    files
}

fn overlay_dir(rule: &str, case: &Case) -> String {
    if case.production {
        format!("risk/{rule}/production/{}", case.name)
    } else {
        format!("risk/{rule}/{}", case.name)
    }
}

fn write_side(repo: &GitRepo, dir: &str, case: &Case, resources: &str) {
    if resources.trim().is_empty() {
        return;
    }
    repo.write(&format!("{dir}/resources.yaml"), resources);
    repo.write(
        &format!("{dir}/kustomization.yaml"),
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- resources.yaml\n{}",
            case.kustomization
        ),
    );
}

#[test]
fn every_rule_fires_on_its_case_and_stays_quiet_on_the_harmless_change() {
    let files = case_files();
    let ids: BTreeSet<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
    let covered: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    let missing: Vec<_> = ids.difference(&covered).collect();
    assert!(missing.is_empty(), "rules without a case file: {missing:?}");
    let unknown: Vec<_> = covered.difference(&ids).collect();
    assert!(unknown.is_empty(), "case files for no rule: {unknown:?}");

    let repo = GitRepo::new();
    repo.write("README.md", "risk cases\n");
    for (rule, file) in &files {
        for case in &file.cases {
            write_side(&repo, &overlay_dir(rule, case), case, &case.base);
        }
    }
    repo.commit("base side of every case");
    repo.branch("base");
    for (rule, file) in &files {
        for case in &file.cases {
            let dir = overlay_dir(rule, case);
            for name in ["resources.yaml", "kustomization.yaml"] {
                if repo.join(&format!("{dir}/{name}")).exists() {
                    repo.remove(&format!("{dir}/{name}"));
                }
            }
            write_side(&repo, &dir, case, &case.head);
        }
    }
    repo.commit("head side of every case");

    let report = repo
        .diff_json(
            "base",
            "HEAD",
            &["--kubernetes-version", KUBERNETES, "--quiet"],
        )
        .assert_code(0)
        .report();
    let mut failures = Vec::new();
    let mut fired = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for (rule, file) in &files {
        for case in &file.cases {
            let dir = overlay_dir(rule, case);
            let overlay = report
                .overlays()
                .iter()
                .find(|o| o["path"] == dir.as_str())
                .unwrap_or_else(|| panic!("{dir} is not in the report"));
            if let Some(error) = overlay.get("error") {
                failures.push(format!("{dir}: build failed: {error}"));
                continue;
            }
            let found: BTreeSet<String> = overlay["risks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["rule"].as_str().unwrap().to_string())
                .collect();
            if std::env::var_os("RISK_CASES_PRINT").is_some() {
                for r in overlay["risks"].as_array().unwrap() {
                    eprintln!("{dir}: [{}] {}", r["rule"], r["message"]);
                }
            }
            let expected: BTreeSet<String> = case.expect.iter().cloned().collect();
            if found != expected {
                let messages: Vec<String> = overlay["risks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| format!("{} {}", r["rule"], r["message"]))
                    .collect();
                failures.push(format!(
                    "{dir}: expected {expected:?}, found {found:?}: {messages:#?}"
                ));
            }
            if expected.contains(rule.as_str()) {
                fired.insert(rule.as_str());
            } else {
                quiet.insert(rule.as_str());
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for rule in &ids {
        assert!(fired.contains(rule), "{rule} has no case where it fires");
        assert!(
            quiet.contains(rule),
            "{rule} has no case where it stays quiet"
        );
    }
}

#[test]
fn risk_level_sets_the_exit_code_and_risk_ignore_silences_a_rule() {
    let repo = GitRepo::new();
    let deployment = |replicas: u32| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
        )
    };
    repo.write("app/kustomization.yaml", "resources:\n- deployment.yaml\n");
    repo.write("app/deployment.yaml", &deployment(2));
    repo.commit("two replicas");
    repo.branch("base");
    repo.write("app/deployment.yaml", &deployment(0));
    repo.commit("scaled to zero");

    let risky = repo.diff_json("base", "HEAD", &["--quiet", "--risk-level", "high"]);
    let risky = risky.assert_code(4);
    assert!(
        risky.stderr.contains("1 risk(s) at --risk-level high"),
        "{}",
        risky.stderr
    );
    let report = risky.report();
    let risks = &report.overlay("app").0["risks"];
    assert_eq!(risks[0]["rule"], "replicas-zero");
    assert_eq!(risks[0]["severity"], "high");
    assert_eq!(risks[0]["kind"], "Deployment");
    assert_eq!(risks[0]["name"], "web");

    let ignored = repo
        .diff_json(
            "base",
            "HEAD",
            &[
                "--quiet",
                "--risk-level",
                "any",
                "--risk-ignore",
                "replicas-zero",
            ],
        )
        .assert_code(0)
        .report();
    assert_eq!(ignored.overlay("app").0["risks"], serde_json::json!([]));
    assert_eq!(
        ignored.0["filters"]["ignored_risks"],
        serde_json::json!(["replicas-zero"])
    );

    let typo = repo.diff_json("base", "HEAD", &["--risk-ignore", "replica-zero"]);
    let typo = typo.assert_code(2);
    assert!(
        typo.stderr.contains("'replica-zero' is not a risk rule id"),
        "{}",
        typo.stderr
    );

    let text = repo
        .diff_as("text", "base", "HEAD", &["--quiet"])
        .assert_code(0);
    assert!(text.stdout.contains("⚠ Risks:"), "{}", text.stdout);
    assert!(
        text.stdout.contains("high app: Deployment web:"),
        "{}",
        text.stdout
    );
    let markdown = repo
        .diff_as("markdown", "base", "HEAD", &["--quiet"])
        .assert_code(0);
    assert!(
        markdown.stdout.contains("**⚠ Risks** (1 high, 0 medium)"),
        "{}",
        markdown.stdout
    );
}

/// `--ignore` takes a field out of the diff and the counts (an annotation Argo CD rewrites on
/// every sync), the report lists it, and a rule that does not parse is a usage error naming it.
#[test]
fn an_ignored_field_is_left_out_of_diffs_and_counts_and_listed() {
    const TRACKING: &str = "* /metadata/annotations/argocd.argoproj.io~1tracking-id";
    let repo = GitRepo::new();
    let config_map = |tracking: &str, level: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  annotations:\n    argocd.argoproj.io/tracking-id: '{tracking}'\n    owner: web-team\ndata:\n  LOG_LEVEL: {level}\n"
        )
    };
    repo.write("app/kustomization.yaml", "resources:\n- cm.yaml\n");
    repo.write(
        "app/cm.yaml",
        &config_map("web:/ConfigMap:shop/web", "info"),
    );
    repo.commit("tracked");
    repo.branch("base");
    repo.write(
        "app/cm.yaml",
        &config_map("web-2:/ConfigMap:shop/web", "info"),
    );
    let only_tracking = repo.commit("only the tracking id moved");

    let plain = repo
        .diff_json("base", &only_tracking, &["--quiet"])
        .assert_code(0);
    assert_eq!(plain.report().overlay("app").status(), "changed");
    let ignored = repo
        .diff_json("base", &only_tracking, &["--quiet", "--ignore", TRACKING])
        .assert_code(0)
        .report();
    assert_eq!(ignored.overlay("app").status(), "unchanged");
    assert_eq!(
        ignored.0["filters"]["ignored_fields"],
        serde_json::json!([TRACKING])
    );

    repo.write(
        "app/cm.yaml",
        &config_map("web-3:/ConfigMap:shop/web", "debug"),
    );
    let both = repo.commit("the level and the tracking id moved");
    let report = repo
        .diff_json("base", &both, &["--quiet", "--ignore", TRACKING])
        .assert_code(0)
        .report();
    let app = report.overlay("app");
    assert_eq!(app.0["counts"]["modified"], 1);
    let diff = app.0["resources"][0]["diff"].as_str().unwrap();
    assert!(diff.contains("+  LOG_LEVEL: debug"), "{diff}");
    assert!(!diff.contains("tracking-id"), "{diff}");
    let markdown = repo
        .diff_as(
            "markdown",
            "base",
            &both,
            &["--quiet", "--ignore", TRACKING],
        )
        .assert_code(0);
    assert!(
        markdown.stdout.contains(&format!(
            "Fields left out of every diff and count (`ignore`): `{TRACKING}`."
        )),
        "{}",
        markdown.stdout
    );

    let bad = repo
        .diff_json("base", &both, &["--ignore", "Deployment spec.replicas"])
        .assert_code(2);
    assert!(
        bad.stderr.contains("--ignore: ignore rule on line 1"),
        "{}",
        bad.stderr
    );
}
