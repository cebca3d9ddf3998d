//! `gitops-promote action` on `push` to `develop`: every PR the push merged is cherry-picked onto
//! `master` and gets its own production PR, with that PR's rendered diff, against the loopback
//! GitHub and a real git server.

mod common;
mod support;

use std::fs;

use common::GitRepo;
use serde_json::{Value, json};
use support::runner::{
    FetchDepth, REPO, Step, StepResult, TOKEN, checkout_like_actions, git, repository_json,
};
use support::{FakeGitHub, FakePull};
use tempfile::TempDir;

const MERGED_AT: &str = "2026-11-20T10:00:00Z";

/// A GitOps repository whose `develop` just received merged PRs, served by the fake GitHub.
struct Push {
    fake: FakeGitHub,
    repo: GitRepo,
    runner: TempDir,
    before: String,
    inputs: Vec<(String, String)>,
    next_pr: u64,
    depth: FetchDepth,
}

/// How a PR reaches `develop`.
#[derive(Clone, Copy)]
enum Merge {
    Commit,
    Squash,
    Rebase,
}

impl Push {
    fn new() -> Push {
        let repo = GitRepo::base_and_two_overlays();
        let before = repo.sha("develop");
        let runner = tempfile::Builder::new()
            .prefix("gitops-promote-runner-")
            .tempdir()
            .unwrap();
        Push {
            fake: FakeGitHub::start(TOKEN),
            repo,
            runner,
            before,
            inputs: Vec::new(),
            next_pr: 11,
            depth: FetchDepth::One,
        }
    }

    /// Runs as after `actions/checkout` with `fetch-depth: 0`.
    fn full_clone(mut self) -> Push {
        self.depth = FetchDepth::Full;
        self
    }

    fn input(mut self, name: &str, value: &str) -> Push {
        self.inputs.push((name.to_string(), value.to_string()));
        self
    }

    /// Merges a PR made of `changes` (one commit each) into `develop` the given way and records
    /// it on the fake GitHub. Returns the PR number.
    fn merge_pr(&mut self, how: Merge, title: &str, changes: &[&dyn Fn(&GitRepo)]) -> u64 {
        let number = self.next_pr;
        self.next_pr += 1;
        let repo = &self.repo;
        let branch = format!("feature-{number}");
        repo.checkout("develop");
        repo.git(&["checkout", "-q", "-b", &branch]);
        let mut feature_commits = Vec::new();
        for (i, change) in changes.iter().enumerate() {
            change(repo);
            feature_commits.push(repo.commit(&format!("{title} (step {})", i + 1)));
        }
        repo.checkout("develop");
        let on_develop: Vec<String> = match how {
            Merge::Commit => {
                repo.git(&[
                    "merge",
                    "-q",
                    "--no-ff",
                    "-m",
                    &format!("Merge pull request #{number}"),
                    &branch,
                ]);
                let mut all = feature_commits.clone();
                all.push(repo.sha("HEAD"));
                all
            }
            Merge::Squash => {
                repo.git(&["merge", "-q", "--squash", &branch]);
                vec![repo.commit(&format!("{title} (#{number})"))]
            }
            Merge::Rebase => feature_commits
                .iter()
                .map(|c| {
                    repo.git(&["cherry-pick", c]);
                    repo.sha("HEAD")
                })
                .collect(),
        };
        let tip = repo.sha("HEAD");
        self.fake.add_pull(
            REPO,
            FakePull {
                number,
                head_sha: feature_commits.last().unwrap().clone(),
                head_ref: branch,
                base_ref: "develop".into(),
                base_sha: self.before.clone(),
                merge_commit_sha: Some(tip),
                user_login: "octocat".into(),
                title: title.into(),
                ..FakePull::default()
            },
        );
        self.fake.set_pull_merged(REPO, number, MERGED_AT);
        for sha in on_develop {
            self.fake.add_commit_pull(REPO, &sha, number);
        }
        number
    }

    fn bare(&self) -> std::path::PathBuf {
        self.runner.path().join("served.git")
    }

    /// Serves the repository as it is now.
    fn serve(&self) {
        let bare = self.bare();
        if bare.exists() {
            // Only the branches people push; the promotion branches are the tool's, on the server.
            let source = self.repo.path().to_string_lossy().into_owned();
            git(
                &bare,
                &[
                    "fetch",
                    "-q",
                    &source,
                    "+refs/heads/develop:refs/heads/develop",
                    "+refs/heads/master:refs/heads/master",
                ],
            );
        } else {
            git(
                self.runner.path(),
                &[
                    "clone",
                    "-q",
                    "--bare",
                    &self.repo.path().to_string_lossy(),
                    "served.git",
                ],
            );
            self.fake.add_repo(REPO, &bare);
        }
    }

    /// Serves the repository and runs the push of `develop` from `self.before`.
    fn run(&self) -> StepResult {
        let after = self.repo.sha("develop");
        let event = json!({
            "ref": "refs/heads/develop", "before": self.before, "after": after,
            "created": false, "deleted": false, "forced": false, "base_ref": null,
            "compare": format!("https://github.com/{REPO}/compare/{}...{}", &self.before[..12], &after[..12]),
            "commits": [], "head_commit": {"id": after, "message": "merge", "timestamp": MERGED_AT},
            "repository": repository_json(),
            "pusher": {"name": "octocat", "email": "octocat@example.com"},
            "sender": {"login": "octocat", "id": 583231, "type": "User"}
        });
        self.step("push", &event, &self.inputs)
    }

    /// Runs the promotion workflow by hand (`workflow_dispatch` on `develop`) for PR `number`.
    fn dispatch(&self, number: u64) -> StepResult {
        let event = json!({
            "inputs": {"pr-number": number.to_string()},
            "ref": "refs/heads/develop",
            "workflow": ".github/workflows/promote.yml",
            "repository": repository_json(),
            "sender": {"login": "octocat", "id": 583231, "type": "User"}
        });
        let mut inputs = self.inputs.clone();
        inputs.push(("pr-number".to_string(), number.to_string()));
        self.step("workflow_dispatch", &event, &inputs)
    }

    /// Serves the repository and runs the step for `event` on `develop`, in the workspace
    /// actions/checkout makes for it.
    fn step(&self, name: &str, event: &Value, inputs: &[(String, String)]) -> StepResult {
        self.serve();
        let after = self.repo.sha("develop");
        fs::write(self.runner.path().join("event.json"), event.to_string()).unwrap();
        let workspace = checkout_like_actions(&self.fake, "refs/heads/develop", &after, self.depth);
        Step {
            fake: &self.fake,
            dir: self.runner.path(),
            workspace: workspace.path(),
            event_name: name,
            sha: &after,
            git_ref: "refs/heads/develop".into(),
            inputs,
        }
        .run()
    }

    /// The files a promotion branch changes against `master`, as the served repository has them.
    fn promoted_files(&self, source: u64) -> Vec<String> {
        let range = format!("master...promote/master/pr-{source}");
        git(&self.bare(), &["diff", "--name-only", &range])
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn promotion_pulls(&self) -> Vec<FakePull> {
        self.fake
            .pulls(REPO)
            .into_iter()
            .filter(|p| p.base_ref == "master")
            .collect()
    }

    /// A file as the served repository has it on `branch`.
    fn served_file(&self, branch: &str, path: &str) -> String {
        git(&self.bare(), &["show", &format!("{branch}:{path}")])
    }

    fn comments_on(&self, number: u64) -> Vec<String> {
        self.fake
            .comments(REPO, number)
            .into_iter()
            .map(|c| c.body)
            .collect()
    }
}

fn bump_production(repo: &GitRepo) {
    repo.edit(
        "overlays/production/kustomization.yaml",
        "newTag: 1.24.0",
        "newTag: 1.25.0",
    );
}

fn scale_production(repo: &GitRepo) {
    repo.edit(
        "overlays/production/kustomization.yaml",
        "count: 3",
        "count: 4",
    );
}

fn bump_staging(repo: &GitRepo) {
    repo.edit(
        "overlays/staging/kustomization.yaml",
        "newTag: 1.25.0",
        "newTag: 1.26.0",
    );
}

fn promoted(run: &StepResult) -> Vec<Value> {
    serde_json::from_str::<Value>(run.output("promotion-prs"))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_squash_merged_pr_gets_a_production_pr_with_its_own_diff() {
    let mut push = Push::new();
    let source = push.merge_pr(Merge::Squash, "Bump web in production", &[&bump_production]);
    let run = push.run().ok();

    let pulls = push.promotion_pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pr = &pulls[0];
    assert_eq!(pr.head_ref, format!("promote/master/pr-{source}"));
    assert_eq!(pr.title, "[master] Bump web in production");
    assert_eq!(pr.labels, ["promotion"]);
    assert_eq!(pr.assignees, ["octocat"]);
    assert!(pr.body.as_deref().unwrap().contains(&format!("#{source}")));

    let branch = format!("promote/master/pr-{source}");
    assert!(
        push.served_file(&branch, "overlays/production/kustomization.yaml")
            .contains("newTag: 1.25.0")
    );
    let message = git(
        &push.bare(),
        &["log", "-1", "--format=%an <%ae>%n%cn%n%B", &branch],
    );
    assert!(
        message.starts_with("Test Author <test@example.com>\ngithub-actions[bot]\n"),
        "{message}"
    );
    assert!(message.contains("(cherry picked from commit "), "{message}");

    // The production PR's comment is what `gitops-promote diff` says about the branch.
    let comments = push.comments_on(pr.number);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains("+        image: nginx:1.25.0"),
        "{}",
        comments[0]
    );
    let local = tempfile::tempdir().unwrap();
    git(
        local.path(),
        &["clone", "-q", &push.bare().to_string_lossy(), "."],
    );
    git(
        local.path(),
        &["branch", "-q", &branch, &format!("origin/{branch}")],
    );
    let cli = assert_cmd::Command::cargo_bin("gitops-promote")
        .unwrap()
        .args([
            "diff",
            "--base",
            "origin/master",
            "--head",
            &branch,
            "--format",
            "markdown",
        ])
        .current_dir(local.path())
        .output()
        .unwrap();
    let cli = String::from_utf8(cli.stdout).unwrap();
    let diff_of = |text: &str| text[text.find("<details>").unwrap()..].to_string();
    assert_eq!(diff_of(&comments[0]), diff_of(&cli));

    // The source PR links to it.
    let source_comments = push.comments_on(source);
    assert_eq!(source_comments.len(), 1);
    assert!(
        source_comments[0].contains(&format!("/pull/{}", pr.number)),
        "{}",
        source_comments[0]
    );

    let listed = promoted(&run);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["source"], source);
    assert_eq!(listed[0]["number"], pr.number);
    assert_eq!(listed[0]["conflict"], false);
    assert_eq!(run.output("conflict"), "false");
    assert!(
        run.summary.contains("Pending promotions"),
        "{}",
        run.summary
    );
    let violations = push.fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn merge_commits_and_rebase_merges_carry_only_the_pr_s_changes() {
    let mut push = Push::new();
    let merged = push.merge_pr(Merge::Commit, "Scale production", &[&scale_production]);
    // Independent of the first PR: each promotion starts from master as it is.
    let rebased = push.merge_pr(
        Merge::Rebase,
        "Bump web, open port 81",
        &[&bump_production, &|repo: &GitRepo| {
            repo.edit("base/service.yaml", "port: 80", "port: 81");
        }],
    );
    let run = push.run().ok();

    let listed = promoted(&run);
    let sources: Vec<u64> = listed
        .iter()
        .map(|p| p["source"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sources,
        [merged, rebased],
        "one promotion per PR, in merge order"
    );

    let first = push.served_file(
        &format!("promote/master/pr-{merged}"),
        "overlays/production/kustomization.yaml",
    );
    assert!(
        first.contains("count: 4") && first.contains("newTag: 1.24.0"),
        "{first}"
    );
    let log = git(
        &push.bare(),
        &[
            "log",
            "--format=%s",
            &format!("master..promote/master/pr-{rebased}"),
        ],
    );
    assert_eq!(
        log.lines().count(),
        2,
        "each rebased commit is picked: {log}"
    );
    assert_eq!(push.promotion_pulls().len(), 2);
}

#[test]
fn a_staging_only_change_is_not_promoted_and_the_pr_says_why() {
    let mut push = Push::new().input("exclude-paths", "overlays/staging/**");
    let source = push.merge_pr(Merge::Squash, "Try 1.26 on staging", &[&bump_staging]);
    let run = push.run().ok();
    assert!(push.promotion_pulls().is_empty());
    let listed = promoted(&run);
    assert!(
        listed[0]["skipped"].as_str().unwrap().contains("excluded"),
        "{listed:?}"
    );
    let comments = push.comments_on(source);
    assert!(
        comments[0].contains("Not promoted to `master`"),
        "{comments:?}"
    );
}

#[test]
fn a_conflict_opens_a_labelled_draft_with_the_markers_and_fails_the_step() {
    let mut push = Push::new();
    // Production moved on independently on master.
    push.repo.checkout("master");
    push.repo.edit(
        "overlays/production/kustomization.yaml",
        "count: 3",
        "count: 6",
    );
    push.repo.commit("hotfix: scale production to 6");
    let source = push.merge_pr(Merge::Squash, "Scale production", &[&scale_production]);
    let run = push.run();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.output("conflict"), "true");

    let pr = &push.promotion_pulls()[0];
    assert!(pr.draft);
    assert!(
        pr.labels.contains(&"conflict".to_string()),
        "{:?}",
        pr.labels
    );
    let body = pr.body.clone().unwrap();
    assert!(
        body.contains("overlays/production/kustomization.yaml"),
        "{body}"
    );
    assert!(body.contains("git cherry-pick -x"), "{body}");
    let file = push.served_file(
        &format!("promote/master/pr-{source}"),
        "overlays/production/kustomization.yaml",
    );
    assert!(
        file.contains("<<<<<<< master") && file.contains(">>>>>>>"),
        "{file}"
    );
    assert!(push.comments_on(source)[0].contains("conflicts"));
}

#[test]
fn a_re_run_changes_nothing_and_a_merged_promotion_is_left_alone() {
    let mut push = Push::new();
    let source = push.merge_pr(Merge::Squash, "Bump web in production", &[&bump_production]);
    push.run().ok();
    let first = push.promotion_pulls();
    let branch = format!("promote/master/pr-{source}");
    let tip = git(&push.bare(), &["rev-parse", &branch]);

    push.run().ok();
    assert_eq!(push.promotion_pulls().len(), 1, "no duplicate PR");
    assert_eq!(
        git(&push.bare(), &["rev-parse", &branch]),
        tip,
        "same content, no new push"
    );
    assert_eq!(
        push.comments_on(source).len(),
        1,
        "no duplicate note on the source PR"
    );
    assert_eq!(
        push.comments_on(first[0].number).len(),
        1,
        "no duplicate diff comment"
    );

    push.fake.set_pull_merged(REPO, first[0].number, MERGED_AT);
    let run = push.run().ok();
    assert_eq!(push.promotion_pulls().len(), 1);
    assert!(run.stdout.contains("already promoted"), "{}", run.stdout);
}

#[test]
fn a_502_on_pr_creation_is_retried_and_the_token_never_shows() {
    let mut push = Push::new();
    push.merge_pr(Merge::Squash, "Bump web in production", &[&bump_production]);
    push.fake
        .fail_next("POST", "/repos/acme/manifests/pulls", 502, 1);
    let run = push.run().ok();
    assert_eq!(push.promotion_pulls().len(), 1);
    let stdout = run.stdout.replace(&format!("::add-mask::{TOKEN}"), "");
    for text in [&stdout, &run.stderr, &run.summary] {
        assert!(!text.contains(TOKEN), "token leaked:\n{text}");
    }
    let violations = push.fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn promote_dry_run_prints_the_plan_and_changes_nothing() {
    let mut push = Push::new();
    let source = push.merge_pr(Merge::Squash, "Bump web in production", &[&bump_production]);
    push.serve();
    let clone = tempfile::tempdir().unwrap();
    git(
        clone.path(),
        &["clone", "-q", &push.bare().to_string_lossy(), "."],
    );
    let mut cmd = assert_cmd::Command::cargo_bin("gitops-promote").unwrap();
    for (key, _) in std::env::vars() {
        if key.starts_with("GITHUB_") || key.starts_with("INPUT_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .args([
            "promote",
            "--pr",
            &source.to_string(),
            "--dry-run",
            "--github-repo",
            REPO,
        ])
        .current_dir(clone.path())
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", push.fake.api_url())
        .env("GITHUB_SERVER_URL", push.fake.server_url())
        .env("GITHUB_GRAPHQL_URL", push.fake.graphql_url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("branch: promote/master/pr-{source}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("title:  [master] Bump web in production"),
        "{stdout}"
    );
    assert!(
        stdout.contains("overlays/production/kustomization.yaml"),
        "{stdout}"
    );
    assert!(push.promotion_pulls().is_empty(), "a dry run opens nothing");
    assert!(
        push.comments_on(source).is_empty(),
        "a dry run comments nothing"
    );
    let branches = git(&push.bare(), &["branch", "--list", "promote/*"]);
    assert!(
        branches.trim().is_empty(),
        "a dry run pushes nothing: {branches}"
    );
}

#[test]
fn when_the_target_moves_a_re_run_rebuilds_the_branch_on_the_new_tip() {
    let mut push = Push::new();
    let source = push.merge_pr(Merge::Squash, "Bump web in production", &[&bump_production]);
    push.run().ok();
    let branch = format!("promote/master/pr-{source}");
    let first_tip = git(&push.bare(), &["rev-parse", &branch]);

    push.repo.checkout("master");
    push.repo.write("docs/runbook.md", "# Runbook\n");
    let new_master = push.repo.commit("add a runbook on master");
    push.run().ok();

    assert_eq!(push.promotion_pulls().len(), 1, "the same PR is updated");
    let tip = git(&push.bare(), &["rev-parse", &branch]);
    assert_ne!(tip, first_tip, "the branch moved to the new target tip");
    let parent = git(&push.bare(), &["rev-parse", &format!("{branch}^")]);
    assert_eq!(parent.trim(), new_master);
    assert!(
        push.served_file(&branch, "overlays/production/kustomization.yaml")
            .contains("newTag: 1.25.0")
    );
    assert_eq!(push.comments_on(source).len(), 1);
}

#[test]
fn a_change_master_already_has_is_not_promoted_again() {
    let mut push = Push::new();
    push.repo.checkout("master");
    bump_production(&push.repo);
    push.repo.commit("hotfix: the same bump straight on master");
    let source = push.merge_pr(Merge::Squash, "Bump web in production", &[&bump_production]);
    let run = push.run().ok();
    assert!(push.promotion_pulls().is_empty());
    let listed = promoted(&run);
    assert!(
        listed[0]["skipped"]
            .as_str()
            .unwrap()
            .contains("already has"),
        "{listed:?}"
    );
    assert!(push.comments_on(source)[0].contains("already has this change"));
}

/// The runner's default checkout (`fetch-depth: 1`) and a full one must promote alike: each
/// merge kind gives a clean, ready PR whose branch is master plus exactly the PR's files.
#[test]
fn every_merge_kind_promotes_alike_from_a_depth_1_and_a_full_checkout() {
    let staging_port = |repo: &GitRepo| {
        repo.edit("base/service.yaml", "port: 80", "port: 81");
    };
    for full in [false, true] {
        let mut push = Push::new().input("exclude-paths", "overlays/staging/**");
        if full {
            push = push.full_clone();
        }
        let merged = push.merge_pr(Merge::Commit, "Scale production", &[&scale_production]);
        let squashed = push.merge_pr(Merge::Squash, "Bump web", &[&bump_production]);
        let rebased = push.merge_pr(
            Merge::Rebase,
            "Port 81 everywhere",
            &[&staging_port, &bump_staging],
        );
        let staging_only = push.merge_pr(
            Merge::Squash,
            "Staging only",
            &[&|repo: &GitRepo| {
                repo.edit(
                    "overlays/staging/kustomization.yaml",
                    "count: 1",
                    "count: 2",
                );
            }],
        );
        let run = push.run().ok();
        let checkout = if full {
            "fetch-depth 0"
        } else {
            "fetch-depth 1"
        };

        assert_eq!(run.output("conflict"), "false", "{checkout}");
        let pulls = push.promotion_pulls();
        assert_eq!(pulls.len(), 3, "{checkout}: {pulls:#?}");
        assert!(pulls.iter().all(|p| !p.draft), "{checkout}: {pulls:#?}");
        assert!(
            pulls
                .iter()
                .all(|p| !p.labels.contains(&"conflict".to_string())),
            "{checkout}: {pulls:#?}"
        );
        let production = "overlays/production/kustomization.yaml";
        assert_eq!(push.promoted_files(merged), [production], "{checkout}");
        assert_eq!(push.promoted_files(squashed), [production], "{checkout}");
        // The excluded staging file keeps master's version; only the base change is promoted.
        assert_eq!(
            push.promoted_files(rebased),
            ["base/service.yaml"],
            "{checkout}"
        );
        // Each branch starts from master: the squashed PR does not carry the first PR's scale.
        let squashed_file = push.served_file(&format!("promote/master/pr-{squashed}"), production);
        assert!(
            squashed_file.contains("count: 3") && squashed_file.contains("newTag: 1.25.0"),
            "{checkout}: {squashed_file}"
        );
        let listed = promoted(&run);
        let skipped = listed
            .iter()
            .find(|p| p["source"] == staging_only)
            .unwrap_or_else(|| panic!("{checkout}: {listed:?}"));
        assert!(
            skipped["skipped"].as_str().unwrap().contains("excluded"),
            "{checkout}: {listed:?}"
        );
        let violations = push.fake.violations();
        assert!(violations.is_empty(), "{violations:#?}");
    }
}

/// `workflow_dispatch` with `pr-number` promotes that merged PR again, from the default
/// depth-1 checkout of `develop` after later PRs were merged on top of it.
#[test]
fn a_manual_dispatch_promotes_an_older_pr_from_a_depth_1_checkout() {
    let mut push = Push::new();
    let older = push.merge_pr(Merge::Commit, "Scale production", &[&scale_production]);
    for i in 0..3 {
        push.merge_pr(
            Merge::Squash,
            &format!("Staging step {i}"),
            &[&|repo: &GitRepo| {
                repo.edit(
                    "overlays/staging/kustomization.yaml",
                    &format!("newTag: 1.2{}.0", 5 + i),
                    &format!("newTag: 1.2{}.0", 6 + i),
                );
            }],
        );
    }
    let run = push.dispatch(older).ok();
    let listed = promoted(&run);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["source"], older);
    assert_eq!(listed[0]["conflict"], false);
    assert_eq!(
        push.promoted_files(older),
        ["overlays/production/kustomization.yaml"]
    );
    let pulls = push.promotion_pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert!(!pulls[0].draft);
}

#[test]
fn a_promotion_branch_someone_else_pushed_to_is_not_overwritten() {
    let mut push = Push::new();
    let source = push.merge_pr(Merge::Squash, "Bump web in production", &[&bump_production]);
    push.run().ok();
    let branch = format!("promote/master/pr-{source}");
    let pr = push.promotion_pulls()[0].clone();

    // Someone finishes the promotion by hand on its branch and pushes.
    let work = tempfile::tempdir().unwrap();
    git(
        work.path(),
        &[
            "clone",
            "-q",
            "-b",
            &branch,
            &push.bare().to_string_lossy(),
            ".",
        ],
    );
    fs::write(work.path().join("NOTES.md"), "checked by hand\n").unwrap();
    git(work.path(), &["add", "NOTES.md"]);
    git(
        work.path(),
        &[
            "-c",
            "user.name=Alice `@everyone`",
            "-c",
            "user.email=alice@example.com",
            "commit",
            "-q",
            "-m",
            "note the manual check",
        ],
    );
    git(work.path(), &["push", "-q", "origin", &branch]);
    let by_hand = git(&push.bare(), &["rev-parse", &branch]);

    // Production moves on, so the promotion would be rebuilt and force-pushed.
    push.repo.checkout("master");
    push.repo.write("docs/runbook.md", "# Runbook\n");
    push.repo.commit("add a runbook on master");
    let run = push.run();

    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        git(&push.bare(), &["rev-parse", &branch]),
        by_hand,
        "the branch keeps the hand-made commit"
    );
    let note = push.comments_on(source).join("\n");
    assert!(note.contains("not overwritten"), "{note}");
    assert!(note.contains("alice@example.com"), "{note}");
    assert!(note.contains("delete the branch"), "{note}");
    assert!(
        !note.contains(" @everyone"),
        "a committer's name is shown as code, never as a mention: {note}"
    );
    assert_eq!(push.promotion_pulls().len(), 1);
    assert_eq!(
        push.promotion_pulls()[0].body,
        pr.body,
        "the PR is left as it was"
    );
    let listed = promoted(&run);
    assert_eq!(listed[0]["number"], pr.number);
    assert!(
        listed[0]["skipped"]
            .as_str()
            .unwrap()
            .contains("alice@example.com"),
        "{listed:?}"
    );
    assert!(
        run.stdout.contains("::warning") && run.stdout.contains("not overwritten"),
        "{}",
        run.stdout
    );
    assert!(run.summary.contains("not overwritten"), "{}", run.summary);
}

#[test]
fn lost_responses_to_creates_leave_one_pr_and_one_comment_each() {
    let mut push = Push::new();
    let source = push.merge_pr(Merge::Squash, "Bump web in production", &[&bump_production]);
    // GitHub opens the PR and posts both comments, but each answer is lost on the way back.
    push.fake
        .lose_response_next("POST", "/repos/acme/manifests/pulls", 502, 1);
    push.fake.lose_response_next("POST", "/comments", 502, 2);
    let run = push.run().ok();

    let pulls = push.promotion_pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert_eq!(promoted(&run)[0]["number"], pulls[0].number);
    assert_eq!(
        push.comments_on(source).len(),
        1,
        "one note on the source PR"
    );
    assert_eq!(
        push.comments_on(pulls[0].number).len(),
        1,
        "one diff comment on the production PR"
    );
    assert!(
        run.stderr.contains("looking for the pull request"),
        "{}",
        run.stderr
    );
    let violations = push.fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
