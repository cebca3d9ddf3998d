//! README's first command: `gitops-promote demo` renders a real diff and a promotion plan offline.

use assert_cmd::Command;

#[test]
fn the_demo_shows_both_overlays_the_redacted_secret_and_the_promotion_plan() {
    let out = Command::cargo_bin("gitops-promote")
        .unwrap()
        .arg("demo")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // By Argo CD application, the seed flow: production deploys from master, so the promotion
    // of develop shows what production will sync; staging deploys from develop already.
    assert!(
        stdout.contains(
            "=== web-production (overlays/production, tracks master): 1 added, 3 modified, 0 removed"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("web-staging: not deployed from this branch (tracks develop)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+        image: ghcr.io/acme/web:1.5.0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+  DB_PASSWORD: <redacted: changed>"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("demo-db-password"),
        "a Secret value leaked:\n{stdout}"
    );
    assert!(
        !stdout.contains("demo-api-key"),
        "a Secret value leaked:\n{stdout}"
    );
    // The release's PodDisruptionBudget keeps all four production replicas up: no node can drain.
    assert!(stdout.contains("⚠ Risks:"), "{stdout}");
    assert!(
        stdout.contains("medium web-production: PodDisruptionBudget web-production/web:"),
        "{stdout}"
    );
    assert!(stdout.contains("[pdb-blocks-eviction]"), "{stdout}");
    assert!(stdout.contains("branch: promote/master/pr-1"), "{stdout}");
    assert!(
        stdout.contains("title:  [master] Release web 1.5.0"),
        "{stdout}"
    );
}
