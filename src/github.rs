//! The only module that talks to GitHub's APIs: a small typed client over octocrab with bounded
//! retries for server errors, transport errors and rate limits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

/// A failed API call, phrased for a workflow log. Never carries the token or a request body.
#[derive(Debug, thiserror::Error)]
#[error("GitHub API {method} {path} failed: {detail}")]
pub struct ApiError {
    pub method: &'static str,
    pub path: String,
    pub status: Option<u16>,
    pub detail: String,
}

impl ApiError {
    /// 403 that is not a rate limit: the token may not do this (a fork PR's read-only token).
    pub fn is_forbidden(&self) -> bool {
        self.status == Some(403)
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
}

#[derive(Debug, Clone, Deserialize)]
pub struct BranchRef {
    pub sha: String,
    #[serde(rename = "ref")]
    pub ref_name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Pull {
    pub number: u64,
    pub state: String,
    pub html_url: String,
    pub head: BranchRef,
    pub base: BranchRef,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
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

#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

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

    pub async fn pull(&self, number: u64) -> Result<Pull, ApiError> {
        let path = self.repo_path(&format!("/pulls/{number}"));
        let answer = self.send(&self.rest, Method::Get, &path, None).await?;
        parse(Method::Get, &path, &answer.body)
    }

    /// Every comment on an issue or PR, following `Link: rel="next"` pages.
    pub async fn comments(&self, issue: u64) -> Result<Vec<Comment>, ApiError> {
        const MAX_PAGES: usize = 100;
        let mut url = self.repo_path(&format!("/issues/{issue}/comments?per_page=100"));
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self.send(&self.rest, Method::Get, &url, None).await?;
            let page: Vec<Comment> = parse(Method::Get, &url, &answer.body)?;
            all.extend(page);
            match next_link(&answer.headers) {
                Some(next) => url = next,
                None => return Ok(all),
            }
        }
        Ok(all)
    }

    pub async fn create_comment(&self, issue: u64, body: &str) -> Result<Comment, ApiError> {
        let path = self.repo_path(&format!("/issues/{issue}/comments"));
        let answer = self
            .send(
                &self.rest,
                Method::Post,
                &path,
                Some(&json!({ "body": body })),
            )
            .await?;
        parse(Method::Post, &path, &answer.body)
    }

    /// Edits a comment with PATCH, as GitHub documents (octocrab's own helper sends POST).
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<Comment, ApiError> {
        let path = self.repo_path(&format!("/issues/comments/{id}"));
        let answer = self
            .send(
                &self.rest,
                Method::Patch,
                &path,
                Some(&json!({ "body": body })),
            )
            .await?;
        parse(Method::Patch, &path, &answer.body)
    }

    pub async fn delete_comment(&self, id: u64) -> Result<(), ApiError> {
        let path = self.repo_path(&format!("/issues/comments/{id}"));
        self.send(&self.rest, Method::Delete, &path, None)
            .await
            .map(|_| ())
    }

    /// Collapses a comment in the PR timeline as outdated (GraphQL only; REST cannot).
    pub async fn minimize_comment(&self, node_id: &str) -> Result<(), ApiError> {
        let query = "mutation($id: ID!) { minimizeComment(input: {subjectId: $id, classifier: OUTDATED}) { minimizedComment { isMinimized } } }";
        let body = json!({ "query": query, "variables": { "id": node_id } });
        let path = self.graphql_path.clone();
        let answer = self
            .send(&self.graphql, Method::Post, &path, Some(&body))
            .await?;
        let value: Value = parse(Method::Post, &path, &answer.body)?;
        if let Some(errors) = value.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect();
            return Err(ApiError {
                method: "POST",
                path,
                status: Some(answer.status.as_u16()),
                detail: messages.join("; "),
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
    ) -> Result<Answer, ApiError> {
        let error = |status: Option<u16>, detail: String| ApiError {
            method: method.name(),
            path: strip_origin(path),
            status,
            detail,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.attempts;
            let backoff = self.retry.base_delay * 2u32.saturating_pow(attempt - 1);
            let sent = match method {
                Method::Get => client._get(path).await,
                Method::Post => client._post(path, body).await,
                Method::Patch => client._patch(path, body).await,
                Method::Delete => client._delete(path, None::<&()>).await,
            };
            let response = match sent {
                Ok(response) => response,
                Err(e) if !last => {
                    eprintln!(
                        "{} {}: {}; retrying in {}s",
                        method.name(),
                        strip_origin(path),
                        transport_message(&e),
                        backoff.as_secs_f32()
                    );
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(e) => return Err(error(None, transport_message(&e))),
            };
            let status = response.status();
            let headers = response.headers().clone();
            let text = client
                .body_to_string(response)
                .await
                .map_err(|e| error(Some(status.as_u16()), transport_message(&e)))?;
            if status.is_success() {
                return Ok(Answer {
                    status,
                    headers,
                    body: text,
                });
            }
            let message = github_message(&text, status);
            if let Some(wait) = rate_limit_wait(status, &headers) {
                if wait > self.retry.max_wait {
                    return Err(error(
                        Some(status.as_u16()),
                        format!(
                            "rate limited ({message}); the limit resets in {}s, longer than the {}s this run waits",
                            wait.as_secs(),
                            self.retry.max_wait.as_secs()
                        ),
                    ));
                }
                if !last {
                    eprintln!(
                        "{} {}: rate limited; waiting {}s",
                        method.name(),
                        strip_origin(path),
                        wait.as_secs()
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
            } else if status.is_server_error() && !last {
                eprintln!(
                    "{} {}: {status}; retrying in {}s",
                    method.name(),
                    strip_origin(path),
                    backoff.as_secs_f32()
                );
                tokio::time::sleep(backoff).await;
                continue;
            }
            return Err(error(Some(status.as_u16()), message));
        }
    }
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
        method: method.name(),
        path: strip_origin(path),
        status: None,
        detail: format!("unexpected response: {e}"),
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

/// GitHub's JSON errors carry `message`; proxies answer HTML. Keep it short either way.
fn github_message(body: &str, status: StatusCode) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string));
    match message {
        Some(m) => format!("{status}: {m}"),
        None => status.to_string(),
    }
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
}
