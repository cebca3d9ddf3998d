//! Typed subsets of the webhook payloads GitHub writes to `GITHUB_EVENT_PATH`: only the fields
//! this tool reads, and unknown fields ignored so new payload additions never break a run.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The event that started the run, by `GITHUB_EVENT_NAME`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// `pull_request`, or `pull_request_target`, which carries the same payload.
    /// Boxed: the pull request payload is several times larger than the others.
    PullRequest(Box<PullRequestEvent>),
    Push(PushEvent),
    IssueComment(IssueCommentEvent),
    WorkflowDispatch(WorkflowDispatchEvent),
    /// Any other event, by name; its payload is not read.
    Other(String),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum EventError {
    #[error("cannot read the `{event_name}` event payload {}: {cause}", path.display())]
    Read {
        event_name: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    /// Invalid JSON, or JSON that lacks a field this tool needs; `detail` includes the position.
    #[error("cannot parse the `{event_name}` event payload {}: {detail}", path.display())]
    Parse {
        event_name: String,
        path: PathBuf,
        line: usize,
        column: usize,
        detail: String,
    },
}

/// Reads the payload at `path` as the event `event_name` (the value of `GITHUB_EVENT_NAME`).
pub(crate) fn load(event_name: &str, path: &Path) -> Result<Event, EventError> {
    if !matches!(
        event_name,
        "pull_request" | "pull_request_target" | "push" | "issue_comment" | "workflow_dispatch"
    ) {
        return Ok(Event::Other(event_name.to_owned()));
    }
    let text = std::fs::read_to_string(path).map_err(|cause| EventError::Read {
        event_name: event_name.to_owned(),
        path: path.to_owned(),
        cause,
    })?;
    parse(event_name, &text).map_err(|e| EventError::Parse {
        event_name: event_name.to_owned(),
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        detail: e.to_string(),
    })
}

fn parse(event_name: &str, text: &str) -> serde_json::Result<Event> {
    Ok(match event_name {
        "pull_request" | "pull_request_target" => Event::PullRequest(serde_json::from_str(text)?),
        "push" => Event::Push(serde_json::from_str(text)?),
        "issue_comment" => Event::IssueComment(serde_json::from_str(text)?),
        "workflow_dispatch" => Event::WorkflowDispatch(serde_json::from_str(text)?),
        other => Event::Other(other.to_owned()),
    })
}

/// Whether the code a run renders may come from someone without write access to the
/// repository while the run holds the repository's own permissions and secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trust {
    Trusted,
    /// Why not, as the end of a sentence ("…, and {why}").
    Untrusted(String),
}

/// Decides the trust of a run from its event. `pull_request_target` and `issue_comment` (a
/// ChatOps `/diff`) run with the base repository's token and secrets yet render the PR's head;
/// a fork's head is someone else's code whatever the event. Everything else (pushes, dispatches)
/// renders branches only people with write access can change.
pub(crate) fn trust(event_name: &str, event: &Event) -> Trust {
    let untrusted = |why: &str| Trust::Untrusted(why.to_owned());
    match event {
        Event::PullRequest(pr) if pr.pull_request.is_from_fork() => {
            untrusted("the pull request comes from a fork")
        }
        Event::PullRequest(_) if event_name == "pull_request_target" => untrusted(
            "a `pull_request_target` run renders the pull request's code with the base \
             repository's permissions",
        ),
        Event::IssueComment(_) => untrusted(
            "a PR comment command renders the pull request's code with the base repository's \
             permissions",
        ),
        _ => Trust::Trusted,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct User {
    pub(crate) login: String,
}

/// A repository as payloads embed it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct RepoRef {
    /// `owner/name`.
    pub(crate) full_name: String,
    pub(crate) clone_url: Option<String>,
    pub(crate) default_branch: Option<String>,
}

/// One side of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Branch {
    pub(crate) sha: String,
    /// The branch name without `refs/heads/`.
    #[serde(rename = "ref")]
    pub(crate) ref_: String,
    /// `null` when the head's fork has been deleted.
    pub(crate) repo: Option<RepoRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct PullRequest {
    pub(crate) number: u64,
    /// `open` or `closed`.
    pub(crate) state: String,
    /// Absent on older GitHub Enterprise versions.
    #[serde(default)]
    pub(crate) draft: bool,
    pub(crate) title: String,
    pub(crate) html_url: String,
    pub(crate) user: User,
    pub(crate) head: Branch,
    pub(crate) base: Branch,
    /// The test-merge commit, or `null` while GitHub computes it or when the PR conflicts.
    pub(crate) merge_commit_sha: Option<String>,
    pub(crate) merged: Option<bool>,
}

impl PullRequest {
    /// Whether the head lives in another repository; its runs get a read-only token.
    pub(crate) fn is_from_fork(&self) -> bool {
        match (&self.head.repo, &self.base.repo) {
            (Some(head), Some(base)) => head.full_name != base.full_name,
            // A deleted fork is still a fork.
            (None, _) => true,
            (Some(_), None) => false,
        }
    }
}

/// The previous value of an edited field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ChangedFrom {
    pub(crate) from: String,
}

/// Present on `edited` when the base branch was changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct BaseChange {
    #[serde(rename = "ref")]
    pub(crate) ref_: ChangedFrom,
    pub(crate) sha: ChangedFrom,
}

/// What an `edited` action changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Changes {
    pub(crate) base: Option<BaseChange>,
    pub(crate) title: Option<ChangedFrom>,
    pub(crate) body: Option<ChangedFrom>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct PullRequestEvent {
    pub(crate) action: String,
    pub(crate) number: u64,
    pub(crate) pull_request: PullRequest,
    pub(crate) repository: RepoRef,
    pub(crate) changes: Option<Changes>,
}

impl PullRequestEvent {
    /// Whether this action can change what the PR would deploy: new commits, a (re)opened or
    /// undrafted PR, or a new base branch. Title, body, label and review events cannot.
    pub(crate) fn should_run(&self) -> bool {
        match self.action.as_str() {
            "opened" | "synchronize" | "reopened" | "ready_for_review" => true,
            "edited" => self.changes.as_ref().is_some_and(|c| c.base.is_some()),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Commit {
    pub(crate) id: String,
    pub(crate) message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct PushEvent {
    /// The full ref, e.g. `refs/heads/develop`.
    #[serde(rename = "ref")]
    pub(crate) ref_: String,
    /// All zeros when the ref was created.
    pub(crate) before: String,
    /// All zeros when the ref was deleted.
    pub(crate) after: String,
    /// At most 2048 entries, GitHub's cap; may be empty for a forced or tag push.
    #[serde(default)]
    pub(crate) commits: Vec<Commit>,
    /// `null` when the ref was deleted.
    pub(crate) head_commit: Option<Commit>,
    pub(crate) repository: RepoRef,
    #[serde(default)]
    pub(crate) forced: bool,
    #[serde(default)]
    pub(crate) created: bool,
    #[serde(default)]
    pub(crate) deleted: bool,
}

/// Set on an issue that is really a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct IssuePullRequest {
    pub(crate) url: String,
    pub(crate) html_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Issue {
    pub(crate) number: u64,
    pub(crate) pull_request: Option<IssuePullRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct CommentPayload {
    pub(crate) id: u64,
    /// Absent on `deleted` actions of some GitHub Enterprise versions.
    #[serde(default)]
    pub(crate) body: String,
    pub(crate) user: User,
    #[serde(default)]
    pub(crate) html_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct IssueCommentEvent {
    pub(crate) action: String,
    pub(crate) issue: Issue,
    pub(crate) comment: CommentPayload,
    pub(crate) repository: RepoRef,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct WorkflowDispatchEvent {
    /// The values given when dispatching; `null` in the payload when the workflow has none.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(crate) inputs: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "ref")]
    pub(crate) ref_: Option<String>,
}

fn null_as_empty<'de, D>(
    deserializer: D,
) -> Result<serde_json::Map<String, serde_json::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like GitHub's documented `pull_request` example, with fields this tool ignores left
    /// in to prove they are tolerated.
    fn pull_request_payload(action: &str, changes: &str) -> String {
        format!(
            r#"{{
  "action": "{action}",
  "number": 42,
  {changes}
  "pull_request": {{
    "url": "https://api.github.com/repos/acme/gitops/pulls/42",
    "id": 1887234566,
    "node_id": "PR_kwDOKe4xzc5wfR2G",
    "html_url": "https://github.com/acme/gitops/pull/42",
    "diff_url": "https://github.com/acme/gitops/pull/42.diff",
    "number": 42,
    "state": "open",
    "locked": false,
    "title": "checkout: 3 replicas in staging",
    "user": {{ "login": "octocat", "id": 1, "type": "User", "site_admin": false }},
    "body": "Scale checkout for the load test.",
    "created_at": "2024-05-02T09:12:44Z",
    "updated_at": "2024-05-02T10:01:03Z",
    "closed_at": null,
    "merged_at": null,
    "merge_commit_sha": "e3a1b2c4d5f60718293a4b5c6d7e8f9012345678",
    "assignees": [],
    "requested_reviewers": [{{ "login": "platform-bot", "id": 7 }}],
    "labels": [{{ "id": 11, "name": "staging", "color": "0e8a16", "default": false }}],
    "milestone": null,
    "draft": false,
    "head": {{
      "label": "octocat:checkout-replicas",
      "ref": "checkout-replicas",
      "sha": "9f2c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
      "user": {{ "login": "octocat", "id": 1 }},
      "repo": {{
        "id": 700000001,
        "name": "gitops",
        "full_name": "acme/gitops",
        "private": true,
        "owner": {{ "login": "acme", "id": 9, "type": "Organization" }},
        "clone_url": "https://github.com/acme/gitops.git",
        "default_branch": "develop"
      }}
    }},
    "base": {{
      "label": "acme:develop",
      "ref": "develop",
      "sha": "1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5",
      "user": {{ "login": "acme", "id": 9 }},
      "repo": {{
        "id": 700000001,
        "name": "gitops",
        "full_name": "acme/gitops",
        "private": true,
        "clone_url": "https://github.com/acme/gitops.git",
        "default_branch": "develop"
      }}
    }},
    "_links": {{ "self": {{ "href": "https://api.github.com/repos/acme/gitops/pulls/42" }} }},
    "author_association": "MEMBER",
    "auto_merge": null,
    "merged": false,
    "mergeable": null,
    "rebaseable": null,
    "mergeable_state": "unknown",
    "merged_by": null,
    "comments": 1,
    "commits": 2,
    "additions": 1,
    "deletions": 1,
    "changed_files": 1
  }},
  "before": "5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c",
  "after": "9f2c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
  "repository": {{
    "id": 700000001,
    "name": "gitops",
    "full_name": "acme/gitops",
    "private": true,
    "owner": {{ "login": "acme", "id": 9, "type": "Organization" }},
    "html_url": "https://github.com/acme/gitops",
    "clone_url": "https://github.com/acme/gitops.git",
    "default_branch": "develop",
    "topics": ["gitops"]
  }},
  "organization": {{ "login": "acme", "id": 9 }},
  "sender": {{ "login": "octocat", "id": 1, "type": "User" }}
}}"#
        )
    }

    fn pull_request(action: &str, changes: &str) -> PullRequestEvent {
        match parse("pull_request", &pull_request_payload(action, changes)).unwrap() {
            Event::PullRequest(pr) => *pr,
            other => panic!("expected a pull request, got {other:?}"),
        }
    }

    const BASE_CHANGE: &str = r#""changes": {
    "base": {
      "ref": { "from": "master" },
      "sha": { "from": "0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6" }
    }
  },"#;

    const TITLE_CHANGE: &str = r#""changes": { "title": { "from": "wip" } },"#;

    #[test]
    fn a_synchronize_payload_is_read() {
        let event = pull_request("synchronize", "");
        let pr = &event.pull_request;
        assert_eq!(event.number, 42);
        assert_eq!(pr.number, 42);
        assert_eq!(pr.state, "open");
        assert!(!pr.draft);
        assert_eq!(pr.title, "checkout: 3 replicas in staging");
        assert_eq!(pr.user.login, "octocat");
        assert_eq!(pr.head.ref_, "checkout-replicas");
        assert_eq!(pr.head.sha, "9f2c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e");
        assert_eq!(pr.base.ref_, "develop");
        assert_eq!(
            pr.merge_commit_sha.as_deref(),
            Some("e3a1b2c4d5f60718293a4b5c6d7e8f9012345678")
        );
        assert_eq!(pr.merged, Some(false));
        assert!(!pr.is_from_fork());
        assert_eq!(event.repository.full_name, "acme/gitops");
        assert_eq!(event.changes, None);
        assert!(event.should_run());
    }

    #[test]
    fn edited_runs_only_when_the_base_changed() {
        let retargeted = pull_request("edited", BASE_CHANGE);
        let base = &retargeted.changes.as_ref().unwrap().base.as_ref().unwrap();
        assert_eq!(base.ref_.from, "master");
        assert_eq!(base.sha.from, "0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6");
        assert!(retargeted.should_run());

        let retitled = pull_request("edited", TITLE_CHANGE);
        assert_eq!(
            retitled
                .changes
                .as_ref()
                .unwrap()
                .title
                .as_ref()
                .unwrap()
                .from,
            "wip"
        );
        assert!(!retitled.should_run());
    }

    #[test]
    fn which_actions_run() {
        for action in ["opened", "synchronize", "reopened", "ready_for_review"] {
            assert!(pull_request(action, "").should_run(), "{action}");
        }
        for action in [
            "closed",
            "labeled",
            "assigned",
            "review_requested",
            "edited",
        ] {
            assert!(!pull_request(action, "").should_run(), "{action}");
        }
    }

    #[test]
    fn a_fork_and_a_deleted_fork_are_forks() {
        let mut pr = pull_request("opened", "").pull_request;
        pr.head.repo.as_mut().unwrap().full_name = "octocat/gitops".to_owned();
        assert!(pr.is_from_fork());
        pr.head.repo = None;
        assert!(pr.is_from_fork());
    }

    #[test]
    fn only_the_repositorys_own_branches_are_trusted() {
        let event = |name: &str, payload: &str| parse(name, payload).unwrap();
        let same_repo = pull_request_payload("opened", "");
        assert_eq!(
            trust("pull_request", &event("pull_request", &same_repo)),
            Trust::Trusted
        );
        assert!(matches!(
            trust("pull_request_target", &event("pull_request_target", &same_repo)),
            Trust::Untrusted(why) if why.contains("pull_request_target")
        ));
        let mut fork = pull_request("opened", "");
        fork.pull_request.head.repo.as_mut().unwrap().full_name = "octocat/gitops".to_owned();
        for name in ["pull_request", "pull_request_target"] {
            assert_eq!(
                trust(name, &Event::PullRequest(Box::new(fork.clone()))),
                Trust::Untrusted("the pull request comes from a fork".to_owned()),
                "{name}"
            );
        }
        let comment = r#"{"action": "created", "issue": {"number": 42},
            "comment": {"id": 1, "body": "/diff", "user": {"login": "octocat"}},
            "repository": {"full_name": "acme/gitops"}}"#;
        assert!(matches!(
            trust("issue_comment", &event("issue_comment", comment)),
            Trust::Untrusted(why) if why.contains("comment command")
        ));
        assert_eq!(trust("push", &event("push", PUSH)), Trust::Trusted);
        assert_eq!(
            trust("workflow_dispatch", &event("workflow_dispatch", "{}")),
            Trust::Trusted
        );
        assert_eq!(
            trust("schedule", &Event::Other("schedule".to_owned())),
            Trust::Trusted
        );
    }

    #[test]
    fn pull_request_target_reads_the_same_payload() {
        let event = parse("pull_request_target", &pull_request_payload("opened", "")).unwrap();
        assert!(matches!(event, Event::PullRequest(pr) if pr.number == 42));
    }

    const PUSH: &str = r#"{
  "ref": "refs/heads/develop",
  "before": "1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5",
  "after": "2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5d6",
  "repository": {
    "id": 700000001,
    "name": "gitops",
    "full_name": "acme/gitops",
    "owner": { "name": "acme", "email": null, "login": "acme" },
    "clone_url": "https://github.com/acme/gitops.git",
    "created_at": 1696406481,
    "pushed_at": 1714642000,
    "default_branch": "develop",
    "master_branch": "develop"
  },
  "pusher": { "name": "octocat", "email": "octocat@example.com" },
  "sender": { "login": "octocat", "id": 1 },
  "created": false,
  "deleted": false,
  "forced": false,
  "base_ref": null,
  "compare": "https://github.com/acme/gitops/compare/1a2b3c4d5e6f...2b3c4d5e6f70",
  "commits": [
    {
      "id": "2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5d6",
      "tree_id": "3c4d5e6f708192a3b4c5d6e7f80912a3b4c5d6e7",
      "distinct": true,
      "message": "checkout: 3 replicas in staging (#42)",
      "timestamp": "2024-05-02T10:06:40Z",
      "url": "https://github.com/acme/gitops/commit/2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5d6",
      "author": { "name": "Octo Cat", "email": "octocat@example.com", "username": "octocat" },
      "committer": { "name": "GitHub", "email": "noreply@github.com", "username": "web-flow" },
      "added": [],
      "removed": [],
      "modified": ["overlays/staging/checkout/replicas.yaml"]
    }
  ],
  "head_commit": {
    "id": "2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5d6",
    "tree_id": "3c4d5e6f708192a3b4c5d6e7f80912a3b4c5d6e7",
    "distinct": true,
    "message": "checkout: 3 replicas in staging (#42)",
    "timestamp": "2024-05-02T10:06:40Z",
    "modified": ["overlays/staging/checkout/replicas.yaml"]
  }
}"#;

    #[test]
    fn a_push_payload_is_read() {
        let Event::Push(push) = parse("push", PUSH).unwrap() else {
            panic!("expected a push");
        };
        assert_eq!(push.ref_, "refs/heads/develop");
        assert_eq!(push.before, "1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5");
        assert_eq!(push.after, "2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5d6");
        assert_eq!(push.commits.len(), 1);
        assert_eq!(
            push.commits[0].message,
            "checkout: 3 replicas in staging (#42)"
        );
        assert_eq!(push.head_commit.unwrap().id, push.after);
        assert_eq!(push.repository.full_name, "acme/gitops");
        assert!(!push.forced && !push.created && !push.deleted);
    }

    #[test]
    fn a_branch_deletion_has_no_head_commit() {
        let payload = r#"{
  "ref": "refs/heads/old", "before": "1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5",
  "after": "0000000000000000000000000000000000000000", "commits": [], "head_commit": null,
  "deleted": true, "forced": false, "repository": { "full_name": "acme/gitops" }
}"#;
        let Event::Push(push) = parse("push", payload).unwrap() else {
            panic!("expected a push");
        };
        assert!(push.deleted);
        assert_eq!(push.head_commit, None);
    }

    #[test]
    fn an_issue_comment_on_a_pull_request() {
        let payload = r#"{
  "action": "created",
  "issue": {
    "number": 42,
    "title": "checkout: 3 replicas in staging",
    "pull_request": {
      "url": "https://api.github.com/repos/acme/gitops/pulls/42",
      "html_url": "https://github.com/acme/gitops/pull/42",
      "merged_at": null
    },
    "user": { "login": "octocat" }
  },
  "comment": {
    "id": 2091234567,
    "body": "/promote",
    "user": { "login": "sre-lead", "id": 5 },
    "author_association": "MEMBER"
  },
  "repository": { "full_name": "acme/gitops", "default_branch": "develop" },
  "sender": { "login": "sre-lead" }
}"#;
        let Event::IssueComment(event) = parse("issue_comment", payload).unwrap() else {
            panic!("expected an issue comment");
        };
        assert_eq!(event.issue.number, 42);
        assert!(event.issue.pull_request.is_some());
        assert_eq!(event.comment.id, 2_091_234_567);
        assert_eq!(event.comment.body, "/promote");
        assert_eq!(event.comment.user.login, "sre-lead");
    }

    #[test]
    fn workflow_dispatch_inputs_may_be_null() {
        let Event::WorkflowDispatch(with) = parse(
            "workflow_dispatch",
            r#"{"inputs": {"pr": "42", "dry-run": true}, "ref": "refs/heads/develop"}"#,
        )
        .unwrap() else {
            panic!("expected a dispatch");
        };
        assert_eq!(with.inputs["pr"], "42");
        assert_eq!(with.inputs["dry-run"], true);
        assert_eq!(with.ref_.as_deref(), Some("refs/heads/develop"));

        let Event::WorkflowDispatch(without) =
            parse("workflow_dispatch", r#"{"inputs": null}"#).unwrap()
        else {
            panic!("expected a dispatch");
        };
        assert!(without.inputs.is_empty());
    }

    #[test]
    fn other_events_are_not_read() {
        let missing = Path::new("/nonexistent/event.json");
        assert_eq!(
            load("schedule", missing).unwrap(),
            Event::Other("schedule".to_owned())
        );
    }

    #[test]
    fn load_reads_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("event.json");
        std::fs::write(&path, PUSH).unwrap();
        assert!(matches!(load("push", &path).unwrap(), Event::Push(_)));
    }

    #[test]
    fn errors_name_the_file_and_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let err = load("push", &missing).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "cannot read the `push` event payload {}: ",
                missing.display()
            )),
            "{err}"
        );

        let path = dir.path().join("event.json");
        std::fs::write(&path, "{\n  \"ref\": \"refs/heads/develop\",\n  oops\n}").unwrap();
        let err = load("push", &path).unwrap_err();
        assert!(
            matches!(
                err,
                EventError::Parse {
                    line: 3,
                    column: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cannot parse the `push` event payload {}: key must be a string at line 3 column 3",
                path.display()
            )
        );

        std::fs::write(&path, r#"{"action": "opened", "number": 1}"#).unwrap();
        let err = load("pull_request", &path).unwrap_err().to_string();
        assert!(err.contains("missing field `pull_request`"), "{err}");
    }
}
