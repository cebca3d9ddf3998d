//! The render cache (`--cache`) and sharding (`diff --shard I/N`, `merge-reports`), through the
//! real binary and the real kustomize: which builds run, what a damaged cache does, and that the
//! shards' joined report is the report one job makes.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// The repository of `base_and_two_overlays` with `extra` more overlays on the shared base, and
/// a change to that base committed on `develop`: every overlay is affected.
fn shared_base_change(extra: usize) -> GitRepo {
    let teams: Vec<(String, String)> = (0..extra)
        .map(|i| {
            let name = format!("team-{i:02}");
            let kustomization = overlay_kustomization(&name, "1.25.0", 1 + i as u32 % 3);
            (format!("overlays/{name}/kustomization.yaml"), kustomization)
        })
        .collect();
    let files: Vec<(&str, &str)> = teams
        .iter()
        .map(|(path, content)| (path.as_str(), content.as_str()))
        .collect();
    let repo = GitRepo::base_and_two_overlays_with(&files);
    repo.edit("base/service.yaml", "port: 80", "port: 8080");
    repo.commit("base: serve on 8080");
    repo
}

fn cache_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache").display().to_string();
    (dir, cache)
}

/// The JSON report without its statistics, which differ between any two runs.
fn without_stats(report: &Report) -> Value {
    let mut value = report.0.clone();
    value.as_object_mut().unwrap().remove("stats");
    value
}

fn cache_stat(report: &Report, name: &str) -> u64 {
    report.0["stats"]["cache"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no stats.cache.{name} in {:#}", report.0["stats"]))
}

/// Every entry file of a cache directory.
fn entries(cache: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(Path::new(cache).join("renders"))
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| !e.file_type().is_dir())
        .map(walkdir::DirEntry::into_path)
        .collect();
    found.sort();
    found
}

mod render_cache {
    use super::*;

    /// Runs `diff --format json` with `--cache` and one kustomize (the cache keys on the
    /// binary, so every run of a test must use the same one); returns the report and the builds
    /// this run made.
    struct Cached {
        cache: String,
        counter: KustomizeCounter,
        _keep: tempfile::TempDir,
    }

    impl Cached {
        fn new() -> Cached {
            let (keep, cache) = cache_dir();
            Cached {
                cache,
                counter: kustomize_counter(),
                _keep: keep,
            }
        }

        fn diff(
            &self,
            repo: &GitRepo,
            base: &str,
            head: &str,
            extra: &[&str],
        ) -> (Report, Vec<String>) {
            let before = self.counter.builds();
            let mut args = vec![
                "--cache",
                self.cache.as_str(),
                "--kustomize",
                self.counter.command(),
            ];
            args.extend_from_slice(extra);
            let report = repo.diff_json(base, head, &args).assert_code(0).report();
            (report, self.counter.invocations()[before..].to_vec())
        }
    }

    #[test]
    fn a_warm_cache_builds_only_the_head_side_and_reports_the_same() {
        let repo = shared_base_change(1);
        let cached = Cached::new();
        let uncached = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        // What a push to master does: render master against itself, every overlay once.
        let (warm, built) = cached.diff(&repo, "master", "master", &["--all"]);
        assert_eq!(built.len(), 3, "{built:?}");
        assert_eq!(cache_stat(&warm, "written"), 3);

        let (pr, built) = cached.diff(&repo, "master", "develop", &[]);
        assert_eq!(built.len(), 3, "{built:?}");
        assert!(
            built.iter().all(|b| b.contains("/head/")),
            "only the head side is built: {built:?}"
        );
        assert_eq!(pr.stat("builds"), 3);
        assert_eq!(cache_stat(&pr, "hits"), 3);
        assert_eq!(cache_stat(&pr, "misses"), 3);
        assert_eq!(without_stats(&pr), without_stats(&uncached));

        // The same PR again: nothing left to build.
        let (again, built) = cached.diff(&repo, "master", "develop", &[]);
        assert!(built.is_empty(), "{built:?}");
        assert_eq!(cache_stat(&again, "hits"), 6);
        assert_eq!(without_stats(&again), without_stats(&uncached));
    }

    #[test]
    fn damaged_entries_are_never_served_and_are_written_again() {
        let repo = shared_base_change(0);
        let cached = Cached::new();
        let (first, _) = cached.diff(&repo, "master", "develop", &[]);
        let files = entries(&cached.cache);
        assert_eq!(files.len(), 4, "{files:?}");
        // One truncated, one altered behind an intact-looking header, one not an entry at all,
        // one emptied.
        let whole = std::fs::read_to_string(&files[0]).unwrap();
        std::fs::write(&files[0], &whole[..whole.len() / 2]).unwrap();
        let altered = std::fs::read_to_string(&files[1])
            .unwrap()
            .replace("port: 8080", "port: 6666")
            .replace("port: 80\n", "port: 6666\n");
        assert!(altered.contains("6666"));
        std::fs::write(&files[1], altered).unwrap();
        std::fs::write(&files[2], "kind: ConfigMap\n").unwrap();
        std::fs::write(&files[3], "").unwrap();

        let (second, built) = cached.diff(&repo, "master", "develop", &[]);
        assert_eq!(built.len(), 4, "{built:?}");
        assert_eq!(cache_stat(&second, "corrupt"), 4);
        assert_eq!(cache_stat(&second, "written"), 4);
        assert!(!second.0.to_string().contains("6666"));
        assert_eq!(without_stats(&second), without_stats(&first));

        let (third, built) = cached.diff(&repo, "master", "develop", &[]);
        assert_eq!(cache_stat(&third, "hits"), 4);
        assert!(built.is_empty(), "{built:?}");
    }

    #[test]
    fn another_kustomize_or_other_build_args_miss() {
        let repo = shared_base_change(0);
        let cached = Cached::new();
        assert_eq!(
            cache_stat(&cached.diff(&repo, "master", "develop", &[]).0, "misses"),
            4
        );
        assert_eq!(
            cache_stat(&cached.diff(&repo, "master", "develop", &[]).0, "hits"),
            4
        );
        let (restricted, _) = cached.diff(
            &repo,
            "master",
            "develop",
            &["--build-arg=--load-restrictor=LoadRestrictionsRootOnly"],
        );
        assert_eq!(cache_stat(&restricted, "misses"), 4);

        // The same kustomize once its binary changes (another version) misses too.
        let script = cached.counter.command();
        std::fs::write(
            script,
            std::fs::read_to_string(script).unwrap() + "# another version\n",
        )
        .unwrap();
        let (upgraded, built) = cached.diff(&repo, "master", "develop", &[]);
        assert_eq!(cache_stat(&upgraded, "misses"), 4);
        assert_eq!(built.len(), 4);
    }

    #[test]
    fn builds_that_may_read_outside_the_repository_are_not_cached() {
        let repo = shared_base_change(0);
        let (_keep, cache) = cache_dir();
        for _ in 0..2 {
            let report = repo
                .diff_json(
                    "master",
                    "develop",
                    &[
                        "--cache",
                        &cache,
                        "--build-arg=--load-restrictor=LoadRestrictionsNone",
                    ],
                )
                .assert_code(0)
                .report();
            assert_eq!(cache_stat(&report, "uncacheable"), 4);
            assert_eq!(report.stat("builds"), 4);
        }
        assert!(entries(&cache).is_empty());
    }

    #[test]
    fn an_argocd_override_file_is_part_of_the_key() {
        let repo = shared_base_change(0);
        let cached = Cached::new();
        cached.diff(&repo, "master", "develop", &[]);
        repo.write(
            "overlays/staging/.argocd-source.yaml",
            "kustomize:\n  images:\n  - nginx:9.9.9\n",
        );
        repo.commit("Image Updater: nginx 9.9.9 in staging");
        let (report, built) = cached.diff(&repo, "master", "develop", &[]);
        let staging = report.overlay("overlays/staging");
        assert_adds(&staging.diff_of("Deployment", "web"), "image: nginx:9.9.9");
        // Staging's head render is new; everything else was cached.
        assert_eq!(built.len(), 1, "{built:?}");
        assert!(built[0].contains("/head/overlays/staging"), "{built:?}");
        assert_eq!(cache_stat(&report, "hits"), 3);
    }

    #[test]
    fn an_unusable_cache_directory_is_a_clear_error() {
        let repo = shared_base_change(0);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let out = repo
            .diff_json("master", "develop", &["--cache", file.to_str().unwrap()])
            .assert_code(2);
        assert!(
            out.stderr.contains("render cache") && out.stderr.contains("not-a-dir"),
            "{}",
            out.stderr
        );
    }
}

mod shards {
    use super::*;

    /// `merge-reports ARGS...` in `repo`.
    fn merge(repo: &GitRepo, args: &[&str]) -> Outcome {
        let mut cmd = repo.command();
        cmd.arg("merge-reports").args(args);
        Outcome::of(&mut cmd, args)
    }

    /// Runs every shard of `count` into `dir` with `extra` arguments, each with its own
    /// kustomize counter; returns the partial reports' paths and each shard's builds.
    fn run_shards(
        repo: &GitRepo,
        dir: &Path,
        count: usize,
        extra: &[&str],
    ) -> (Vec<String>, Vec<usize>) {
        let mut files = Vec::new();
        let mut builds = Vec::new();
        for i in 1..=count {
            let file = dir.join(format!("part-{i}.json")).display().to_string();
            let counter = kustomize_counter();
            let shard = format!("{i}/{count}");
            let args = [
                "--base",
                "master",
                "--head",
                "develop",
                "--shard",
                &shard,
                "--output",
                &file,
                "--kustomize",
                counter.command(),
            ];
            repo.run_diff(&[&args[..], extra].concat()).assert_code(0);
            files.push(file);
            builds.push(counter.builds());
        }
        (files, builds)
    }

    #[test]
    fn joined_shards_are_byte_identical_to_one_job() {
        let repo = shared_base_change(5);
        let counter = kustomize_counter();
        let single_md = repo
            .diff_as(
                "markdown",
                "master",
                "develop",
                &["--kustomize", counter.command()],
            )
            .assert_code(0)
            .stdout;
        let single_builds = counter.builds();
        assert_eq!(single_builds, 14);
        let single_json = repo
            .diff_json("master", "develop", &[])
            .assert_code(0)
            .report();

        let dir = tempfile::tempdir().unwrap();
        let (mut files, builds) = run_shards(&repo, dir.path(), 3, &[]);
        assert_eq!(builds.iter().sum::<usize>(), single_builds, "{builds:?}");
        assert!(
            builds.iter().all(|&b| b > 0),
            "every shard has work: {builds:?}"
        );

        // The order the files are given in does not matter.
        files.reverse();
        let args: Vec<&str> = files.iter().map(String::as_str).collect();
        let merged_md = merge(&repo, &[&args[..], &["--format", "markdown"]].concat())
            .assert_code(0)
            .stdout;
        assert_eq!(merged_md, single_md);
        let merged = merge(&repo, &[&args[..], &["--format", "json"]].concat())
            .assert_code(0)
            .report();
        assert_eq!(without_stats(&merged), without_stats(&single_json));
        assert_eq!(merged.stat("builds") as usize, single_builds);
    }

    #[test]
    fn a_missing_shard_shows_its_overlays_as_not_compared() {
        let repo = shared_base_change(3);
        let dir = tempfile::tempdir().unwrap();
        let (files, _) = run_shards(&repo, dir.path(), 2, &[]);
        let partial: Value =
            serde_json::from_str(&std::fs::read_to_string(&files[1]).unwrap()).unwrap();
        let overlays = partial["report"]["overlays"].as_array().unwrap();
        let owned_by_2: Vec<&str> = partial["owners"]
            .as_array()
            .unwrap()
            .iter()
            .zip(overlays)
            .filter(|(owner, _)| owner.as_u64() == Some(2))
            .map(|(_, o)| o["path"].as_str().unwrap())
            .collect();
        assert!(!owned_by_2.is_empty());

        let out = merge(&repo, &[files[0].as_str(), "--format", "json"]).assert_code(3);
        assert!(
            out.stderr.contains("shard 2/2: no report"),
            "{}",
            out.stderr
        );
        let report = out.report();
        for path in &owned_by_2 {
            let o = report.overlay(path);
            assert_eq!(o.status(), "error", "{path}");
            assert!(
                o.error().contains("not compared: shard 2/2"),
                "{}",
                o.error()
            );
        }
        for o in report.overlays() {
            let path = o["path"].as_str().unwrap();
            if !owned_by_2.contains(&path) {
                assert_eq!(o["status"], "changed", "{path}");
            }
        }
        let md = merge(&repo, &[files[0].as_str(), "--format", "markdown"])
            .assert_code(3)
            .stdout;
        assert!(!md.to_lowercase().contains("no changes"), "{md}");
        assert!(md.contains("not compared"), "{md}");
    }

    #[test]
    fn an_unreadable_partial_counts_as_missing_and_none_is_an_error() {
        let repo = shared_base_change(1);
        let dir = tempfile::tempdir().unwrap();
        let (files, _) = run_shards(&repo, dir.path(), 2, &[]);
        let damaged = dir.path().join("damaged.json");
        let text = std::fs::read_to_string(&files[1]).unwrap();
        std::fs::write(&damaged, &text[..text.len() / 2]).unwrap();
        let out = merge(
            &repo,
            &[&files[0], damaged.to_str().unwrap(), "--format", "json"],
        )
        .assert_code(3);
        assert!(
            out.stderr.contains("damaged.json") && out.stderr.contains("shard 2/2: no report"),
            "{}",
            out.stderr
        );

        let report = dir.path().join("report.json");
        repo.diff_json("master", "develop", &["--output", report.to_str().unwrap()])
            .assert_code(0);
        let out = merge(
            &repo,
            &[damaged.to_str().unwrap(), report.to_str().unwrap()],
        )
        .assert_code(2);
        assert!(
            out.stderr.contains("no partial report could be read")
                && out.stderr.contains("report.json: not a partial report"),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn partials_of_different_runs_are_refused() {
        let repo = shared_base_change(1);
        let dir = tempfile::tempdir().unwrap();
        let (files, _) = run_shards(&repo, dir.path(), 2, &[]);
        repo.edit("base/service.yaml", "port: 8080", "port: 9090");
        repo.commit("base: serve on 9090");
        let newer = dir.path().join("newer");
        std::fs::create_dir(&newer).unwrap();
        let (newer_files, _) = run_shards(&repo, &newer, 2, &[]);
        let out = merge(&repo, &[&files[0], &newer_files[1]]).assert_code(2);
        assert!(
            out.stderr.contains("part-2.json is from another run"),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn shards_balance_by_the_build_times_a_cache_recorded() {
        let repo = shared_base_change(2);
        let (_keep, cache) = cache_dir();
        let dir = tempfile::tempdir().unwrap();
        // Recorded times: staging is by far the slowest, so it gets a shard to itself.
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(
            Path::new(&cache).join("times.json"),
            r#"{"overlays":{"overlays/staging":100.0,"overlays/production":1.0,"overlays/team-00":1.0,"overlays/team-01":1.0}}"#,
        )
        .unwrap();
        let (files, _) = run_shards(&repo, dir.path(), 2, &["--cache", &cache]);
        let owners: Vec<Value> = files
            .iter()
            .map(|file| {
                let partial: Value =
                    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
                partial["owners"].clone()
            })
            .collect();
        assert_eq!(owners[0], owners[1], "both shards place alike");
        // Overlays in path order: production, staging, team-00, team-01.
        assert_eq!(owners[0], serde_json::json!([2, 1, 2, 2]));
    }
}
