//! `gitops-promote action` on `pull_request`, end to end: the real binary with a runner's
//! environment and event payload, a workspace shaped like actions/checkout leaves it, the real
//! kustomize, and a loopback GitHub (REST, GraphQL, git smart-HTTP) checked against GitHub's spec.

mod common;
mod support;

use std::fs;
use std::path::PathBuf;

use common::GitRepo;
use common::kustomize_counter;
use serde_json::json;
use support::runner::{
    FetchDepth, PullRequestShas, REPO, Step, StepResult, TOKEN, checkout_like_actions, git,
    pull_request_event, repository_json,
};
use support::{BOT_LOGIN, FakeComment, FakeGitHub, FakePull};
use tempfile::TempDir;

const PR: u64 = 7;

/// A PR from `feature` into `master` on a GitOps repository, served by the fake GitHub, and a
/// runner about to handle its `pull_request` event.
struct Scenario {
    fake: FakeGitHub,
    repo: GitRepo,
    head: String,
    merge: Option<String>,
    base: String,
    runner: TempDir,
    workspace: TempDir,
    depth: FetchDepth,
    /// `pull_request`, or `pull_request_target`, which runs on the base branch.
    event_name: &'static str,
    /// The head branch lives in someone's fork.
    fork: bool,
    inputs: Vec<(String, String)>,
}

impl Scenario {
    /// `change` edits the work tree of `feature` (branched from `master`) before it is committed.
    fn new(change: impl FnOnce(&GitRepo)) -> Scenario {
        Scenario::build(change, true)
    }

    fn build(change: impl FnOnce(&GitRepo), with_merge: bool) -> Scenario {
        Scenario::build_on(|_| {}, change, with_merge)
    }

    /// `prepare` edits `master` (committed there) before the PR branches from it.
    fn build_on(
        prepare: impl FnOnce(&GitRepo),
        change: impl FnOnce(&GitRepo),
        with_merge: bool,
    ) -> Scenario {
        let repo = GitRepo::base_and_two_overlays();
        repo.checkout("master");
        prepare(&repo);
        // Only a real preparation is a commit: the other tests' base stays the fixture's own.
        if !repo.git(&["status", "--porcelain"]).trim().is_empty() {
            repo.commit("prepared on master");
        }
        let base = repo.sha("master");
        repo.git(&["checkout", "-q", "-b", "feature"]);
        change(&repo);
        let head = repo.commit("the change under review");
        repo.git(&["update-ref", &format!("refs/pull/{PR}/head"), &head]);
        let merge = with_merge.then(|| test_merge(&repo));
        let runner = tempfile::Builder::new()
            .prefix("gitops-promote-runner-")
            .tempdir()
            .unwrap();
        let bare = runner.path().join("served.git");
        git(
            runner.path(),
            &[
                "clone",
                "-q",
                "--mirror",
                &repo.path().to_string_lossy(),
                "served.git",
            ],
        );
        let fake = FakeGitHub::start(TOKEN);
        fake.add_repo(REPO, &bare);
        fake.add_pull(
            REPO,
            FakePull {
                number: PR,
                head_sha: head.clone(),
                head_ref: "feature".into(),
                base_ref: "master".into(),
                base_sha: base.clone(),
                merge_commit_sha: merge.clone(),
                ..FakePull::default()
            },
        );
        let workspace = checkout_like_actions(
            &fake,
            &format!("refs/pull/{PR}/merge"),
            merge.as_deref().unwrap_or(&head),
            FetchDepth::One,
        );
        let scenario = Scenario {
            fake,
            repo,
            head,
            merge,
            base,
            runner,
            workspace,
            depth: FetchDepth::One,
            event_name: "pull_request",
            fork: false,
            inputs: Vec::new(),
        };
        scenario.write_event("synchronize");
        scenario
    }

    /// A new push to the PR: commit on `feature`, recompute the test merge, update what GitHub
    /// serves, and check out the new merge like the next workflow run would.
    fn push(&mut self, change: impl FnOnce(&GitRepo)) {
        let repo = &self.repo;
        repo.checkout("feature");
        change(repo);
        self.head = repo.commit("another push");
        repo.git(&["update-ref", &format!("refs/pull/{PR}/head"), &self.head]);
        let merge = test_merge(repo);
        self.merge = Some(merge.clone());
        self.serve_again();
        self.fake.set_pull_head(REPO, PR, &self.head);
        self.workspace = self.checkout();
        self.write_event("synchronize");
    }

    /// Someone merges `change` into `master` while the PR is open: GitHub recomputes the test
    /// merge on the new tip, and the next run checks that out.
    fn advance_base(&mut self, change: impl FnOnce(&GitRepo)) {
        let repo = &self.repo;
        repo.checkout("master");
        change(repo);
        self.base = repo.commit("meanwhile on master");
        self.merge = Some(test_merge(repo));
        self.serve_again();
        self.workspace = self.checkout();
        self.write_event("synchronize");
    }

    /// Updates what the fake GitHub serves to the test repository's refs.
    fn serve_again(&self) {
        let bare = self.runner.path().join("served.git");
        git(
            &bare,
            &[
                "fetch",
                "-q",
                "--prune",
                &self.repo.path().to_string_lossy(),
                "+refs/*:refs/*",
            ],
        );
    }

    /// The workspace actions/checkout makes for this run's `GITHUB_REF` and `GITHUB_SHA`.
    fn checkout(&self) -> TempDir {
        let (git_ref, sha) = self.run_ref();
        checkout_like_actions(&self.fake, &git_ref, &sha, self.depth)
    }

    /// `GITHUB_REF` and `GITHUB_SHA` of this run.
    fn run_ref(&self) -> (String, String) {
        if self.event_name == "pull_request_target" {
            return ("refs/heads/master".into(), self.base.clone());
        }
        let sha = self.merge.as_deref().unwrap_or(&self.head);
        (format!("refs/pull/{PR}/merge"), sha.to_string())
    }

    /// The run is for `pull_request_target` instead of `pull_request`.
    fn pull_request_target(mut self) -> Scenario {
        self.event_name = "pull_request_target";
        self.workspace = self.checkout();
        self
    }

    /// The PR's head branch is in a fork.
    fn in_a_fork(mut self) -> Scenario {
        self.fork = true;
        self.write_event("synchronize");
        self
    }

    /// The workspace of `fetch-depth: 0`: every branch and tag with their whole history.
    fn full_clone(mut self) -> Scenario {
        self.depth = FetchDepth::Full;
        self.workspace = self.checkout();
        self
    }

    fn input(mut self, name: &str, value: &str) -> Scenario {
        self.inputs.push((name.to_string(), value.to_string()));
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.runner.path().join(name)
    }

    /// A payload shaped like GitHub's documented `pull_request` webhook.
    fn write_event(&self, action: &str) {
        let mut head_repository = repository_json();
        if self.fork {
            head_repository["full_name"] = json!("mallory/manifests");
            head_repository["owner"]["login"] = json!("mallory");
            head_repository["fork"] = json!(true);
        }
        let shas = PullRequestShas {
            head: &self.head,
            base: &self.base,
            merge: self.merge.as_deref(),
        };
        let event = pull_request_event(action, PR, &shas, head_repository);
        fs::write(
            self.path("event.json"),
            serde_json::to_vec_pretty(&event).unwrap(),
        )
        .unwrap();
    }

    fn run(&self) -> StepResult {
        self.run_with(&[])
    }

    /// A run with `extra` inputs besides the scenario's (a later one wins).
    fn run_with(&self, extra: &[(&str, &str)]) -> StepResult {
        let (git_ref, sha) = self.run_ref();
        let inputs = with_inputs(&self.inputs, extra);
        Step {
            fake: &self.fake,
            dir: self.runner.path(),
            workspace: self.workspace.path(),
            event_name: self.event_name,
            sha: &sha,
            git_ref,
            inputs: &inputs,
        }
        .run()
    }

    /// A `push` of `master` at its tip, as the workflow that runs on pushes sees it: its own
    /// runner directory and the workspace actions/checkout makes for the branch.
    fn run_push_of_master(&self, extra: &[(&str, &str)]) -> StepResult {
        let dir = tempfile::Builder::new()
            .prefix("gitops-promote-runner-")
            .tempdir()
            .unwrap();
        let event = json!({
            "ref": "refs/heads/master", "before": "0".repeat(40), "after": self.base,
            "created": false, "deleted": false, "forced": false, "base_ref": null,
            "compare": format!("https://github.com/{REPO}/compare/{}", &self.base[..12]),
            "commits": [], "head_commit": {"id": self.base, "message": "merge"},
            "repository": repository_json(),
            "pusher": {"name": "octocat", "email": "octocat@example.com"},
            "sender": {"login": "octocat", "id": 583231, "type": "User"}
        });
        fs::write(dir.path().join("event.json"), event.to_string()).unwrap();
        let workspace =
            checkout_like_actions(&self.fake, "refs/heads/master", &self.base, FetchDepth::One);
        let inputs = with_inputs(&self.inputs, extra);
        Step {
            fake: &self.fake,
            dir: dir.path(),
            workspace: workspace.path(),
            event_name: "push",
            sha: &self.base,
            git_ref: "refs/heads/master".into(),
            inputs: &inputs,
        }
        .run()
    }

    fn comments(&self) -> Vec<FakeComment> {
        self.fake.comments(REPO, PR)
    }

    /// Our sticky comments, in order.
    fn ours(&self) -> Vec<FakeComment> {
        self.comments()
            .into_iter()
            .filter(|c| c.body.starts_with("<!-- gitops-promote id="))
            .collect()
    }

    /// The comments carrying our marker that `login` wrote, in order.
    fn marked_by(&self, login: &str) -> Vec<FakeComment> {
        self.ours()
            .into_iter()
            .filter(|c| c.user_login == login)
            .collect()
    }

    /// How often the product asked who the token is (`GET /user`).
    fn who_am_i_requests(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/api/v3/user")
            .count()
    }

    fn assert_no_violations(&self) {
        let violations = self.fake.violations();
        assert!(
            violations.is_empty(),
            "requests GitHub would not accept:\n{violations:#?}"
        );
    }

    fn requests(&self, method: &str, path_suffix: &str) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(path_suffix))
            .count()
    }
}

fn with_inputs(inputs: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = inputs.to_vec();
    all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all
}

/// What GitHub computes as `refs/pull/N/merge`: `feature` merged into `master`.
fn test_merge(repo: &GitRepo) -> String {
    repo.git(&["checkout", "-q", "--detach", "master"]);
    repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge feature into master",
        "feature",
    ]);
    let merge = repo.sha("HEAD");
    repo.git(&["update-ref", &format!("refs/pull/{PR}/merge"), &merge]);
    repo.git(&["checkout", "-q", "feature"]);
    merge
}

fn bump_staging_image(repo: &GitRepo) {
    repo.edit(
        "overlays/staging/kustomization.yaml",
        "newTag: 1.25.0",
        "newTag: 1.26.0",
    );
}

#[test]
fn a_first_run_posts_one_sticky_comment_and_a_re_run_updates_it_in_place() {
    let s = Scenario::new(bump_staging_image);
    let run = s.run().ok();

    let ours = s.ours();
    assert_eq!(ours.len(), 1, "{:#?}", s.comments());
    let comment = &ours[0];
    assert_eq!(comment.user_login, BOT_LOGIN);
    assert!(
        comment.body.contains("-        image: nginx:1.25.0"),
        "{}",
        comment.body
    );
    assert!(
        comment.body.contains("+        image: nginx:1.26.0"),
        "{}",
        comment.body
    );
    assert!(
        comment.body.contains(&format!("head={}", s.head)),
        "{}",
        comment.body
    );
    assert_eq!(run.output("has-changes"), "true");
    assert_eq!(run.output("affected-overlays"), r#"["overlays/staging"]"#);
    assert_eq!(
        run.output("image-changes"),
        r#"[{"overlay":"overlays/staging","image":"nginx","old":"nginx:1.25.0","new":"nginx:1.26.0"}]"#
    );
    assert!(
        run.output("comment-url")
            .contains(&format!("issuecomment-{}", comment.id))
    );
    let report_file = run.output("report-file");
    assert!(
        fs::read_to_string(report_file)
            .unwrap()
            .contains("nginx:1.26.0")
    );
    assert!(
        run.summary.contains("| `overlays/staging` |"),
        "{}",
        run.summary
    );

    s.run().ok();
    assert_eq!(s.ours().len(), 1, "a re-run must not post a second copy");
    assert_eq!(s.ours()[0].id, comment.id);
    assert_eq!(s.requests("POST", &format!("/issues/{PR}/comments")), 1);
    s.assert_no_violations();
}

#[test]
fn the_comment_compares_the_test_merge_commit_with_its_first_parent() {
    let s = Scenario::new(bump_staging_image);
    s.run().ok();
    let body = &s.ours()[0].body;
    let merge = s.merge.as_deref().unwrap();
    assert!(body.contains(&format!("(`{}`)", &s.base[..7])), "{body}");
    assert!(body.contains(&format!("(`{}`)", &merge[..7])), "{body}");
    expect_test::expect_file!["snapshots/pr-comment.md"].assert_eq(body);
}

/// After `master` moved on, the comparison is the new test merge against the new tip of
/// `master` (its first parent), not the merge base: from the default depth-1 checkout and from
/// a full one alike.
#[test]
fn after_the_base_moved_the_new_test_merge_is_compared_with_the_new_base_tip() {
    for full in [false, true] {
        let mut s = Scenario::new(bump_staging_image);
        if full {
            s = s.full_clone();
        }
        let merge_base = s.base.clone();
        s.advance_base(|repo| {
            repo.edit(
                "overlays/production/kustomization.yaml",
                "count: 3",
                "count: 5",
            );
        });
        let run = s.run().ok();
        let body = &s.ours()[0].body;
        let merge = s.merge.clone().unwrap();
        let compared = format!(
            "Compared `master` (`{}`) with `#{PR} merged into master` (`{}`).",
            &s.base[..7],
            &merge[..7]
        );
        assert!(body.contains(&compared), "full clone: {full}\n{body}");
        assert!(!body.contains(&merge_base[..7]), "{body}");
        // master's own change is on both sides, so it is not shown as this PR's.
        assert!(!body.contains("overlays/production`:"), "{body}");
        assert!(
            !run.stdout.contains("No test-merge commit"),
            "{}",
            run.stdout
        );
    }
}

/// The same PR gives the same comment from the default depth-1 checkout and from
/// `fetch-depth: 0`.
#[test]
fn a_full_clone_and_the_default_checkout_post_the_same_comment() {
    let s = Scenario::new(bump_staging_image);
    s.run().ok();
    let shallow = s.ours()[0].body.clone();
    let s = s.full_clone();
    s.run().ok();
    let ours = s.ours();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].body, shallow);
    assert!(
        shallow.contains(&format!("`#{PR} merged into master`")),
        "{shallow}"
    );
}

#[test]
fn a_newer_head_is_not_overwritten_by_an_older_run() {
    let s = Scenario::new(bump_staging_image);
    s.fake
        .set_pull_head(REPO, PR, "0123456789abcdef0123456789abcdef01234567");
    let run = s.run().ok();
    assert!(s.ours().is_empty());
    assert!(run.stdout.contains("::notice"), "{}", run.stdout);
    assert!(run.stdout.contains("moved on"), "{}", run.stdout);
    assert_eq!(run.output("comment-url"), "");
}

#[test]
fn without_a_test_merge_commit_it_compares_the_merge_base_and_says_so() {
    let s = Scenario::build(bump_staging_image, false);
    s.run().ok();
    let body = &s.ours()[0].body;
    assert!(body.contains("no test-merge commit"), "{body}");
    assert!(body.contains("+        image: nginx:1.26.0"), "{body}");
    s.assert_no_violations();
}

#[test]
fn no_changes_means_no_new_comment_but_an_existing_one_says_so() {
    let s = Scenario::new(|repo| {
        repo.write("README.md", "# deployments\n\nNow with more words.\n");
    });
    let run = s.run().ok();
    assert!(s.comments().is_empty());
    assert_eq!(run.output("has-changes"), "false");

    let s = s.input("comment-on-no-changes", "true");
    s.run().ok();
    let ours = s.ours();
    assert_eq!(ours.len(), 1);
    assert!(
        ours[0].body.contains("No rendered changes"),
        "{}",
        ours[0].body
    );
}

#[test]
fn an_earlier_comment_is_found_among_150_and_updated() {
    let s = Scenario::new(bump_staging_image);
    for i in 0..120 {
        s.fake
            .add_comment(REPO, PR, "reviewer", &format!("comment {i}"));
    }
    let old = s.fake.add_comment(
        REPO,
        PR,
        BOT_LOGIN,
        "<!-- gitops-promote id=default part=1/1 head=0000000 -->\nold report",
    );
    for i in 120..150 {
        s.fake
            .add_comment(REPO, PR, "reviewer", &format!("comment {i}"));
    }
    s.run().ok();
    let ours = s.ours();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].id, old);
    assert!(ours[0].body.contains("nginx:1.26.0"));
    assert_eq!(s.comments().len(), 151);
    assert_eq!(s.requests("POST", &format!("/issues/{PR}/comments")), 0);
    assert_eq!(s.requests("PATCH", &format!("/issues/comments/{old}")), 1);
    assert!(
        s.requests("GET", &format!("/issues/{PR}/comments")) >= 2,
        "all pages read"
    );
    s.assert_no_violations();
}

#[test]
fn a_read_only_token_warns_and_still_writes_the_job_summary() {
    let s = Scenario::new(bump_staging_image);
    s.fake.set_read_only(true);
    let run = s.run().ok();
    assert!(s.comments().is_empty());
    assert!(run.stdout.contains("::warning"), "{}", run.stdout);
    assert!(run.stdout.contains("fork"), "{}", run.stdout);
    assert!(run.summary.contains("nginx:1.26.0"));
}

#[test]
fn a_502_from_github_is_retried() {
    let s = Scenario::new(bump_staging_image);
    s.fake
        .fail_next("POST", &format!("/issues/{PR}/comments"), 502, 1);
    s.run().ok();
    assert_eq!(s.ours().len(), 1);
    assert_eq!(s.requests("POST", &format!("/issues/{PR}/comments")), 2);
    s.assert_no_violations();
}

#[test]
fn a_rate_limit_is_waited_out() {
    let s = Scenario::new(bump_staging_image);
    s.fake
        .rate_limit_next("GET", &format!("/pulls/{PR}"), 429, 1, 1);
    s.run().ok();
    assert_eq!(s.ours().len(), 1);
    assert_eq!(s.requests("GET", &format!("/pulls/{PR}")), 2);
}

#[test]
fn a_broken_overlay_is_annotated_fails_the_step_and_the_others_are_still_shown() {
    let s = Scenario::new(|repo| {
        bump_staging_image(repo);
        repo.edit(
            "overlays/production/kustomization.yaml",
            "- ../../base",
            "- ../../base\n- missing.yaml",
        );
    });
    let run = s.run();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("::error file=overlays/production/kustomization.yaml"),
        "{}",
        run.stdout
    );
    let body = &s.ours()[0].body;
    assert!(body.contains("missing.yaml"), "{body}");
    assert!(body.contains("nginx:1.26.0"), "{body}");

    let s = s.input("fail-on-error", "false");
    assert_eq!(s.run().code, 0);
}

#[test]
fn recreate_with_hide_outdated_minimises_the_previous_comment() {
    let s = Scenario::new(bump_staging_image)
        .input("comment-mode", "recreate")
        .input("hide-outdated", "true");
    s.run().ok();
    s.run().ok();
    let comments = s.comments();
    assert_eq!(comments.len(), 2);
    assert!(comments[0].minimized, "{comments:#?}");
    assert!(!comments[1].minimized);
    assert_eq!(s.ours().len(), 1, "only the newest comment is still ours");
    s.assert_no_violations();
}

#[test]
fn a_huge_diff_splits_into_parts_and_a_smaller_one_later_deletes_the_leftovers() {
    // Far beyond one comment, even with every diff trimmed.
    let big_config = |repo: &GitRepo, maps: usize| {
        let mut kustomization = String::from("resources:\n- ../../base\nconfigMapGenerator:\n");
        for i in 0..maps {
            let body: String = (0..60)
                .map(|line| {
                    format!("setting_{i}_{line} = value-{line}-padded-to-a-realistic-length\n")
                })
                .collect();
            repo.write(&format!("overlays/staging/data-{i}.txt"), &body);
            kustomization.push_str(&format!("- name: big-{i}\n  files:\n  - data-{i}.txt\n"));
        }
        repo.write("overlays/staging/kustomization.yaml", &kustomization);
    };
    let mut s = Scenario::new(|repo| big_config(repo, 50)).input("max-comments", "3");
    s.run().ok();
    let parts = s.ours();
    assert!((2..=3).contains(&parts.len()), "{} parts", parts.len());
    for (index, part) in parts.iter().enumerate() {
        assert!(part.body.chars().count() <= 65_536);
        assert!(part.body.starts_with(&format!(
            "<!-- gitops-promote id=default part={}/{}",
            index + 1,
            parts.len()
        )));
    }
    assert!(
        parts[0].body.contains("| `overlays/staging` |"),
        "part 1 starts with the summary"
    );

    s.push(|repo| {
        for i in 1..50 {
            repo.remove(&format!("overlays/staging/data-{i}.txt"));
        }
        big_config(repo, 1);
    });
    s.run().ok();
    let ours = s.ours();
    assert_eq!(ours.len(), 1, "leftover parts are deleted");
    assert_eq!(ours[0].id, parts[0].id, "part 1 is edited in place");
    assert!(s.requests("DELETE", &format!("/issues/comments/{}", parts[1].id)) == 1);
    s.assert_no_violations();
}

#[test]
fn neither_a_secret_value_nor_the_token_reaches_github_or_the_runner() {
    let s = Scenario::new(|repo| {
        repo.write("base/secrets.env", "DB_PASSWORD=hunter2-rotated\n");
        repo.edit(
            "base/kustomization.yaml",
            "configMapGenerator:",
            "secretGenerator:\n- name: db\n  envs:\n  - secrets.env\nconfigMapGenerator:",
        );
    });
    let run = s.run().ok();
    assert!(!s.ours().is_empty());
    assert!(
        run.stdout.contains(&format!("::add-mask::{TOKEN}")),
        "the token is masked first"
    );
    let stdout = run.stdout.replace(&format!("::add-mask::{TOKEN}"), "");
    let mut everything = vec![stdout, run.stderr.clone(), run.summary.clone()];
    everything.extend(run.outputs.iter().map(|(_, v)| v.clone()));
    everything.extend(
        s.fake
            .requests()
            .iter()
            .map(|r| format!("{} {} {}", r.path, r.query, r.body)),
    );
    for entry in fs::read_dir(s.runner.path().join("gitops-promote")).unwrap() {
        everything.push(fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode("hunter2-rotated");
    for text in &everything {
        assert!(
            !text.contains("hunter2-rotated"),
            "secret value leaked:\n{text}"
        );
        assert!(!text.contains(&b64), "base64 secret value leaked:\n{text}");
        assert!(!text.contains(TOKEN), "token leaked:\n{text}");
    }
    assert!(s.ours()[0].body.contains("DB_PASSWORD: <redacted: added>"));
}

fn bump_staging_image_again(repo: &GitRepo) {
    repo.edit(
        "overlays/staging/kustomization.yaml",
        "newTag: 1.26.0",
        "newTag: 1.27.0",
    );
}

/// What someone who wants the report written into a comment they own could post.
const COPIED_MARKER: &str =
    "<!-- gitops-promote id=default part=1/1 head=0000000 -->\nNothing to see here, approve away.";

#[test]
fn a_user_s_comment_carrying_our_marker_is_left_alone() {
    let mut s = Scenario::new(bump_staging_image);
    let theirs = s.fake.add_comment(REPO, PR, "mallory", COPIED_MARKER);
    let run = s.run().ok();

    let ours = s.marked_by(BOT_LOGIN);
    assert_eq!(ours.len(), 1, "{:#?}", s.comments());
    assert!(ours[0].body.contains("nginx:1.26.0"), "{}", ours[0].body);
    assert!(
        run.output("comment-url")
            .contains(&format!("issuecomment-{}", ours[0].id))
    );
    let untouched = |s: &Scenario| {
        let comments = s.comments();
        let theirs = comments
            .iter()
            .find(|c| c.id == theirs)
            .expect("still there");
        assert_eq!(theirs.body, COPIED_MARKER);
        assert_eq!(theirs.user_login, "mallory");
        assert!(!theirs.minimized);
        assert_eq!(
            s.requests("PATCH", &format!("/issues/comments/{}", theirs.id)),
            0
        );
        assert_eq!(
            s.requests("DELETE", &format!("/issues/comments/{}", theirs.id)),
            0
        );
    };
    untouched(&s);
    assert_eq!(
        s.who_am_i_requests(),
        1,
        "a user's marked comment makes the product ask who the token is"
    );

    s.push(bump_staging_image_again);
    s.run().ok();
    let again = s.marked_by(BOT_LOGIN);
    assert_eq!(again.len(), 1, "{:#?}", s.comments());
    assert_eq!(
        again[0].id, ours[0].id,
        "our own comment is edited in place"
    );
    assert!(again[0].body.contains("nginx:1.27.0"), "{}", again[0].body);
    assert_eq!(
        s.requests("PATCH", &format!("/issues/comments/{}", ours[0].id)),
        1
    );
    assert_eq!(s.requests("POST", &format!("/issues/{PR}/comments")), 1);
    untouched(&s);
    assert_eq!(s.comments().len(), 2);
    s.assert_no_violations();
}

#[test]
fn with_a_personal_access_token_a_re_run_edits_its_own_comment_in_place() {
    let mut s = Scenario::new(bump_staging_image);
    s.fake.set_token_user("ci-user");
    s.run().ok();
    let ours = s.marked_by("ci-user");
    assert_eq!(ours.len(), 1, "{:#?}", s.comments());
    assert_eq!(
        s.who_am_i_requests(),
        0,
        "no marked comment yet, nothing to ask"
    );

    let theirs = s.fake.add_comment(REPO, PR, "mallory", COPIED_MARKER);
    s.push(bump_staging_image_again);
    s.run().ok();
    assert_eq!(s.who_am_i_requests(), 1);
    let again = s.marked_by("ci-user");
    assert_eq!(again.len(), 1, "no second copy: {:#?}", s.comments());
    assert_eq!(again[0].id, ours[0].id);
    assert!(again[0].body.contains("nginx:1.27.0"), "{}", again[0].body);
    assert_eq!(s.requests("POST", &format!("/issues/{PR}/comments")), 1);
    assert_eq!(
        s.requests("PATCH", &format!("/issues/comments/{}", ours[0].id)),
        1
    );
    assert_eq!(
        s.requests("PATCH", &format!("/issues/comments/{theirs}")),
        0
    );
    assert_eq!(
        s.requests("DELETE", &format!("/issues/comments/{theirs}")),
        0
    );
    assert_eq!(s.comments().len(), 2);
    s.assert_no_violations();
}

#[test]
fn an_ordinary_run_does_not_ask_who_the_token_is() {
    let mut s = Scenario::new(bump_staging_image);
    s.fake.add_comment(REPO, PR, "reviewer", "LGTM");
    s.run().ok();
    s.push(bump_staging_image_again);
    s.run().ok();
    let ours = s.marked_by(BOT_LOGIN);
    assert_eq!(ours.len(), 1);
    assert!(ours[0].body.contains("nginx:1.27.0"));
    assert_eq!(s.who_am_i_requests(), 0);
    s.assert_no_violations();
}

#[test]
fn a_rate_limit_outlasting_the_run_fails_the_step_instead_of_passing_for_a_read_only_token() {
    let s = Scenario::new(bump_staging_image);
    // The primary limit, reset in an hour: far beyond what a run waits for.
    s.fake
        .rate_limit_next("POST", &format!("/issues/{PR}/comments"), 403, 3600, 1);
    let run = s.run();
    assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let log = format!("{}\n{}", run.stdout, run.stderr);
    assert!(log.contains("rate limited"), "{log}");
    assert!(
        !log.contains("fork"),
        "not the read-only token warning: {log}"
    );
    assert!(s.comments().is_empty());
    assert_eq!(s.requests("POST", &format!("/issues/{PR}/comments")), 1);
}

/// A fork's PR and a `pull_request_target` run render code the repository's owners have not
/// reviewed: build args that let that code run programs or read outside the repository are
/// refused unless `allow-privileged-builds` says otherwise, and the comment says why.
#[test]
fn privileged_build_args_are_refused_for_a_fork_and_for_pull_request_target() {
    let untrusted = [
        Scenario::new(bump_staging_image).in_a_fork(),
        Scenario::new(bump_staging_image).pull_request_target(),
    ];
    for s in untrusted {
        let s = s.input("build-args", "--enable-helm");
        let run = s.run();
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        let body = &s.ours()[0].body;
        assert!(
            body.contains("`--enable-helm`") && body.contains("allow-privileged-builds: true"),
            "{body}"
        );
        assert!(!body.contains("nginx:1.26.0"), "nothing was built: {body}");
        assert!(run.stdout.contains("::error"), "{}", run.stdout);

        let s = s.input("allow-privileged-builds", "true");
        s.run().ok();
        let body = &s.ours()[0].body;
        assert!(body.contains("+        image: nginx:1.26.0"), "{body}");
        s.assert_no_violations();
    }
    // The same PR from a branch of the repository itself builds with them.
    let s = Scenario::new(bump_staging_image).input("build-args", "--enable-helm");
    s.run().ok();
    assert!(s.ours()[0].body.contains("+        image: nginx:1.26.0"));
}

fn scale_production_to_zero(repo: &GitRepo) {
    repo.edit(
        "overlays/production/kustomization.yaml",
        "count: 3",
        "count: 0",
    );
}

/// A PR into `master` (the production branch) that scales production to zero: the Risks block
/// opens the comment, the `risks` output and a warning annotation on the overlay's
/// kustomization say the same, and `risk-level: high` fails the step after publishing.
#[test]
fn a_risky_change_is_named_above_the_diff_annotated_and_fails_at_risk_level_high() {
    let s = Scenario::new(scale_production_to_zero).input("risk-level", "high");
    let run = s.run();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let body = &s.ours()[0].body;
    let risks_at = body.find("**⚠ Risks** (1 high, 0 medium)").expect(body);
    let table_at = body.find("| Overlay |").expect(body);
    assert!(
        risks_at < table_at,
        "the risks come before the table: {body}"
    );
    assert!(
        body.contains(
            "- **high** `overlays/production` `Deployment production/web`: spec.replicas"
        ),
        "{body}"
    );
    assert!(body.contains("(`replicas-zero`)"), "{body}");
    assert!(body.contains("| changed · ⚠ 1 risk |"), "{body}");

    let risks: serde_json::Value = serde_json::from_str(run.output("risks")).unwrap();
    assert_eq!(risks.as_array().unwrap().len(), 1, "{risks}");
    assert_eq!(risks[0]["overlay"], "overlays/production");
    assert_eq!(risks[0]["rule"], "replicas-zero");
    assert_eq!(risks[0]["severity"], "high");
    assert_eq!(risks[0]["kind"], "Deployment");
    assert_eq!(risks[0]["namespace"], "production");
    assert_eq!(risks[0]["name"], "web");
    assert!(
        run.stdout.contains(
            "::warning file=overlays/production/kustomization.yaml,title=high risk (replicas-zero)%3A Deployment production/web::"
        ),
        "{}",
        run.stdout
    );
    assert!(run.summary.contains("**⚠ Risks**"), "{}", run.summary);

    // Reported, not failing: the default level, or the rule turned off.
    let s = s.input("risk-level", "none");
    s.run().ok();
    let s = s
        .input("risk-level", "any")
        .input("risk-ignore", "replicas-zero");
    let run = s.run().ok();
    assert_eq!(run.output("risks"), "[]");
    let body = &s.ours()[0].body;
    assert!(!body.contains("⚠ Risks"), "{body}");
    assert!(
        body.contains("Risk rules not checked (`risk-ignore`): `replicas-zero`."),
        "{body}"
    );
    s.assert_no_violations();
}

/// `ignore` leaves a field out of the diff, the counts and the risks, and the comment lists it.
#[test]
fn an_ignored_field_changes_nothing_and_the_comment_says_it_was_left_out() {
    let s = Scenario::new(|repo| {
        bump_staging_image(repo);
        scale_production_to_zero(repo);
    })
    .input(
        "ignore",
        "# replicas are the autoscaler's\napps/Deployment /spec/replicas\n",
    )
    .input("risk-level", "any");
    let run = s.run().ok();
    assert_eq!(run.output("affected-overlays"), r#"["overlays/staging"]"#);
    assert_eq!(run.output("risks"), "[]");
    let body = &s.ours()[0].body;
    assert!(
        body.contains(
            "Fields left out of every diff and count (`ignore`): `apps/Deployment /spec/replicas`."
        ),
        "{body}"
    );
    assert!(!body.contains("replicas: 0"), "{body}");
}

const APPS_URL: &str = "https://github.com/acme/manifests.git";

/// Argo CD's seed flow in the repository: staging deploys from `develop`, production from
/// `master`.
fn seed_flow_applications(repo: &GitRepo) {
    let app = |env: &str, branch: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web-{env}\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: {APPS_URL}\n    targetRevision: {branch}\n    path: overlays/{env}\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: {env}\n"
        )
    };
    repo.write(
        "argocd/applications.yaml",
        &format!(
            "{}---\n{}",
            app("staging", "develop"),
            app("production", "master")
        ),
    );
}

/// A PR into `master` shows what production will sync, by application; staging, which deploys
/// from `develop`, is listed, and the image output names the application.
#[test]
fn a_pr_into_master_is_reported_by_the_applications_that_deploy_from_master() {
    let s = Scenario::build_on(
        seed_flow_applications,
        |repo| {
            bump_staging_image(repo);
            repo.edit(
                "overlays/production/kustomization.yaml",
                "newTag: 1.24.0",
                "newTag: 1.26.0",
            );
        },
        true,
    )
    .input("repo-url", APPS_URL);
    let run = s.run().ok();
    let body = &s.ours()[0].body;
    assert!(
        body.contains(
            "By Argo CD application: what the applications that deploy from `master` will sync."
        ),
        "{body}"
    );
    assert!(
        body.contains("| `web-production` | `overlays/production` | 0 | 1 | 0 | changed |"),
        "{body}"
    );
    assert!(
        body.contains("Not deployed from `master`: `web-staging` (tracks `develop`)."),
        "{body}"
    );
    assert!(!body.contains("| `web-staging` |"), "{body}");
    assert_eq!(
        run.output("affected-overlays"),
        r#"["overlays/production"]"#
    );
    assert_eq!(
        run.output("image-changes"),
        r#"[{"overlay":"overlays/production","image":"nginx","old":"nginx:1.24.0","new":"nginx:1.26.0","application":"web-production"}]"#
    );

    // Without the input, the Applications name another URL than this repository's on the
    // (loopback) server: the report stays by directory and shows both overlays.
    let s = Scenario::build_on(seed_flow_applications, bump_staging_image, true);
    s.run().ok();
    let body = &s.ours()[0].body;
    assert!(body.contains("| Overlay | Added |"), "{body}");
    assert!(!body.contains("By Argo CD application"), "{body}");
}

/// A change to both overlays: each shard of two gets one.
fn bump_staging_and_scale_production(repo: &GitRepo) {
    bump_staging_image(repo);
    repo.edit(
        "overlays/production/kustomization.yaml",
        "count: 3",
        "count: 5",
    );
}

/// Runs shard `shard` of the scenario's PR; returns the path of its partial report.
fn run_shard(s: &Scenario, shard: &str) -> String {
    let run = s.run_with(&[("shard", shard)]).ok();
    let path = run.output("partial-report").to_string();
    let (index, count) = shard.split_once('/').unwrap();
    assert_eq!(
        PathBuf::from(&path),
        s.path(&format!(
            "gitops-promote/partial-default-{index}of{count}.json"
        ))
    );
    assert!(
        run.summary.contains(&format!(
            "shard {shard}: built 1 of the 2 affected overlays"
        )),
        "{}",
        run.summary
    );
    for output in ["has-changes", "comment-url"] {
        assert!(
            !run.outputs.iter().any(|(name, _)| name == output),
            "a shard sets no {output}: {:?}",
            run.outputs
        );
    }
    path
}

/// The overlays a partial report says shard `index` renders.
fn owned_by(partial: &str, index: u64) -> Vec<String> {
    let partial: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(partial).unwrap()).unwrap();
    let overlays = partial["report"]["overlays"].as_array().unwrap();
    partial["owners"]
        .as_array()
        .unwrap()
        .iter()
        .zip(overlays)
        .filter(|(owner, _)| owner.as_u64() == Some(index))
        .map(|(_, o)| o["path"].as_str().unwrap().to_string())
        .collect()
}

/// Two shards render their halves and post nothing; the merge job posts the comment a single
/// job posts for the same PR, byte for byte, with the same outputs and job summary.
#[test]
fn a_sharded_pr_posts_the_comment_one_job_posts() {
    let s = Scenario::new(bump_staging_and_scale_production);
    let first = run_shard(&s, "1/2");
    let second = run_shard(&s, "2/2");
    let mut halves = [owned_by(&first, 1), owned_by(&second, 2)].concat();
    halves.sort();
    assert_eq!(halves, ["overlays/production", "overlays/staging"]);
    assert!(s.comments().is_empty(), "{:#?}", s.comments());

    let partials = format!(
        "{}/gitops-promote/partial-*.json",
        s.runner.path().display()
    );
    let merged = s.run_with(&[("merge-reports", &partials)]).ok();
    let ours = s.ours();
    assert_eq!(ours.len(), 1, "{:#?}", s.comments());
    assert_eq!(s.requests("POST", &format!("/issues/{PR}/comments")), 1);
    let sharded = ours[0].body.clone();
    assert!(
        sharded.contains("+        image: nginx:1.26.0"),
        "{sharded}"
    );
    assert!(sharded.contains("+  replicas: 5"), "{sharded}");

    let single = s.run().ok();
    let ours = s.ours();
    assert_eq!(ours.len(), 1);
    assert_eq!(
        ours[0].body, sharded,
        "the merged comment is the single job's"
    );
    for output in [
        "has-changes",
        "affected-overlays",
        "image-changes",
        "risks",
        "report-file",
        "comment-url",
    ] {
        assert_eq!(merged.output(output), single.output(output), "{output}");
    }
    assert_eq!(merged.summary, single.summary);
    s.assert_no_violations();
}

/// A shard whose job failed leaves no report: its overlays are errors in the comment, never
/// "no changes", and the step fails as for an overlay that does not build.
#[test]
fn a_missing_shard_shows_its_overlays_failing_and_fails_the_step() {
    let s = Scenario::new(bump_staging_and_scale_production);
    let first = run_shard(&s, "1/2");
    let [lost] = <[String; 1]>::try_from(owned_by(&first, 2)).unwrap();
    let [kept] = <[String; 1]>::try_from(owned_by(&first, 1)).unwrap();

    let run = s.run_with(&[("merge-reports", &first)]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let body = &s.ours()[0].body;
    assert!(
        body.contains(&format!("`{lost}`")) && body.contains("not compared: shard 2/2"),
        "{body}"
    );
    assert!(!body.contains("No rendered changes"), "{body}");
    assert!(
        body.contains(&format!("`{kept}`")) && body.contains("```diff"),
        "the other shard's overlay is still shown: {body}"
    );
    assert!(
        run.stdout
            .contains("::warning::shard 2/2: no report; its overlays are shown as not compared"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("::error file={lost}/kustomization.yaml")),
        "{}",
        run.stdout
    );
    let affected: Vec<String> = serde_json::from_str(run.output("affected-overlays")).unwrap();
    assert!(affected.contains(&lost), "{affected:?}");

    // No partial report at all is an error of its own, and changes nothing.
    let before = s.ours()[0].body.clone();
    let nothing = format!("{}/nowhere/*.json", s.runner.path().display());
    let run = s.run_with(&[("merge-reports", &nothing)]);
    assert_ne!(run.code, 0);
    assert!(
        run.stdout
            .contains("input `merge-reports`: no file matches"),
        "{}",
        run.stdout
    );
    assert_eq!(s.ours()[0].body, before);
}

/// The render cache's statistics in the JSON report written beside `report-file`.
fn cache_stats(run: &StepResult) -> serde_json::Value {
    let json = PathBuf::from(run.output("report-file")).with_extension("json");
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(json).unwrap()).unwrap();
    let cache = &report["stats"]["cache"];
    json!({"hits": cache["hits"], "misses": cache["misses"], "written": cache["written"]})
}

/// With `cache`, the next push to the PR builds only what changed: the base side, rendered by
/// the run before, is read back.
#[test]
fn with_a_render_cache_the_next_run_builds_only_what_changed() {
    let counter = kustomize_counter();
    let cache = tempfile::tempdir().unwrap();
    let mut s = Scenario::new(bump_staging_image)
        .input("kustomize", counter.command())
        .input("cache", cache.path().to_str().unwrap());
    let run = s.run().ok();
    assert_eq!(counter.builds(), 2, "staging at both sides");
    assert_eq!(
        cache_stats(&run),
        json!({"hits": 0, "misses": 2, "written": 2})
    );

    s.push(bump_staging_image_again);
    let run = s.run().ok();
    assert_eq!(counter.builds(), 3, "only the new head side is built");
    assert_eq!(
        cache_stats(&run),
        json!({"hits": 1, "misses": 1, "written": 1})
    );
    assert!(
        run.stdout
            .contains("Render cache: 1 read from the cache, 1 built and 1 stored"),
        "{}",
        run.stdout
    );
    let body = &s.ours()[0].body;
    assert!(body.contains("-        image: nginx:1.25.0"), "{body}");
    assert!(body.contains("+        image: nginx:1.27.0"), "{body}");
}

/// A push renders its branch into the cache, so the next PR into it reads its base side; a
/// second push of the same content builds nothing. Warming is best effort, and `shard` on a
/// push is a mistake the step names.
#[test]
fn a_push_renders_its_branch_into_the_cache_for_the_next_pr() {
    let counter = kustomize_counter();
    let cache = tempfile::tempdir().unwrap();
    let s = Scenario::new(bump_staging_image)
        .input("kustomize", counter.command())
        .input("cache", cache.path().to_str().unwrap());
    let push = s.run_push_of_master(&[]).ok();
    assert_eq!(counter.builds(), 2, "master's two overlays, once each");
    let line = format!(
        "Render cache for master at {}: 0 read from the cache, 2 built and 2 stored",
        &s.base[..7]
    );
    assert!(push.stdout.contains(&line), "{}", push.stdout);
    let again = s.run_push_of_master(&[]).ok();
    assert_eq!(counter.builds(), 2, "nothing changed, nothing built");
    assert!(
        again.stdout.contains("2 read from the cache, 0 built"),
        "{}",
        again.stdout
    );

    let run = s.run().ok();
    assert_eq!(counter.builds(), 3, "only the PR's head side is built");
    assert_eq!(
        cache_stats(&run),
        json!({"hits": 1, "misses": 1, "written": 1})
    );
    assert!(s.ours()[0].body.contains("+        image: nginx:1.26.0"));

    let file = cache.path().join("not-a-directory");
    fs::write(&file, "").unwrap();
    let unusable = s
        .run_push_of_master(&[("cache", file.to_str().unwrap())])
        .ok();
    assert!(
        unusable
            .stdout
            .contains("::warning::Could not render master into the render cache"),
        "{}",
        unusable.stdout
    );

    let wrong = s.run_push_of_master(&[("shard", "1/2")]);
    assert_ne!(wrong.code, 0);
    assert!(
        wrong
            .stdout
            .contains("input `shard`: only pull_request runs are sharded"),
        "{}",
        wrong.stdout
    );
}
