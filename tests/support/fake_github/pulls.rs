//! Pull requests in the fake GitHub: the REST routes that read, list, open, edit, label, assign
//! and review them, and the refs GitHub keeps in step in the repository (`refs/pull/N/...`).

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::{
    FakePull, FakeState, Paging, Reply, Shared, StoredPull, StoredReview, node_id, rfc3339,
    stable_id,
};

const DOCS_PULLS: &str = "https://docs.github.com/rest/pulls/pulls";

impl Shared {
    pub(super) fn get_pull(&self, full_name: &str, number: u64) -> Reply {
        let state = self.state();
        match state.pulls.get(&(full_name.to_owned(), number)) {
            Some(stored) => Reply::json(200, self.pull_json(&state, full_name, stored)),
            None => Reply::not_found(),
        }
    }

    /// `GET /pulls` with GitHub's filters. `head` counts only as `owner:branch`: GitHub ignores a
    /// bare branch name and lists everything, a mistake a test should see.
    pub(super) fn list_pulls(&self, full_name: &str, query: &str) -> Reply {
        let paging = Paging::from_query(query);
        let wanted = paging.param("state").unwrap_or("open");
        let head = paging.param("head").and_then(|h| h.split_once(':'));
        let base = paging.param("base");
        let sort = paging.param("sort").unwrap_or("created");
        let descending = match paging.param("direction") {
            Some(direction) => direction == "desc",
            None => sort == "created",
        };

        let state = self.state();
        let mut pulls: Vec<&StoredPull> = state
            .pulls
            .iter()
            .filter(|((repo, _), _)| repo == full_name)
            .map(|(_, stored)| stored)
            .filter(|s| wanted == "all" || s.pull.state == wanted)
            .filter(|s| {
                head.is_none_or(|(owner, branch)| {
                    head_owner(&s.pull, full_name).eq_ignore_ascii_case(owner)
                        && s.pull.head_ref == branch
                })
            })
            .filter(|s| base.is_none_or(|b| s.pull.base_ref == b))
            .collect();
        let comments = |n: u64| {
            state
                .comments
                .iter()
                .filter(|c| c.repo == full_name && c.issue == n)
                .count()
        };
        // Timestamps have whole seconds; the number breaks ties in creation order.
        match sort {
            "updated" => pulls.sort_by(|a, b| {
                (&a.updated_at, a.pull.number).cmp(&(&b.updated_at, b.pull.number))
            }),
            "popularity" => pulls.sort_by_key(|s| (comments(s.pull.number), s.pull.number)),
            // `long-running` weighs age against activity; age alone is close enough here.
            _ => pulls.sort_by(|a, b| {
                (&a.created_at, a.pull.number).cmp(&(&b.created_at, b.pull.number))
            }),
        }
        if descending {
            pulls.reverse();
        }
        let items = pulls
            .into_iter()
            .map(|s| self.pull_simple_json(&state, full_name, s))
            .collect();
        self.page_reply(items, &paging, &format!("/repos/{full_name}/pulls"))
    }

    /// `POST /pulls`: a pull request from a branch of the served repository, numbered after the
    /// repository's last issue or pull request, with GitHub's refs and test merge written.
    pub(super) fn create_pull(&self, full_name: &str, body: &[u8]) -> Reply {
        let docs = format!("{DOCS_PULLS}#create-a-pull-request");
        let request = match json_object(body, &docs) {
            Ok(request) => request,
            Err(reply) => return reply,
        };
        let text = |name: &str| request.get(name).and_then(Value::as_str);
        for required in ["head", "base"] {
            if text(required).is_none() {
                return Reply::error(
                    422,
                    &format!("Invalid request.\n\n\"{required}\" wasn't supplied."),
                    &docs,
                );
            }
        }
        let (head, base) = (
            text("head").unwrap_or_default(),
            text("base").unwrap_or_default(),
        );
        let Some(title) = text("title").filter(|t| !t.trim().is_empty()) else {
            return Reply::validation_failed(
                &docs,
                json!({ "resource": "Issue", "field": "title", "code": "missing_field" }),
            );
        };
        let owner = full_name.split('/').next().unwrap_or_default();
        let invalid = |field: &str| {
            Reply::validation_failed(
                &docs,
                json!({ "resource": "PullRequest", "field": field, "code": "invalid" }),
            )
        };
        // Only branches of this repository: the fake serves no forks to open a pull request from.
        let branch = match head.split_once(':') {
            Some((head_owner, branch)) if head_owner.eq_ignore_ascii_case(owner) => branch,
            Some(_) => return invalid("head"),
            None => head,
        };
        let Some(bare) = self.state().repos.get(full_name).cloned() else {
            return invalid("head");
        };
        let Some(head_sha) = resolve_branch(&bare, branch) else {
            return invalid("head");
        };
        let Some(base_sha) = resolve_branch(&bare, base) else {
            return invalid("base");
        };
        if is_ancestor(&bare, &head_sha, &base_sha) {
            return Reply::validation_failed(
                &docs,
                json!({
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": format!("No commits between {base} and {branch}"),
                }),
            );
        }
        // Computed before taking the lock: git may take a moment, and other requests go on.
        let merge = test_merge(&bare, &base_sha, &head_sha);

        let mut state = self.state();
        if let Some(reply) = already_open(&state, full_name, branch, base, None, &docs) {
            return reply;
        }
        let number = state.next_issue_number(full_name);
        let now = rfc3339(SystemTime::now());
        let pull = FakePull {
            number,
            head_sha: head_sha.clone(),
            head_ref: branch.to_owned(),
            base_ref: base.to_owned(),
            base_sha,
            state: "open".to_owned(),
            merge_commit_sha: merge.clone(),
            user_login: state.token_login().to_owned(),
            draft: request
                .get("draft")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            title: title.to_owned(),
            body: text("body").map(str::to_owned),
            mergeable: Some(merge.is_some()),
            ..FakePull::default()
        };
        let key = (full_name.to_owned(), number);
        state.pulls.insert(
            key.clone(),
            StoredPull {
                pull,
                created_at: now.clone(),
                updated_at: now,
            },
        );
        let mut reply = Reply::json(201, self.pull_json(&state, full_name, &state.pulls[&key]));
        drop(state);
        write_pull_refs(&bare, number, &head_sha, merge.as_deref());
        reply.headers.push((
            "location".to_owned(),
            format!("{}/repos/{full_name}/pulls/{number}", self.api_url),
        ));
        reply
    }

    /// `PATCH /pulls/{n}`: title, body, state and base.
    pub(super) fn update_pull(&self, full_name: &str, number: u64, body: &[u8]) -> Reply {
        let docs = format!("{DOCS_PULLS}#update-a-pull-request");
        let request = match json_object(body, &docs) {
            Ok(request) => request,
            Err(reply) => return reply,
        };
        let key = (full_name.to_owned(), number);
        let bare = self.state().repos.get(full_name).cloned();
        let new_base = match request.get("base").and_then(Value::as_str) {
            None => None,
            Some(base) => match bare.as_deref().and_then(|b| resolve_branch(b, base)) {
                Some(sha) => Some((base.to_owned(), sha)),
                None => {
                    return Reply::validation_failed(
                        &docs,
                        json!({ "resource": "PullRequest", "field": "base", "code": "invalid" }),
                    );
                }
            },
        };
        let new_state = request.get("state").and_then(Value::as_str);
        if new_state.is_some_and(|s| s != "open" && s != "closed") {
            return Reply::validation_failed(
                &docs,
                json!({ "resource": "PullRequest", "field": "state", "code": "invalid" }),
            );
        }

        let mut state = self.state();
        let Some(current) = state.pulls.get(&key) else {
            return Reply::not_found();
        };
        let reopening = new_state == Some("open") && current.pull.state == "closed";
        if reopening && (current.pull.merged || current.pull.merged_at.is_some()) {
            return Reply::validation_failed(
                &docs,
                json!({
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": "state cannot be changed. The pull request cannot be reopened because it has been merged.",
                }),
            );
        }
        let base_ref = new_base
            .as_ref()
            .map_or(current.pull.base_ref.clone(), |(b, _)| b.clone());
        let open_after = new_state.unwrap_or(current.pull.state.as_str()) == "open";
        if open_after && (reopening || new_base.is_some()) {
            let head_ref = current.pull.head_ref.clone();
            if let Some(reply) =
                already_open(&state, full_name, &head_ref, &base_ref, Some(number), &docs)
            {
                return reply;
            }
        }
        let stored = state.pulls.get_mut(&key).expect("looked up above");
        if let Some(title) = request.get("title").and_then(Value::as_str) {
            stored.pull.title = title.to_owned();
        }
        match request.get("body") {
            Some(Value::String(body)) => stored.pull.body = Some(body.clone()),
            Some(Value::Null) => stored.pull.body = None,
            _ => {}
        }
        if let Some(new_state) = new_state {
            stored.pull.state = new_state.to_owned();
        }
        if let Some((base, sha)) = new_base {
            stored.pull.base_ref = base;
            stored.pull.base_sha = sha;
        }
        stored.updated_at = rfc3339(SystemTime::now());
        Reply::json(200, self.pull_json(&state, full_name, &state.pulls[&key]))
    }

    /// `POST /issues/{n}/labels` on a pull request: adds, keeping what is there; answers every
    /// label the pull request now has.
    pub(super) fn add_labels(&self, full_name: &str, number: u64, body: &[u8]) -> Reply {
        let docs = "https://docs.github.com/rest/issues/labels#add-labels-to-an-issue";
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Reply::error(400, "Problems parsing JSON", docs);
        };
        // GitHub takes `{"labels": [...]}` and, for old clients, the bare array.
        let items = match &value {
            Value::Array(items) => Some(items),
            Value::Object(object) => object.get("labels").and_then(Value::as_array),
            _ => None,
        };
        let names: Vec<String> = items
            .into_iter()
            .flatten()
            .filter_map(|item| match item {
                Value::String(name) => Some(name.clone()),
                Value::Object(label) => {
                    label.get("name").and_then(Value::as_str).map(str::to_owned)
                }
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Reply::error(
                422,
                "Invalid request.\n\nFor 'properties/labels', [] has fewer items than the minimum of 1.",
                docs,
            );
        }
        let mut state = self.state();
        let Some(stored) = state.pulls.get_mut(&(full_name.to_owned(), number)) else {
            return Reply::not_found();
        };
        for name in names {
            // Label names are case-insensitive; the first spelling stays.
            if !stored
                .pull
                .labels
                .iter()
                .any(|l| l.eq_ignore_ascii_case(&name))
            {
                stored.pull.labels.push(name);
            }
        }
        stored.updated_at = rfc3339(SystemTime::now());
        let labels = stored
            .pull
            .labels
            .iter()
            .map(|name| self.label_json(full_name, name))
            .collect();
        Reply::json(200, Value::Array(labels))
    }

    /// `POST /issues/{n}/assignees` on a pull request. Like GitHub, logins that may not be
    /// assigned are skipped without an error; the answer is the issue.
    pub(super) fn add_assignees(&self, full_name: &str, number: u64, body: &[u8]) -> Reply {
        let docs = "https://docs.github.com/rest/issues/assignees#add-assignees-to-an-issue";
        let request = match json_object(body, docs) {
            Ok(request) => request,
            Err(reply) => return reply,
        };
        let logins = logins_of(request.get("assignees"));
        let mut guard = self.state();
        let state = &mut *guard;
        let allowed: Vec<String> = logins
            .into_iter()
            .filter(|login| state.is_collaborator(full_name, login))
            .collect();
        let Some(stored) = state.pulls.get_mut(&(full_name.to_owned(), number)) else {
            return Reply::not_found();
        };
        for login in allowed {
            if !stored
                .pull
                .assignees
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&login))
            {
                stored.pull.assignees.push(login);
            }
        }
        stored.updated_at = rfc3339(SystemTime::now());
        let stored = &state.pulls[&(full_name.to_owned(), number)];
        Reply::json(201, self.issue_json(state, full_name, stored))
    }

    /// `POST /pulls/{n}/requested_reviewers`: all or nothing, refused with GitHub's 422 when a
    /// login is the author or not a collaborator.
    pub(super) fn request_reviewers(&self, full_name: &str, number: u64, body: &[u8]) -> Reply {
        let docs = "https://docs.github.com/rest/pulls/review-requests#request-reviewers-for-a-pull-request";
        let request = match json_object(body, docs) {
            Ok(request) => request,
            Err(reply) => return reply,
        };
        if !request.contains_key("reviewers") && !request.contains_key("team_reviewers") {
            return Reply::error(
                422,
                "Invalid request.\n\nNo subschema in \"anyOf\" matched.\n\"reviewers\" wasn't supplied.\n\"team_reviewers\" wasn't supplied.",
                docs,
            );
        }
        let reviewers = logins_of(request.get("reviewers"));
        let teams = logins_of(request.get("team_reviewers"));
        let mut state = self.state();
        let Some(stored) = state.pulls.get(&(full_name.to_owned(), number)) else {
            return Reply::not_found();
        };
        let author = stored.pull.user_login.clone();
        if reviewers.iter().any(|r| r.eq_ignore_ascii_case(&author)) {
            return Reply::error(
                422,
                "Review cannot be requested from pull request author.",
                docs,
            );
        }
        // The fake knows no teams, so a team is never a collaborator.
        if !teams.is_empty()
            || reviewers
                .iter()
                .any(|r| !state.is_collaborator(full_name, r))
        {
            return Reply::error(
                422,
                &format!(
                    "Reviews may only be requested from collaborators. One or more of the users \
                     or teams you specified is not a collaborator of the {full_name} repository."
                ),
                docs,
            );
        }
        let stored = state
            .pulls
            .get_mut(&(full_name.to_owned(), number))
            .expect("looked up above");
        for login in reviewers {
            if !stored
                .pull
                .requested_reviewers
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&login))
            {
                stored.pull.requested_reviewers.push(login);
            }
        }
        stored.updated_at = rfc3339(SystemTime::now());
        let stored = &state.pulls[&(full_name.to_owned(), number)];
        Reply::json(201, self.pull_simple_json(&state, full_name, stored))
    }

    pub(super) fn list_reviews(&self, full_name: &str, number: u64, query: &str) -> Reply {
        let paging = Paging::from_query(query);
        let state = self.state();
        if !state.pulls.contains_key(&(full_name.to_owned(), number)) {
            return Reply::not_found();
        }
        let items = state
            .reviews
            .iter()
            .filter(|r| r.repo == full_name && r.pull == number)
            .map(|r| self.review_json(r))
            .collect();
        self.page_reply(
            items,
            &paging,
            &format!("/repos/{full_name}/pulls/{number}/reviews"),
        )
    }

    /// `GET /commits/{sha}/pulls`: the pull requests whose head commit it is, merged ones whose
    /// merge commit it is, and those a test associated with it.
    pub(super) fn pulls_for_commit(&self, full_name: &str, sha: &str, query: &str) -> Reply {
        let paging = Paging::from_query(query);
        let bare = self.state().repos.get(full_name).cloned();
        let state = self.state();
        let associated = state
            .commit_pulls
            .get(&(full_name.to_owned(), sha.to_owned()))
            .cloned()
            .unwrap_or_default();
        let matching: Vec<&StoredPull> = state
            .pulls
            .iter()
            .filter(|((repo, _), _)| repo == full_name)
            .map(|(_, stored)| stored)
            .filter(|s| {
                let p = &s.pull;
                associated.contains(&p.number)
                    || p.head_sha == sha
                    || (is_merged(p) && p.merge_commit_sha.as_deref() == Some(sha))
            })
            .collect();
        if matching.is_empty() {
            drop(state);
            let known = bare.is_none_or(|b| {
                git(
                    &b,
                    &[
                        "rev-parse",
                        "--verify",
                        "--quiet",
                        &format!("{sha}^{{commit}}"),
                    ],
                )
                .is_some()
            });
            if !known {
                return Reply::error(
                    422,
                    &format!("No commit found for SHA: {sha}"),
                    "https://docs.github.com/rest/commits/commits#list-pull-requests-associated-with-a-commit",
                );
            }
            return self.page_reply(
                Vec::new(),
                &paging,
                &format!("/repos/{full_name}/commits/{sha}/pulls"),
            );
        }
        let items = matching
            .into_iter()
            .map(|s| self.pull_simple_json(&state, full_name, s))
            .collect();
        self.page_reply(
            items,
            &paging,
            &format!("/repos/{full_name}/commits/{sha}/pulls"),
        )
    }

    /// After a push, open pull requests whose branch moved follow it, as GitHub's `synchronize`
    /// does: new head, base re-read, `refs/pull/N/*` and the test merge rewritten.
    pub(super) fn follow_pushes(&self, full_name: &str) {
        /// What is needed of an open pull request to tell whether a push moved it.
        struct Tracked {
            number: u64,
            head_ref: String,
            base_ref: String,
            head_sha: String,
        }
        let (bare, open) = {
            let state = self.state();
            let open: Vec<Tracked> = state
                .pulls
                .iter()
                .filter(|((repo, _), s)| {
                    repo == full_name && s.pull.state == "open" && s.pull.head_repo.is_none()
                })
                .map(|((_, n), s)| Tracked {
                    number: *n,
                    head_ref: s.pull.head_ref.clone(),
                    base_ref: s.pull.base_ref.clone(),
                    head_sha: s.pull.head_sha.clone(),
                })
                .collect();
            (state.repos.get(full_name).cloned(), open)
        };
        let Some(bare) = bare else { return };
        for tracked in open {
            let Some(head_sha) = resolve_branch(&bare, &tracked.head_ref) else {
                continue;
            };
            if head_sha == tracked.head_sha {
                continue;
            }
            let base_sha = resolve_branch(&bare, &tracked.base_ref);
            let merge = base_sha
                .as_deref()
                .and_then(|base| test_merge(&bare, base, &head_sha));
            write_pull_refs(&bare, tracked.number, &head_sha, merge.as_deref());
            let mut state = self.state();
            if let Some(stored) = state.pulls.get_mut(&(full_name.to_owned(), tracked.number)) {
                stored.pull.head_sha = head_sha;
                if let Some(base_sha) = base_sha {
                    stored.pull.base_sha = base_sha;
                }
                stored.pull.mergeable = Some(merge.is_some());
                stored.pull.merge_commit_sha = merge;
                stored.updated_at = rfc3339(SystemTime::now());
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // GitHub's JSON
    // -----------------------------------------------------------------------------------------

    /// The full `pull-request` shape of `GET /pulls/{n}` and of writes to a pull request.
    pub(super) fn pull_json(
        &self,
        state: &FakeState,
        full_name: &str,
        stored: &StoredPull,
    ) -> Value {
        let p = &stored.pull;
        let mut pull = self.pull_simple_json(state, full_name, stored);
        let mergeable = p.mergeable.unwrap_or(p.merge_commit_sha.is_some());
        let mergeable_state = match (p.draft, mergeable) {
            (true, _) => "draft",
            (false, true) => "clean",
            (false, false) => "dirty",
        };
        let comments = state
            .comments
            .iter()
            .filter(|c| c.repo == full_name && c.issue == p.number)
            .count();
        let rest = json!({
            "merged": is_merged(p),
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": mergeable_state,
            "merged_by": null,
            "comments": comments,
            "review_comments": 0,
            "maintainer_can_modify": false,
            "commits": 1,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        });
        if let (Some(object), Value::Object(rest)) = (pull.as_object_mut(), rest) {
            object.extend(rest);
        }
        pull
    }

    /// The `pull-request-simple` shape that list endpoints answer.
    fn pull_simple_json(&self, state: &FakeState, full_name: &str, stored: &StoredPull) -> Value {
        let p = &stored.pull;
        let n = p.number;
        let api = format!("{}/repos/{full_name}", self.api_url);
        let html = format!("{}/{full_name}/pull/{n}", self.server_url);
        let head_repo = p.head_repo.as_deref().unwrap_or(full_name);
        let branch = |repo: &str, git_ref: &str, sha: &str| {
            let owner = repo.split('/').next().unwrap_or(repo);
            json!({
                "label": format!("{owner}:{git_ref}"),
                "ref": git_ref,
                "sha": sha,
                "user": self.account_json(owner, "Organization"),
                "repo": self.repo_json(state, repo, repo != full_name),
            })
        };
        let link = |href: String| json!({ "href": href });
        let links = json!({
            "self": link(format!("{api}/pulls/{n}")),
            "html": link(html.clone()),
            "issue": link(format!("{api}/issues/{n}")),
            "comments": link(format!("{api}/issues/{n}/comments")),
            "review_comments": link(format!("{api}/pulls/{n}/comments")),
            "review_comment": link(format!("{api}/pulls/comments{{/number}}")),
            "commits": link(format!("{api}/pulls/{n}/commits")),
            "statuses": link(format!("{api}/statuses/{}", p.head_sha)),
        });
        let users = |logins: &[String]| -> Vec<Value> {
            logins.iter().map(|l| self.user_json(l)).collect()
        };
        let (closed_at, merged_at) = closed_and_merged_at(stored);
        let mut pull = json!({
            "url": format!("{api}/pulls/{n}"),
            "id": stable_id(&format!("{full_name}#{n}")),
            "node_id": node_id("PR", stable_id(&format!("{full_name}#{n}"))),
            "html_url": html,
            "diff_url": format!("{html}.diff"),
            "patch_url": format!("{html}.patch"),
            "issue_url": format!("{api}/issues/{n}"),
            "commits_url": format!("{api}/pulls/{n}/commits"),
            "review_comments_url": format!("{api}/pulls/{n}/comments"),
            "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
            "comments_url": format!("{api}/issues/{n}/comments"),
            "statuses_url": format!("{api}/statuses/{}", p.head_sha),
            "number": n,
            "state": p.state,
            "locked": false,
            "title": p.title,
            "user": self.user_json(&p.user_login),
            "body": p.body,
            "labels": p.labels.iter().map(|l| self.label_json(full_name, l)).collect::<Vec<_>>(),
            "milestone": null,
            "active_lock_reason": null,
            "created_at": stored.created_at,
            "updated_at": stored.updated_at,
            "closed_at": closed_at,
            "merged_at": merged_at,
            "merge_commit_sha": p.merge_commit_sha,
            "assignee": p.assignees.first().map(|a| self.user_json(a)),
            "assignees": users(&p.assignees),
            "requested_reviewers": users(&p.requested_reviewers),
            "requested_teams": [],
            "head": branch(head_repo, &p.head_ref, &p.head_sha),
            "base": branch(full_name, &p.base_ref, &p.base_sha),
            "_links": links,
        });
        let rest = json!({
            "author_association": association(&p.user_login),
            "auto_merge": null,
            "draft": p.draft,
        });
        // Two literals: one would exceed the macro recursion limit of the test crates.
        if let (Some(object), Value::Object(rest)) = (pull.as_object_mut(), rest) {
            object.extend(rest);
        }
        pull
    }

    /// A pull request seen as an issue, as the issue endpoints answer.
    fn issue_json(&self, state: &FakeState, full_name: &str, stored: &StoredPull) -> Value {
        let p = &stored.pull;
        let n = p.number;
        let api = format!("{}/repos/{full_name}", self.api_url);
        let html = format!("{}/{full_name}/pull/{n}", self.server_url);
        let comments = state
            .comments
            .iter()
            .filter(|c| c.repo == full_name && c.issue == n)
            .count();
        let (closed_at, merged_at) = closed_and_merged_at(stored);
        let id = stable_id(&format!("{full_name} issue {n}"));
        let mut issue = json!({
            "id": id,
            "node_id": node_id("PR", stable_id(&format!("{full_name}#{n}"))),
            "url": format!("{api}/issues/{n}"),
            "repository_url": api,
            "labels_url": format!("{api}/issues/{n}/labels{{/name}}"),
            "comments_url": format!("{api}/issues/{n}/comments"),
            "events_url": format!("{api}/issues/{n}/events"),
            "html_url": html,
            "number": n,
            "state": p.state,
            "state_reason": null,
            "title": p.title,
            "body": p.body,
            "user": self.user_json(&p.user_login),
            "labels": p.labels.iter().map(|l| self.label_json(full_name, l)).collect::<Vec<_>>(),
            "assignee": p.assignees.first().map(|a| self.user_json(a)),
            "assignees": p.assignees.iter().map(|a| self.user_json(a)).collect::<Vec<_>>(),
            "milestone": null,
            "locked": false,
            "active_lock_reason": null,
            "comments": comments,
        });
        let more = json!({
            "pull_request": {
                "url": format!("{api}/pulls/{n}"),
                "html_url": html,
                "diff_url": format!("{html}.diff"),
                "patch_url": format!("{html}.patch"),
                "merged_at": merged_at,
            },
            "closed_at": closed_at,
            "created_at": stored.created_at,
            "updated_at": stored.updated_at,
            "draft": p.draft,
            "timeline_url": format!("{api}/issues/{n}/timeline"),
            "performed_via_github_app": null,
            "author_association": association(&p.user_login),
        });
        if let (Some(object), Value::Object(more)) = (issue.as_object_mut(), more) {
            object.extend(more);
        }
        issue
    }

    fn label_json(&self, full_name: &str, name: &str) -> Value {
        let id = stable_id(&format!("{full_name} label {}", name.to_lowercase()));
        json!({
            "id": id,
            "node_id": node_id("LA", id),
            "url": format!("{}/repos/{full_name}/labels/{}", self.api_url, path_segment(name)),
            "name": name,
            // GitHub sends null for a label without one, but `pull-request-simple` declares a
            // string; an empty one satisfies both schemas the fake checks itself against.
            "description": "",
            "color": format!("{:06x}", id % 0x0100_0000),
            "default": false,
        })
    }

    fn review_json(&self, review: &StoredReview) -> Value {
        let api = format!(
            "{}/repos/{}/pulls/{}",
            self.api_url, review.repo, review.pull
        );
        let html = format!(
            "{}/{}/pull/{}#pullrequestreview-{}",
            self.server_url, review.repo, review.pull, review.id
        );
        json!({
            "id": review.id,
            "node_id": node_id("PRR", review.id),
            "user": self.user_json(&review.login),
            "body": "",
            "state": review.state,
            "html_url": html,
            "pull_request_url": api,
            "author_association": association(&review.login),
            "_links": {
                "html": { "href": html },
                "pull_request": { "href": api },
            },
            "submitted_at": review.submitted_at,
            "commit_id": review.commit_id,
        })
    }
}

/// A second open pull request for the same head and base is refused, as GitHub does.
fn already_open(
    state: &FakeState,
    full_name: &str,
    head_ref: &str,
    base_ref: &str,
    except: Option<u64>,
    docs: &str,
) -> Option<Reply> {
    let owner = full_name.split('/').next().unwrap_or_default();
    let taken = state.pulls.iter().any(|((repo, n), s)| {
        repo == full_name
            && Some(*n) != except
            && s.pull.state == "open"
            && s.pull.head_repo.is_none()
            && s.pull.head_ref == head_ref
            && s.pull.base_ref == base_ref
    });
    taken.then(|| {
        Reply::validation_failed(
            docs,
            json!({
                "resource": "PullRequest",
                "code": "custom",
                "message": format!("A pull request already exists for {owner}:{head_ref}."),
            }),
        )
    })
}

fn is_merged(p: &FakePull) -> bool {
    p.merged || p.merged_at.is_some()
}

/// `closed_at` and `merged_at`; a merge closes at the moment it merges.
fn closed_and_merged_at(stored: &StoredPull) -> (Option<String>, Option<String>) {
    let p = &stored.pull;
    let merged_at = p
        .merged_at
        .clone()
        .or_else(|| p.merged.then(|| stored.updated_at.clone()));
    let closed_at = (p.state == "closed").then(|| {
        merged_at
            .clone()
            .unwrap_or_else(|| stored.updated_at.clone())
    });
    (closed_at, merged_at)
}

fn head_owner<'a>(p: &'a FakePull, full_name: &'a str) -> &'a str {
    let repo = p.head_repo.as_deref().unwrap_or(full_name);
    repo.split('/').next().unwrap_or(repo)
}

fn association(login: &str) -> &'static str {
    if login.ends_with("[bot]") {
        "NONE"
    } else {
        "MEMBER"
    }
}

/// A request body that must be a JSON object, or GitHub's 400.
pub(super) fn json_object(body: &[u8], docs: &str) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(Reply::error(400, "Problems parsing JSON", docs)),
    }
}

/// Logins (or team slugs) given as strings or as `{"login": ...}` objects.
fn logins_of(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| match item {
            Value::String(login) => Some(login.clone()),
            Value::Object(o) => o.get("login").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// A URL path segment: everything but unreserved characters percent-encoded.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The repository side of a pull request
// ---------------------------------------------------------------------------------------------

/// `git` in a served bare repository; its trimmed output when it succeeds. Commits it writes are
/// GitHub's, as the test merge commits on github.com are.
fn git(bare: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(args)
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "GitHub")
        .env("GIT_AUTHOR_EMAIL", "noreply@github.com")
        .env("GIT_COMMITTER_NAME", "GitHub")
        .env("GIT_COMMITTER_EMAIL", "noreply@github.com")
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn resolve_branch(bare: &Path, branch: &str) -> Option<String> {
    git(
        bare,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}^{{commit}}"),
        ],
    )
    .filter(|sha| !sha.is_empty())
}

fn is_ancestor(bare: &Path, ancestor: &str, descendant: &str) -> bool {
    git(bare, &["merge-base", "--is-ancestor", ancestor, descendant]).is_some()
}

/// GitHub's test merge of head into base (`refs/pull/N/merge`), or `None` when they conflict.
fn test_merge(bare: &Path, base_sha: &str, head_sha: &str) -> Option<String> {
    // `merge-tree --write-tree` exits 1 on conflicts, which `git` reports as `None`.
    let output = git(bare, &["merge-tree", "--write-tree", base_sha, head_sha])?;
    let tree = output.lines().next()?.to_owned();
    let message = format!("Merge {head_sha} into {base_sha}");
    git(
        bare,
        &[
            "commit-tree",
            &tree,
            "-p",
            base_sha,
            "-p",
            head_sha,
            "-m",
            &message,
        ],
    )
}

fn write_pull_refs(bare: &Path, number: u64, head_sha: &str, merge: Option<&str>) {
    let head_ref = format!("refs/pull/{number}/head");
    let merge_ref = format!("refs/pull/{number}/merge");
    let _ = git(bare, &["update-ref", &head_ref, head_sha]);
    // A conflicting pull request has no merge ref on GitHub either.
    let _ = match merge {
        Some(merge) => git(bare, &["update-ref", &merge_ref, merge]),
        None => git(bare, &["update-ref", "-d", &merge_ref]),
    };
}
