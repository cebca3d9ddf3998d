//! The only module that talks to GitHub's APIs: a small typed client over octocrab with bounded
//! retries for server errors, transport errors and rate limits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode};
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::comment::Author;

/// A failed API call, phrased for a workflow log. Never carries the token or a request body.
#[derive(Debug, thiserror::Error)]
#[error("GitHub API {method} {path} failed: {detail}")]
pub struct ApiError {
    pub method: Method,
    pub path: String,
    pub status: Option<u16>,
    pub detail: String,
    /// GitHub refused the request for a rate limit (403 or 429) and it still did on the last
    /// attempt, or would only lift later than the retry policy waits. Not a permission problem.
    pub rate_limited: bool,
}

impl ApiError {
    /// 403 that is not a rate limit: the token may not do this (a fork PR's read-only token).
    pub fn is_forbidden(&self) -> bool {
        self.status == Some(403) && !self.rate_limited
    }

    /// A rate limit that outlasted the retries; trying again later may succeed.
    pub fn is_rate_limited(&self) -> bool {
        self.rate_limited
    }

    /// 422: GitHub understood the request and refused its content, e.g. a review requested from
    /// the pull request's author or from someone who is not a collaborator.
    pub fn is_unprocessable(&self) -> bool {
        self.status == Some(422)
    }
}

/// How hard to try before giving up on one request.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// First backoff after a server or transport error; doubles each time.
    pub base_delay: Duration,
    /// Longest single wait for a rate limit; a later reset is reported rather than waited for.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_secs(1),
            max_wait: Duration::from_secs(90),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
    /// GitHub's account type: `User`, `Bot` (a GitHub App, e.g. `github-actions[bot]` for a
    /// workflow's `GITHUB_TOKEN`) or `Organization`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl User {
    /// A GitHub App's bot account. Only an app's installation token can write as one, so no
    /// user can pose as it (a user's login cannot contain `[bot]` either).
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot")
    }

    /// The author as the sticky-comment rules see it.
    pub fn author(&self) -> Author {
        Author {
            login: self.login.clone(),
            bot: self.is_bot(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub node_id: String,
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
    #[serde(default)]
    pub user: Option<User>,
    /// RFC 3339, e.g. `2024-05-06T07:08:09Z`.
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BranchRef {
    pub sha: String,
    #[serde(rename = "ref")]
    pub ref_name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub name: String,
}

/// What a user may do in the repository, as `GET /collaborators/{username}/permission` reports
/// it. `permission` is GitHub's legacy base role (`admin`, `write`, `read` or `none`; `maintain`
/// reported as `write`, `triage` as `read`); `role_name` names the role itself, custom roles too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Permission {
    pub permission: String,
    #[serde(default)]
    pub role_name: Option<String>,
}

impl Permission {
    /// No access: what a user who is not a collaborator (or does not exist) has.
    pub fn none() -> Permission {
        Permission {
            permission: "none".to_owned(),
            role_name: None,
        }
    }

    /// Push access or more: `admin`, `write`, or the `maintain` role (which GitHub already
    /// reports as `write`; checked by name too so that no reporting change can lock it out).
    pub fn can_write(&self) -> bool {
        matches!(self.permission.as_str(), "admin" | "write")
            || self.role_name.as_deref() == Some("maintain")
    }
}

/// A pull request as the single-PR endpoints and the list endpoints both describe it. The lists
/// answer GitHub's shorter "simple" shape, which still carries every field read here.
#[derive(Debug, Clone, Deserialize)]
pub struct Pull {
    pub number: u64,
    /// `open` or `closed`; a merged pull request is `closed` with `merged_at` set.
    pub state: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
    /// `None` when the author's account was deleted.
    #[serde(default)]
    pub user: Option<User>,
    pub head: BranchRef,
    pub base: BranchRef,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub merged_at: Option<String>,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Users asked for a review who have not given one yet; GitHub drops a user from this list
    /// when their review arrives.
    #[serde(default)]
    pub requested_reviewers: Vec<User>,
}

impl Pull {
    pub fn author(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.login.as_str())
    }

    pub fn is_open(&self) -> bool {
        self.state == "open"
    }
}

/// What the list endpoints return; the same type as [`Pull`], named for the call sites that
/// read a list.
pub type PullSummary = Pull;

/// A pull request to open. `head` is a branch of this repository.
#[derive(Debug, Clone, Serialize)]
pub struct NewPull {
    pub title: String,
    pub head: String,
    pub base: String,
    pub body: String,
    pub draft: bool,
}

/// The part of a review that says who gave it.
#[derive(Debug, Clone, Deserialize)]
struct Review {
    #[serde(default)]
    user: Option<Account>,
}

#[derive(Debug, Clone, Deserialize)]
struct Account {
    login: String,
    #[serde(default, rename = "type")]
    kind: String,
}

/// A client for one repository.
pub struct GitHub {
    rest: Octocrab,
    graphql: Octocrab,
    graphql_path: String,
    owner: String,
    repo: String,
    retry: RetryPolicy,
}

struct RawResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

/// Whether a request whose response was lost (a 5xx or a broken connection, after which GitHub
/// may well have acted) can simply be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// Sending it twice leaves what sending it once does: reads, PATCH and DELETE, and the POSTs
    /// that add to a set (labels, assignees, requested reviewers, a reaction, minimizing a
    /// comment). A DELETE answered 404 after a lost response had taken effect.
    Safe,
    /// A second copy would create a second thing (a comment, a pull request): the caller looks
    /// for the first one before sending again.
    LookFirst,
}

enum Failure {
    Final(ApiError),
    /// The response was lost; the request may have taken effect.
    MaybeDone(ApiError),
}

/// How much earlier than our own clock a comment we created may be stamped by GitHub's.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

impl GitHub {
    /// `api_url` and `graphql_url` come from the runner (`GITHUB_API_URL`, `GITHUB_GRAPHQL_URL`),
    /// so GitHub Enterprise Server and loopback test servers work, `http://` included.
    pub fn new(
        api_url: &str,
        graphql_url: &str,
        repository: &str,
        token: &SecretString,
        retry: RetryPolicy,
    ) -> anyhow::Result<GitHub> {
        let (owner, repo) = repository
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("repository '{repository}' is not owner/name"))?;
        let graphql_uri: http::Uri = graphql_url
            .parse()
            .map_err(|e| anyhow::anyhow!("GITHUB_GRAPHQL_URL '{graphql_url}' is not a URL: {e}"))?;
        // octocrab prefixes every request path with its base URI's path; GraphQL lives outside
        // the REST prefix on Enterprise Server (`/api/graphql` vs `/api/v3`), so it gets its own
        // client rooted at the host.
        let graphql_origin = format!(
            "{}://{}",
            graphql_uri.scheme_str().unwrap_or("https"),
            graphql_uri
                .authority()
                .map(|a| a.as_str())
                .unwrap_or("api.github.com")
        );
        Ok(GitHub {
            rest: client(api_url, token)?,
            graphql: client(&graphql_origin, token)?,
            graphql_path: graphql_uri.path().to_string(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            retry,
        })
    }

    fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}/{}{rest}", self.owner, self.repo)
    }

    /// The login of the user the token acts for (`GET /user`): a personal access token's owner.
    /// `None` for tokens that are no user's: GitHub answers an installation token (a workflow's
    /// `GITHUB_TOKEN`, a GitHub App's token) with 403 "Resource not accessible by integration";
    /// what such a token writes is authored by the app's bot account.
    pub async fn authenticated_login(&self) -> Result<Option<String>, ApiError> {
        let path = "/user";
        match self.send(&self.rest, Method::GET, path, None).await {
            Ok(answer) => parse::<User>(Method::GET, path, &answer.body).map(|u| Some(u.login)),
            Err(e) if e.is_forbidden() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn pull(&self, number: u64) -> Result<Pull, ApiError> {
        let path = self.repo_path(&format!("/pulls/{number}"));
        let answer = self.send(&self.rest, Method::GET, &path, None).await?;
        parse(Method::GET, &path, &answer.body)
    }

    /// Every comment on an issue or PR, following `Link: rel="next"` pages.
    pub async fn comments(&self, issue: u64) -> Result<Vec<Comment>, ApiError> {
        self.all_pages(self.repo_path(&format!("/issues/{issue}/comments?per_page=100")))
            .await
    }

    /// The pull requests GitHub associates with a commit: the merged one that introduced it, or
    /// open ones whose branch contains it.
    pub async fn pulls_for_commit(&self, sha: &str) -> Result<Vec<PullSummary>, ApiError> {
        self.all_pages(self.repo_path(&format!("/commits/{sha}/pulls?per_page=100")))
            .await
    }

    /// The newest pull request from `head_branch` (a branch of this repository) into `base`, in
    /// any state; an open one wins over newer closed ones, so a re-run updates what reviewers see.
    pub async fn find_pull_by_head(
        &self,
        head_branch: &str,
        base: &str,
    ) -> Result<Option<Pull>, ApiError> {
        let query = pulls_by_head_query(&self.owner, head_branch, base);
        let pulls: Vec<Pull> = self
            .all_pages(self.repo_path(&format!("/pulls?{query}")))
            .await?;
        Ok(newest_open_first(pulls))
    }

    /// Opens a pull request. When the response is lost, an open pull request from `new.head`
    /// into `new.base` is taken for it: GitHub allows only one, so it is the one just opened (or
    /// a concurrent run's, equally good).
    pub async fn create_pull(&self, new: &NewPull) -> Result<Pull, ApiError> {
        let path = self.repo_path("/pulls");
        self.create(&path, &json!(new), "pull request", async || {
            Ok(self
                .find_pull_by_head(&new.head, &new.base)
                .await?
                .filter(Pull::is_open))
        })
        .await
    }

    pub async fn update_pull(
        &self,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<Pull, ApiError> {
        let path = self.repo_path(&format!("/pulls/{number}"));
        let answer = self
            .send(
                &self.rest,
                Method::PATCH,
                &path,
                Some(&json!({ "title": title, "body": body })),
            )
            .await?;
        parse(Method::PATCH, &path, &answer.body)
    }

    /// Adds to the labels already there; GitHub creates a label the repository does not have yet.
    pub async fn add_labels(&self, issue: u64, labels: &[String]) -> Result<(), ApiError> {
        self.add_to_set(&format!("/issues/{issue}/labels"), "labels", labels)
            .await
    }

    /// GitHub silently skips logins that cannot be assigned (no push access), so success does
    /// not mean every login was assigned.
    pub async fn add_assignees(&self, issue: u64, logins: &[String]) -> Result<(), ApiError> {
        self.add_to_set(&format!("/issues/{issue}/assignees"), "assignees", logins)
            .await
    }

    /// All or nothing: GitHub answers 422 ([`ApiError::is_unprocessable`]) and requests no one
    /// when any login is the pull request's author or not a collaborator.
    pub async fn request_reviewers(&self, pull: u64, logins: &[String]) -> Result<(), ApiError> {
        self.add_to_set(
            &format!("/pulls/{pull}/requested_reviewers"),
            "reviewers",
            logins,
        )
        .await
    }

    /// Everyone who reviewed the pull request, in the order of their first review, then everyone
    /// still asked to; each login once. Apps are left out: GitHub cannot request a review from
    /// one, so passing them on would fail the whole request.
    pub async fn reviewers_of(&self, pull: u64) -> Result<Vec<String>, ApiError> {
        let reviews: Vec<Review> = self
            .all_pages(self.repo_path(&format!("/pulls/{pull}/reviews?per_page=100")))
            .await?;
        let requested = self.pull(pull).await?.requested_reviewers;
        let reviewed = reviews
            .into_iter()
            .filter_map(|r| r.user)
            .filter(|a| a.kind != "Bot" && !a.login.ends_with("[bot]"))
            .map(|a| a.login);
        Ok(distinct_logins(
            reviewed.chain(requested.into_iter().map(|u| u.login)),
        ))
    }

    /// POSTs `{key: values}` to a repository endpoint that adds to a set (labels, assignees,
    /// requested reviewers). GitHub refuses an empty list with 422; nothing to add is not a
    /// failure, so nothing is sent.
    async fn add_to_set(&self, rest: &str, key: &str, values: &[String]) -> Result<(), ApiError> {
        if values.is_empty() {
            return Ok(());
        }
        let path = self.repo_path(rest);
        self.send(
            &self.rest,
            Method::POST,
            &path,
            Some(&json!({ key: values })),
        )
        .await
        .map(|_| ())
    }

    /// Every item of a list endpoint, following `Link: rel="next"` pages.
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        first: String,
    ) -> Result<Vec<T>, ApiError> {
        // 100 pages of 100: far beyond any PR's comments or reviews; a bound keeps a server
        // that always links a next page from looping forever.
        const MAX_PAGES: usize = 100;
        let mut url = first;
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self.send(&self.rest, Method::GET, &url, None).await?;
            let page: Vec<T> = parse(Method::GET, &url, &answer.body)?;
            all.extend(page);
            match next_link(&answer.headers) {
                Some(next) => url = next,
                None => return Ok(all),
            }
        }
        Ok(all)
    }

    /// Posts a comment. When the response is lost, the comment is looked for before posting
    /// again: one with this body, by us, created since the first attempt.
    pub async fn create_comment(&self, issue: u64, body: &str) -> Result<Comment, ApiError> {
        let path = self.repo_path(&format!("/issues/{issue}/comments"));
        let since = SystemTime::now() - CLOCK_SKEW;
        self.create(&path, &json!({ "body": body }), "comment", async || {
            let comments = self.comments(issue).await?;
            let me = self.authenticated_login().await?;
            Ok(lost_comment(comments, body, since, me.as_deref()))
        })
        .await
    }

    /// One issue or pull request comment, e.g. the one whose ChatOps command triggered a run.
    pub async fn comment(&self, id: u64) -> Result<Comment, ApiError> {
        let path = self.repo_path(&format!("/issues/comments/{id}"));
        let answer = self.send(&self.rest, Method::GET, &path, None).await?;
        parse(Method::GET, &path, &answer.body)
    }

    /// Reacts to an issue or pull request comment; `content` is one of GitHub's reaction names
    /// (`+1`, `-1`, `laugh`, `confused`, `heart`, `hooray`, `rocket`, `eyes`), any other is
    /// refused with 422. Reacting again with the same content is a success that adds nothing.
    pub async fn add_reaction(&self, comment_id: u64, content: &str) -> Result<(), ApiError> {
        let path = self.repo_path(&format!("/issues/comments/{comment_id}/reactions"));
        self.send(
            &self.rest,
            Method::POST,
            &path,
            Some(&json!({ "content": content })),
        )
        .await
        .map(|_| ())
    }

    /// What `login` may do in the repository. GitHub answers 404 for a user who is not a
    /// collaborator (or does not exist), and for a repository the token cannot see; all of these
    /// read as [`Permission::none`], so a check built on [`Permission::can_write`] fails closed.
    /// `login` is untrusted (it comes from a comment's author) and is percent-encoded as one path
    /// segment.
    pub async fn collaborator_permission(&self, login: &str) -> Result<Permission, ApiError> {
        // An empty segment would address another endpoint; nobody has an empty login.
        if login.is_empty() {
            return Ok(Permission::none());
        }
        let path = self.repo_path(&format!(
            "/collaborators/{}/permission",
            path_segment(login)
        ));
        match self.send(&self.rest, Method::GET, &path, None).await {
            Ok(answer) => parse(Method::GET, &path, &answer.body),
            Err(e) if e.status == Some(404) => Ok(Permission::none()),
            Err(e) => Err(e),
        }
    }

    /// Edits a comment with PATCH, as GitHub documents (octocrab's own helper sends POST).
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<Comment, ApiError> {
        let path = self.repo_path(&format!("/issues/comments/{id}"));
        let answer = self
            .send(
                &self.rest,
                Method::PATCH,
                &path,
                Some(&json!({ "body": body })),
            )
            .await?;
        parse(Method::PATCH, &path, &answer.body)
    }

    pub async fn delete_comment(&self, id: u64) -> Result<(), ApiError> {
        let path = self.repo_path(&format!("/issues/comments/{id}"));
        self.send(&self.rest, Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }

    /// Collapses a comment in the PR timeline as outdated (GraphQL only; REST cannot).
    pub async fn minimize_comment(&self, node_id: &str) -> Result<(), ApiError> {
        let query = "mutation($id: ID!) { minimizeComment(input: {subjectId: $id, classifier: OUTDATED}) { minimizedComment { isMinimized } } }";
        let body = json!({ "query": query, "variables": { "id": node_id } });
        let path = self.graphql_path.clone();
        let answer = self
            .send(&self.graphql, Method::POST, &path, Some(&body))
            .await?;
        let value: Value = parse(Method::POST, &path, &answer.body)?;
        if let Some(errors) = value.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect();
            return Err(ApiError {
                method: Method::POST,
                path,
                status: Some(answer.status.as_u16()),
                detail: messages.join("; "),
                rate_limited: false,
            });
        }
        Ok(())
    }

    async fn send(
        &self,
        client: &Octocrab,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<RawResponse, ApiError> {
        self.send_with(client, method, path, body, Replay::Safe)
            .await
            .map_err(|failure| match failure {
                Failure::Final(e) | Failure::MaybeDone(e) => e,
            })
    }

    /// Creates something with a POST that must not be repeated blindly: after a lost response,
    /// `find` looks for what the lost attempt may have created, and only when it finds nothing
    /// is the POST sent again. `what` names the thing for the log.
    async fn create<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        what: &str,
        find: impl AsyncFn() -> Result<Option<T>, ApiError>,
    ) -> Result<T, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .send_with(
                    &self.rest,
                    Method::POST,
                    path,
                    Some(body),
                    Replay::LookFirst,
                )
                .await;
            let lost = match sent {
                Ok(answer) => return parse(Method::POST, path, &answer.body),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::MaybeDone(e)) => e,
            };
            let backoff = self.retry.base_delay * 2u32.saturating_pow(attempt - 1);
            log_retry(&format!(
                "POST {}: {}; looking for the {what} in {}s before sending it again",
                strip_origin(path),
                lost.detail,
                backoff.as_secs_f32()
            ));
            // Also gives GitHub a moment to list what it created.
            tokio::time::sleep(backoff).await;
            if let Some(found) = find().await? {
                log_retry(&format!(
                    "POST {}: the {what} was created; using it",
                    strip_origin(path)
                ));
                return Ok(found);
            }
            if attempt >= self.retry.attempts {
                return Err(lost);
            }
        }
    }

    async fn send_with(
        &self,
        client: &Octocrab,
        method: Method,
        path: &str,
        body: Option<&Value>,
        replay: Replay,
    ) -> Result<RawResponse, Failure> {
        let error = |status: Option<u16>, detail: String| ApiError {
            method: method.clone(),
            path: strip_origin(path),
            status,
            detail,
            rate_limited: false,
        };
        let rate_limited = |status: StatusCode, detail: String| ApiError {
            rate_limited: true,
            ..error(Some(status.as_u16()), detail)
        };
        let look_first = replay == Replay::LookFirst;
        // An earlier attempt of this request may have taken effect.
        let mut maybe_done = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.attempts;
            let backoff = self.retry.base_delay * 2u32.saturating_pow(attempt - 1);
            let sent = if method == Method::GET {
                client._get(path).await
            } else if method == Method::POST {
                client._post(path, body).await
            } else if method == Method::PATCH {
                client._patch(path, body).await
            } else {
                client._delete(path, None::<&()>).await
            };
            let response = match sent {
                Ok(response) => response,
                Err(e) if look_first => {
                    return Err(Failure::MaybeDone(error(None, transport_message(&e))));
                }
                Err(e) if !last => {
                    maybe_done = true;
                    log_retry(&format!(
                        "{} {}: {}; retrying in {}s",
                        method,
                        strip_origin(path),
                        transport_message(&e),
                        backoff.as_secs_f32()
                    ));
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(e) => return Err(Failure::Final(error(None, transport_message(&e)))),
            };
            let status = response.status();
            let headers = response.headers().clone();
            let text = client.body_to_string(response).await.map_err(|e| {
                // The answer broke off: whatever it said, the request may have been done.
                Failure::MaybeDone(error(Some(status.as_u16()), transport_message(&e)))
            })?;
            if status.is_success() {
                return Ok(RawResponse {
                    status,
                    headers,
                    body: text,
                });
            }
            if maybe_done && method == Method::DELETE && status == StatusCode::NOT_FOUND {
                // The lost attempt deleted it.
                return Ok(RawResponse {
                    status,
                    headers,
                    body: text,
                });
            }
            let message = github_message(&text, status);
            let wait = rate_limit_wait(status, &headers)
                .or_else(|| says_rate_limited(status, &text).then_some(SECONDARY_LIMIT_WAIT));
            if let Some(wait) = wait {
                if wait > self.retry.max_wait {
                    return Err(Failure::Final(rate_limited(
                        status,
                        format!(
                            "rate limited ({message}); the limit resets in {}s, longer than the {}s this run waits",
                            wait.as_secs(),
                            self.retry.max_wait.as_secs()
                        ),
                    )));
                }
                if !last {
                    log_retry(&format!(
                        "{} {}: rate limited; waiting {}s",
                        method,
                        strip_origin(path),
                        wait.as_secs()
                    ));
                    tokio::time::sleep(wait).await;
                    continue;
                }
                // Still limited after the last wait: an error to report, not a refusal that
                // would read as a token without permission.
                return Err(Failure::Final(rate_limited(
                    status,
                    format!("rate limited ({message}); still limited after {attempt} attempts"),
                )));
            } else if status.is_server_error() && look_first {
                return Err(Failure::MaybeDone(error(Some(status.as_u16()), message)));
            } else if status.is_server_error() && !last {
                maybe_done = true;
                log_retry(&format!(
                    "{} {}: {status}; retrying in {}s",
                    method,
                    strip_origin(path),
                    backoff.as_secs_f32()
                ));
                tokio::time::sleep(backoff).await;
                continue;
            }
            return Err(Failure::Final(error(Some(status.as_u16()), message)));
        }
    }
}

/// Where retries and waits are told: the step log (stderr), never stdout, which carries the
/// report and the runner's workflow commands.
fn log_retry(line: &str) {
    eprintln!("{line}");
}

fn client(base: &str, token: &SecretString) -> anyhow::Result<Octocrab> {
    Octocrab::builder()
        .base_uri(base)
        .map_err(|e| anyhow::anyhow!("'{base}' is not a usable API URL: {e}"))?
        .personal_token(token.expose_secret().to_string())
        // Retries are ours: backoff for 5xx and bounded waits for rate limits.
        .add_retry_config(RetryConfig::None)
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(60)))
        .build()
        .map_err(|e| anyhow::anyhow!("creating the GitHub client: {e}"))
}

fn parse<T: serde::de::DeserializeOwned>(
    method: Method,
    path: &str,
    body: &str,
) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|e| ApiError {
        method: method.clone(),
        path: strip_origin(path),
        status: None,
        detail: format!("unexpected response: {e}"),
        rate_limited: false,
    })
}

/// Logs name the path only: pagination URLs carry the host, which adds nothing.
fn strip_origin(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map(|i| rest[i..].to_string())
            .unwrap_or_default(),
        None => url.to_string(),
    }
}

fn transport_message(error: &octocrab::Error) -> String {
    let text = error.to_string();
    if text.is_empty() {
        "transport error".to_string()
    } else {
        text
    }
}

/// GitHub's JSON errors carry `message`; proxies answer HTML. Keep it short either way. A 422's
/// `message` is only "Validation Failed": the cause is in `errors`, so those are appended.
fn github_message(body: &str, status: StatusCode) -> String {
    let value = serde_json::from_str::<Value>(body).ok();
    let message = value
        .as_ref()
        .and_then(|v| v.get("message").and_then(Value::as_str));
    let Some(message) = message else {
        return status.to_string();
    };
    let causes: Vec<String> = value
        .as_ref()
        .and_then(|v| v.get("errors").and_then(Value::as_array))
        .map(|errors| errors.iter().filter_map(validation_cause).collect())
        .unwrap_or_default();
    if causes.is_empty() {
        format!("{status}: {message}")
    } else {
        format!("{status}: {message} ({})", causes.join("; "))
    }
}

/// One entry of a validation error: its own message when it has one (`custom` errors do),
/// otherwise which field of which resource broke which rule, e.g. `PullRequest.head invalid`.
fn validation_cause(error: &Value) -> Option<String> {
    if let Some(text) = error.as_str() {
        return Some(text.to_string());
    }
    let field = |name: &str| error.get(name).and_then(Value::as_str);
    if let Some(message) = field("message") {
        return Some(message.to_string());
    }
    let subject = match (field("resource"), field("field")) {
        (Some(resource), Some(name)) => format!("{resource}.{name}"),
        (Some(resource), None) => resource.to_string(),
        (None, Some(name)) => name.to_string(),
        (None, None) => String::new(),
    };
    match (subject.is_empty(), field("code")) {
        (false, Some(code)) => Some(format!("{subject} {code}")),
        (false, None) => Some(subject),
        (true, Some(code)) => Some(code.to_string()),
        (true, None) => None,
    }
}

/// The query that lists pull requests from `owner:branch` into `base`, newest first. GitHub
/// matches `head` only in the `owner:branch` form; a bare branch name is ignored and every pull
/// request comes back.
fn pulls_by_head_query(owner: &str, head_branch: &str, base: &str) -> String {
    format!(
        "head={}&base={}&state=all&sort=created&direction=desc&per_page=100",
        query_value(&format!("{owner}:{head_branch}")),
        query_value(base)
    )
}

/// Percent-encodes a query value. `/` and `:` stay readable (RFC 3986 allows both in a query);
/// `&`, `+`, `#`, `%`, spaces and non-ASCII, all legal in branch names, are escaped.
fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b':' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Percent-encodes one path segment: everything but letters, digits, `-`, `_` and `~`. `/`, `?`,
/// `#` and `%` cannot leave the segment, and `.` is escaped too, so `..` is no dot-segment.
fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The newest comment with exactly `body`, by us (a bot, or `me`, the token's user), created at
/// or after `since`: what a POST whose response was lost left behind. An older copy of the same
/// body (an earlier run's) is not it.
fn lost_comment(
    comments: Vec<Comment>,
    body: &str,
    since: SystemTime,
    me: Option<&str>,
) -> Option<Comment> {
    let since = chrono::DateTime::<chrono::Utc>::from(since);
    comments.into_iter().rev().find(|c| {
        c.body.as_deref() == Some(body)
            && c.user.as_ref().is_some_and(|u| u.author().is_us(me))
            && c.created_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|created| created >= since)
    })
}

/// The first open pull request of a newest-first list, else the newest.
fn newest_open_first(pulls: Vec<Pull>) -> Option<Pull> {
    let index = pulls.iter().position(Pull::is_open).unwrap_or(0);
    pulls.into_iter().nth(index)
}

/// Logins in first-seen order, each once; GitHub logins are case-insensitive.
fn distinct_logins(logins: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    logins
        .into_iter()
        .filter(|login| seen.insert(login.to_ascii_lowercase()))
        .collect()
}

/// How long to wait for a secondary rate limit that names no time: GitHub says at least a minute.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// A 403 whose message says it is a rate limit. GitHub's secondary limits do not always send
/// `retry-after` or `x-ratelimit-remaining: 0`, but their message always says so.
fn says_rate_limited(status: StatusCode, body: &str) -> bool {
    status == StatusCode::FORBIDDEN
        && serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .is_some_and(|m| m.to_ascii_lowercase().contains("rate limit"))
}

/// How long GitHub asks us to wait, if this response is a rate limit at all.
fn rate_limit_wait(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::FORBIDDEN {
        return None;
    }
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(seconds) = number("retry-after") {
        return Some(Duration::from_secs(seconds.max(1)));
    }
    if number("x-ratelimit-remaining") == Some(0)
        && let Some(reset) = number("x-ratelimit-reset")
    {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    (status == StatusCode::TOO_MANY_REQUESTS).then_some(Duration::from_secs(60))
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_comes_from_the_link_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::LINK,
            "<https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=2>; rel=\"next\", <https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=3>; rel=\"last\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=2")
        );
        headers.insert(
            http::header::LINK,
            "<https://x/?page=1>; rel=\"prev\"".parse().unwrap(),
        );
        assert_eq!(next_link(&headers), None);
    }

    #[test]
    fn rate_limits_are_told_apart_from_plain_forbidden() {
        let mut headers = HeaderMap::new();
        assert_eq!(rate_limit_wait(StatusCode::FORBIDDEN, &headers), None);
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &headers),
            Some(Duration::from_secs(7))
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        let soon = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 5;
        headers.insert("x-ratelimit-reset", soon.to_string().parse().unwrap());
        let wait = rate_limit_wait(StatusCode::FORBIDDEN, &headers).unwrap();
        assert!(
            wait >= Duration::from_secs(4) && wait <= Duration::from_secs(7),
            "{wait:?}"
        );
        assert_eq!(rate_limit_wait(StatusCode::BAD_GATEWAY, &headers), None);
    }

    fn api_error(status: u16, rate_limited: bool) -> ApiError {
        ApiError {
            method: Method::POST,
            path: "/repos/a/b/issues/7/comments".to_owned(),
            status: Some(status),
            detail: "403 Forbidden: API rate limit exceeded".to_owned(),
            rate_limited,
        }
    }

    #[test]
    fn a_rate_limited_403_is_not_a_forbidden_one() {
        assert!(api_error(403, false).is_forbidden());
        assert!(!api_error(403, false).is_rate_limited());
        let limited = api_error(403, true);
        assert!(
            !limited.is_forbidden(),
            "a rate limit is no read-only token"
        );
        assert!(limited.is_rate_limited());
        assert!(!api_error(429, true).is_forbidden());
        assert!(!api_error(404, false).is_forbidden());
    }

    #[test]
    fn a_secondary_limit_without_headers_is_known_by_its_message() {
        let secondary = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}"#;
        assert!(says_rate_limited(StatusCode::FORBIDDEN, secondary));
        assert!(says_rate_limited(
            StatusCode::FORBIDDEN,
            r#"{"message":"API rate limit exceeded for installation ID 1."}"#
        ));
        assert!(!says_rate_limited(
            StatusCode::FORBIDDEN,
            r#"{"message":"Resource not accessible by integration"}"#
        ));
        assert!(!says_rate_limited(
            StatusCode::FORBIDDEN,
            "<html>rate limit</html>"
        ));
        assert!(!says_rate_limited(StatusCode::NOT_FOUND, secondary));
    }

    #[test]
    fn a_user_knows_whether_it_is_a_bot() {
        let user = |value: Value| serde_json::from_value::<User>(value).unwrap();
        assert!(user(json!({ "login": "github-actions[bot]", "type": "Bot" })).is_bot());
        assert!(user(json!({ "login": "my-app[bot]", "type": "Bot", "id": 9 })).is_bot());
        assert!(!user(json!({ "login": "mallory", "type": "User" })).is_bot());
        assert!(
            !user(json!({ "login": "fake[bot]" })).is_bot(),
            "no type, no bot"
        );
    }

    #[test]
    fn error_messages_prefer_github_s_message() {
        assert_eq!(
            github_message(
                r#"{"message":"Resource not accessible by integration"}"#,
                StatusCode::FORBIDDEN
            ),
            "403 Forbidden: Resource not accessible by integration"
        );
        assert_eq!(
            github_message("<html>Bad Gateway</html>", StatusCode::BAD_GATEWAY),
            "502 Bad Gateway"
        );
        assert_eq!(
            strip_origin("http://127.0.0.1:9/api/v3/repos/a/b?page=2"),
            "/api/v3/repos/a/b?page=2"
        );
    }

    #[test]
    fn validation_errors_name_their_cause() {
        let exists = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:promote/pr-7."}],"documentation_url":"https://docs.github.com/rest/pulls/pulls#create-a-pull-request","status":"422"}"#;
        assert_eq!(
            github_message(exists, StatusCode::UNPROCESSABLE_ENTITY),
            "422 Unprocessable Entity: Validation Failed (A pull request already exists for acme:promote/pr-7.)"
        );
        let fields = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"head","code":"invalid"},{"resource":"PullRequest","field":"base","code":"invalid"},"odd"]}"#;
        assert_eq!(
            github_message(fields, StatusCode::UNPROCESSABLE_ENTITY),
            "422 Unprocessable Entity: Validation Failed (PullRequest.head invalid; PullRequest.base invalid; odd)"
        );
        assert_eq!(
            github_message(
                r#"{"message":"Review cannot be requested from pull request author."}"#,
                StatusCode::UNPROCESSABLE_ENTITY
            ),
            "422 Unprocessable Entity: Review cannot be requested from pull request author."
        );
    }

    #[test]
    fn the_head_filter_is_owner_qualified_and_escaped() {
        assert_eq!(
            pulls_by_head_query("acme", "promote/pr-7", "master"),
            "head=acme:promote/pr-7&base=master&state=all&sort=created&direction=desc&per_page=100"
        );
        assert_eq!(
            pulls_by_head_query("acme", "fix&x=1 +#ü%", "release/1.x"),
            "head=acme:fix%26x%3D1%20%2B%23%C3%BC%25&base=release/1.x&state=all&sort=created&direction=desc&per_page=100"
        );
    }

    fn pull(number: u64, state: &str) -> Pull {
        serde_json::from_value(json!({
            "number": number,
            "state": state,
            "html_url": format!("https://github.com/acme/m/pull/{number}"),
            "head": { "sha": "a", "ref": "promote/pr-1" },
            "base": { "sha": "b", "ref": "master" },
        }))
        .unwrap()
    }

    #[test]
    fn an_open_pull_wins_over_newer_closed_ones() {
        let found = |pulls: Vec<Pull>| newest_open_first(pulls).map(|p| p.number);
        assert_eq!(
            found(vec![pull(9, "closed"), pull(5, "open"), pull(3, "open")]),
            Some(5)
        );
        assert_eq!(found(vec![pull(9, "closed"), pull(5, "closed")]), Some(9));
        assert_eq!(found(Vec::new()), None);
    }

    #[test]
    fn a_pull_without_the_newer_fields_still_reads() {
        let minimal = pull(4, "open");
        assert_eq!(minimal.title, "");
        assert_eq!(minimal.author(), None);
        assert!(minimal.labels.is_empty() && !minimal.draft && minimal.merged_at.is_none());

        let full: Pull = serde_json::from_value(json!({
            "number": 4, "state": "closed", "title": "Scale web", "body": null,
            "html_url": "https://github.com/acme/m/pull/4",
            "user": { "login": "alice", "id": 1 },
            "head": { "sha": "a", "ref": "feature", "label": "acme:feature" },
            "base": { "sha": "b", "ref": "develop" },
            "merge_commit_sha": "c", "merged_at": "2024-05-06T07:08:09Z", "draft": false,
            "labels": [{ "id": 1, "name": "staging", "color": "ededed" }],
            "requested_reviewers": [{ "login": "bob" }],
        }))
        .unwrap();
        assert_eq!(full.author(), Some("alice"));
        assert_eq!(full.merged_at.as_deref(), Some("2024-05-06T07:08:09Z"));
        assert_eq!(full.labels[0].name, "staging");
        assert_eq!(full.requested_reviewers[0].login, "bob");
        assert!(!full.is_open());
    }

    #[test]
    fn a_login_is_one_escaped_path_segment() {
        assert_eq!(path_segment("octo-cat_1"), "octo-cat_1");
        assert_eq!(path_segment("renovate[bot]"), "renovate%5Bbot%5D");
        assert_eq!(
            path_segment("../a b/c?d#e%"),
            "%2E%2E%2Fa%20b%2Fc%3Fd%23e%25"
        );
        assert_eq!(path_segment("ü"), "%C3%BC");
    }

    #[test]
    fn write_access_is_admin_write_or_maintain() {
        let permission = |permission: &str, role: Option<&str>| Permission {
            permission: permission.to_owned(),
            role_name: role.map(str::to_owned),
        };
        assert!(permission("admin", Some("admin")).can_write());
        assert!(permission("write", Some("write")).can_write());
        assert!(permission("write", Some("maintain")).can_write());
        assert!(permission("read", Some("maintain")).can_write());
        assert!(permission("write", None).can_write());
        assert!(!permission("read", Some("triage")).can_write());
        assert!(!permission("read", Some("read")).can_write());
        assert!(!permission("none", None).can_write());
        assert!(!Permission::none().can_write());
        let read: Permission = serde_json::from_value(json!({
            "permission": "read", "role_name": "triage", "user": { "login": "bob" }
        }))
        .unwrap();
        assert_eq!(read, permission("read", Some("triage")));
        let legacy: Permission = serde_json::from_value(json!({ "permission": "admin" })).unwrap();
        assert_eq!(legacy.role_name, None);
    }

    fn comment(id: u64, login: &str, kind: &str, body: &str, created_at: &str) -> Comment {
        serde_json::from_value(json!({
            "id": id, "node_id": format!("IC_{id}"), "body": body,
            "html_url": format!("https://github.com/acme/m/pull/7#issuecomment-{id}"),
            "user": { "login": login, "type": kind }, "created_at": created_at,
        }))
        .unwrap()
    }

    #[test]
    fn a_lost_comment_is_ours_new_and_word_for_word() {
        let at =
            |t: &str| SystemTime::from(chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc());
        let since = at("2026-05-06T07:08:09Z");
        let comments = vec![
            comment(
                1,
                "github-actions[bot]",
                "Bot",
                "report",
                "2026-05-06T07:00:00Z",
            ),
            comment(2, "mallory", "User", "report", "2026-05-06T07:08:10Z"),
            comment(
                3,
                "github-actions[bot]",
                "Bot",
                "report!",
                "2026-05-06T07:08:10Z",
            ),
            comment(4, "ci-user", "User", "report", "2026-05-06T07:08:09Z"),
        ];
        let found = |me| lost_comment(comments.clone(), "report", since, me).map(|c| c.id);
        assert_eq!(found(None), None, "an earlier run's copy is not it");
        assert_eq!(found(Some("CI-user")), Some(4));
        let mut newer = comments.clone();
        newer.push(comment(
            5,
            "github-actions[bot]",
            "Bot",
            "report",
            "2026-05-06T07:08:11Z",
        ));
        assert_eq!(
            lost_comment(newer, "report", since, None).map(|c| c.id),
            Some(5)
        );
    }

    #[test]
    fn logins_are_kept_once_in_first_seen_order() {
        let logins = ["bob", "alice", "Bob", "carol", "alice"].map(String::from);
        assert_eq!(distinct_logins(logins), ["bob", "alice", "carol"]);
    }
}
