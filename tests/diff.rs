//! `gitops-promote diff`, specified by example: given this repository and this change, the report
//! says this. Every test builds a small real git repository, renders with the real kustomize
//! (`kubectl kustomize`) and runs the real binary.
//!
//! Most tests start from [`GitRepo::base_and_two_overlays`]: `master` holds a base and the overlays
//! `overlays/staging` and `overlays/production`; `develop` is checked out, a test commits its change
//! there and diffs `master` against `develop`.

mod common;

use common::*;

// =============================================================================================
// What a change does to the rendered resources
// =============================================================================================
mod rendered_changes {
    use super::*;

    #[test]
    fn an_image_tag_bump_in_staging_modifies_the_staging_deployment_only() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "newTag: 1.25.0",
            "newTag: 1.25.1",
        );
        repo.commit("staging: nginx 1.25.1");

        let out = repo.diff_json("master", "develop", &[]).assert_code(0);

        let report = out.report();
        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "changed"),
            ])
        );
        let staging = report.overlay("overlays/staging");
        assert_eq!(staging.changes(), ["modified Deployment staging/web"]);
        assert_eq!(
            staging.resource("Deployment", "web")["apiVersion"],
            "apps/v1"
        );
        let diff = staging.diff_of("Deployment", "web");
        assert_removes(&diff, "image: nginx:1.25.0");
        assert_adds(&diff, "image: nginx:1.25.1");
        assert!(report.overlay("overlays/production").resources().is_empty());
    }

    #[test]
    fn a_replica_count_change_in_production_modifies_the_production_deployment_only() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/production/kustomization.yaml",
            "count: 3",
            "count: 5",
        );
        repo.commit("production: 5 replicas");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "changed"),
                ("overlays/staging", "unchanged"),
            ])
        );
        let production = report.overlay("overlays/production");
        assert_eq!(production.changes(), ["modified Deployment production/web"]);
        let diff = production.diff_of("Deployment", "web");
        assert_removes(&diff, "replicas: 3");
        assert_adds(&diff, "replicas: 5");
        assert_eq!(
            removed_lines(&diff).len(),
            1,
            "only the replica line changes:\n{diff}"
        );
        assert_eq!(
            added_lines(&diff).len(),
            1,
            "only the replica line changes:\n{diff}"
        );
    }

    #[test]
    fn a_generated_configmap_whose_hash_suffix_changes_is_one_modified_resource() {
        let repo = GitRepo::base_and_two_overlays();
        let old_staging = repo.generated_name("overlays/staging", "web-config");
        let old_production = repo.generated_name("overlays/production", "web-config");
        repo.edit(
            "base/kustomization.yaml",
            "LOG_LEVEL=info",
            "LOG_LEVEL=debug",
        );
        repo.commit("log at debug");
        let new_staging = repo.generated_name("overlays/staging", "web-config");
        let new_production = repo.generated_name("overlays/production", "web-config");
        assert_ne!(
            old_staging, new_staging,
            "fixture: the hash suffix must change"
        );

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        for (overlay, namespace, old, new) in [
            ("overlays/staging", "staging", &old_staging, &new_staging),
            (
                "overlays/production",
                "production",
                &old_production,
                &new_production,
            ),
        ] {
            let o = report.overlay(overlay);
            assert_eq!(o.status(), "changed");
            // Not "removed web-config-<old>" plus "added web-config-<new>".
            assert_eq!(
                o.changes(),
                [
                    format!("modified ConfigMap {namespace}/{new}"),
                    format!("modified Deployment {namespace}/web"),
                ]
            );
            let config_map = o.resource("ConfigMap", new);
            assert_eq!(config_map["name"], new.as_str());
            assert_eq!(config_map["previous_name"], old.as_str());
            let diff = o.diff_of("ConfigMap", new);
            assert_removes(&diff, "LOG_LEVEL: info");
            assert_adds(&diff, "LOG_LEVEL: debug");
            // The Deployment follows the ConfigMap to its new name.
            let deployment = o.diff_of("Deployment", "web");
            assert_removes(&deployment, old);
            assert_adds(&deployment, new);
        }
    }

    #[test]
    fn two_generated_configmaps_changing_together_are_each_paired_with_their_own_old_name() {
        let repo = GitRepo::base_and_two_overlays_with(&[(
            "overlays/staging/kustomization.yaml",
            &format!(
                "{STAGING_KUSTOMIZATION}configMapGenerator:\n- name: web\n  literals:\n  - A=1\n\
                 - name: web-extra\n  literals:\n  - B=1\n"
            ),
        )]);
        let old_web = repo.generated_name("overlays/staging", "web");
        let old_extra = repo.generated_name("overlays/staging", "web-extra");
        repo.edit("overlays/staging/kustomization.yaml", "A=1", "A=2");
        repo.edit("overlays/staging/kustomization.yaml", "B=1", "B=2");
        repo.commit("both settings");
        let new_web = repo.generated_name("overlays/staging", "web");
        let new_extra = repo.generated_name("overlays/staging", "web-extra");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        let staging = report.overlay("overlays/staging");
        assert_eq!(
            staging.changes(),
            [
                format!("modified ConfigMap staging/{new_extra}"),
                format!("modified ConfigMap staging/{new_web}"),
            ]
        );
        assert_eq!(
            staging.resource("ConfigMap", &new_web)["previous_name"],
            old_web.as_str()
        );
        assert_eq!(
            staging.resource("ConfigMap", &new_extra)["previous_name"],
            old_extra.as_str()
        );
        assert_adds(&staging.diff_of("ConfigMap", &new_web), "A: \"2\"");
        assert_adds(&staging.diff_of("ConfigMap", &new_extra), "B: \"2\"");
    }

    #[test]
    fn a_new_overlay_is_added_with_every_resource_added() {
        let repo = GitRepo::base_and_two_overlays();
        repo.write(
            "overlays/qa/kustomization.yaml",
            &overlay_kustomization("qa", "1.26.0", 2),
        );
        repo.commit("add qa");
        let config_map = repo.generated_name("overlays/qa", "web-config");
        let counter = kustomize_counter();

        let report = repo
            .diff_json("master", "develop", &["--kustomize", counter.command()])
            .assert_code(0)
            .report();

        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/qa", "added"),
                ("overlays/staging", "unchanged"),
            ])
        );
        let qa = report.overlay("overlays/qa");
        assert_eq!(
            qa.changes(),
            [
                format!("added ConfigMap qa/{config_map}"),
                "added Deployment qa/web".to_owned(),
                "added Service qa/web".to_owned(),
            ]
        );
        let diff = qa.diff_of("Deployment", "web");
        assert_adds(&diff, "image: nginx:1.26.0");
        assert_adds(&diff, "replicas: 2");
        assert!(
            removed_lines(&diff).is_empty(),
            "an added resource removes nothing:\n{diff}"
        );
        assert_eq!(report.stat("builds") as usize, counter.builds());
    }

    #[test]
    fn a_deleted_overlay_is_removed_with_every_resource_removed() {
        let repo = GitRepo::base_and_two_overlays();
        let config_map = repo.generated_name("overlays/production", "web-config");
        repo.remove("overlays/production");
        repo.commit("retire production");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "removed"),
                ("overlays/staging", "unchanged"),
            ])
        );
        let production = report.overlay("overlays/production");
        assert_eq!(
            production.changes(),
            [
                format!("removed ConfigMap production/{config_map}"),
                "removed Deployment production/web".to_owned(),
                "removed Service production/web".to_owned(),
            ]
        );
        let diff = production.diff_of("Deployment", "web");
        assert_removes(&diff, "image: nginx:1.24.0");
        assert!(
            added_lines(&diff).is_empty(),
            "a removed resource adds nothing:\n{diff}"
        );
    }

    #[test]
    fn a_resource_added_to_an_overlay_is_added_and_cluster_scoped_ones_have_no_namespace() {
        let repo = GitRepo::base_and_two_overlays();
        repo.write(
            "overlays/staging/reader.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: web-reader\n\
             rules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n",
        );
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "- ../../base\n",
            "- ../../base\n- reader.yaml\n",
        );
        repo.commit("staging: reader role");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        let staging = report.overlay("overlays/staging");
        assert_eq!(staging.changes(), ["added ClusterRole -/web-reader"]);
        let role = staging.resource("ClusterRole", "web-reader");
        assert_eq!(role["apiVersion"], "rbac.authorization.k8s.io/v1");
        assert!(
            role["namespace"].is_null(),
            "namespace must be null: {role:#}"
        );
    }

    #[test]
    fn a_shared_base_change_changes_both_overlays_and_builds_each_at_both_refs() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "base/deployment.yaml",
            "containerPort: 8080",
            "containerPort: 9090",
        );
        repo.commit("listen on 9090");
        let counter = kustomize_counter();

        let report = repo
            .diff_json("master", "develop", &["--kustomize", counter.command()])
            .assert_code(0)
            .report();

        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "changed"),
                ("overlays/staging", "changed"),
            ])
        );
        for (overlay, namespace) in [
            ("overlays/staging", "staging"),
            ("overlays/production", "production"),
        ] {
            let o = report.overlay(overlay);
            assert_eq!(
                o.changes(),
                [format!("modified Deployment {namespace}/web")]
            );
            let diff = o.diff_of("Deployment", "web");
            assert_removes(&diff, "containerPort: 8080");
            assert_adds(&diff, "containerPort: 9090");
        }
        assert_eq!(
            counter.builds(),
            4,
            "two overlays × two refs: {:?}",
            counter.invocations()
        );
        assert_eq!(report.stat("builds"), 4);
        assert_eq!(report.stat("affected"), 2);
    }

    #[test]
    fn a_change_no_overlay_uses_builds_nothing_and_reports_every_overlay_unchanged() {
        let repo = GitRepo::base_and_two_overlays();
        repo.write("README.md", "# deployments\n\nNow with more words.\n");
        repo.write("docs/runbook.md", "restart it\n");
        repo.commit("docs");
        let counter = kustomize_counter();

        let report = repo
            .diff_json("master", "develop", &["--kustomize", counter.command()])
            .assert_code(0)
            .report();

        assert_eq!(
            counter.builds(),
            0,
            "nothing to build: {:?}",
            counter.invocations()
        );
        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "unchanged"),
            ])
        );
        for overlay in report.overlays() {
            assert_eq!(overlay["resources"], serde_json::json!([]), "{overlay:#}");
        }
        assert_eq!(report.stat("builds"), 0);
        assert_eq!(report.stat("affected"), 0);
    }

    #[test]
    fn the_last_applied_configuration_annotation_never_appears() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "base/deployment.yaml",
            "  labels:\n    app: web\nspec:",
            "  labels:\n    app: web\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: \
             '{\"marker\":\"LAST-APPLIED-MARKER-5150\"}'\nspec:",
        );
        repo.commit("annotated base");
        // A new overlay shows the whole Deployment, annotation and all, if it is not dropped.
        repo.write(
            "overlays/qa/kustomization.yaml",
            &overlay_kustomization("qa", "1.25.0", 1),
        );
        repo.commit("add qa");

        for format in ["json", "text", "markdown"] {
            let out = repo
                .diff_as(format, "master", "develop", &[])
                .assert_code(0);
            assert!(
                out.stdout.contains("image: nginx:1.25.0"),
                "{format}: the qa Deployment is shown:\n{}",
                out.stdout
            );
            for text in ["LAST-APPLIED-MARKER-5150", "last-applied-configuration"] {
                assert!(
                    !out.all_output().contains(text),
                    "{format}: {text:?} appears:\n{}",
                    out.all_output()
                );
            }
        }
    }
}

// =============================================================================================
// The JSON report's frame
// =============================================================================================
mod json_report {
    use super::*;

    #[test]
    fn names_both_commits_both_refs_and_counts_the_work() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "newTag: 1.25.0",
            "newTag: 1.25.1",
        );
        repo.commit("staging: nginx 1.25.1");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();
        let json = &report.0;

        assert_eq!(json["base"], repo.sha("master"));
        assert_eq!(json["head"], repo.sha("develop"));
        assert_eq!(json["base_ref"], "master");
        assert_eq!(json["head_ref"], "develop");
        assert_eq!(json["merge_base"], false);
        assert_eq!(report.stat("roots"), 3, "base, staging, production");
        assert_eq!(report.stat("overlays"), 2);
        assert_eq!(report.stat("affected"), 1);
        assert_eq!(report.stat("builds"), 2);
        assert!(
            json["stats"]["seconds"].as_f64().is_some_and(|s| s >= 0.0),
            "{json:#}"
        );
        assert!(json["stats"]["peak_rss_kb"].is_u64(), "{json:#}");
        for overlay in report.overlays() {
            assert!(
                overlay["remote"].is_array(),
                "every overlay lists its remote bases: {overlay:#}"
            );
            assert!(
                overlay.get("error").is_none_or(|e| e.is_null()),
                "no error: {overlay:#}"
            );
        }
        let web = report.overlay("overlays/staging");
        let web = web.resource("Deployment", "web");
        assert_eq!(web["kind"], "Deployment");
        assert_eq!(web["namespace"], "staging");
        assert_eq!(web["name"], "web");
        assert_eq!(web["change"], "modified");
        assert!(
            web.get("previous_name").is_none_or(|p| p.is_null()),
            "not renamed: {web:#}"
        );
    }

    #[test]
    fn refs_may_be_tags_and_commit_shas() {
        let repo = GitRepo::base_and_two_overlays();
        let before = repo.sha("HEAD");
        repo.edit(
            "overlays/production/kustomization.yaml",
            "newTag: 1.24.0",
            "newTag: 1.25.0",
        );
        let after = repo.commit("production: nginx 1.25.0");
        repo.tag("v2");

        let report = repo.diff_json(&before, "v2", &[]).assert_code(0).report();

        assert_eq!(report.0["base"], before.as_str());
        assert_eq!(report.0["head"], after.as_str());
        assert_eq!(report.0["head_ref"], "v2");
        assert_eq!(
            report.overlay("overlays/production").changes(),
            ["modified Deployment production/web"]
        );
    }

    #[test]
    fn an_overlay_at_the_repository_root_is_called_dot() {
        let repo = GitRepo::new();
        repo.write("kustomization.yaml", "resources:\n- service.yaml\n")
            .write("service.yaml", BASE_SERVICE);
        repo.commit("one overlay at the root");
        repo.branch("develop");
        repo.checkout("develop");
        repo.edit("service.yaml", "port: 80", "port: 8080");
        repo.commit("port 8080");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        assert_eq!(report.statuses(), pairs(&[(".", "changed")]));
        assert_eq!(report.overlay(".").changes(), ["modified Service -/web"]);
    }
}

// =============================================================================================
// Which overlays are built: the dependency closure
// =============================================================================================
mod affected_overlays {
    use super::*;

    /// Builds `(overlay, status)` and the number of kustomize runs for master..develop.
    fn statuses_and_builds(repo: &GitRepo) -> (Vec<(String, String)>, usize) {
        let counter = kustomize_counter();
        let report = repo
            .diff_json("master", "develop", &["--kustomize", counter.command()])
            .assert_code(0)
            .report();
        assert_eq!(report.stat("builds") as usize, counter.builds());
        (report.statuses(), counter.builds())
    }

    #[test]
    fn a_patch_file_affects_only_the_overlay_that_uses_it() {
        let repo = GitRepo::base_and_two_overlays_with(&[
            (
                "overlays/staging/kustomization.yaml",
                &format!("{STAGING_KUSTOMIZATION}patches:\n- path: web-patch.yaml\n"),
            ),
            (
                "overlays/staging/web-patch.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  minReadySeconds: 5\n",
            ),
        ]);
        repo.edit(
            "overlays/staging/web-patch.yaml",
            "minReadySeconds: 5",
            "minReadySeconds: 10",
        );
        repo.commit("staging: slower rollout");

        let (statuses, builds) = statuses_and_builds(&repo);

        assert_eq!(
            statuses,
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "changed"),
            ])
        );
        assert_eq!(builds, 2);
    }

    #[test]
    fn a_configmap_generator_file_affects_only_the_overlay_that_uses_it() {
        let repo = GitRepo::base_and_two_overlays_with(&[
            (
                "overlays/production/kustomization.yaml",
                &format!(
                    "{PRODUCTION_KUSTOMIZATION}configMapGenerator:\n- name: nginx\n  files:\n  - nginx.conf\n  envs:\n  - tuning.env\n"
                ),
            ),
            ("overlays/production/nginx.conf", "worker_processes 4;\n"),
            ("overlays/production/tuning.env", "WORKERS=4\n"),
        ]);
        repo.edit(
            "overlays/production/nginx.conf",
            "worker_processes 4;",
            "worker_processes 8;",
        );
        repo.commit("production: 8 workers");

        let (statuses, builds) = statuses_and_builds(&repo);
        assert_eq!(
            statuses,
            pairs(&[
                ("overlays/production", "changed"),
                ("overlays/staging", "unchanged"),
            ])
        );
        assert_eq!(builds, 2);

        repo.edit("overlays/production/tuning.env", "WORKERS=4", "WORKERS=8");
        repo.commit("production: env says 8 too");
        let (statuses, _) = statuses_and_builds(&repo);
        assert_eq!(
            statuses,
            pairs(&[
                ("overlays/production", "changed"),
                ("overlays/staging", "unchanged"),
            ])
        );
    }

    #[test]
    fn a_component_affects_the_overlays_that_include_it_and_is_never_an_overlay() {
        let repo = GitRepo::base_and_two_overlays_with(&[
            (
                "components/debug/kustomization.yaml",
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n\
                 - target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /metadata/annotations\n\
                 \x20     value:\n        debug: \"false\"\n",
            ),
            (
                "overlays/staging/kustomization.yaml",
                &format!("{STAGING_KUSTOMIZATION}components:\n- ../../components/debug\n"),
            ),
            // A component nobody includes yet: still not an overlay.
            (
                "components/unused/kustomization.yaml",
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
            ),
        ]);
        repo.edit(
            "components/debug/kustomization.yaml",
            "debug: \"false\"",
            "debug: \"true\"",
        );
        repo.commit("debug on");

        let counter = kustomize_counter();
        let report = repo
            .diff_json("master", "develop", &["--kustomize", counter.command()])
            .assert_code(0)
            .report();

        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "changed"),
            ])
        );
        assert_eq!(counter.builds(), 2);
        let diff = report
            .overlay("overlays/staging")
            .diff_of("Deployment", "web");
        assert_removes(&diff, "debug: \"false\"");
        assert_adds(&diff, "debug: \"true\"");
    }

    #[test]
    fn kustomization_yml_and_kustomization_without_extension_are_roots_too() {
        let repo = GitRepo::base_and_two_overlays_with(&[
            (
                "overlays/qa/kustomization.yml",
                &overlay_kustomization("qa", "1.25.0", 1),
            ),
            (
                "overlays/dev/Kustomization",
                &overlay_kustomization("dev", "1.25.0", 1),
            ),
        ]);
        repo.edit("base/service.yaml", "port: 80", "port: 8000");
        repo.commit("service on 8000");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/dev", "changed"),
                ("overlays/production", "changed"),
                ("overlays/qa", "changed"),
                ("overlays/staging", "changed"),
            ])
        );
        assert_eq!(
            report.overlay("overlays/qa").changes(),
            ["modified Service qa/web"]
        );
        assert_eq!(
            report.overlay("overlays/dev").changes(),
            ["modified Service dev/web"]
        );
    }

    #[test]
    fn a_symlinked_base_inside_the_repository_is_followed() {
        let repo = GitRepo::base_and_two_overlays();
        repo.symlink("overlays/staging/base", "../../base");
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "- ../../base\n",
            "- base\n",
        );
        repo.commit("staging: base through a symlink");
        // master gets the symlinked layout too; the change under test is the base edit alone.
        repo.git(&["branch", "-f", "master", "HEAD"]);
        repo.edit("base/service.yaml", "port: 80", "port: 8000");
        repo.commit("service on 8000");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "changed"),
                ("overlays/staging", "changed"),
            ])
        );
        assert_eq!(
            report.overlay("overlays/staging").changes(),
            ["modified Service staging/web"]
        );
    }

    #[test]
    fn a_kustomization_that_cannot_be_parsed_is_affected_and_fails_to_build() {
        let repo = GitRepo::base_and_two_overlays();
        repo.write(
            "overlays/staging/kustomization.yaml",
            "namespace: staging\nresources: [../../base\nimages: {{{\n",
        );
        repo.commit("oops");

        let out = repo.diff_json("master", "develop", &[]).assert_code(3);

        let report = out.report();
        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "error"),
            ])
        );
        assert!(!report.overlay("overlays/staging").error().is_empty());
    }

    #[test]
    fn all_builds_every_overlay_even_when_nothing_they_use_changed() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit("README.md", "Staging follows", "Staging tracks");
        repo.commit("docs");
        let counter = kustomize_counter();

        let report = repo
            .diff_json(
                "master",
                "develop",
                &["--all", "--kustomize", counter.command()],
            )
            .assert_code(0)
            .report();

        assert_eq!(counter.builds(), 4, "{:?}", counter.invocations());
        assert_eq!(report.stat("builds"), 4);
        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "unchanged"),
            ])
        );
    }

    #[test]
    fn path_selects_the_overlays_to_report() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "base/deployment.yaml",
            "containerPort: 8080",
            "containerPort: 9090",
        );
        repo.commit("listen on 9090");
        let counter = kustomize_counter();

        let report = repo
            .diff_json(
                "master",
                "develop",
                &["--path", "overlays/prod*", "--kustomize", counter.command()],
            )
            .assert_code(0)
            .report();

        assert_eq!(
            report.statuses(),
            pairs(&[("overlays/production", "changed")])
        );
        assert_eq!(
            counter.builds(),
            2,
            "staging is not built: {:?}",
            counter.invocations()
        );
    }

    #[test]
    fn path_may_be_given_more_than_once() {
        let repo = GitRepo::base_and_two_overlays_with(&[(
            "overlays/qa/kustomization.yaml",
            &overlay_kustomization("qa", "1.25.0", 1),
        )]);
        repo.edit(
            "base/deployment.yaml",
            "containerPort: 8080",
            "containerPort: 9090",
        );
        repo.commit("listen on 9090");

        let report = repo
            .diff_json(
                "master",
                "develop",
                &["--path", "overlays/qa", "--path", "overlays/staging"],
            )
            .assert_code(0)
            .report();

        assert_eq!(
            report.statuses(),
            pairs(&[("overlays/qa", "changed"), ("overlays/staging", "changed")])
        );
    }

    #[test]
    fn path_can_select_a_base_which_is_then_rendered_on_its_own() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "base/deployment.yaml",
            "containerPort: 8080",
            "containerPort: 9090",
        );
        repo.commit("listen on 9090");

        let report = repo
            .diff_json("master", "develop", &["--path", "base"])
            .assert_code(0)
            .report();

        assert_eq!(report.statuses(), pairs(&[("base", "changed")]));
        assert_eq!(
            report.overlay("base").changes(),
            ["modified Deployment -/web"]
        );
    }
}

// =============================================================================================
// Secrets never reach the output
// =============================================================================================
mod secrets {
    use super::*;

    const OLD_API_KEY: &str = "plain-old-api-key-4471";
    const NEW_API_KEY: &str = "plain-new-api-key-5582";
    const DB_USER: &str = "unchanged-db-user-9024";
    const OLD_TOKEN: &str = "removed-token-3318";
    const NEW_TOKEN: &str = "added-token-6620";
    const ALL_VALUES: [&str; 5] = [OLD_API_KEY, NEW_API_KEY, DB_USER, OLD_TOKEN, NEW_TOKEN];

    /// master: staging generates `web-secret` with API_KEY, DB_USER, OLD_TOKEN.
    /// develop: API_KEY changed, DB_USER kept, OLD_TOKEN removed, NEW_TOKEN added.
    fn repo_with_a_rotated_secret() -> GitRepo {
        let repo = GitRepo::base_and_two_overlays_with(&[(
            "overlays/staging/kustomization.yaml",
            &format!(
                "{STAGING_KUSTOMIZATION}secretGenerator:\n- name: web-secret\n  literals:\n  - API_KEY={OLD_API_KEY}\n  - DB_USER={DB_USER}\n  - OLD_TOKEN={OLD_TOKEN}\n"
            ),
        )]);
        repo.edit(
            "overlays/staging/kustomization.yaml",
            &format!(
                "  - API_KEY={OLD_API_KEY}\n  - DB_USER={DB_USER}\n  - OLD_TOKEN={OLD_TOKEN}\n"
            ),
            &format!(
                "  - API_KEY={NEW_API_KEY}\n  - DB_USER={DB_USER}\n  - NEW_TOKEN={NEW_TOKEN}\n"
            ),
        );
        repo.commit("rotate the API key");
        repo
    }

    #[test]
    fn a_rotated_generated_secret_is_one_modified_resource_with_key_markers_in_json() {
        let repo = repo_with_a_rotated_secret();
        let new_name = repo.generated_name("overlays/staging", "web-secret");

        let out = repo.diff_json("master", "develop", &[]).assert_code(0);

        assert_no_secret_in(&out.all_output(), &ALL_VALUES, "the json run");
        let report = out.report();
        let staging = report.overlay("overlays/staging");
        assert_eq!(
            staging.changes(),
            [format!("modified Secret staging/{new_name}")]
        );
        let secret = staging.resource("Secret", "web-secret");
        assert!(
            secret["previous_name"]
                .as_str()
                .is_some_and(|p| p.starts_with("web-secret-") && p != new_name),
            "paired with the old generated name: {secret:#}"
        );
        let diff = str_of(&secret["diff"]);
        assert_removes(&diff, "API_KEY: <redacted: previous value>");
        assert_adds(&diff, "API_KEY: <redacted: changed>");
        assert_adds(&diff, "NEW_TOKEN: <redacted: added>");
        assert_removes(&diff, "OLD_TOKEN: <redacted: removed>");
        assert!(
            diff.contains("DB_USER: <redacted: unchanged>"),
            "the unchanged key is shown as context:\n{diff}"
        );
    }

    #[test]
    fn a_rotated_generated_secret_shows_markers_and_no_value_in_text_markdown_and_output_files() {
        let repo = repo_with_a_rotated_secret();
        let reports = tempfile::tempdir().unwrap();

        for format in ["text", "markdown", "json"] {
            let file = reports.path().join(format!("report.{format}"));
            let out = repo
                .diff_as(
                    format,
                    "master",
                    "develop",
                    &["--output", file.to_str().unwrap()],
                )
                .assert_code(0);
            let written = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{format}: --output file not written: {e}"));

            assert_no_secret_in(&out.stdout, &ALL_VALUES, &format!("{format} stdout"));
            assert_no_secret_in(&out.stderr, &ALL_VALUES, &format!("{format} stderr"));
            assert_no_secret_in(&written, &ALL_VALUES, &format!("{format} --output file"));
            for marker in [
                "API_KEY: <redacted: previous value>",
                "API_KEY: <redacted: changed>",
                "NEW_TOKEN: <redacted: added>",
                "OLD_TOKEN: <redacted: removed>",
            ] {
                assert!(
                    written.contains(marker),
                    "{format}: {marker:?} missing from:\n{written}"
                );
            }
        }
    }

    #[test]
    fn a_new_secret_shows_only_which_keys_it_adds() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/production/kustomization.yaml",
            "count: 3\n",
            &format!("count: 3\nsecretGenerator:\n- name: db\n  literals:\n  - PASSWORD={NEW_API_KEY}\n  - USER={DB_USER}\n"),
        );
        repo.commit("production: database credentials");

        for format in ["json", "text", "markdown"] {
            let out = repo
                .diff_as(format, "master", "develop", &[])
                .assert_code(0);
            assert_no_secret_in(&out.all_output(), &[NEW_API_KEY, DB_USER], format);
            assert!(
                out.stdout.contains("PASSWORD: <redacted: added>"),
                "{format}:\n{}",
                out.stdout
            );
            assert!(
                out.stdout.contains("USER: <redacted: added>"),
                "{format}:\n{}",
                out.stdout
            );
        }
    }

    #[test]
    fn a_hand_written_secret_hides_both_data_and_string_data() {
        let token = "token-in-data-1188";
        let old_password = "hunter2-string-data-7731";
        let new_password = "hunter3-string-data-8842";
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  TOKEN: {}\n\
             stringData:\n  PASSWORD: {old_password}\n",
            base64(token)
        );
        let repo = GitRepo::base_and_two_overlays_with(&[
            ("base/secret.yaml", &secret),
            (
                "base/kustomization.yaml",
                &BASE_KUSTOMIZATION.replace("- service.yaml\n", "- service.yaml\n- secret.yaml\n"),
            ),
        ]);
        repo.edit("base/secret.yaml", old_password, new_password);
        repo.commit("new database password");

        for format in ["json", "text", "markdown"] {
            let out = repo
                .diff_as(format, "master", "develop", &[])
                .assert_code(0);
            assert_no_secret_in(
                &out.all_output(),
                &[token, old_password, new_password],
                format,
            );
            assert!(
                out.stdout.contains("PASSWORD: <redacted: changed>"),
                "{format}:\n{}",
                out.stdout
            );
        }
        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();
        assert_eq!(
            report.overlay("overlays/staging").changes(),
            ["modified Secret staging/db"]
        );
        let diff = report
            .overlay("overlays/production")
            .diff_of("Secret", "db");
        assert_removes(&diff, "PASSWORD: <redacted: previous value>");
        assert_adds(&diff, "PASSWORD: <redacted: changed>");
    }
}

// =============================================================================================
// Output formats
// =============================================================================================
mod formats {
    use super::*;

    fn repo_with_a_staging_image_bump() -> GitRepo {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "newTag: 1.25.0",
            "newTag: 1.25.1",
        );
        repo.commit("staging: nginx 1.25.1");
        repo
    }

    #[test]
    fn text_is_the_default_and_shows_a_unified_diff_per_resource_without_colour() {
        let repo = repo_with_a_staging_image_bump();

        let out = repo
            .run_diff(&["--base", "master", "--head", "develop"])
            .assert_code(0);

        assert!(out.stdout.contains("overlays/staging"), "{}", out.stdout);
        assert!(out.stdout.contains("web"), "{}", out.stdout);
        assert_removes(&out.stdout, "image: nginx:1.25.0");
        assert_adds(&out.stdout, "image: nginx:1.25.1");
        assert!(
            !out.stdout.contains('\x1b'),
            "no ANSI codes when piped:\n{:?}",
            out.stdout
        );
    }

    #[test]
    fn text_has_no_colour_with_no_color_set() {
        let repo = repo_with_a_staging_image_bump();

        let out = repo
            .diff_with()
            .env("NO_COLOR", "1")
            .run(&["--base", "master", "--head", "develop", "--format", "text"])
            .assert_code(0);

        assert_adds(&out.stdout, "image: nginx:1.25.1");
        assert!(!out.all_output().contains('\x1b'), "{:?}", out.all_output());
    }

    #[test]
    fn markdown_starts_with_a_summary_table_of_the_overlays_that_changed() {
        let repo = repo_with_a_staging_image_bump();

        let out = repo
            .diff_as("markdown", "master", "develop", &[])
            .assert_code(0);
        let md = &out.stdout;

        let first_details = md
            .find("<details")
            .unwrap_or_else(|| panic!("no <details>:\n{md}"));
        let summary = &md[..first_details];
        let rows: Vec<&str> = summary
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('|'))
            .filter(|l| !l.replace(['|', '-', ':', ' '], "").is_empty())
            .collect();
        assert!(rows.len() >= 2, "a header row and one overlay row:\n{md}");
        let overlay_rows: Vec<&&str> = rows.iter().skip(1).collect();
        assert_eq!(overlay_rows.len(), 1, "only staging changed:\n{summary}");
        assert!(overlay_rows[0].contains("overlays/staging"), "{summary}");
        assert!(
            !summary.contains("overlays/production"),
            "unchanged overlays have no row:\n{summary}"
        );

        let details = &md[first_details..];
        assert!(details.contains("overlays/staging"), "{details}");
        let blocks = fenced_blocks(details);
        let diff = blocks
            .iter()
            .find(|b| b.info == "diff" && b.body.contains("nginx:1.25.1"))
            .unwrap_or_else(|| panic!("a ```diff block for the Deployment:\n{md}"));
        assert_removes(&diff.body, "image: nginx:1.25.0");
        assert_adds(&diff.body, "image: nginx:1.25.1");
        assert!(md.contains("</details>"), "{md}");
    }

    #[test]
    fn the_markdown_report_of_an_image_bump_reads_like_this() {
        let repo = repo_with_a_staging_image_bump();

        let out = repo
            .diff_as("markdown", "master", "develop", &[])
            .assert_code(0);

        expect_test::expect![[r#"
            ### Rendered manifests: `master` → `develop`

            Compared `master` (`8d68f67`) with `develop` (`0d2ca6b`).

            **Images**

            - `overlays/staging`: `nginx: 1.25.0 → 1.25.1`

            | Overlay | Added | Modified | Removed | Status |
            | --- | ---: | ---: | ---: | --- |
            | `overlays/staging` | 0 | 1 | 0 | changed |

            1 other overlay(s) unchanged.

            <details>
            <summary><code>overlays/staging</code>: +0 ~1 −0</summary>

            **Deployment** `staging/web` (modified)

            ```diff
            @@ -19,7 +19,7 @@
                   - envFrom:
                     - configMapRef:
                         name: web-config-hf678c7m2b
            -        image: nginx:1.25.0
            +        image: nginx:1.25.1
                     name: web
                     ports:
                     - containerPort: 8080
            ```

            </details>"#]]
        .assert_eq(&mask_durations(&out.stdout));
    }

    #[test]
    fn the_text_report_of_an_image_bump_reads_like_this() {
        let repo = repo_with_a_staging_image_bump();

        let out = repo
            .run_diff(&["--base", "master", "--head", "develop"])
            .assert_code(0);

        expect_test::expect![[r#"
            Comparing master (8d68f67) with develop (0d2ca6b)

            Images:
              overlays/staging: nginx: 1.25.0 → 1.25.1

            === overlays/staging: 0 added, 1 modified, 0 removed
            ~ Deployment staging/web (apps/v1)
            @@ -19,7 +19,7 @@
                   - envFrom:
                     - configMapRef:
                         name: web-config-hf678c7m2b
            -        image: nginx:1.25.0
            +        image: nginx:1.25.1
                     name: web
                     ports:
                     - containerPort: 8080

            1 overlay(s) changed, 1 unchanged, 0 failed; 2 kustomize build(s) in [secs]"#]]
        .assert_eq(&mask_durations(&out.stdout));
    }

    #[test]
    fn markdown_fences_are_longer_than_any_backtick_run_in_the_diff() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "count: 1\n",
            "count: 1\nconfigMapGenerator:\n- name: notes\n  literals:\n  - \"NOTE=wrap code in ````` fences\"\n",
        );
        repo.commit("staging: notes");

        let out = repo
            .diff_as("markdown", "master", "develop", &[])
            .assert_code(0);

        let blocks = fenced_blocks(&out.stdout);
        let notes = blocks
            .iter()
            .find(|b| b.body.contains("NOTE: wrap code in ````` fences"))
            .unwrap_or_else(|| {
                panic!(
                    "the ConfigMap's diff, backticks intact, in one block:\n{}",
                    out.stdout
                )
            });
        assert!(
            notes.len >= 6,
            "a fence of {} backticks around a run of 5",
            notes.len
        );
        for block in &blocks {
            assert!(
                block.len > longest_backtick_run(&block.body),
                "fence of {} around a run of {}:\n{}",
                block.len,
                longest_backtick_run(&block.body),
                block.body
            );
        }
    }

    #[test]
    fn output_writes_the_report_to_a_file() {
        let repo = repo_with_a_staging_image_bump();
        let reports = tempfile::tempdir().unwrap();
        let file = reports.path().join("diff.json");

        repo.diff_json("master", "develop", &["--output", file.to_str().unwrap()])
            .assert_code(0);

        let written: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&file).expect("the --output file exists"),
        )
        .expect("the --output file is the JSON report");
        let report = Report(written);
        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "changed"),
            ])
        );
        assert_eq!(
            report.overlay("overlays/staging").changes(),
            ["modified Deployment staging/web"]
        );
    }
}

// =============================================================================================
// Exit codes and user errors
// =============================================================================================
mod exit_codes {
    use super::*;

    #[test]
    fn exit_code_makes_differences_exit_1() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/production/kustomization.yaml",
            "count: 3",
            "count: 4",
        );
        repo.commit("production: 4 replicas");

        let out = repo
            .diff_json("master", "develop", &["--exit-code"])
            .assert_code(1);

        assert_eq!(
            out.report().overlay("overlays/production").status(),
            "changed"
        );
        // Without --exit-code the same differences are a success.
        repo.diff_json("master", "develop", &[]).assert_code(0);
    }

    #[test]
    fn exit_code_exits_0_when_nothing_differs() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit("README.md", "Staging follows", "Staging tracks");
        repo.commit("docs");

        repo.diff_json("master", "develop", &["--exit-code"])
            .assert_code(0);
        // --all builds everything; identical renders are still no difference.
        repo.diff_json("master", "develop", &["--exit-code", "--all"])
            .assert_code(0);
    }

    #[test]
    fn a_broken_overlay_is_reported_beside_the_diff_of_the_good_one_and_exits_3() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "base/deployment.yaml",
            "containerPort: 8080",
            "containerPort: 9090",
        );
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "- ../../base\n",
            "- ../../base\n- missing-config.yaml\n",
        );
        repo.commit("listen on 9090, and forget a file");

        let out = repo.diff_json("master", "develop", &[]).assert_code(3);

        let report = out.report();
        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "changed"),
                ("overlays/staging", "error"),
            ])
        );
        let error = report.overlay("overlays/staging").error();
        assert!(
            error.contains("missing-config.yaml"),
            "kustomize's message: {error}"
        );
        assert!(
            error.contains("overlays/staging/missing-config.yaml"),
            "paths are repo-relative: {error}"
        );
        let tmp = std::env::temp_dir();
        let tmp = tmp.to_str().unwrap().trim_end_matches('/');
        assert!(
            !error.contains(&format!("{tmp}/")),
            "the export's temp path does not leak: {error}"
        );
        let production = report.overlay("overlays/production");
        assert_eq!(production.changes(), ["modified Deployment production/web"]);
        assert_adds(
            &production.diff_of("Deployment", "web"),
            "containerPort: 9090",
        );
    }

    #[test]
    fn a_broken_overlay_exits_3_in_text_too_and_still_prints_the_good_diff() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit("base/service.yaml", "port: 80", "port: 8000");
        repo.edit(
            "overlays/production/kustomization.yaml",
            "- ../../base\n",
            "- ../../base\n- gone.yaml\n",
        );
        repo.commit("service on 8000, and forget a file");

        let out = repo
            .run_diff(&["--base", "master", "--head", "develop"])
            .assert_code(3);

        assert!(
            out.all_output().contains("gone.yaml"),
            "{}",
            out.all_output()
        );
        assert_adds(&out.stdout, "port: 8000");
    }

    #[test]
    fn a_ref_that_does_not_exist_exits_2_and_names_the_ref() {
        let repo = GitRepo::base_and_two_overlays();

        for (base, head, missing) in [
            ("master", "no-such-branch", "no-such-branch"),
            ("v9.9.9-missing", "develop", "v9.9.9-missing"),
        ] {
            let out = repo
                .diff_with()
                .env("RUST_BACKTRACE", "1")
                .run(&["--base", base, "--head", head])
                .assert_code(2);

            assert!(out.stderr.starts_with("error:"), "{}", out.stderr);
            assert!(
                out.stderr.contains(missing),
                "stderr names {missing}: {}",
                out.stderr
            );
            assert_no_panic(&out);
        }
    }

    #[test]
    fn a_directory_that_is_not_a_repository_exits_2_and_names_the_path() {
        let not_a_repo = tempfile::tempdir().unwrap();
        let repo = GitRepo::base_and_two_overlays();

        for dir in [
            not_a_repo.path().to_path_buf(),
            not_a_repo.path().join("does-not-exist"),
        ] {
            let dir = dir.to_str().unwrap();
            let out = repo
                .diff_with()
                .env("RUST_BACKTRACE", "1")
                .run(&["--repo", dir, "--base", "master", "--head", "develop"])
                .assert_code(2);

            assert!(out.stderr.starts_with("error:"), "{}", out.stderr);
            assert!(
                out.stderr.contains(dir),
                "stderr names {dir}: {}",
                out.stderr
            );
            assert_no_panic(&out);
        }
    }

    #[test]
    fn usage_errors_exit_2() {
        let repo = GitRepo::base_and_two_overlays();

        for args in [
            &["--base", "master"][..],
            &["--base", "master", "--head", "develop", "--format", "yaml"],
            &["--base", "master", "--head", "develop", "--no-such-flag"],
        ] {
            let out = repo.run_diff(args).assert_code(2);
            assert_no_panic(&out);
        }
    }

    #[test]
    fn repo_points_at_the_repository_from_anywhere() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/production/kustomization.yaml",
            "count: 3",
            "count: 4",
        );
        repo.commit("production: 4 replicas");
        let elsewhere = tempfile::tempdir().unwrap();

        let out = repo
            .diff_with()
            .current_dir(elsewhere.path())
            .run(&[
                "--repo",
                repo.path().to_str().unwrap(),
                "--base",
                "master",
                "--head",
                "develop",
                "--format",
                "json",
            ])
            .assert_code(0);

        assert_eq!(
            out.report().overlay("overlays/production").changes(),
            ["modified Deployment production/web"]
        );
    }

    fn assert_no_panic(out: &Outcome) {
        let all = out.all_output();
        assert!(!all.contains("panicked"), "{all}");
        assert!(!all.to_lowercase().contains("backtrace"), "{all}");
    }
}

// =============================================================================================
// Symlinks never lead out of the repository
// =============================================================================================
mod symlinks {
    use super::*;

    const MARKER: &str = "OUTSIDE-THE-REPO-MARKER-8d1f";

    /// A directory outside every repository holding a kustomization (`pkg/`) whose only resource
    /// carries the marker.
    fn outside_package() -> tempfile::TempDir {
        let outside = tempfile::Builder::new()
            .prefix("gitops-promote-outside-")
            .tempdir()
            .unwrap();
        let pkg = outside.path().join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(
            pkg.join("kustomization.yaml"),
            "resources:\n- leaked.yaml\n",
        )
        .unwrap();
        std::fs::write(
            pkg.join("leaked.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leaked\ndata:\n  secret: {MARKER}\n"),
        )
        .unwrap();
        outside
    }

    fn assert_staging_failed_without_leaking(repo: &GitRepo, extra: &[&str]) {
        for format in ["json", "text", "markdown"] {
            let out = repo.diff_as(format, "master", "develop", extra);
            assert!(
                !out.all_output().contains(MARKER),
                "{format}: content from outside the repository appears:\n{}",
                out.all_output()
            );
            let out = out.assert_code(3);
            if format == "json" {
                let report = out.report();
                assert_eq!(
                    report.statuses(),
                    pairs(&[
                        ("overlays/production", "unchanged"),
                        ("overlays/staging", "error"),
                    ])
                );
            }
        }
    }

    #[test]
    fn a_directory_symlink_to_outside_the_repository_fails_the_overlay_and_reads_nothing() {
        let outside = outside_package();
        let repo = GitRepo::base_and_two_overlays();
        repo.symlink("overlays/staging/shared", outside.path().join("pkg"));
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "- ../../base\n",
            "- ../../base\n- shared\n",
        );
        repo.commit("staging: use a shared package");

        assert_staging_failed_without_leaking(&repo, &[]);
    }

    #[test]
    fn a_relative_symlink_climbing_out_of_the_repository_fails_the_overlay_and_reads_nothing() {
        let outside = outside_package();
        let repo = GitRepo::base_and_two_overlays();
        // From overlays/staging, three levels up is the directory holding the repository and,
        // beside it, the outside directory.
        assert_eq!(
            repo.path().parent(),
            outside.path().parent(),
            "fixture: siblings"
        );
        let sibling = outside.path().file_name().unwrap().to_str().unwrap();
        repo.symlink("overlays/staging/shared", format!("../../../{sibling}/pkg"));
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "- ../../base\n",
            "- ../../base\n- shared\n",
        );
        repo.commit("staging: use a shared package");

        assert_staging_failed_without_leaking(&repo, &[]);
    }

    #[test]
    fn a_file_symlink_to_outside_the_repository_is_not_followed_even_without_load_restrictions() {
        let outside = outside_package();
        let repo = GitRepo::base_and_two_overlays();
        repo.symlink(
            "overlays/staging/leaked.yaml",
            outside.path().join("pkg/leaked.yaml"),
        );
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "- ../../base\n",
            "- ../../base\n- leaked.yaml\n",
        );
        repo.commit("staging: one more manifest");

        // kustomize's own load restrictor would refuse the file; switch it off so only the export
        // stands between the symlink and the outside file.
        assert_staging_failed_without_leaking(
            &repo,
            &["--build-arg=--load-restrictor=LoadRestrictionsNone"],
        );
    }

    /// The strongest form of "nothing outside is read": the link's target is a named pipe whose
    /// writer notices the moment anyone opens it for reading.
    #[test]
    fn a_symlink_to_a_named_pipe_outside_the_repository_is_never_opened() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        let outside = tempfile::Builder::new()
            .prefix("gitops-promote-outside-")
            .tempdir()
            .unwrap();
        let fifo = outside.path().join("leaked.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo");
        let opened = Arc::new(AtomicBool::new(false));
        let writer = {
            let (fifo, opened) = (fifo.clone(), Arc::clone(&opened));
            std::thread::spawn(move || {
                // Blocks until some process opens the pipe for reading.
                let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
                opened.store(true, Ordering::SeqCst);
                let _ = std::io::Write::write_all(
                    &mut pipe,
                    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leaked\ndata:\n  k: {MARKER}\n")
                        .as_bytes(),
                );
            })
        };
        let repo = GitRepo::base_and_two_overlays();
        repo.symlink("overlays/staging/leaked.yaml", &fifo);
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "- ../../base\n",
            "- ../../base\n- leaked.yaml\n",
        );
        repo.commit("staging: one more manifest");

        let out = repo.diff_json(
            "master",
            "develop",
            &[
                "--build-arg=--load-restrictor=LoadRestrictionsNone",
                "--timeout",
                "10",
            ],
        );

        let was_opened = opened.load(Ordering::SeqCst);
        // Release the writer thread whatever happened.
        drop(std::fs::File::open(&fifo));
        writer.join().unwrap();
        assert!(
            !was_opened,
            "a file outside the repository was opened for reading"
        );
        assert!(!out.all_output().contains(MARKER), "{}", out.all_output());
        let out = out.assert_code(3);
        assert_eq!(out.report().overlay("overlays/staging").status(), "error");
    }

    #[test]
    fn a_symlink_to_outside_that_no_overlay_uses_changes_nothing() {
        let outside = outside_package();
        let repo = GitRepo::base_and_two_overlays();
        repo.symlink("docs/example", outside.path().join("pkg"));
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "newTag: 1.25.0",
            "newTag: 1.25.1",
        );
        repo.commit("staging: nginx 1.25.1, and a docs link");

        let out = repo.diff_json("master", "develop", &[]).assert_code(0);

        assert!(!out.all_output().contains(MARKER), "{}", out.all_output());
        assert_eq!(
            out.report().statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "changed"),
            ])
        );
    }
}

// =============================================================================================
// The work tree is never touched; refs are what gets rendered
// =============================================================================================
mod work_tree {
    use super::*;

    /// Everything a user could notice about their checkout.
    #[derive(Debug, PartialEq)]
    struct Checkout {
        status: String,
        head: String,
        head_sha: String,
        unstaged: String,
        staged: String,
        files: Vec<(String, Vec<u8>)>,
    }

    fn checkout_of(repo: &GitRepo, files: &[&str]) -> Checkout {
        Checkout {
            status: repo.git(&[
                "status",
                "--porcelain=v1",
                "--untracked-files=all",
                "--ignored",
            ]),
            head: repo.git(&["symbolic-ref", "HEAD"]),
            head_sha: repo.sha("HEAD"),
            unstaged: repo.git(&["diff"]),
            staged: repo.git(&["diff", "--cached"]),
            files: files
                .iter()
                .map(|f| (f.to_string(), repo.read_bytes(f)))
                .collect(),
        }
    }

    #[test]
    fn a_dirty_work_tree_is_left_exactly_as_it_was_and_the_refs_are_rendered() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "newTag: 1.25.0",
            "newTag: 1.25.1",
        );
        repo.commit("staging: nginx 1.25.1");
        // Unstaged, staged and untracked edits that must neither be rendered nor disturbed.
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "newTag: 1.25.1",
            "newTag: 9.9.9-dirty",
        );
        repo.edit("base/service.yaml", "port: 80", "port: 8181");
        repo.git(&["add", "base/service.yaml"]);
        repo.write("overlays/production/scratch.yaml", "kind: Nothing\n");
        let files = [
            "overlays/staging/kustomization.yaml",
            "base/service.yaml",
            "overlays/production/scratch.yaml",
        ];
        let before = checkout_of(&repo, &files);
        let index_before = repo.read_bytes(".git/index");

        let out = repo.diff_json("master", "develop", &[]).assert_code(0);

        assert_eq!(
            repo.read_bytes(".git/index"),
            index_before,
            "the index is untouched"
        );
        assert_eq!(checkout_of(&repo, &files), before);
        assert!(!out.stdout.contains("9.9.9-dirty"), "{}", out.stdout);
        assert!(!out.stdout.contains("8181"), "{}", out.stdout);
        let report = out.report();
        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "changed"),
            ])
        );
        assert_adds(
            &report
                .overlay("overlays/staging")
                .diff_of("Deployment", "web"),
            "image: nginx:1.25.1",
        );
    }

    #[test]
    fn diffing_two_branches_that_are_not_checked_out_leaves_head_where_it_is() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/production/kustomization.yaml",
            "count: 3",
            "count: 4",
        );
        repo.commit("production: 4 replicas");
        repo.branch("release");
        repo.checkout("master");
        repo.git(&["checkout", "-q", "-b", "feature"]);
        let before = checkout_of(&repo, &["overlays/production/kustomization.yaml"]);

        let report = repo
            .diff_json("master", "release", &[])
            .assert_code(0)
            .report();

        assert_eq!(
            checkout_of(&repo, &["overlays/production/kustomization.yaml"]),
            before
        );
        assert_eq!(report.overlay("overlays/production").status(), "changed");
    }
}

// =============================================================================================
// Comparing against the merge base
// =============================================================================================
mod merge_base {
    use super::*;

    /// develop changes staging; master meanwhile changes production.
    fn diverged() -> (GitRepo, String) {
        let repo = GitRepo::base_and_two_overlays();
        let fork = repo.sha("HEAD");
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "newTag: 1.25.0",
            "newTag: 1.25.1",
        );
        repo.commit("staging: nginx 1.25.1");
        repo.checkout("master");
        repo.edit(
            "overlays/production/kustomization.yaml",
            "count: 3",
            "count: 4",
        );
        repo.commit("production: 4 replicas (hotfix on master)");
        repo.checkout("develop");
        (repo, fork)
    }

    #[test]
    fn without_merge_base_changes_made_only_on_the_base_branch_show_as_reverted() {
        let (repo, _) = diverged();

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "changed"),
                ("overlays/staging", "changed"),
            ])
        );
        let diff = report
            .overlay("overlays/production")
            .diff_of("Deployment", "web");
        assert_removes(&diff, "replicas: 4");
        assert_adds(&diff, "replicas: 3");
    }

    #[test]
    fn merge_base_compares_head_with_where_it_forked_from_base() {
        let (repo, fork) = diverged();

        let report = repo
            .diff_json("master", "develop", &["--merge-base"])
            .assert_code(0)
            .report();

        assert_eq!(report.0["merge_base"], true);
        assert_eq!(report.0["base"], fork.as_str());
        assert_eq!(report.0["head"], repo.sha("develop"));
        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "changed"),
            ])
        );
    }
}

// =============================================================================================
// How kustomize is run
// =============================================================================================
mod kustomize_command {
    use super::*;

    fn repo_with_a_staging_image_bump() -> GitRepo {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "newTag: 1.25.0",
            "newTag: 1.25.1",
        );
        repo.commit("staging: nginx 1.25.1");
        repo
    }

    /// A directory holding a `kustomize` that logs its arguments and renders with kubectl.
    fn kustomize_on_path() -> (tempfile::TempDir, std::path::PathBuf) {
        let bin = tempfile::tempdir().unwrap();
        let log = bin.path().join("kustomize.log");
        write_script(
            bin.path(),
            "kustomize",
            &format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\n[ \"$1\" = build ] && shift\nexec kubectl kustomize \"$@\"\n",
                log.display()
            ),
        );
        (bin, log)
    }

    fn path_with(dir: &std::path::Path) -> String {
        format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    #[test]
    fn kustomize_build_is_preferred_when_kustomize_is_on_the_path() {
        let repo = repo_with_a_staging_image_bump();
        let (bin, log) = kustomize_on_path();

        let out = repo
            .diff_with()
            .env("PATH", path_with(bin.path()))
            .run(&["--base", "master", "--head", "develop", "--format", "json"])
            .assert_code(0);

        let calls = std::fs::read_to_string(&log).expect("kustomize was run");
        let calls: Vec<&str> = calls.lines().collect();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(calls.iter().all(|c| c.starts_with("build ")), "{calls:?}");
        assert_eq!(out.report().overlay("overlays/staging").status(), "changed");
    }

    #[test]
    fn kustomize_never_sees_the_run_s_tokens() {
        let repo = repo_with_a_staging_image_bump();
        let bin = tempfile::tempdir().unwrap();
        let env_log = bin.path().join("env.log");
        write_script(
            bin.path(),
            "kustomize",
            &format!(
                "#!/bin/sh
env >> '{}'
[ \"$1\" = build ] && shift
exec kubectl kustomize \"$@\"\n",
                env_log.display()
            ),
        );
        let secret = "ghs_mustNotReachKustomize0123456789";
        repo.diff_with()
            .env("PATH", path_with(bin.path()))
            .env("INPUT_GITHUB_TOKEN", secret)
            .env("INPUT_GITHUB-TOKEN", secret)
            .env("GITHUB_TOKEN", secret)
            .env("ACTIONS_RUNTIME_TOKEN", secret)
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", secret)
            .env("GITOPS_PROMOTE_HARMLESS", "kept")
            .run(&["--base", "master", "--head", "develop"])
            .assert_code(0);
        let env = std::fs::read_to_string(&env_log).expect("kustomize was run");
        assert!(!env.contains(secret), "{env}");
        assert!(
            env.contains("GITOPS_PROMOTE_HARMLESS=kept"),
            "other variables stay"
        );
    }

    #[test]
    fn a_bare_kustomize_command_gets_build_added() {
        let repo = repo_with_a_staging_image_bump();
        let (bin, log) = kustomize_on_path();

        repo.diff_with()
            .env("PATH", path_with(bin.path()))
            .run(&[
                "--base",
                "master",
                "--head",
                "develop",
                "--kustomize",
                "kustomize",
            ])
            .assert_code(0);

        let calls = std::fs::read_to_string(&log).expect("kustomize was run");
        assert!(
            calls.lines().count() == 2 && calls.lines().all(|c| c.starts_with("build ")),
            "{calls}"
        );
    }

    #[test]
    fn the_kustomize_command_is_split_like_a_shell_would_and_gets_build_args_before_the_directory()
    {
        let repo = repo_with_a_staging_image_bump();
        let tools = tempfile::tempdir().unwrap();
        let dir = tools.path().join("my tools");
        std::fs::create_dir_all(&dir).unwrap();
        let log = tools.path().join("calls.log");
        let script = write_script(
            &dir,
            "render.sh",
            &format!(
                // One append per call, so parallel builds cannot interleave their lines.
                "#!/bin/sh\nline=''\nfor a in \"$@\"; do line=\"$line[$a]\"; done\n\
                 echo \"$line\" >> '{}'\nshift\nexec kubectl kustomize \"$@\"\n",
                log.display()
            ),
        );
        // The first word is the script (quoted, it has a space); the second its own first argument,
        // which the script drops before calling kubectl.
        let command = format!("'{}' --mode=strict", script.display());

        let out = repo
            .diff_json(
                "master",
                "develop",
                &[
                    "--kustomize",
                    &command,
                    "--build-arg=--load-restrictor=LoadRestrictionsRootOnly",
                ],
            )
            .assert_code(0);

        assert_eq!(out.report().overlay("overlays/staging").status(), "changed");
        let calls = std::fs::read_to_string(&log).expect("the script was run");
        let calls: Vec<&str> = calls.lines().collect();
        assert_eq!(calls.len(), 2, "{calls:?}");
        for call in calls {
            assert!(
                call.starts_with("[--mode=strict][--load-restrictor=LoadRestrictionsRootOnly][")
                    && call.ends_with("overlays/staging]"),
                "CMD, then build args, then the overlay directory: {call}"
            );
        }
    }

    #[test]
    fn a_build_that_exceeds_the_timeout_fails_its_overlay() {
        let repo = repo_with_a_staging_image_bump();
        let tools = tempfile::tempdir().unwrap();
        let slow = write_script(tools.path(), "slow.sh", "#!/bin/sh\nexec sleep 60\n");
        let started = std::time::Instant::now();

        let out = repo.diff_json(
            "master",
            "develop",
            &["--kustomize", slow.to_str().unwrap(), "--timeout", "2"],
        );

        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "took {:?}",
            started.elapsed()
        );
        let out = out.assert_code(3);
        assert_eq!(out.report().overlay("overlays/staging").status(), "error");
    }

    #[test]
    fn one_job_renders_the_same_report_as_many() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "base/deployment.yaml",
            "containerPort: 8080",
            "containerPort: 9090",
        );
        repo.commit("listen on 9090");

        let serial = repo
            .diff_json("master", "develop", &["--jobs", "1"])
            .assert_code(0)
            .report();
        let parallel = repo
            .diff_json("master", "develop", &["--jobs", "8"])
            .assert_code(0)
            .report();

        let mut a = serial.overlays().clone();
        let mut b = parallel.overlays().clone();
        a.sort_by_key(|o| str_of(&o["path"]));
        b.sort_by_key(|o| str_of(&o["path"]));
        assert_eq!(a, b);
    }

    #[test]
    fn a_remote_base_is_reported_and_not_fetched_without_allow_remote() {
        let url = "https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.5.0";
        let repo = GitRepo::base_and_two_overlays();
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "- ../../base\n",
            &format!("- ../../base\n- {url}\n"),
        );
        repo.commit("staging: hello world");
        let counter = kustomize_counter();

        let out = repo.diff_json("master", "develop", &["--kustomize", counter.command()]);

        let report = out.report();
        let staging = report.overlay("overlays/staging");
        assert_eq!(
            staging.0["remote"],
            serde_json::json!([url]),
            "{:#}",
            staging.0
        );
        assert!(
            counter
                .invocations()
                .iter()
                .all(|c| !c.ends_with("overlays/staging")),
            "staging needs the network, so it is not built: {:?}",
            counter.invocations()
        );
    }
}

// =============================================================================================
// Argo CD and Image Updater: `.argocd-source*.yaml` overrides and the image summary
// =============================================================================================
mod argocd_overrides {
    use super::*;

    const STAGING_APP_FILE: &str = "overlays/staging/.argocd-source-staging-web.yaml";

    /// What Argo CD Image Updater commits: only its override file, never the kustomization.
    fn image_updater_commit(repo: &GitRepo, path: &str, image: &str) {
        repo.write(path, &format!("kustomize:\n  images:\n  - {image}\n"));
        repo.commit(&format!("build: automatic update of {image}"));
    }

    #[test]
    fn an_image_updater_commit_shows_the_tag_argo_cd_deploys() {
        let repo = GitRepo::base_and_two_overlays();
        image_updater_commit(&repo, STAGING_APP_FILE, "nginx:1.26.0");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();
        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/production", "unchanged"),
                ("overlays/staging", "changed"),
            ])
        );
        let staging = report.overlay("overlays/staging");
        let diff = staging.diff_of("Deployment", "web");
        assert_removes(&diff, "image: nginx:1.25.0");
        assert_adds(&diff, "image: nginx:1.26.0");
        assert_eq!(
            staging.0["argocd_overrides"],
            serde_json::json!([STAGING_APP_FILE])
        );
        assert_eq!(
            staging.0["images"],
            serde_json::json!([{
                "image": "nginx",
                "old": "nginx:1.25.0",
                "new": "nginx:1.26.0",
                "containers": ["Deployment web (staging), container web"],
            }])
        );

        let text = repo
            .diff_as("text", "master", "develop", &[])
            .assert_code(0)
            .stdout;
        assert!(
            text.contains("Images:\n  overlays/staging: nginx: 1.25.0 → 1.26.0\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("  Argo CD override applied: {STAGING_APP_FILE}\n")),
            "{text}"
        );
        let markdown = repo
            .diff_as("markdown", "master", "develop", &[])
            .assert_code(0)
            .stdout;
        let images_at = markdown.find("**Images**").expect("an images summary");
        let table_at = markdown.find("| Overlay |").expect("a table");
        assert!(images_at < table_at, "the images come first:\n{markdown}");
        assert!(
            markdown.contains("- `overlays/staging`: `nginx: 1.25.0 → 1.26.0`"),
            "{markdown}"
        );
    }

    #[test]
    fn the_app_file_is_applied_after_the_generic_one_and_replaces_its_images() {
        let repo = GitRepo::base_and_two_overlays();
        repo.write(
            "overlays/production/.argocd-source.yaml",
            "kustomize:\n  images:\n  - nginx:1.25.5\n  - busybox:1.36\n",
        );
        repo.write(
            "overlays/production/.argocd-source-production-web.yaml",
            "# written by Argo CD Image Updater\nkustomize:\n  images:\n  - nginx=registry.example.com/mirror/nginx:1.27.0@sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac\n",
        );
        repo.commit("production: pin a mirrored nginx");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();
        let production = report.overlay("overlays/production");
        assert_eq!(
            production.0["argocd_overrides"],
            serde_json::json!([
                "overlays/production/.argocd-source.yaml",
                "overlays/production/.argocd-source-production-web.yaml"
            ])
        );
        let diff = production.diff_of("Deployment", "web");
        assert_adds(
            &diff,
            "image: registry.example.com/mirror/nginx:1.27.0@sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac",
        );
        assert!(
            !diff.contains("1.25.5"),
            "the generic list was replaced:\n{diff}"
        );
        let text = repo
            .diff_as("text", "master", "develop", &[])
            .assert_code(0)
            .stdout;
        assert!(
            text.contains("  overlays/production: nginx:1.24.0 → registry.example.com/mirror/nginx:1.27.0@sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac\n"),
            "{text}"
        );
    }

    #[test]
    fn an_override_never_leaks_into_an_overlay_that_includes_this_one() {
        let repo = GitRepo::base_and_two_overlays_with(&[(
            "overlays/canary/kustomization.yaml",
            "resources:\n- ../staging\nnameSuffix: -canary\n",
        )]);
        image_updater_commit(&repo, STAGING_APP_FILE, "nginx:1.26.0");

        let report = repo
            .diff_json("master", "develop", &["--all", "--path", "overlays/*"])
            .assert_code(0)
            .report();
        assert_eq!(
            report.statuses(),
            pairs(&[
                ("overlays/canary", "unchanged"),
                ("overlays/production", "unchanged"),
                ("overlays/staging", "changed"),
            ])
        );
        assert!(
            report.overlay("overlays/canary").0["argocd_overrides"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_broken_override_fails_its_overlay_only_and_names_the_file() {
        let repo = GitRepo::base_and_two_overlays();
        repo.write(
            "overlays/staging/.argocd-source.yaml",
            "kustomize:\n  images:\n  - nginx\n",
        );
        repo.edit(
            "overlays/production/kustomization.yaml",
            "count: 3",
            "count: 4",
        );
        repo.commit("a hand-edited override and a scale-up");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(3)
            .report();
        let staging = report.overlay("overlays/staging");
        assert_eq!(staging.status(), "error");
        let error = staging.error();
        assert!(
            error.contains("overlays/staging/.argocd-source.yaml")
                && error.contains("'nginx' names no tag or digest"),
            "{error}"
        );
        assert_eq!(report.overlay("overlays/production").status(), "changed");
    }
}

// =============================================================================================
// Names from a PR in the markdown report
// =============================================================================================
mod hostile_names {
    use super::*;
    use comrak::nodes::NodeValue;
    use comrak::{Arena, Options, markdown_to_html, parse_document};

    /// A name that tries to end the `<details>` block, ping a team, link an issue, load an
    /// image, forge our hidden marker and start new blocks after a blank line.
    const NAME: &str = "x`</details>@acme/team #1 <!-- gitops-promote id=default part=2/2 head=f -->\n\n<img src=https://evil.example/p.png>";
    const KIND: &str = "Widget</details>@acme/team";
    const OVERLAY: &str = "overlays/qa|@acme-team<b>x";
    const MISSING: &str = "gone</details>@acme-team.yaml";

    fn github() -> Options<'static> {
        let mut options = Options::default();
        options.extension.table = true;
        options.extension.strikethrough = true;
        options.extension.autolink = true;
        options.extension.tasklist = true;
        options.extension.alerts = true;
        options.render.r#unsafe = true;
        options
    }

    /// What the HTML reads as: tags dropped, entities decoded.
    fn text_of(html: &str) -> String {
        regex::Regex::new(r"<[^>]*>")
            .unwrap()
            .replace_all(html, "")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    #[test]
    fn a_pr_s_names_stay_text_and_the_comment_keeps_its_structure() {
        let repo = GitRepo::base_and_two_overlays();
        let quoted = |s: &str| serde_json::to_string(s).unwrap();
        repo.write(
            "overlays/staging/hostile.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\ndata:\n  a: b\n---\n\
                 apiVersion: example.com/v1\nkind: {}\nmetadata:\n  name: widget\n",
                quoted(NAME),
                quoted(KIND)
            ),
        );
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "- ../../base\n",
            "- ../../base\n- hostile.yaml\n",
        );
        repo.write(
            &format!("{OVERLAY}/kustomization.yaml"),
            &overlay_kustomization("qa", "1.25.0", 1),
        );
        repo.write(
            "overlays/broken/kustomization.yaml",
            &format!("resources:\n- {}\n", quoted(MISSING)),
        );
        repo.commit("staging: a hostile ConfigMap; a new qa overlay; a broken overlay");

        let out = repo
            .diff_as("markdown", "master", "develop", &[])
            .assert_code(3);
        let md = &out.stdout;
        let html = markdown_to_html(md, &github());

        // One <details> per overlay with changes (broken, qa, staging), opened and closed in turn.
        let order: Vec<&str> = regex::Regex::new(r"</?details\b")
            .unwrap()
            .find_iter(&html)
            .map(|m| m.as_str())
            .collect();
        assert_eq!(order, ["<details", "</details"].repeat(3), "{md}");
        for made in ["<a ", "<img", "<b>", "<!--"] {
            assert!(!html.contains(made), "{made} made from a name:\n{html}");
        }
        let code = regex::Regex::new(r"(?s)<pre[^>]*>.*?</pre>|<code[^>]*>.*?</code>").unwrap();
        let prose = text_of(&code.replace_all(&html, ""));
        assert!(
            !regex::Regex::new(r"@[A-Za-z0-9]|#[0-9]")
                .unwrap()
                .is_match(&prose),
            "a mention or issue link outside code:\n{prose}"
        );

        // Every name still reads as it is, a line break as ⏎.
        let text = text_of(&html).replace('\u{2060}', "");
        for name in [
            format!("staging/{}", NAME.replace('\n', "⏎")),
            KIND.to_string(),
            OVERLAY.to_string(),
        ] {
            assert!(text.contains(&name), "{name:?} not shown in:\n{text}");
        }

        // The table: a header and one row of five cells per overlay.
        let arena = Arena::new();
        let root = parse_document(&arena, md, &github());
        let rows: Vec<usize> = root
            .descendants()
            .filter(|n| matches!(n.data().value, NodeValue::TableRow(..)))
            .map(|row| row.children().count())
            .collect();
        assert_eq!(rows, [5, 5, 5, 5], "{md}");

        // kustomize's error is shown in a text block, naming the missing file as it is.
        let error = root
            .descendants()
            .find_map(|n| match &n.data().value {
                NodeValue::CodeBlock(b) if b.info == "text" => Some(b.literal.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no text block for the build error:\n{md}"));
        assert!(error.contains(MISSING), "{error}");
    }
}

// =============================================================================================
// One identity under two apiVersions
// =============================================================================================
mod api_version_twins {
    use super::*;

    const HPA: &str = "\
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  maxReplicas: 5
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
";

    #[test]
    fn kustomize_renders_both_and_the_report_lists_both() {
        let repo = GitRepo::base_and_two_overlays();
        repo.write(
            "overlays/production/hpa-v1.yaml",
            &format!("apiVersion: autoscaling/v1\n{HPA}"),
        );
        repo.write(
            "overlays/production/hpa-v2.yaml",
            &format!("apiVersion: autoscaling/v2\n{HPA}"),
        );
        repo.edit(
            "overlays/production/kustomization.yaml",
            "- ../../base\n",
            "- ../../base\n- hpa-v1.yaml\n- hpa-v2.yaml\n",
        );
        repo.commit("production: autoscale web (twice, by mistake)");

        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();
        let production = report.overlay("overlays/production");
        assert_eq!(
            production.changes(),
            [
                "added HorizontalPodAutoscaler production/web",
                "added HorizontalPodAutoscaler production/web",
            ]
        );
        let versions: Vec<&str> = production
            .resources()
            .iter()
            .filter(|r| r["kind"] == "HorizontalPodAutoscaler")
            .map(|r| r["apiVersion"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["autoscaling/v1", "autoscaling/v2"]);

        // In the comment, each twin's heading names its version, so the two read apart.
        let markdown = repo
            .diff_as("markdown", "master", "develop", &[])
            .assert_code(0)
            .stdout;
        for version in ["autoscaling/v1", "autoscaling/v2"] {
            let heading =
                format!("**HorizontalPodAutoscaler** `{version}` `production/web` (added)");
            assert!(markdown.contains(&heading), "{heading} in\n{markdown}");
        }
    }
}

mod big_overlays {
    use super::*;

    #[test]
    fn an_overlay_of_three_thousand_resources_diffs_like_a_small_one() {
        let repo = GitRepo::base_and_two_overlays();
        let many: String = (0..3_000)
            .map(|i| {
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: feature-{i}\ndata:\n  enabled: \"true\"\n"
                )
            })
            .collect::<Vec<_>>()
            .join("---\n");
        repo.write("overlays/staging/features.yaml", &many);
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "- ../../base\n",
            "- ../../base\n- features.yaml\n",
        );
        repo.commit("staging: three thousand feature flags");

        let started = std::time::Instant::now();
        let report = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        let staging = report.overlay("overlays/staging");
        assert_eq!(staging.status(), "changed");
        assert_eq!(staging.resources().len(), 3_000);
        assert_eq!(report.overlay("overlays/production").status(), "unchanged");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_render_over_the_parser_limits_fails_its_overlay_only() {
        let repo = GitRepo::base_and_two_overlays();
        repo.edit("base/service.yaml", "port: 80", "port: 8080");
        repo.commit("change the shared base");
        let tools = tempfile::tempdir().unwrap();
        let deep = tools.path().join("deep.yaml");
        std::fs::write(
            &deep,
            format!(
                "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: deep\nspec: {}1{}\n",
                "{a: ".repeat(200),
                "}".repeat(200)
            ),
        )
        .unwrap();
        // Staging renders far deeper than any real manifest; production renders for real.
        let kustomize = write_script(
            tools.path(),
            "kustomize.sh",
            &format!(
                "#!/bin/sh\nfor last; do :; done\ncase \"$last\" in\n  */overlays/staging) cat '{}' ;;\n  *) exec kubectl kustomize \"$@\" ;;\nesac\n",
                deep.display()
            ),
        );

        let out = repo
            .diff_json(
                "master",
                "develop",
                &["--kustomize", kustomize.to_str().unwrap()],
            )
            .assert_code(3);

        let report = out.report();
        let error = report.overlay("overlays/staging").error();
        assert!(
            error.contains(
                "the kustomize output nests deeper than 128 levels, the most gitops-promote reads"
            ),
            "{error}"
        );
        let production = report.overlay("overlays/production");
        assert_eq!(production.status(), "changed");
        assert_eq!(production.changes(), ["modified Service production/web"]);
    }
}

mod scrubbed_errors {
    use super::*;

    const OLD_PASSWORD: &str = "old-password-7731";
    const NEW_PASSWORD: &str = "new-password-8842";

    /// A replacement aimed inside a Secret value makes kustomize fail and print the value
    /// ("node contents: <base64>").
    const ECHOING_REPLACEMENT: &str = "replacements:\n- source:\n    kind: Secret\n    name: creds\n    fieldPath: metadata.name\n  targets:\n  - select:\n      kind: Secret\n    fieldPaths:\n    - data.PASSWORD.[x=y]\n";

    #[test]
    fn a_secret_value_kustomize_echoes_in_an_error_is_redacted() {
        let repo = GitRepo::base_and_two_overlays_with(&[(
            "overlays/staging/kustomization.yaml",
            &format!(
                "{STAGING_KUSTOMIZATION}secretGenerator:\n- name: creds\n  literals:\n  - PASSWORD={OLD_PASSWORD}\n"
            ),
        )]);
        // The new value only ever exists in the kustomization: the head's render fails.
        repo.write(
            "overlays/staging/kustomization.yaml",
            &format!(
                "{STAGING_KUSTOMIZATION}secretGenerator:\n- name: creds\n  literals:\n  - PASSWORD={NEW_PASSWORD}\n{ECHOING_REPLACEMENT}"
            ),
        );
        repo.commit("rotate the password, and break the replacement");

        let out = repo.diff_json("master", "develop", &[]).assert_code(3);

        let values = [
            OLD_PASSWORD.to_string(),
            NEW_PASSWORD.to_string(),
            base64(OLD_PASSWORD),
            base64(NEW_PASSWORD),
        ];
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_no_secret_in(&out.all_output(), &values, "the json run");
        let error = out.report().overlay("overlays/staging").error();
        assert!(
            error.contains("unable to find field"),
            "the cause is kept: {error}"
        );
        assert!(
            error.contains("<redacted>"),
            "the echoed value is replaced: {error}"
        );
    }
    /// The same, with the new value only in the generator's env file: no render ever held it.
    #[test]
    fn a_secret_value_from_a_generator_env_file_is_redacted_too() {
        let generator = "secretGenerator:\n- name: creds\n  envs:\n  - creds.env\n";
        let repo = GitRepo::base_and_two_overlays_with(&[
            (
                "overlays/staging/kustomization.yaml",
                &format!("{STAGING_KUSTOMIZATION}{generator}"),
            ),
            (
                "overlays/staging/creds.env",
                &format!("PASSWORD={OLD_PASSWORD}\n"),
            ),
        ]);
        repo.write(
            "overlays/staging/creds.env",
            &format!("PASSWORD={NEW_PASSWORD}\n"),
        );
        repo.write(
            "overlays/staging/kustomization.yaml",
            &format!("{STAGING_KUSTOMIZATION}{generator}{ECHOING_REPLACEMENT}"),
        );
        repo.commit("rotate the password in the env file, and break the replacement");

        let out = repo.diff_json("master", "develop", &[]).assert_code(3);

        let new = base64(NEW_PASSWORD);
        assert_no_secret_in(&out.all_output(), &[NEW_PASSWORD, &new], "the json run");
        let error = out.report().overlay("overlays/staging").error();
        assert!(error.contains("<redacted>"), "{error}");
    }
}
