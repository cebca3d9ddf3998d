//! A loopback GitHub, shaped like GitHub Enterprise Server: REST under `/api/v3`, GraphQL at
//! `/api/graphql`, git smart-HTTP per repository, with injectable failures and spec checks.

use std::collections::{BTreeMap, BTreeSet};
use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::git_http::{self, CgiRequest, GitRoute};
use super::graphql::{self, Literal, OperationKind, Selection};
use super::openapi::{self, RestDescription};

mod collaborators;
mod pulls;
mod reactions;
mod users;

pub use reactions::REACTION_CONTENTS;

/// The login GitHub gives comments made with a workflow's `GITHUB_TOKEN`.
pub const BOT_LOGIN: &str = "github-actions[bot]";
/// github-actions[bot]'s real user id, so that code matching on it sees a familiar number.
const BOT_ID: u64 = 41_898_282;
/// The only user name GitHub's git endpoints accept with an installation token.
pub const GIT_USER: &str = "x-access-token";
const RATE_LIMIT: u64 = 5_000;
/// GitHub refuses longer comment bodies with 422; the product must split before this.
pub const COMMENT_BODY_LIMIT: usize = 65_536;
const MAX_PER_PAGE: usize = 100;
const DEFAULT_PER_PAGE: usize = 30;
/// The version a GHES instance announces in `x-github-enterprise-version`.
const GHES_VERSION: &str = "3.17.0";
/// GitHub's values for `minimizeComment(input: {classifier})`.
pub const REPORTED_CONTENT_CLASSIFIERS: [&str; 6] = [
    "SPAM",
    "ABUSE",
    "OFF_TOPIC",
    "OUTDATED",
    "DUPLICATE",
    "RESOLVED",
];

/// A pull request as the fake serves it. Only `number` and the commits usually matter to a test.
#[derive(Debug, Clone)]
pub struct FakePull {
    pub number: u64,
    pub head_sha: String,
    pub head_ref: String,
    pub base_ref: String,
    pub base_sha: String,
    /// `open` or `closed`.
    pub state: String,
    /// The test-merge commit (`refs/pull/N/merge`); `None` when GitHub could not merge.
    pub merge_commit_sha: Option<String>,
    pub user_login: String,
    pub draft: bool,
    pub title: String,
    pub body: Option<String>,
    /// `None` derives it the way GitHub reports it: mergeable exactly when there is a merge commit.
    pub mergeable: Option<bool>,
    pub merged: bool,
    /// When it was merged; `None` on a merged pull request reports its last update time.
    pub merged_at: Option<String>,
    /// The head repository's `owner/repo` for a pull request from a fork; `None` for the same repo.
    pub head_repo: Option<String>,
    /// Label names, in the order they were added.
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    /// Users asked for a review who have not reviewed since; a review removes its author.
    pub requested_reviewers: Vec<String>,
}

impl Default for FakePull {
    fn default() -> Self {
        FakePull {
            number: 1,
            head_sha: String::new(),
            head_ref: "feature".to_owned(),
            base_ref: "master".to_owned(),
            base_sha: String::new(),
            state: "open".to_owned(),
            merge_commit_sha: None,
            user_login: "octocat".to_owned(),
            draft: false,
            title: "Update manifests".to_owned(),
            body: None,
            mergeable: None,
            merged: false,
            merged_at: None,
            head_repo: None,
            labels: Vec::new(),
            assignees: Vec::new(),
            requested_reviewers: Vec::new(),
        }
    }
}

/// An issue or pull request comment as the fake stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeComment {
    pub id: u64,
    pub node_id: String,
    pub body: String,
    pub user_login: String,
    pub minimized: bool,
    /// GitHub's wording of the classifier, e.g. `outdated` for `OUTDATED`.
    pub minimized_reason: Option<String>,
}

/// One request the fake received, REST, GraphQL or git, in arrival order.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Without the query string.
    pub path: String,
    pub query: String,
    /// The body as text; git's pack data is recorded as `<binary N bytes>`.
    pub body: String,
    pub authorization: Option<String>,
}

/// The running fake. Dropping it stops the server.
pub struct FakeGitHub {
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    token: String,
    server_url: String,
    api_url: String,
    host: String,
    spec: &'static RestDescription,
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    repos: BTreeMap<String, PathBuf>,
    /// Repositories the test mentioned in any way; REST answers 404 for all others.
    known_repos: BTreeSet<String>,
    pulls: BTreeMap<(String, u64), StoredPull>,
    /// `(repo, sha)` to the pull requests `GET /commits/{sha}/pulls` reports beyond the ones whose
    /// head or merge commit it is (GitHub also lists those whose branch merely contains it).
    commit_pulls: BTreeMap<(String, String), Vec<u64>>,
    reviews: Vec<StoredReview>,
    next_review_id: u64,
    /// Per repository; a repository without an entry treats every login as a collaborator.
    collaborators: BTreeMap<String, BTreeSet<String>>,
    /// `(repo, lower-case login)` to the login as the test spelt it and its role (`admin`,
    /// `maintain`, `write`, `triage`, `read` or `none`).
    permissions: BTreeMap<(String, String), (String, String)>,
    reactions: Vec<StoredReaction>,
    next_reaction_id: u64,
    comments: Vec<StoredComment>,
    next_comment_id: u64,
    requests: Vec<RecordedRequest>,
    faults: Vec<Fault>,
    read_only: bool,
    /// The user a personal access token acts for; `None` for an installation token, which
    /// writes as [`BOT_LOGIN`].
    token_user: Option<String>,
    violations: Vec<String>,
    rate_used: u64,
    request_counter: u64,
}

struct StoredPull {
    pull: FakePull,
    created_at: String,
    updated_at: String,
}

struct StoredReview {
    repo: String,
    pull: u64,
    id: u64,
    login: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, ...
    state: String,
    commit_id: String,
    submitted_at: String,
}

struct StoredComment {
    repo: String,
    issue: u64,
    comment: FakeComment,
    created_at: String,
    updated_at: String,
}

struct StoredReaction {
    repo: String,
    comment_id: u64,
    id: u64,
    login: String,
    /// One of [`REACTION_CONTENTS`].
    content: String,
    created_at: String,
}

struct Fault {
    method: String,
    path_suffix: String,
    remaining: usize,
    kind: FaultKind,
}

enum FaultKind {
    Status(u16),
    /// Handle the request, then answer this status instead of the result: a response lost on
    /// the way back (a proxy's 502 or a timeout after GitHub acted).
    LoseResponse(u16),
    RateLimit {
        status: u16,
        retry_after_secs: u64,
    },
}

impl FakeGitHub {
    /// Start the fake on a free loopback port. Loads GitHub's REST description first (fetching
    /// it with npm on the first run), so a missing description fails here, not mid-test.
    pub fn start(token: &str) -> FakeGitHub {
        let spec = openapi::rest_description();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let port = listener.local_addr().expect("listener address").port();
        let server_url = format!("http://127.0.0.1:{port}");
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            api_url: format!("{server_url}/api/v3"),
            host: format!("127.0.0.1:{port}"),
            server_url,
            spec,
            state: Mutex::new(FakeState {
                next_comment_id: 2_000_000_001,
                next_review_id: 3_000_000_001,
                next_reaction_id: 4_000_000_001,
                ..FakeState::default()
            }),
        });

        let app = Router::new().fallback(dispatch).with_state(shared.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("fake-github-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the fake GitHub");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("hand the listener to tokio");
                    tokio::select! {
                        result = axum::serve(listener, app).into_future() => {
                            if let Err(err) = result {
                                eprintln!("fake GitHub stopped: {err}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                // Idle keep-alive connections of the binary under test must not hold up a test.
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .expect("spawn the fake GitHub thread");
        FakeGitHub {
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, what a test puts in `GITHUB_SERVER_URL`.
    pub fn server_url(&self) -> String {
        self.shared.server_url.clone()
    }

    /// `http://127.0.0.1:PORT/api/v3`, what a test puts in `GITHUB_API_URL`.
    pub fn api_url(&self) -> String {
        self.shared.api_url.clone()
    }

    /// `http://127.0.0.1:PORT/api/graphql`, what a test puts in `GITHUB_GRAPHQL_URL`.
    pub fn graphql_url(&self) -> String {
        format!("{}/api/graphql", self.shared.server_url)
    }

    /// Serve `bare_repo` (a path to a bare git repository) as `{owner}/{repo}`, e.g.
    /// "acme/manifests". Enables pushes in that repository's config.
    pub fn add_repo(&self, full_name: &str, bare_repo: &Path) {
        let bare_repo = bare_repo
            .canonicalize()
            .unwrap_or_else(|err| panic!("cannot serve {}: {err}", bare_repo.display()));
        // http-backend refuses receive-pack to anyone but an authenticated REMOTE_USER unless
        // the repository says otherwise; saying so keeps the behaviour independent of that rule.
        let status = std::process::Command::new("git")
            .arg("config")
            .arg("--file")
            .arg(bare_repo.join("config"))
            .args(["http.receivepack", "true"])
            .status()
            .expect("run git config");
        assert!(status.success(), "git config http.receivepack failed");
        let mut state = self.shared.state();
        state.known_repos.insert(full_name.to_owned());
        state.repos.insert(full_name.to_owned(), bare_repo);
    }

    /// Add a pull request, or replace the one with the same number.
    pub fn add_pull(&self, full_name: &str, pull: FakePull) {
        let now = rfc3339(SystemTime::now());
        let mut state = self.shared.state();
        state.known_repos.insert(full_name.to_owned());
        state.pulls.insert(
            (full_name.to_owned(), pull.number),
            StoredPull {
                pull,
                created_at: now.clone(),
                updated_at: now,
            },
        );
    }

    /// Simulate a newer push to the pull request's branch.
    pub fn set_pull_head(&self, full_name: &str, number: u64, head_sha: &str) {
        let mut state = self.shared.state();
        let stored = state
            .pulls
            .get_mut(&(full_name.to_owned(), number))
            .unwrap_or_else(|| panic!("no pull request {full_name}#{number} in the fake"));
        stored.pull.head_sha = head_sha.to_owned();
        stored.updated_at = rfc3339(SystemTime::now());
    }

    /// Every pull request of a repository, by number, as the fake holds it now (including what
    /// the product created or changed through the API).
    pub fn pulls(&self, full_name: &str) -> Vec<FakePull> {
        self.shared
            .state()
            .pulls
            .iter()
            .filter(|((repo, _), _)| repo == full_name)
            .map(|(_, stored)| stored.pull.clone())
            .collect()
    }

    /// Make `GET /commits/{sha}/pulls` list pull request `number`, as GitHub does for a commit
    /// the pull request brought in (its head and merge commits are listed without this).
    pub fn add_commit_pull(&self, full_name: &str, sha: &str, number: u64) {
        let mut state = self.shared.state();
        state.known_repos.insert(full_name.to_owned());
        let numbers = state
            .commit_pulls
            .entry((full_name.to_owned(), sha.to_owned()))
            .or_default();
        if !numbers.contains(&number) {
            numbers.push(number);
        }
    }

    /// Merge a pull request: closed, `merged`, with `merged_at` (RFC 3339, e.g.
    /// `2024-05-06T07:08:09Z`).
    pub fn set_pull_merged(&self, full_name: &str, number: u64, merged_at: &str) {
        let mut state = self.shared.state();
        let stored = state.pull_mut(full_name, number);
        stored.pull.state = "closed".to_owned();
        stored.pull.merged = true;
        stored.pull.merged_at = Some(merged_at.to_owned());
        stored.updated_at = merged_at.to_owned();
    }

    /// Replace a pull request's labels.
    pub fn set_pull_labels(
        &self,
        full_name: &str,
        number: u64,
        labels: impl IntoIterator<Item = impl AsRef<str>>,
    ) {
        let mut state = self.shared.state();
        let stored = state.pull_mut(full_name, number);
        stored.pull.labels = labels.into_iter().map(|l| l.as_ref().to_owned()).collect();
        stored.updated_at = rfc3339(SystemTime::now());
    }

    /// A review by `login` with `state` (`APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`) on the
    /// pull request's current head; like GitHub, it fulfils a pending review request. Returns
    /// the review's id.
    pub fn add_review(&self, full_name: &str, number: u64, login: &str, state: &str) -> u64 {
        let mut guard = self.shared.state();
        let fake = &mut *guard;
        let stored = fake.pull_mut(full_name, number);
        stored.pull.requested_reviewers.retain(|r| r != login);
        let commit_id = stored.pull.head_sha.clone();
        let id = fake.next_review_id;
        fake.next_review_id += 1;
        fake.reviews.push(StoredReview {
            repo: full_name.to_owned(),
            pull: number,
            id,
            login: login.to_owned(),
            state: state.to_owned(),
            commit_id,
            submitted_at: rfc3339(SystemTime::now()),
        });
        id
    }

    /// Limit who may be asked for a review (and assigned) in a repository; others get GitHub's
    /// 422 for review requests and are silently skipped as assignees. Without a call, everyone
    /// qualifies.
    pub fn set_collaborators(
        &self,
        full_name: &str,
        logins: impl IntoIterator<Item = impl AsRef<str>>,
    ) {
        let logins = logins
            .into_iter()
            .map(|l| l.as_ref().to_ascii_lowercase())
            .collect();
        self.shared
            .state()
            .collaborators
            .insert(full_name.to_owned(), logins);
    }

    /// Give `login` a role in a repository, as `GET /collaborators/{username}/permission`
    /// reports it: `admin`, `maintain`, `write`, `triage`, `read` or `none`. Like GitHub, the
    /// answer's `permission` maps `maintain` to `write` and `triage` to `read`, and `role_name`
    /// keeps the role. A user without a role (logins are case-insensitive) gets GitHub's 404 for
    /// a non-collaborator of a private repository. A role of `write` or above also makes the user
    /// a collaborator for review requests and assignees, in addition to [`Self::set_collaborators`].
    pub fn set_permission(&self, full_name: &str, login: &str, permission: &str) {
        assert!(
            collaborators::ROLES.contains(&permission),
            "set_permission: {permission:?} is not one of {:?}",
            collaborators::ROLES
        );
        let mut state = self.shared.state();
        state.known_repos.insert(full_name.to_owned());
        state.permissions.insert(
            (full_name.to_owned(), login.to_ascii_lowercase()),
            (login.to_owned(), permission.to_owned()),
        );
    }

    /// The reactions to an issue or pull request comment, each one's `content` in the order they
    /// were made. As on GitHub, a user reacts with a given content at most once, so reacting
    /// again adds nothing. Reactions go when their comment is deleted.
    pub fn reactions(&self, full_name: &str, comment_id: u64) -> Vec<String> {
        self.shared
            .state()
            .reactions
            .iter()
            .filter(|r| r.repo == full_name && r.comment_id == comment_id)
            .map(|r| r.content.clone())
            .collect()
    }

    /// Add a comment as if `user_login` had written it; returns its id.
    pub fn add_comment(&self, full_name: &str, issue: u64, user_login: &str, body: &str) -> u64 {
        let mut state = self.shared.state();
        state.known_repos.insert(full_name.to_owned());
        state.create_comment(full_name, issue, user_login, body)
    }

    /// The comments on one issue or pull request, in creation order.
    pub fn comments(&self, full_name: &str, issue: u64) -> Vec<FakeComment> {
        self.shared
            .state()
            .comments
            .iter()
            .filter(|c| c.repo == full_name && c.issue == issue)
            .map(|c| c.comment.clone())
            .collect()
    }

    /// Every REST, GraphQL and git request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Answer the next `count` requests whose method matches (`*` for any) and whose path ends
    /// with `path_suffix` with `status` (an HTML page for 5xx, like GitHub's front end), then
    /// behave normally.
    pub fn fail_next(&self, method: &str, path_suffix: &str, status: u16, count: usize) {
        self.shared.state().faults.push(Fault {
            method: method.to_owned(),
            path_suffix: path_suffix.to_owned(),
            remaining: count,
            kind: FaultKind::Status(status),
        });
    }

    /// Carry out the next `count` REST requests whose method matches (`*` for any) and whose path
    /// ends with `path_suffix`, then answer `status` (an HTML page, like GitHub's front end)
    /// instead of the result: the request took effect, but the client cannot know.
    pub fn lose_response_next(&self, method: &str, path_suffix: &str, status: u16, count: usize) {
        self.shared.state().faults.push(Fault {
            method: method.to_owned(),
            path_suffix: path_suffix.to_owned(),
            remaining: count,
            kind: FaultKind::LoseResponse(status),
        });
    }

    /// Rate-limit the next `count` matching requests. Status 429 answers like GitHub's secondary
    /// limit (`retry-after`); any other status like the primary one (`x-ratelimit-remaining: 0`
    /// and `x-ratelimit-reset` `retry_after_secs` from now).
    pub fn rate_limit_next(
        &self,
        method: &str,
        path_suffix: &str,
        status: u16,
        retry_after_secs: u64,
        count: usize,
    ) {
        self.shared.state().faults.push(Fault {
            method: method.to_owned(),
            path_suffix: path_suffix.to_owned(),
            remaining: count,
            kind: FaultKind::RateLimit {
                status,
                retry_after_secs,
            },
        });
    }

    /// Behave like a fork pull request's `GITHUB_TOKEN`: reads work, writes are refused (REST
    /// 403, GraphQL mutations a FORBIDDEN error, git pushes 403).
    pub fn set_read_only(&self, read_only: bool) {
        self.shared.state().read_only = read_only;
    }

    /// Behave like a personal access token of `login` (a `User` account) instead of an
    /// installation token: `GET /user` answers with that user, and the comments, reactions and
    /// pull requests the token creates are authored by it rather than [`BOT_LOGIN`].
    pub fn set_token_user(&self, login: &str) {
        assert!(
            !login.ends_with("[bot]"),
            "set_token_user: {login:?} is a bot; a personal access token belongs to a user"
        );
        self.shared.state().token_user = Some(login.to_owned());
    }

    /// Requests that did not fit GitHub's published REST description or GraphQL's rules, and
    /// responses of the fake itself that did not fit the description, one sentence each.
    pub fn violations(&self) -> Vec<String> {
        self.shared.state().violations.clone()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request handling common to REST, GraphQL and git
// ---------------------------------------------------------------------------------------------

async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let incoming = Incoming {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
    };
    if incoming.path == "/api/graphql" {
        return shared.graphql(incoming, body).await;
    }
    if incoming.path == "/api/v3" || incoming.path.starts_with("/api/v3/") {
        return shared.rest(incoming, body).await;
    }
    if let Some(route) = GitRoute::parse(&incoming.path) {
        return shared.git(route, incoming, body).await;
    }
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    shared.record(&incoming, String::from_utf8_lossy(&bytes).into_owned());
    shared.violation(format!(
        "{} {}: not under the API base /api/v3, the GraphQL endpoint /api/graphql or a \
         repository's git endpoints (a client that ignores GITHUB_API_URL does this)",
        incoming.method, incoming.path
    ));
    shared.json_reply(Reply::not_found(), "core")
}

struct Incoming {
    method: String,
    path: String,
    query: String,
    headers: http::HeaderMap,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A JSON answer before the common headers are added.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn error(status: u16, message: &str, documentation_url: &str) -> Reply {
        Reply::json(
            status,
            json!({
                "message": message,
                "documentation_url": documentation_url,
                "status": status.to_string(),
            }),
        )
    }

    fn not_found() -> Reply {
        Reply::error(404, "Not Found", "https://docs.github.com/rest")
    }

    /// GitHub's 422 for a body that parsed but broke a rule, with the rule in `errors`.
    fn validation_failed(documentation_url: &str, error: Value) -> Reply {
        Reply::json(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [error],
                "documentation_url": documentation_url,
                "status": "422",
            }),
        )
    }
}

/// The query of a list request: `per_page` (GitHub's default, capped) and `page`, plus the rest.
struct Paging {
    params: Vec<(String, String)>,
    per_page: usize,
    page: usize,
}

impl Paging {
    fn from_query(query: &str) -> Paging {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let number = |name: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
        };
        Paging {
            per_page: number("per_page")
                .unwrap_or(DEFAULT_PER_PAGE)
                .min(MAX_PER_PAGE),
            page: number("page").unwrap_or(1),
            params,
        }
    }

    /// The last value given for `name`, as GitHub reads repeated parameters.
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock must not hide the next test's failure.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record(&self, incoming: &Incoming, body: String) -> usize {
        let mut state = self.state();
        state.requests.push(RecordedRequest {
            method: incoming.method.clone(),
            path: incoming.path.clone(),
            query: incoming.query.clone(),
            body,
            authorization: incoming.header("authorization").map(str::to_owned),
        });
        state.requests.len() - 1
    }

    fn violation(&self, text: String) {
        self.state().violations.push(text);
    }

    /// The first armed fault matching this request, consumed by one.
    fn injected_fault(&self, incoming: &Incoming) -> Option<Response> {
        self.take_fault(incoming, false)
    }

    /// The first armed lost-response fault matching this request, consumed by one; asked after
    /// the request was carried out.
    fn lost_response(&self, incoming: &Incoming) -> Option<Response> {
        self.take_fault(incoming, true)
    }

    fn take_fault(&self, incoming: &Incoming, after: bool) -> Option<Response> {
        let mut state = self.state();
        let index = state.faults.iter().position(|f| {
            f.remaining > 0
                && matches!(f.kind, FaultKind::LoseResponse(_)) == after
                && (f.method == "*" || f.method.eq_ignore_ascii_case(&incoming.method))
                && incoming.path.ends_with(&f.path_suffix)
        })?;
        state.faults[index].remaining -= 1;
        let kind = match &state.faults[index].kind {
            FaultKind::Status(status) => FaultKind::Status(*status),
            FaultKind::LoseResponse(status) => FaultKind::LoseResponse(*status),
            FaultKind::RateLimit {
                status,
                retry_after_secs,
            } => FaultKind::RateLimit {
                status: *status,
                retry_after_secs: *retry_after_secs,
            },
        };
        if state.faults[index].remaining == 0 {
            state.faults.remove(index);
        }
        state.request_counter += 1;
        let request_id = request_id(state.request_counter);
        let remaining = rate_remaining(state.rate_used);
        drop(state);

        let response = match kind {
            FaultKind::Status(status) | FaultKind::LoseResponse(status) if status >= 500 => {
                let reason = reason_phrase(status);
                Response::builder()
                    .status(status)
                    .header("content-type", "text/html")
                    .body(Body::from(format!(
                        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n\
                         <center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
                         </body>\r\n</html>\r\n"
                    )))
            }
            FaultKind::Status(status) | FaultKind::LoseResponse(status) => Response::builder()
                .status(status)
                .header("content-type", "application/json; charset=utf-8")
                .header("x-github-request-id", &request_id)
                .body(Body::from(
                    json!({
                        "message": reason_phrase(status),
                        "documentation_url": "https://docs.github.com/rest",
                        "status": status.to_string(),
                    })
                    .to_string(),
                )),
            FaultKind::RateLimit {
                status: 429,
                retry_after_secs,
            } => Response::builder()
                .status(429)
                .header("content-type", "application/json; charset=utf-8")
                .header("retry-after", retry_after_secs.to_string())
                .header("x-ratelimit-limit", RATE_LIMIT.to_string())
                .header("x-ratelimit-remaining", remaining.to_string())
                .header("x-ratelimit-reset", (unix_now() + 3600).to_string())
                .header("x-github-request-id", &request_id)
                .body(Body::from(
                    json!({
                        "message": format!(
                            "You have exceeded a secondary rate limit. Please wait a few minutes \
                             before you try again. If you reach out to GitHub Support for help, \
                             please include the request ID {request_id}."
                        ),
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                        "status": "429",
                    })
                    .to_string(),
                )),
            FaultKind::RateLimit {
                status,
                retry_after_secs,
            } => Response::builder()
                .status(status)
                .header("content-type", "application/json; charset=utf-8")
                .header("x-ratelimit-limit", RATE_LIMIT.to_string())
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-used", RATE_LIMIT.to_string())
                .header("x-ratelimit-reset", (unix_now() + retry_after_secs).to_string())
                .header("x-ratelimit-resource", "core")
                .header("x-github-request-id", &request_id)
                .body(Body::from(
                    json!({
                        "message": format!(
                            "API rate limit exceeded for installation ID 1. If you reach out to \
                             GitHub Support for help, please include the request ID {request_id} \
                             and timestamp {}.",
                            rfc3339(SystemTime::now())
                        ),
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                        "status": status.to_string(),
                    })
                    .to_string(),
                )),
        };
        Some(response.expect("an injected response is valid"))
    }

    /// `Authorization: Bearer <token>` or `token <token>`, as REST and GraphQL accept.
    fn api_token_ok(&self, incoming: &Incoming) -> bool {
        let Some((scheme, credentials)) = incoming
            .header("authorization")
            .and_then(|v| v.trim().split_once(' '))
        else {
            return false;
        };
        (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
            && credentials.trim() == self.token
    }

    /// HTTP basic with user `x-access-token` and the token as password, as git over HTTPS uses.
    fn git_token_ok(&self, incoming: &Incoming) -> bool {
        let Some((scheme, encoded)) = incoming
            .header("authorization")
            .and_then(|v| v.trim().split_once(' '))
        else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let decoded = String::from_utf8_lossy(&decoded);
        decoded.split_once(':') == Some((GIT_USER, self.token.as_str()))
    }

    /// Add GitHub's usual headers and serialise.
    fn json_reply(&self, reply: Reply, resource: &str) -> Response {
        let (remaining, counter) = {
            let mut state = self.state();
            state.rate_used += 1;
            state.request_counter += 1;
            (rate_remaining(state.rate_used), state.request_counter)
        };
        let mut response = Response::builder()
            .status(reply.status)
            .header("x-github-media-type", "github.v3; format=json")
            .header("x-github-api-version-selected", "2022-11-28")
            .header("x-github-enterprise-version", GHES_VERSION)
            .header("x-github-request-id", request_id(counter))
            .header("x-ratelimit-limit", RATE_LIMIT.to_string())
            .header("x-ratelimit-remaining", remaining.to_string())
            .header("x-ratelimit-reset", (unix_now() + 3600).to_string())
            .header("x-ratelimit-used", (RATE_LIMIT - remaining).to_string())
            .header("x-ratelimit-resource", resource);
        for (name, value) in &reply.headers {
            response = response.header(name, value);
        }
        let body = match reply.body {
            Some(body) => {
                response = response.header("content-type", "application/json; charset=utf-8");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        response.body(body).expect("a JSON response is valid")
    }

    fn user_json(&self, login: &str) -> Value {
        let kind = if login.ends_with("[bot]") {
            "Bot"
        } else {
            "User"
        };
        self.account_json(login, kind)
    }

    fn account_json(&self, login: &str, kind: &str) -> Value {
        let id = if login == BOT_LOGIN {
            BOT_ID
        } else {
            stable_id(login)
        };
        let api = &self.api_url;
        let web = &self.server_url;
        // GitHub percent-encodes the brackets of bot logins in its URLs.
        let path = login.replace('[', "%5B").replace(']', "%5D");
        let html_url = match login.strip_suffix("[bot]") {
            Some(app) => format!("{web}/apps/{app}"),
            None => format!("{web}/{path}"),
        };
        let node_prefix = match kind {
            "Bot" => "BOT",
            "Organization" => "O",
            _ => "U",
        };
        json!({
            "login": login,
            "id": id,
            "node_id": node_id(node_prefix, id),
            "avatar_url": format!("{web}/avatars/u/{id}?v=4"),
            "gravatar_id": "",
            "url": format!("{api}/users/{path}"),
            "html_url": html_url,
            "followers_url": format!("{api}/users/{path}/followers"),
            "following_url": format!("{api}/users/{path}/following{{/other_user}}"),
            "gists_url": format!("{api}/users/{path}/gists{{/gist_id}}"),
            "starred_url": format!("{api}/users/{path}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{api}/users/{path}/subscriptions"),
            "organizations_url": format!("{api}/users/{path}/orgs"),
            "repos_url": format!("{api}/users/{path}/repos"),
            "events_url": format!("{api}/users/{path}/events{{/privacy}}"),
            "received_events_url": format!("{api}/users/{path}/received_events"),
            "type": kind,
            "user_view_type": "public",
            "site_admin": false,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------------------------

impl Shared {
    async fn rest(self: &Arc<Self>, incoming: Incoming, body: Body) -> Response {
        let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
        self.record(&incoming, String::from_utf8_lossy(&bytes).into_owned());
        let api_path = match &incoming.path["/api/v3".len()..] {
            "" => "/",
            rest => rest,
        };
        if api_path == "/graphql" {
            // octocrab's `graphql()` posts to `<base>/graphql`, right for api.github.com only.
            self.violation(format!(
                "{} {}: GitHub Enterprise Server serves GraphQL at /api/graphql, not under the \
                 REST base /api/v3",
                incoming.method, incoming.path
            ));
        } else {
            for problem in
                self.spec
                    .check_request(&incoming.method, api_path, &incoming.query, &bytes)
            {
                self.violation(format!("{} {}: {problem}", incoming.method, incoming.path));
            }
        }
        if let Some(response) = self.injected_fault(&incoming) {
            return response;
        }
        // GitHub turns away REST requests without a User-Agent; some HTTP clients send none.
        if incoming.header("user-agent").is_none_or(str::is_empty) {
            self.violation(format!(
                "{} {}: no User-Agent header, which GitHub's REST API requires",
                incoming.method, incoming.path
            ));
            return self.json_reply(
                Reply::error(
                    403,
                    "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.",
                    "https://docs.github.com/rest",
                ),
                "core",
            );
        }
        if !self.api_token_ok(&incoming) {
            return self.json_reply(
                Reply::error(401, "Bad credentials", "https://docs.github.com/rest"),
                "core",
            );
        }
        let operation = self.spec.operation(&incoming.method, api_path);
        let writes = matches!(
            incoming.method.as_str(),
            "POST" | "PATCH" | "PUT" | "DELETE"
        );
        if writes && self.state().read_only {
            let docs = operation
                .and_then(|op| op.docs_url.as_deref())
                .unwrap_or("https://docs.github.com/rest");
            return self.json_reply(
                Reply::error(403, "Resource not accessible by integration", docs),
                "core",
            );
        }

        let reply = self.route_rest(&incoming, api_path, &bytes);
        if (200..300).contains(&reply.status) {
            for problem in self.spec.check_response(
                &incoming.method,
                api_path,
                reply.status,
                reply.body.as_ref(),
            ) {
                self.violation(format!(
                    "the fake's own response to {} {}: {problem}",
                    incoming.method, incoming.path
                ));
            }
        }
        if let Some(response) = self.lost_response(&incoming) {
            return response;
        }
        self.json_reply(reply, "core")
    }

    fn route_rest(&self, incoming: &Incoming, api_path: &str, body: &[u8]) -> Reply {
        let segments: Vec<&str> = api_path.trim_start_matches('/').split('/').collect();
        let method = incoming.method.as_str();
        let (owner, repo) = match segments.as_slice() {
            ["repos", owner, repo, ..] => (*owner, *repo),
            ["user"] if method == "GET" => return self.authenticated_user(),
            _ => return self.not_implemented(incoming, api_path),
        };
        let full_name = format!("{owner}/{repo}");
        if !self.state().known_repos.contains(&full_name) {
            return Reply::not_found();
        }
        let number = |s: &str| s.parse::<u64>().ok();
        let query = incoming.query.as_str();
        match (method, &segments[3..]) {
            ("GET", ["pulls"]) => self.list_pulls(&full_name, query),
            ("POST", ["pulls"]) => self.create_pull(&full_name, body),
            ("GET", ["pulls", n]) => match number(n) {
                Some(n) => self.get_pull(&full_name, n),
                None => Reply::not_found(),
            },
            ("PATCH", ["pulls", n]) => match number(n) {
                Some(n) => self.update_pull(&full_name, n, body),
                None => Reply::not_found(),
            },
            ("GET", ["pulls", n, "reviews"]) => match number(n) {
                Some(n) => self.list_reviews(&full_name, n, query),
                None => Reply::not_found(),
            },
            ("POST", ["pulls", n, "requested_reviewers"]) => match number(n) {
                Some(n) => self.request_reviewers(&full_name, n, body),
                None => Reply::not_found(),
            },
            ("GET", ["commits", sha, "pulls"]) => self.pulls_for_commit(&full_name, sha, query),
            ("GET", ["collaborators", login, "permission"]) => {
                self.collaborator_permission(&full_name, login)
            }
            ("POST", ["issues", n, "labels"]) => match number(n) {
                Some(n) => self.add_labels(&full_name, n, body),
                None => Reply::not_found(),
            },
            ("POST", ["issues", n, "assignees"]) => match number(n) {
                Some(n) => self.add_assignees(&full_name, n, body),
                None => Reply::not_found(),
            },
            ("GET", ["issues", n, "comments"]) => match number(n) {
                Some(n) => self.list_comments(&full_name, n, &incoming.query),
                None => Reply::not_found(),
            },
            ("POST", ["issues", n, "comments"]) => match number(n) {
                Some(n) => self.create_comment(&full_name, n, body),
                None => Reply::not_found(),
            },
            ("GET", ["issues", "comments", id]) => match number(id) {
                Some(id) => self.get_comment(&full_name, id),
                None => Reply::not_found(),
            },
            // GitHub has long taken POST here as PATCH (octocrab's `update_comment` relies on
            // it); the description does not list it, so the check above records a violation.
            ("PATCH" | "POST", ["issues", "comments", id]) => match number(id) {
                Some(id) => self.update_comment(&full_name, id, body),
                None => Reply::not_found(),
            },
            ("DELETE", ["issues", "comments", id]) => match number(id) {
                Some(id) => self.delete_comment(&full_name, id),
                None => Reply::not_found(),
            },
            ("POST", ["issues", "comments", id, "reactions"]) => match number(id) {
                Some(id) => self.create_reaction(&full_name, id, body),
                None => Reply::not_found(),
            },
            _ => self.not_implemented(incoming, api_path),
        }
    }

    fn not_implemented(&self, incoming: &Incoming, api_path: &str) -> Reply {
        // A request outside the description was recorded as such already.
        if self.spec.operation(&incoming.method, api_path).is_none() {
            return Reply::not_found();
        }
        self.violation(format!(
            "{} {}: the fake GitHub does not serve this; add it to tests/support if the product \
             needs it",
            incoming.method, incoming.path
        ));
        Reply::not_found()
    }

    fn list_comments(&self, full_name: &str, issue: u64, query: &str) -> Reply {
        let paging = Paging::from_query(query);
        let since = paging.param("since").unwrap_or_default().to_owned();
        let state = self.state();
        let items: Vec<Value> = state
            .comments
            .iter()
            .filter(|c| c.repo == full_name && c.issue == issue)
            // Both sides are UTC RFC 3339, which orders correctly as text.
            .filter(|c| since.is_empty() || c.updated_at.as_str() >= since.as_str())
            .map(|c| self.comment_json(&state, c))
            .collect();
        self.page_reply(
            items,
            &paging,
            &format!("/repos/{full_name}/issues/{issue}/comments"),
        )
    }

    /// One page of a list, with GitHub's `Link` header pointing at the others.
    fn page_reply(&self, items: Vec<Value>, paging: &Paging, path: &str) -> Reply {
        let (per_page, page) = (paging.per_page, paging.page);
        let last = items.len().div_ceil(per_page).max(1);
        let items: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let mut reply = Reply::json(200, Value::Array(items));
        let kept: Vec<(&str, &str)> = paging
            .params
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let link_to = |target: usize| {
            let mut pairs = kept.clone();
            let target = target.to_string();
            pairs.push(("page", &target));
            let query = serde_urlencoded::to_string(&pairs).expect("query pairs encode");
            format!("<{}{path}?{query}>", self.api_url)
        };
        // GitHub's order: prev, next, last, first.
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("{}; rel=\"prev\"", link_to((page - 1).min(last))));
        }
        if page < last {
            links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
            links.push(format!("{}; rel=\"last\"", link_to(last)));
        }
        if page > 1 {
            links.push(format!("{}; rel=\"first\"", link_to(1)));
        }
        if !links.is_empty() {
            reply.headers.push(("link".to_owned(), links.join(", ")));
        }
        reply
    }

    fn create_comment(&self, full_name: &str, issue: u64, body: &[u8]) -> Reply {
        let text = match comment_body(body, "create-an-issue-comment") {
            Ok(text) => text,
            Err(reply) => return reply,
        };
        let mut state = self.state();
        let author = state.token_login().to_owned();
        let id = state.create_comment(full_name, issue, &author, &text);
        let stored = state
            .comments
            .iter()
            .find(|c| c.comment.id == id)
            .expect("the comment was just created");
        let mut reply = Reply::json(201, self.comment_json(&state, stored));
        reply.headers.push((
            "location".to_owned(),
            format!("{}/repos/{full_name}/issues/comments/{id}", self.api_url),
        ));
        reply
    }

    fn get_comment(&self, full_name: &str, id: u64) -> Reply {
        let state = self.state();
        match state.comment(full_name, id) {
            Some(stored) => Reply::json(200, self.comment_json(&state, stored)),
            None => Reply::not_found(),
        }
    }

    fn update_comment(&self, full_name: &str, id: u64, body: &[u8]) -> Reply {
        let text = match comment_body(body, "update-an-issue-comment") {
            Ok(text) => text,
            Err(reply) => return reply,
        };
        let mut state = self.state();
        let Some(index) = state
            .comments
            .iter()
            .position(|c| c.repo == full_name && c.comment.id == id)
        else {
            return Reply::not_found();
        };
        state.comments[index].comment.body = text;
        state.comments[index].updated_at = rfc3339(SystemTime::now());
        Reply::json(200, self.comment_json(&state, &state.comments[index]))
    }

    fn delete_comment(&self, full_name: &str, id: u64) -> Reply {
        let mut state = self.state();
        let before = state.comments.len();
        state
            .comments
            .retain(|c| !(c.repo == full_name && c.comment.id == id));
        if state.comments.len() == before {
            return Reply::not_found();
        }
        state
            .reactions
            .retain(|r| !(r.repo == full_name && r.comment_id == id));
        Reply {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    fn comment_json(&self, state: &FakeState, stored: &StoredComment) -> Value {
        let c = &stored.comment;
        let full_name = &stored.repo;
        let kind = if state.pulls.contains_key(&(full_name.clone(), stored.issue)) {
            "pull"
        } else {
            "issues"
        };
        let association = if c.user_login.ends_with("[bot]") {
            "NONE"
        } else {
            "MEMBER"
        };
        let api = format!("{}/repos/{full_name}", self.api_url);
        let mut reactions = json!({
            "url": format!("{api}/issues/comments/{}/reactions", c.id),
            "total_count": 0,
        });
        for content in REACTION_CONTENTS {
            reactions[content] = Value::from(0);
        }
        for reaction in state
            .reactions
            .iter()
            .filter(|r| &r.repo == full_name && r.comment_id == c.id)
        {
            for key in ["total_count", reaction.content.as_str()] {
                reactions[key] = Value::from(reactions[key].as_u64().unwrap_or_default() + 1);
            }
        }
        json!({
            "id": c.id,
            "node_id": c.node_id,
            "url": format!("{api}/issues/comments/{}", c.id),
            "html_url": format!(
                "{}/{full_name}/{kind}/{}#issuecomment-{}",
                self.server_url, stored.issue, c.id
            ),
            "body": c.body,
            "user": self.user_json(&c.user_login),
            "created_at": stored.created_at,
            "updated_at": stored.updated_at,
            "issue_url": format!("{api}/issues/{}", stored.issue),
            "author_association": association,
            "performed_via_github_app": null,
            "reactions": reactions,
            "pin": null,
            "minimized": c.minimized_reason.as_ref().map(|reason| json!({ "reason": reason })),
        })
    }

    fn repo_json(&self, state: &FakeState, full_name: &str, fork: bool) -> Value {
        let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
        let api = format!("{}/repos/{full_name}", self.api_url);
        let web = format!("{}/{full_name}", self.server_url);
        let id = stable_id(full_name);
        let default_branch = state
            .repos
            .get(full_name)
            .and_then(|path| std::fs::read_to_string(path.join("HEAD")).ok())
            .and_then(|head| {
                head.trim()
                    .strip_prefix("ref: refs/heads/")
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "main".to_owned());
        let created = "2024-01-02T03:04:05Z";
        let mut repo = json!({
            "id": id,
            "node_id": node_id("R", id),
            "name": name,
            "full_name": full_name,
            "private": true,
            "owner": self.account_json(owner, "Organization"),
            "html_url": web,
            "description": null,
            "fork": fork,
            "url": api,
            "homepage": null,
            "language": null,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "size": 0,
            "default_branch": default_branch,
            "open_issues_count": 0,
            "is_template": false,
            "topics": [],
            "has_issues": true,
            "has_projects": true,
            "has_wiki": true,
            "has_pages": false,
            "has_downloads": true,
            "has_discussions": false,
            "archived": false,
            "disabled": false,
        });
        let more = json!({
            "visibility": "private",
            "pushed_at": created,
            "created_at": created,
            "updated_at": created,
            "allow_forking": true,
            "web_commit_signoff_required": false,
            "forks": 0,
            "open_issues": 0,
            "watchers": 0,
            "license": null,
            "mirror_url": null,
            "clone_url": format!("{web}.git"),
            "git_url": format!("git://{}/{full_name}.git", self.host),
            "ssh_url": format!("git@{}:{full_name}.git", self.host.split(':').next().unwrap_or_default()),
            "svn_url": web,
        });
        if let (Some(object), Value::Object(more)) = (repo.as_object_mut(), more) {
            object.extend(more);
        }
        const URL_TEMPLATES: [(&str, &str); 35] = [
            ("archive_url", "/{archive_format}{/ref}"),
            ("assignees_url", "/assignees{/user}"),
            ("blobs_url", "/git/blobs{/sha}"),
            ("branches_url", "/branches{/branch}"),
            ("collaborators_url", "/collaborators{/collaborator}"),
            ("comments_url", "/comments{/number}"),
            ("commits_url", "/commits{/sha}"),
            ("compare_url", "/compare/{base}...{head}"),
            ("contents_url", "/contents/{+path}"),
            ("contributors_url", "/contributors"),
            ("deployments_url", "/deployments"),
            ("downloads_url", "/downloads"),
            ("events_url", "/events"),
            ("forks_url", "/forks"),
            ("git_commits_url", "/git/commits{/sha}"),
            ("git_refs_url", "/git/refs{/sha}"),
            ("git_tags_url", "/git/tags{/sha}"),
            ("hooks_url", "/hooks"),
            ("issue_comment_url", "/issues/comments{/number}"),
            ("issue_events_url", "/issues/events{/number}"),
            ("issues_url", "/issues{/number}"),
            ("keys_url", "/keys{/key_id}"),
            ("labels_url", "/labels{/name}"),
            ("languages_url", "/languages"),
            ("merges_url", "/merges"),
            ("milestones_url", "/milestones{/number}"),
            (
                "notifications_url",
                "/notifications{?since,all,participating}",
            ),
            ("pulls_url", "/pulls{/number}"),
            ("releases_url", "/releases{/id}"),
            ("stargazers_url", "/stargazers"),
            ("statuses_url", "/statuses/{sha}"),
            ("subscribers_url", "/subscribers"),
            ("subscription_url", "/subscription"),
            ("tags_url", "/tags"),
            ("trees_url", "/git/trees{/sha}"),
        ];
        let object = repo.as_object_mut().expect("a repository is an object");
        for (field, suffix) in URL_TEMPLATES {
            object.insert(field.to_owned(), Value::from(format!("{api}{suffix}")));
        }
        object.insert("teams_url".to_owned(), Value::from(format!("{api}/teams")));
        repo
    }
}

/// The `body` of a create or update comment request, or GitHub's answer when it is unusable.
fn comment_body(body: &[u8], docs_anchor: &str) -> Result<String, Reply> {
    let docs = format!("https://docs.github.com/rest/issues/comments#{docs_anchor}");
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| Reply::error(400, "Problems parsing JSON", &docs))?;
    let Some(text) = value.get("body").and_then(Value::as_str) else {
        return Err(Reply::error(
            422,
            "Invalid request.\n\n\"body\" wasn't supplied.",
            &docs,
        ));
    };
    let invalid = |message: String| {
        Reply::json(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{ "resource": "IssueComment", "code": "custom", "field": "body", "message": message }],
                "documentation_url": docs,
                "status": "422",
            }),
        )
    };
    if text.trim().is_empty() {
        return Err(invalid("body cannot be blank".to_owned()));
    }
    if text.chars().count() > COMMENT_BODY_LIMIT {
        return Err(invalid(format!(
            "body is too long (maximum is {COMMENT_BODY_LIMIT} characters)"
        )));
    }
    Ok(text.to_owned())
}

impl FakeState {
    /// Who the token writes as: its user for a personal access token, else [`BOT_LOGIN`].
    fn token_login(&self) -> &str {
        self.token_user.as_deref().unwrap_or(BOT_LOGIN)
    }

    fn create_comment(&mut self, full_name: &str, issue: u64, user_login: &str, body: &str) -> u64 {
        let id = self.next_comment_id;
        self.next_comment_id += 1;
        let now = rfc3339(SystemTime::now());
        self.comments.push(StoredComment {
            repo: full_name.to_owned(),
            issue,
            comment: FakeComment {
                id,
                node_id: node_id("IC", id),
                body: body.to_owned(),
                user_login: user_login.to_owned(),
                minimized: false,
                minimized_reason: None,
            },
            created_at: now.clone(),
            updated_at: now,
        });
        id
    }

    fn comment(&self, full_name: &str, id: u64) -> Option<&StoredComment> {
        self.comments
            .iter()
            .find(|c| c.repo == full_name && c.comment.id == id)
    }

    /// For the control API: a test that names a missing pull request has a bug worth a panic.
    fn pull_mut(&mut self, full_name: &str, number: u64) -> &mut StoredPull {
        self.pulls
            .get_mut(&(full_name.to_owned(), number))
            .unwrap_or_else(|| panic!("no pull request {full_name}#{number} in the fake"))
    }

    /// Issues and pull requests share one sequence; comments are the only trace of an issue.
    fn next_issue_number(&self, full_name: &str) -> u64 {
        let pulls = self
            .pulls
            .keys()
            .filter(|(repo, _)| repo == full_name)
            .map(|(_, n)| *n);
        let issues = self
            .comments
            .iter()
            .filter(|c| c.repo == full_name)
            .map(|c| c.issue);
        pulls.chain(issues).max().unwrap_or(0) + 1
    }

    fn is_collaborator(&self, full_name: &str, login: &str) -> bool {
        let login = login.to_ascii_lowercase();
        let listed = self
            .collaborators
            .get(full_name)
            .is_none_or(|logins| logins.contains(&login));
        listed
            || self
                .permissions
                .get(&(full_name.to_owned(), login))
                .is_some_and(|(_, role)| collaborators::can_push(role))
    }
}

// ---------------------------------------------------------------------------------------------
// GraphQL
// ---------------------------------------------------------------------------------------------

impl Shared {
    async fn graphql(self: &Arc<Self>, incoming: Incoming, body: Body) -> Response {
        let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
        self.record(&incoming, String::from_utf8_lossy(&bytes).into_owned());
        if let Some(response) = self.injected_fault(&incoming) {
            return response;
        }
        let docs = "https://docs.github.com/graphql";
        if !self.api_token_ok(&incoming) {
            return self.json_reply(Reply::error(401, "Bad credentials", docs), "graphql");
        }
        let violation = |text: String| {
            self.violation(format!("{} {}: {text}", incoming.method, incoming.path));
        };
        if incoming.method != "POST" {
            violation("GraphQL takes POST only".to_owned());
            return self.json_reply(Reply::not_found(), "graphql");
        }
        let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&bytes) else {
            violation("the body is not a JSON object".to_owned());
            return self.json_reply(Reply::error(400, "Problems parsing JSON", docs), "graphql");
        };
        for key in request.keys() {
            if !matches!(key.as_str(), "query" | "variables" | "operationName") {
                violation(format!("unknown request field `{key}`"));
            }
        }
        let variables = match request.get("variables") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(v)) => v.clone(),
            Some(other) => {
                violation(format!("`variables` must be an object, got {other}"));
                return self
                    .graphql_errors(vec![json!({ "message": "Variables are invalid JSON." })]);
            }
        };
        let Some(query) = request.get("query").and_then(Value::as_str) else {
            violation("no `query` string".to_owned());
            return self.json_reply(
                Reply::json(200, json!({ "errors": [{ "message": "A query attribute must be specified and must be a string." }] })),
                "graphql",
            );
        };
        let operations = match graphql::parse(query) {
            Ok(operations) => operations,
            Err(message) => {
                violation(format!("the query does not parse: {message}"));
                return self.graphql_errors(vec![json!({ "message": message })]);
            }
        };
        let wanted = request.get("operationName").and_then(Value::as_str);
        let operation = match wanted {
            Some(name) => operations.iter().find(|o| o.name.as_deref() == Some(name)),
            None if operations.len() == 1 => operations.first(),
            None => None,
        };
        let Some(operation) = operation else {
            violation("no operation selected".to_owned());
            return self.graphql_errors(vec![json!({
                "message": "An operation name is required when sending multiple operations."
            })]);
        };
        let mut variables = variables;
        for definition in &operation.variables {
            if let (false, Some(default)) = (
                variables.contains_key(&definition.name),
                &definition.default,
            ) && let Ok(value) = default.resolve(&Map::new())
            {
                variables.insert(definition.name.clone(), value);
            }
        }

        let (response, problems) = self.execute(operation.kind, &operation.selection, &variables);
        for problem in problems {
            violation(problem);
        }
        self.json_reply(Reply::json(200, response), "graphql")
    }

    fn graphql_errors(&self, errors: Vec<Value>) -> Response {
        self.json_reply(Reply::json(200, json!({ "errors": errors })), "graphql")
    }

    /// Resolve the root fields. Returns GitHub's response body and the problems to record.
    fn execute(
        &self,
        kind: OperationKind,
        selection: &[Selection],
        variables: &Map<String, Value>,
    ) -> (Value, Vec<String>) {
        let root_type = match kind {
            OperationKind::Query => "Query",
            OperationKind::Mutation => "Mutation",
            OperationKind::Subscription => {
                return (
                    json!({ "errors": [{ "message": "Subscriptions are not supported" }] }),
                    vec!["a subscription was sent".to_owned()],
                );
            }
        };
        let mut fields = Vec::new();
        for s in selection {
            match s {
                Selection::Field(f) => fields.push(f),
                Selection::InlineFragment { .. } => {
                    return (
                        json!({ "errors": [{ "message": "Inline fragments on a root type are not supported by the fake" }] }),
                        vec!["an inline fragment on the root type".to_owned()],
                    );
                }
            }
        }

        // Static validation first, as GitHub does: one invalid field fails the whole request
        // before anything is changed.
        let mut errors = Vec::new();
        for field in &fields {
            if let Err(error) = validate_root_field(root_type, field, variables) {
                errors.push(error);
            }
        }
        if !errors.is_empty() {
            let problems = errors
                .iter()
                .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                .collect();
            return (json!({ "errors": errors }), problems);
        }

        let mut state = self.state();
        let mut data = Map::new();
        let mut problems = Vec::new();
        for field in fields {
            let key = field.response_key().to_owned();
            let path = [Value::from(key.clone())];
            let execution_error = |kind: &str, message: String| {
                json!({
                    "type": kind,
                    "path": path,
                    "extensions": { "saml_failure": false },
                    "locations": field.location(),
                    "message": message,
                })
            };
            let input = field
                .argument("input")
                .and_then(|i| i.resolve(variables).ok())
                .unwrap_or(Value::Null);
            let resolved: Result<Value, Value> = match (root_type, field.name.as_str()) {
                ("Query", "__typename") => Ok(Value::from("Query")),
                ("Mutation", "__typename") => Ok(Value::from("Mutation")),
                ("Query", "node") => {
                    let id = field
                        .argument("id")
                        .and_then(|i| i.resolve(variables).ok())
                        .unwrap_or(Value::Null);
                    let node = state
                        .comments
                        .iter()
                        .find(|c| Some(c.comment.node_id.as_str()) == id.as_str())
                        .map(|c| self.graphql_comment(c));
                    match node {
                        Some(node) => graphql::project(&field.selection, &node, &path),
                        None => Err(execution_error(
                            "NOT_FOUND",
                            format!(
                                "Could not resolve to a node with the global id of '{}'",
                                id.as_str().unwrap_or_default()
                            ),
                        )),
                    }
                }
                ("Query", "rateLimit") => {
                    let limit = json!({
                        "__typename": "RateLimit",
                        "limit": RATE_LIMIT,
                        "cost": 1,
                        "remaining": rate_remaining(state.rate_used),
                        "used": state.rate_used,
                        "resetAt": rfc3339(SystemTime::now() + Duration::from_secs(3600)),
                        "nodeCount": 0,
                    });
                    graphql::project(&field.selection, &limit, &path)
                }
                ("Mutation", "minimizeComment" | "unminimizeComment") if state.read_only => {
                    Err(execution_error(
                        "FORBIDDEN",
                        "Resource not accessible by integration".to_owned(),
                    ))
                }
                ("Mutation", name @ ("minimizeComment" | "unminimizeComment")) => {
                    let minimize = name == "minimizeComment";
                    let subject = input["subjectId"].as_str().unwrap_or_default().to_owned();
                    let reason = input["classifier"]
                        .as_str()
                        .map(|c| c.to_ascii_lowercase().replace('_', "-"));
                    match state
                        .comments
                        .iter_mut()
                        .find(|c| c.comment.node_id == subject)
                    {
                        None => Err(execution_error(
                            "NOT_FOUND",
                            format!(
                                "Could not resolve to a node with the global id of '{subject}'."
                            ),
                        )),
                        Some(stored) => {
                            stored.comment.minimized = minimize;
                            stored.comment.minimized_reason = if minimize { reason } else { None };
                            let comment = self.graphql_comment(stored);
                            let (type_name, comment_field) = if minimize {
                                ("MinimizeCommentPayload", "minimizedComment")
                            } else {
                                ("UnminimizeCommentPayload", "unminimizedComment")
                            };
                            let payload = json!({
                                "__typename": type_name,
                                "clientMutationId": input.get("clientMutationId").cloned().unwrap_or(Value::Null),
                                comment_field: comment,
                            });
                            graphql::project(&field.selection, &payload, &path)
                        }
                    }
                }
                _ => unreachable!("validate_root_field refused unknown fields"),
            };
            match resolved {
                Ok(value) => {
                    data.insert(key, value);
                }
                Err(error) => {
                    if error.get("type").is_none() {
                        // A selection error is the client's mistake; NOT_FOUND and FORBIDDEN
                        // are answers about the data.
                        problems.push(error["message"].as_str().unwrap_or_default().to_owned());
                    }
                    data.insert(key, Value::Null);
                    errors.push(error);
                }
            }
        }
        let mut response = json!({ "data": data });
        if !errors.is_empty() {
            response["errors"] = Value::Array(errors);
        }
        (response, problems)
    }

    fn graphql_comment(&self, stored: &StoredComment) -> Value {
        let c = &stored.comment;
        json!({
            "__typename": "IssueComment",
            "__implements": ["Node", "Comment", "Minimizable", "Deletable", "Updatable",
                "UpdatableComment", "Reactable", "RepositoryNode", "UniformResourceLocatable"],
            "id": c.node_id,
            "databaseId": c.id,
            "fullDatabaseId": c.id.to_string(),
            "body": c.body,
            "isMinimized": c.minimized,
            "minimizedReason": c.minimized_reason,
            "viewerCanMinimize": true,
            "url": format!("{}/{}/pull/{}#issuecomment-{}", self.server_url, stored.repo, stored.issue, c.id),
            "createdAt": stored.created_at,
            "updatedAt": stored.updated_at,
            "author": {
                "__typename": if c.user_login.ends_with("[bot]") { "Bot" } else { "User" },
                "__implements": ["Actor", "Node"],
                "login": c.user_login.trim_end_matches("[bot]"),
            },
        })
    }
}

/// GitHub's static checks for the root fields the fake knows: the field exists and its
/// arguments have the right shape. The error is a GitHub-shaped error object.
fn validate_root_field(
    root_type: &str,
    field: &graphql::Field,
    variables: &Map<String, Value>,
) -> Result<(), Value> {
    let error = |code: &str, message: String| {
        json!({
            "path": [root_type.to_ascii_lowercase(), field.response_key()],
            "extensions": { "code": code, "typeName": root_type, "fieldName": field.name },
            "locations": field.location(),
            "message": message,
        })
    };
    let input_type = match (root_type, field.name.as_str()) {
        ("Query", "node" | "rateLimit" | "__typename") | ("Mutation", "__typename") => {
            return Ok(());
        }
        ("Mutation", "minimizeComment") => "MinimizeCommentInput",
        ("Mutation", "unminimizeComment") => "UnminimizeCommentInput",
        _ => {
            return Err(error(
                "undefinedField",
                format!("Field '{}' doesn't exist on type '{root_type}'", field.name),
            ));
        }
    };
    let Some(input) = field.argument("input") else {
        return Err(error(
            "missingRequiredArguments",
            format!(
                "Field '{}' is missing required arguments: input",
                field.name
            ),
        ));
    };
    let invalid = |name: &str, written: String, expected: &str| {
        error(
            "argumentLiteralsIncompatible",
            format!(
                "Argument '{name}' on InputObject '{input_type}' has an invalid value ({written}). Expected type '{expected}'."
            ),
        )
    };
    let resolved = input.resolve(variables).unwrap_or(Value::Null);
    let Some(object) = resolved.as_object() else {
        return Err(error(
            "argumentLiteralsIncompatible",
            format!(
                "Argument 'input' on Field '{}' has an invalid value ({}). Expected type '{input_type}!'.",
                field.name,
                input.as_written()
            ),
        ));
    };
    let allowed: &[&str] = if field.name == "minimizeComment" {
        &["subjectId", "classifier", "clientMutationId"]
    } else {
        &["subjectId", "clientMutationId"]
    };
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(error(
                "argumentNotAccepted",
                format!("InputObject '{input_type}' doesn't accept argument '{key}'"),
            ));
        }
    }
    if !object.get("subjectId").is_some_and(Value::is_string) {
        return Err(invalid(
            "subjectId",
            input
                .field("subjectId")
                .map(Literal::as_written)
                .unwrap_or_else(|| "null".to_owned()),
            "ID!",
        ));
    }
    if field.name == "minimizeComment" {
        // Written in the query, an enum must be bare: "OUTDATED" in quotes is a string.
        let literal_is_string = matches!(input.field("classifier"), Some(Literal::String(_)));
        let classifier = object.get("classifier").and_then(Value::as_str);
        if literal_is_string
            || !classifier.is_some_and(|c| REPORTED_CONTENT_CLASSIFIERS.contains(&c))
        {
            let written = input
                .field("classifier")
                .map(Literal::as_written)
                .or_else(|| object.get("classifier").map(Value::to_string))
                .unwrap_or_else(|| "null".to_owned());
            return Err(invalid(
                "classifier",
                written,
                "ReportedContentClassifiers!",
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// git smart-HTTP
// ---------------------------------------------------------------------------------------------

impl Shared {
    async fn git(self: &Arc<Self>, route: GitRoute, incoming: Incoming, body: Body) -> Response {
        let index = self.record(&incoming, "<binary, not read>".to_owned());
        if let Some(response) = self.injected_fault(&incoming) {
            return response;
        }
        if !self.git_token_ok(&incoming) {
            return Response::builder()
                .status(401)
                .header("www-authenticate", "Basic realm=\"GitHub\"")
                .header("content-type", "text/plain; charset=utf-8")
                .body(Body::from("Invalid username or token. Password authentication is not supported for Git operations.\n"))
                .expect("a static response is valid");
        }
        let (repo, read_only, login) = {
            let state = self.state();
            (
                state.repos.get(&route.full_name).cloned(),
                state.read_only,
                state.token_login().to_owned(),
            )
        };
        let Some(repo) = repo else {
            return text_response(404, "Repository not found.");
        };
        if read_only && route.is_push(&incoming.query) {
            return text_response(
                403,
                &format!("Permission to {}.git denied to {login}.", route.full_name),
            );
        }
        let (response, received) = git_http::serve(
            CgiRequest {
                method: &incoming.method,
                bare_repo: &repo,
                endpoint: &route.endpoint,
                query: &incoming.query,
                headers: &incoming.headers,
                remote_user: GIT_USER,
            },
            body,
        )
        .await;
        if let Some(request) = self.state().requests.get_mut(index) {
            request.body = format!("<binary {received} bytes>");
        }
        if incoming.method == "POST" && route.endpoint == "git-receive-pack" {
            self.follow_pushes(&route.full_name);
        }
        response
    }
}

fn text_response(status: u16, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from(format!("{text}\n")))
        .expect("a static response is valid")
}

// ---------------------------------------------------------------------------------------------
// Small values
// ---------------------------------------------------------------------------------------------

fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// Deterministic ids per name, so that repeated runs produce the same JSON.
fn stable_id(text: &str) -> u64 {
    // FNV-1a: tiny and stable across Rust versions, unlike `DefaultHasher`.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    100_000_000 + hash % 900_000_000
}

/// GitHub's node ids are opaque base64; the prefix shows the type as GitHub's do (`IC_`, `PR_`).
fn node_id(prefix: &str, id: u64) -> String {
    format!("{prefix}_kwDO{}", URL_SAFE_NO_PAD.encode(id.to_be_bytes()))
}

fn request_id(counter: u64) -> String {
    format!(
        "FAKE:{counter:06X}:{:08X}",
        counter.wrapping_mul(2_654_435_761) as u32
    )
}

/// The quota left after `used` requests. It never reaches zero by itself: a client that waits
/// for the reset would stall a long test for an hour; `rate_limit_next` is the way to exhaust it.
fn rate_remaining(used: u64) -> u64 {
    RATE_LIMIT - 1 - used % (RATE_LIMIT - 1)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `2024-05-06T07:08:09Z`, the form GitHub writes timestamps in.
fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil conversion.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
