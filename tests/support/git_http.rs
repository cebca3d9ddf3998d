//! Git smart-HTTP for the fake GitHub: every request is handed to the real `git http-backend` CGI,
//! so fetches (shallow ones too) and pushes behave exactly as git itself serves them.

use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;

use axum::body::{Body, HttpBody};
use axum::response::Response;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// A request path that names a repository and a git endpoint under it.
#[derive(Debug, PartialEq)]
pub struct GitRoute {
    /// `owner/repo`, without `.git`.
    pub full_name: String,
    /// What follows the repository: `info/refs`, `git-upload-pack`, `git-receive-pack`, ...
    pub endpoint: String,
}

impl GitRoute {
    /// `/{owner}/{repo}.git/...`, and the `.git`-less form GitHub also answers.
    pub fn parse(path: &str) -> Option<GitRoute> {
        let mut parts = path.trim_start_matches('/').splitn(3, '/');
        let owner = parts.next().filter(|s| !s.is_empty())?;
        let repo = parts.next().filter(|s| !s.is_empty())?;
        let endpoint = parts.next()?;
        let first = endpoint.split('/').next().unwrap_or_default();
        let git_endpoint = matches!(
            first,
            "info" | "git-upload-pack" | "git-receive-pack" | "HEAD" | "objects"
        );
        if !git_endpoint {
            return None;
        }
        let repo = repo.strip_suffix(".git").unwrap_or(repo);
        Some(GitRoute {
            full_name: format!("{owner}/{repo}"),
            endpoint: endpoint.to_owned(),
        })
    }

    /// Whether this request is part of a push, which a read-only token may not make.
    pub fn is_push(&self, query: &str) -> bool {
        self.endpoint == "git-receive-pack" || query.contains("service=git-receive-pack")
    }
}

/// The parts of an HTTP request that the CGI environment carries.
pub struct CgiRequest<'a> {
    pub method: &'a str,
    pub bare_repo: &'a Path,
    pub endpoint: &'a str,
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub remote_user: &'a str,
}

/// Run `git http-backend` for one request: the body is piped into it as it arrives, its CGI
/// headers become the HTTP status and headers. Returns the response and the bytes read in.
pub async fn serve(request: CgiRequest<'_>, body: Body) -> (Response, usize) {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // Serving the repository's parent as the project root keeps the repository where the test
    // made it; no copies or symlinks to clean up.
    let (Some(root), Some(dir_name)) = (
        request.bare_repo.parent(),
        request.bare_repo.file_name().and_then(|n| n.to_str()),
    ) else {
        return (
            plain(500, "the served repository has no parent directory"),
            0,
        );
    };

    let mut command = Command::new("git");
    command
        .arg("http-backend")
        // A clean environment: a GIT_DIR leaking in from the test harness would redirect git.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{dir_name}/{}", request.endpoint))
        .env("QUERY_STRING", request.query)
        .env("REQUEST_METHOD", request.method)
        .env("REMOTE_USER", request.remote_user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(v) = header("content-type") {
        command.env("CONTENT_TYPE", v);
    }
    if let Some(v) = header("content-length") {
        command.env("CONTENT_LENGTH", v);
    }
    // Clients gzip large negotiation requests; http-backend inflates them itself.
    if let Some(v) = header("content-encoding") {
        command.env("HTTP_CONTENT_ENCODING", v);
    }
    // Protocol v2 is negotiated through this header; http-backend reads the HTTP_ form and
    // passes it on to upload-pack as GIT_PROTOCOL.
    if let Some(v) = header("git-protocol") {
        command.env("GIT_PROTOCOL", &v).env("HTTP_GIT_PROTOCOL", v);
    }

    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            return (
                plain(500, &format!("cannot run git http-backend: {err}")),
                0,
            );
        }
    };
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let pump = tokio::spawn(async move {
        let mut body = body;
        let mut total = 0usize;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data() {
                total += data.len();
                if stdin.write_all(&data).await.is_err() {
                    break;
                }
            }
        }
        // Dropping stdin is the end-of-request the CGI waits for.
        drop(stdin);
        total
    });

    // The output is collected whole: the served repositories are test fixtures, and a
    // complete buffer lets the CGI headers be parsed without a streaming body type.
    let output = child.wait_with_output().await;
    let received = pump.await.unwrap_or(0);
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            return (
                plain(500, &format!("git http-backend failed: {err}")),
                received,
            );
        }
    };
    if !output.stderr.is_empty() {
        eprintln!(
            "fake GitHub: git http-backend {} {}: {}",
            request.method,
            request.endpoint,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    (cgi_response(&output.stdout), received)
}

/// Turn CGI output (headers, a blank line, the body) into an HTTP response.
fn cgi_response(stdout: &[u8]) -> Response {
    let crlf = find(stdout, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = find(stdout, b"\n\n").map(|i| (i, i + 2));
    let Some((head_end, body_start)) = [crlf, lf].into_iter().flatten().min() else {
        return plain(502, "git http-backend sent no CGI headers");
    };
    let head = String::from_utf8_lossy(&stdout[..head_end]);
    let mut response = Response::builder();
    let mut status = 200u16;
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            status = value
                .split_whitespace()
                .next()
                .and_then(|code| code.parse().ok())
                .unwrap_or(500);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .status(status)
        .body(Body::from(stdout[body_start..].to_vec()))
        .unwrap_or_else(|_| plain(502, "git http-backend sent an unusable header"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn plain(status: u16, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from(format!("{text}\n")))
        .expect("a static response is valid")
}
