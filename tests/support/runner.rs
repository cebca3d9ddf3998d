//! A GitHub Actions runner for the integration tests: the environment, event file, outputs and
//! job summary a real runner gives `gitops-promote action`, and a workspace like actions/checkout's.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tempfile::TempDir;

use super::FakeGitHub;

pub const TOKEN: &str = "ghs_TestInstallationToken0123456789abcdef";
pub const REPO: &str = "acme/manifests";

/// One step's environment: event, ref and inputs; files live in `dir` (RUNNER_TEMP).
pub struct Step<'a> {
    pub fake: &'a FakeGitHub,
    pub dir: &'a Path,
    pub workspace: &'a Path,
    pub event_name: &'a str,
    pub sha: &'a str,
    pub git_ref: String,
    pub inputs: &'a [(String, String)],
}

/// What a step left behind.
pub struct StepResult {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub outputs: Vec<(String, String)>,
    pub summary: String,
}

impl StepResult {
    pub fn ok(self) -> StepResult {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn output(&self, name: &str) -> &str {
        self.outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no output {name} in {:?}", self.outputs))
    }
}

impl Step<'_> {
    /// Runs `gitops-promote action` with the event file `event.json` in the step's directory.
    pub fn run(&self) -> StepResult {
        let path = |name: &str| -> PathBuf { self.dir.join(name) };
        let mut cmd = Command::cargo_bin("gitops-promote").unwrap();
        for (key, _) in std::env::vars() {
            if key.starts_with("GITHUB_") || key.starts_with("INPUT_") || key.starts_with("RUNNER_")
            {
                cmd.env_remove(key);
            }
        }
        cmd.arg("action")
            .current_dir(self.workspace)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", self.event_name)
            .env("GITHUB_EVENT_PATH", path("event.json"))
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_API_URL", self.fake.api_url())
            .env("GITHUB_SERVER_URL", self.fake.server_url())
            .env("GITHUB_GRAPHQL_URL", self.fake.graphql_url())
            .env("GITHUB_WORKSPACE", self.workspace)
            .env("GITHUB_SHA", self.sha)
            .env("GITHUB_REF", &self.git_ref)
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("GITHUB_ACTOR", "octocat")
            .env("GITHUB_OUTPUT", path("output"))
            .env("GITHUB_STEP_SUMMARY", path("summary.md"))
            .env("RUNNER_TEMP", self.dir)
            .env("RUST_BACKTRACE", "1")
            .timeout(std::time::Duration::from_secs(180));
        // What a composite action passes: every input, empty when the workflow did not set it.
        for name in [
            "working-directory",
            "paths",
            "kustomize",
            "build-args",
            "comment-mode",
            "comment-id",
            "max-comments",
            "hide-outdated",
            "comment-on-no-changes",
            "fail-on-error",
            "summary",
            "timeout",
            "jobs",
            "allow-remote",
            "allow-privileged-builds",
            "cache",
            "cache-size",
            "shard",
            "merge-reports",
            "source-branch",
            "target-branch",
            "skip-labels",
            "exclude-paths",
            "labels",
            "copy-labels",
            "assignees",
            "reviewers",
            "draft",
            "fail-on-conflict",
            "pr-number",
            "image-update-branches",
            "image-update-target",
            "deploy-branch-target",
            "deploy-branch-default",
        ] {
            cmd.env(input_var(name), "");
        }
        cmd.env("INPUT_GITHUB_TOKEN", TOKEN);
        for (name, value) in self.inputs {
            cmd.env(input_var(name), value);
        }
        let _ = fs::remove_file(path("output"));
        let _ = fs::remove_file(path("summary.md"));
        let out = cmd.output().unwrap();
        StepResult {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: parse_outputs(&fs::read_to_string(path("output")).unwrap_or_default()),
            summary: fs::read_to_string(path("summary.md")).unwrap_or_default(),
        }
    }
}

pub fn input_var(name: &str) -> String {
    format!("INPUT_{}", name.to_uppercase().replace('-', "_"))
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = StdCommand::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// actions/checkout's `fetch-depth`: 1 (its default) or 0 (all branches and tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchDepth {
    One,
    Full,
}

/// The workspace actions/checkout@v4 leaves for a run on `git_ref` (`GITHUB_REF`) at `sha`
/// (`GITHUB_SHA`), made with the same git commands: over HTTP from the loopback GitHub with
/// protocol v2, the token persisted as an `extraheader`, the commit fetched into the
/// `refs/remotes/...` ref checkout creates, and checked out as checkout does.
pub fn checkout_like_actions(
    fake: &FakeGitHub,
    git_ref: &str,
    sha: &str,
    depth: FetchDepth,
) -> TempDir {
    let ws = tempfile::Builder::new()
        .prefix("gitops-promote-workspace-")
        .tempdir()
        .unwrap();
    let dir = ws.path();
    let server = fake.server_url();
    git(dir, &["init", "-q"]);
    git(
        dir,
        &["remote", "add", "origin", &format!("{server}/{REPO}")],
    );
    git(dir, &["config", "--local", "gc.auto", "0"]);
    let basic = STANDARD.encode(format!("x-access-token:{TOKEN}"));
    git(
        dir,
        &[
            "config",
            "--local",
            &format!("http.{server}/.extraheader"),
            &format!("AUTHORIZATION: basic {basic}"),
        ],
    );
    // Where checkout keeps the fetched commit: refs/pull/7/merge -> refs/remotes/pull/7/merge,
    // refs/heads/develop -> refs/remotes/origin/develop.
    let (remote_ref, branch) = if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        (format!("refs/remotes/origin/{branch}"), Some(branch))
    } else if let Some(rest) = git_ref.strip_prefix("refs/pull/") {
        (format!("refs/remotes/pull/{rest}"), None)
    } else {
        panic!("checkout_like_actions: unsupported GITHUB_REF {git_ref}");
    };
    let target = format!("+{sha}:{remote_ref}");
    let mut fetch = vec![
        "-c",
        "protocol.version=2",
        "fetch",
        "--prune",
        "--no-recurse-submodules",
        "--quiet",
    ];
    match depth {
        FetchDepth::One => fetch.extend(["--no-tags", "--depth=1", "origin", &target]),
        FetchDepth::Full => fetch.extend([
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
            "+refs/tags/*:refs/tags/*",
        ]),
    }
    if depth == FetchDepth::Full && branch.is_none() {
        // checkout adds the PR's ref to the all-history refspecs.
        fetch.push(&target);
    }
    git(dir, &fetch);
    match branch {
        Some(branch) => git(
            dir,
            &["checkout", "-q", "--force", "-B", branch, &remote_ref],
        ),
        None => git(dir, &["checkout", "-q", "--force", &remote_ref]),
    };
    let head = git(dir, &["rev-parse", "HEAD"]);
    assert_eq!(head.trim(), sha, "the workspace is not at GITHUB_SHA");
    let shallow = dir.join(".git/shallow").exists();
    assert_eq!(shallow, depth == FetchDepth::One, "fetch-depth {depth:?}");
    ws
}

/// Reads `name<<DELIM ... DELIM` blocks as the runner does.
pub fn parse_outputs(text: &str) -> Vec<(String, String)> {
    let mut outputs = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            outputs.push((name.to_string(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.push((name.to_string(), value.to_string()));
        }
    }
    outputs
}

/// A payload's `repository` object, shaped like GitHub's.
pub fn repository_json() -> serde_json::Value {
    serde_json::json!({
        "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "manifests",
        "full_name": REPO, "private": true,
        "owner": {"login": "acme", "id": 1, "type": "Organization"},
        "html_url": format!("https://github.com/{REPO}"),
        "clone_url": format!("https://github.com/{REPO}.git"), "default_branch": "master"
    })
}

/// The commits a `pull_request` payload names.
pub struct PullRequestShas<'a> {
    pub head: &'a str,
    pub base: &'a str,
    /// GitHub's test merge; `None` when it could not merge the PR.
    pub merge: Option<&'a str>,
}

/// A payload shaped like GitHub's documented `pull_request` webhook for PR `number` from
/// `feature` into `master`; the head branch lives in `head_repository` (a fork, or the same).
pub fn pull_request_event(
    action: &str,
    number: u64,
    shas: &PullRequestShas,
    head_repository: serde_json::Value,
) -> serde_json::Value {
    let repository = repository_json();
    serde_json::json!({
        "action": action,
        "number": number,
        "pull_request": {
            "url": format!("https://api.github.com/repos/{REPO}/pulls/{number}"),
            "id": 1, "node_id": "PR_kwDOA", "number": number, "state": "open", "locked": false,
            "title": "Bump web", "draft": false,
            "html_url": format!("https://github.com/{REPO}/pull/{number}"),
            "user": {"login": "octocat", "id": 583231, "type": "User"},
            "body": "Please review the rendered diff.",
            "head": {"label": "acme:feature", "ref": "feature", "sha": shas.head,
                     "user": {"login": "acme"}, "repo": head_repository},
            "base": {"label": "acme:master", "ref": "master", "sha": shas.base,
                     "user": {"login": "acme"}, "repo": repository},
            "merge_commit_sha": shas.merge, "merged": false, "mergeable": null,
            "commits": 1, "additions": 1, "deletions": 1, "changed_files": 1
        },
        "repository": repository,
        "sender": {"login": "octocat", "id": 583231, "type": "User"}
    })
}
