//! The fake GitHub of `tests/support`, checked the way the product will use it: real `git` over
//! smart HTTP, real `curl` against REST and GraphQL, and GitHub's own REST description.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::LazyLock;

use gitops_promote::github::{GitHub, NewPull, Permission, RetryPolicy};
use serde_json::{Value, json};
use support::openapi::rest_description;
use support::{BOT_LOGIN, FakeGitHub, FakePull};
use tempfile::TempDir;

const TOKEN: &str = "ghs_fakeInstallationToken0123456789";
const REPO: &str = "acme/manifests";

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A bare repository with `master`, and a pull request #7 with its head and test-merge refs.
struct ServedRepo {
    dir: TempDir,
    bare: PathBuf,
    master: String,
    pr_head: String,
    pr_merge: String,
}

impl ServedRepo {
    fn new() -> ServedRepo {
        let dir = tempfile::tempdir().expect("temp dir");
        let work = dir.path().join("work");
        git(dir.path(), &["init", "-q", "-b", "master", "work"]);
        std::fs::write(work.join("README.md"), "# deployments\n").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "initial"]);
        std::fs::write(
            work.join("README.md"),
            "# deployments\n\nproduction follows master\n",
        )
        .unwrap();
        git(&work, &["commit", "-q", "-am", "explain branches"]);
        let master = rev_parse(&work, "HEAD");

        git(&work, &["checkout", "-q", "-b", "feature"]);
        std::fs::write(work.join("replicas.txt"), "3\n").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "scale web to 3"]);
        let pr_head = rev_parse(&work, "HEAD");

        git(&work, &["checkout", "-q", "--detach", "master"]);
        git(
            &work,
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge pull request #7",
                "feature",
            ],
        );
        let pr_merge = rev_parse(&work, "HEAD");

        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "master", "manifests.git"],
        );
        let bare = dir.path().join("manifests.git");
        git(
            &work,
            &[
                "push",
                "-q",
                bare.to_str().unwrap(),
                "master:refs/heads/master",
                &format!("{pr_head}:refs/pull/7/head"),
                &format!("{pr_merge}:refs/pull/7/merge"),
            ],
        );
        ServedRepo {
            dir,
            bare,
            master,
            pr_head,
            pr_merge,
        }
    }

    fn pull(&self) -> FakePull {
        FakePull {
            number: 7,
            head_sha: self.pr_head.clone(),
            head_ref: "feature".to_owned(),
            base_ref: "master".to_owned(),
            base_sha: self.master.clone(),
            merge_commit_sha: Some(self.pr_merge.clone()),
            user_login: "alice".to_owned(),
            ..FakePull::default()
        }
    }
}

/// Run git with no credential helper, prompt or system config, so only the URL's credentials
/// count and a failure fails instead of waiting for a password.
fn git_output(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(["-c", "credential.helper=", "-c", "protocol.version=2"])
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("run git")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rev_parse(dir: &Path, rev: &str) -> String {
    git(dir, &["rev-parse", rev]).trim().to_owned()
}

fn repo_url(fake: &FakeGitHub, password: &str) -> String {
    let server = fake.server_url();
    let host = server.strip_prefix("http://").unwrap();
    format!("http://x-access-token:{password}@{host}/{REPO}.git")
}

struct Http {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Http {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
}

/// One request with curl; `authorization` is the whole header value.
fn curl(method: &str, url: &str, authorization: Option<&str>, body: Option<&Value>) -> Http {
    curl_with(method, url, authorization, body, &[])
}

fn curl_with(
    method: &str,
    url: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
    headers: &[&str],
) -> Http {
    let mut command = Command::new("curl");
    command.args(["-sS", "-i", "-X", method, url]);
    for header in headers {
        command.args(["-H", header]);
    }
    if let Some(auth) = authorization {
        command.args(["-H", &format!("Authorization: {auth}")]);
    }
    if let Some(body) = body {
        command.args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body.to_string(),
        ]);
    }
    let out = command.output().expect("run curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Http {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn bearer() -> Option<&'static str> {
    static BEARER: LazyLock<String> = LazyLock::new(|| format!("Bearer {TOKEN}"));
    Some(BEARER.as_str())
}

/// The `<url>; rel="name"` targets of a Link header.
fn link(header: &str, rel: &str) -> Option<String> {
    header.split(", ").find_map(|part| {
        let (url, relation) = part.split_once("; ")?;
        (relation == format!("rel=\"{rel}\""))
            .then(|| url.trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

// ---------------------------------------------------------------------------------------------
// git smart-HTTP
// ---------------------------------------------------------------------------------------------

#[test]
fn git_clones_shallow_lists_pull_refs_and_pushes_with_the_token() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    let scratch = repo.dir.path();

    git(
        scratch,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &repo_url(&fake, TOKEN),
            "clone",
        ],
    );
    let clone = scratch.join("clone");
    assert_eq!(rev_parse(&clone, "HEAD"), repo.master);
    assert_eq!(
        git(&clone, &["rev-parse", "--is-shallow-repository"]).trim(),
        "true"
    );
    assert_eq!(git(&clone, &["rev-list", "--count", "HEAD"]).trim(), "1");

    // The test-merge ref, shallow, as the action fetches it for a pull_request run.
    git(
        &clone,
        &["fetch", "-q", "--depth", "1", "origin", "refs/pull/7/merge"],
    );
    assert_eq!(rev_parse(&clone, "FETCH_HEAD"), repo.pr_merge);

    let refs = git(scratch, &["ls-remote", &repo_url(&fake, TOKEN)]);
    assert!(
        refs.contains(&format!("{}\trefs/pull/7/head", repo.pr_head)),
        "{refs}"
    );
    assert!(
        refs.contains(&format!("{}\trefs/pull/7/merge", repo.pr_merge)),
        "{refs}"
    );
    assert!(
        refs.contains(&format!("{}\trefs/heads/master", repo.master)),
        "{refs}"
    );

    // A push from the shallow clone, like a promotion branch pushed from a depth-1 checkout.
    std::fs::write(clone.join("promoted.txt"), "yes\n").unwrap();
    git(&clone, &["add", "."]);
    git(&clone, &["commit", "-q", "-m", "promote #7"]);
    let promoted = rev_parse(&clone, "HEAD");
    git(
        &clone,
        &["push", "-q", "origin", "HEAD:refs/heads/promote/pr-7"],
    );
    assert_eq!(rev_parse(&repo.bare, "refs/heads/promote/pr-7"), promoted);

    let requests = fake.requests();
    let pushes: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/acme/manifests.git/git-receive-pack")
        .collect();
    assert_eq!(pushes.len(), 1, "one receive-pack POST");
    assert!(pushes[0].body.starts_with("<binary ") && pushes[0].body != "<binary 0 bytes>");
    assert!(
        pushes[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn git_refuses_a_wrong_or_missing_password_with_basic_challenge() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);

    let out = git_output(repo.dir.path(), &["ls-remote", &repo_url(&fake, "wrong")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Authentication failed"), "{stderr}");

    let info_refs = format!(
        "{}/{REPO}.git/info/refs?service=git-upload-pack",
        fake.server_url()
    );
    let anonymous = curl("GET", &info_refs, None, None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Basic realm=\"GitHub\"")
    );
    let wrong_user = curl("GET", &info_refs, Some(&basic("git", TOKEN)), None);
    assert_eq!(wrong_user.status, 401);
    let right = curl(
        "GET",
        &info_refs,
        Some(&basic("x-access-token", TOKEN)),
        None,
    );
    assert_eq!(right.status, 200);
    assert_eq!(
        right.header("content-type"),
        Some("application/x-git-upload-pack-advertisement")
    );
    assert!(right.body.contains("refs/pull/7/head"), "{}", right.body);

    // The Git-Protocol header reaches upload-pack: it answers with protocol v2 capabilities.
    let v2 = curl_with(
        "GET",
        &info_refs,
        Some(&basic("x-access-token", TOKEN)),
        None,
        &["Git-Protocol: version=2"],
    );
    assert_eq!(v2.status, 200);
    assert!(v2.body.contains("version 2"), "{}", v2.body);
    assert!(
        v2.body.contains("shallow"),
        "fetch with depth is offered: {}",
        v2.body
    );
}

/// libgit2, as the product's `git` module uses it: a token from the credentials callback, a
/// shallow fetch of the test-merge ref, and a push of a new branch.
#[test]
fn libgit2_fetches_shallow_and_pushes_with_a_credentials_callback() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    let url = format!("{}/{REPO}.git", fake.server_url());
    let callbacks = || {
        let mut callbacks = git2::RemoteCallbacks::new();
        callbacks.credentials(|_url, _user, _allowed| {
            git2::Cred::userpass_plaintext("x-access-token", TOKEN)
        });
        callbacks
    };

    let local = git2::Repository::init(repo.dir.path().join("libgit2")).unwrap();
    let mut remote = local.remote_anonymous(&url).unwrap();
    let mut fetch = git2::FetchOptions::new();
    fetch.remote_callbacks(callbacks()).depth(1);
    remote
        .fetch(
            &["+refs/pull/7/merge:refs/remotes/pull/7/merge"],
            Some(&mut fetch),
            None,
        )
        .unwrap();
    let merge = local
        .find_reference("refs/remotes/pull/7/merge")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(merge.id().to_string(), repo.pr_merge);
    assert!(local.is_shallow());

    let signature = git2::Signature::now("Test", "test@example.com").unwrap();
    let promoted = local
        .commit(
            Some("refs/heads/promote"),
            &signature,
            &signature,
            "promote #7",
            &merge.tree().unwrap(),
            &[&merge],
        )
        .unwrap();
    let mut push_callbacks = callbacks();
    let rejected = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = rejected.clone();
    push_callbacks.push_update_reference(move |name, status| {
        if let Some(status) = status {
            sink.borrow_mut().push(format!("{name}: {status}"));
        }
        Ok(())
    });
    let mut push = git2::PushOptions::new();
    push.remote_callbacks(push_callbacks);
    remote
        .push(
            &["refs/heads/promote:refs/heads/promote/pr-7"],
            Some(&mut push),
        )
        .unwrap();
    assert_eq!(rejected.borrow().as_slice(), &[] as &[String]);
    assert_eq!(
        rev_parse(&repo.bare, "refs/heads/promote/pr-7"),
        promoted.to_string()
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

// ---------------------------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------------------------

#[test]
fn pull_request_is_served_in_githubs_shape_and_follows_new_pushes() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    fake.add_pull(REPO, repo.pull());
    let url = format!("{}/repos/{REPO}/pulls/7", fake.api_url());

    let pull = curl("GET", &url, bearer(), None);
    assert_eq!(pull.status, 200);
    assert_eq!(
        pull.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(pull.header("x-ratelimit-remaining").is_some());
    assert_eq!(pull.header("x-ratelimit-limit"), Some("5000"));
    let pull = pull.json();
    assert_eq!(pull["number"], 7);
    assert_eq!(pull["state"], "open");
    assert_eq!(pull["draft"], false);
    assert_eq!(pull["mergeable"], true);
    assert_eq!(pull["user"]["login"], "alice");
    assert_eq!(pull["head"]["sha"], repo.pr_head.as_str());
    assert_eq!(pull["head"]["ref"], "feature");
    assert_eq!(pull["head"]["repo"]["full_name"], REPO);
    assert_eq!(pull["base"]["sha"], repo.master.as_str());
    assert_eq!(pull["base"]["repo"]["default_branch"], "master");
    assert_eq!(pull["merge_commit_sha"], repo.pr_merge.as_str());
    assert_eq!(
        pull["html_url"],
        format!("{}/{REPO}/pull/7", fake.server_url())
    );

    fake.set_pull_head(REPO, 7, "0123456789abcdef0123456789abcdef01234567");
    let pull = curl("GET", &url, Some(&format!("token {TOKEN}")), None).json();
    assert_eq!(
        pull["head"]["sha"],
        "0123456789abcdef0123456789abcdef01234567"
    );

    assert_eq!(
        curl(
            "GET",
            &format!("{}/repos/{REPO}/pulls/8", fake.api_url()),
            bearer(),
            None
        )
        .status,
        404
    );
    // No violations also means the fake's own responses fit the description's schemas.
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn comments_paginate_with_githubs_link_header() {
    let fake = FakeGitHub::start(TOKEN);
    for i in 0..150 {
        fake.add_comment(REPO, 7, "alice", &format!("comment {i}"));
    }
    let base = format!("{}/repos/{REPO}/issues/7/comments", fake.api_url());

    let first = curl("GET", &base, bearer(), None);
    assert_eq!(first.status, 200);
    assert_eq!(
        first.json().as_array().unwrap().len(),
        30,
        "GitHub's default page size"
    );
    let links = first.header("link").expect("a Link header");
    assert_eq!(
        link(links, "next").as_deref(),
        Some(format!("{base}?page=2").as_str())
    );
    assert_eq!(
        link(links, "last").as_deref(),
        Some(format!("{base}?page=5").as_str())
    );

    let page1 = curl("GET", &format!("{base}?per_page=100"), bearer(), None);
    let items = page1.json();
    assert_eq!(items.as_array().unwrap().len(), 100);
    assert_eq!(items[0]["body"], "comment 0");
    assert_eq!(items[0]["user"]["login"], "alice");
    let links = page1.header("link").expect("a Link header");
    let next = link(links, "next").expect("rel=next");
    assert_eq!(next, format!("{base}?per_page=100&page=2"));
    assert!(
        next.starts_with(&fake.api_url()),
        "absolute URL under the API base"
    );
    assert_eq!(link(links, "last"), Some(next.clone()));
    assert_eq!(link(links, "prev"), None);

    let page2 = curl("GET", &next, bearer(), None);
    let items = page2.json();
    assert_eq!(items.as_array().unwrap().len(), 50);
    assert_eq!(items[0]["body"], "comment 100");
    let links = page2.header("link").expect("a Link header");
    assert_eq!(link(links, "next"), None);
    assert_eq!(
        link(links, "prev"),
        Some(format!("{base}?per_page=100&page=1"))
    );
    assert_eq!(
        link(links, "first"),
        Some(format!("{base}?per_page=100&page=1"))
    );

    let clamped = curl("GET", &format!("{base}?per_page=500"), bearer(), None);
    assert_eq!(
        clamped.json().as_array().unwrap().len(),
        100,
        "per_page is capped at 100"
    );

    let empty = curl(
        "GET",
        &format!("{}/repos/{REPO}/issues/8/comments", fake.api_url()),
        bearer(),
        None,
    );
    assert_eq!(empty.json(), json!([]));
    assert_eq!(empty.header("link"), None);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn comments_are_created_updated_and_deleted() {
    let fake = FakeGitHub::start(TOKEN);
    fake.add_comment(REPO, 7, "alice", "LGTM");
    let api = fake.api_url();

    let created = curl(
        "POST",
        &format!("{api}/repos/{REPO}/issues/7/comments"),
        bearer(),
        Some(&json!({ "body": "<!-- gitops-promote -->\nfirst" })),
    );
    assert_eq!(created.status, 201);
    let comment = created.json();
    let id = comment["id"].as_u64().unwrap();
    assert_eq!(comment["user"]["login"], BOT_LOGIN);
    assert_eq!(comment["user"]["type"], "Bot");
    for field in [
        "node_id",
        "html_url",
        "url",
        "created_at",
        "updated_at",
        "issue_url",
    ] {
        assert!(comment[field].is_string(), "{field} in {comment}");
    }
    assert_eq!(
        created.header("location"),
        Some(format!("{api}/repos/{REPO}/issues/comments/{id}").as_str())
    );

    let updated = curl(
        "PATCH",
        &format!("{api}/repos/{REPO}/issues/comments/{id}"),
        bearer(),
        Some(&json!({ "body": "<!-- gitops-promote -->\nsecond" })),
    );
    assert_eq!(updated.status, 200);
    assert_eq!(updated.json()["body"], "<!-- gitops-promote -->\nsecond");
    let bodies: Vec<String> = fake.comments(REPO, 7).into_iter().map(|c| c.body).collect();
    assert_eq!(bodies, ["LGTM", "<!-- gitops-promote -->\nsecond"]);

    let too_long = curl(
        "POST",
        &format!("{api}/repos/{REPO}/issues/7/comments"),
        bearer(),
        Some(&json!({ "body": "x".repeat(65_537) })),
    );
    assert_eq!(too_long.status, 422);
    assert_eq!(
        too_long.json()["errors"][0]["message"],
        "body is too long (maximum is 65536 characters)"
    );

    let deleted = curl(
        "DELETE",
        &format!("{api}/repos/{REPO}/issues/comments/{id}"),
        bearer(),
        None,
    );
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, "");
    assert_eq!(fake.comments(REPO, 7).len(), 1);
    assert_eq!(
        curl(
            "DELETE",
            &format!("{api}/repos/{REPO}/issues/comments/{id}"),
            bearer(),
            None
        )
        .status,
        404
    );

    let recorded = fake.requests();
    let post = recorded.iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(post.path, format!("/api/v3/repos/{REPO}/issues/7/comments"));
    assert_eq!(post.authorization.as_deref(), bearer());
    assert!(post.body.contains("first"));
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn updating_a_comment_with_post_is_outside_githubs_description() {
    // What the published description says, read from it rather than assumed.
    let template = "/repos/{owner}/{repo}/issues/comments/{comment_id}";
    assert_eq!(
        rest_description().methods(template),
        ["DELETE", "GET", "PATCH"]
    );
    let fake = FakeGitHub::start(TOKEN);
    let id = fake.add_comment(REPO, 7, BOT_LOGIN, "old");
    let url = format!("{}/repos/{REPO}/issues/comments/{id}", fake.api_url());

    // GitHub itself still takes POST as PATCH here, so the fake does too, and says so.
    let response = curl("POST", &url, bearer(), Some(&json!({ "body": "new" })));
    assert_eq!(response.status, 200);
    assert_eq!(fake.comments(REPO, 7)[0].body, "new");
    assert_eq!(
        fake.violations(),
        [format!(
            "POST /api/v3/repos/{REPO}/issues/comments/{id}: GitHub's REST description has no POST \
             for {template} (it has DELETE, GET, PATCH)"
        )]
    );
}

#[test]
fn requests_outside_the_description_are_violations() {
    let fake = FakeGitHub::start(TOKEN);
    fake.add_comment(REPO, 7, "alice", "hi");
    let api = fake.api_url();

    let unknown = curl(
        "GET",
        &format!("{api}/repos/{REPO}/no/such/thing"),
        bearer(),
        None,
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["message"], "Not Found");
    let unserved = curl("GET", &format!("{api}/repos/{REPO}/labels"), bearer(), None);
    assert_eq!(unserved.status, 404);
    let typo = curl(
        "GET",
        &format!("{api}/repos/{REPO}/issues/7/comments?perpage=100"),
        bearer(),
        None,
    );
    assert_eq!(typo.status, 200);
    let extra = curl(
        "POST",
        &format!("{api}/repos/{REPO}/issues/7/comments"),
        bearer(),
        Some(&json!({ "body": "x", "sticky": true })),
    );
    assert_eq!(
        extra.status, 201,
        "GitHub ignores unknown fields; the fake reports them"
    );
    let root = curl(
        "GET",
        &format!("{}/repos/{REPO}/pulls/7", fake.server_url()),
        bearer(),
        None,
    );
    assert_eq!(root.status, 404);

    let violations = fake.violations();
    assert_eq!(violations.len(), 5, "{violations:#?}");
    assert!(violations[0].contains("no path in GitHub's REST description matches it"));
    assert!(violations[1].starts_with(&format!(
        "GET /api/v3/repos/{REPO}/labels: the fake GitHub does not serve this"
    )));
    assert!(
        violations[2]
            .contains("query parameter `perpage` is not a parameter of issues/list-comments")
    );
    assert!(violations[3].contains("body has the field `sticky`"));
    assert!(violations[4].contains("not under the API base /api/v3"));
}

#[test]
fn rest_and_graphql_require_the_token() {
    let fake = FakeGitHub::start(TOKEN);
    fake.add_comment(REPO, 7, "alice", "hi");
    let url = format!("{}/repos/{REPO}/issues/7/comments", fake.api_url());

    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic eC1hY2Nlc3MtdG9rZW46d3Jvbmc="),
    ] {
        let response = curl("GET", &url, auth, None);
        assert_eq!(response.status, 401, "{auth:?}");
        assert_eq!(response.json()["message"], "Bad credentials");
    }
    let graphql = curl(
        "POST",
        &fake.graphql_url(),
        None,
        Some(&json!({ "query": "{ rateLimit { remaining } }" })),
    );
    assert_eq!(graphql.status, 401);
    assert_eq!(graphql.json()["message"], "Bad credentials");
}

#[test]
fn injected_failures_and_rate_limits_answer_like_github_then_recover() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_pull(REPO, repo.pull());
    let url = format!("{}/repos/{REPO}/pulls/7", fake.api_url());

    fake.add_repo(REPO, &repo.bare);
    fake.fail_next("GET", "/info/refs", 503, 1);
    let unavailable = git_output(repo.dir.path(), &["ls-remote", &repo_url(&fake, TOKEN)]);
    assert!(!unavailable.status.success());
    assert!(String::from_utf8_lossy(&unavailable.stderr).contains("503"));
    git(repo.dir.path(), &["ls-remote", &repo_url(&fake, TOKEN)]);

    fake.fail_next("GET", "/pulls/7", 502, 1);
    let failed = curl("GET", &url, bearer(), None);
    assert_eq!(failed.status, 502);
    assert!(failed.body.contains("502 Bad Gateway"), "{}", failed.body);
    assert_eq!(curl("GET", &url, bearer(), None).status, 200);

    fake.rate_limit_next("GET", "/pulls/7", 403, 60, 1);
    let limited = curl("GET", &url, bearer(), None);
    assert_eq!(limited.status, 403);
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    let reset: u64 = limited
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 55..=now + 65).contains(&reset),
        "reset {reset} vs now {now}"
    );
    assert!(
        limited.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded")
    );

    fake.rate_limit_next("*", "/pulls/7", 429, 7, 2);
    for _ in 0..2 {
        let secondary = curl("GET", &url, bearer(), None);
        assert_eq!(secondary.status, 429);
        assert_eq!(secondary.header("retry-after"), Some("7"));
    }
    assert_eq!(curl("GET", &url, bearer(), None).status, 200);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn a_read_only_token_reads_but_cannot_write() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    let id = fake.add_comment(REPO, 7, BOT_LOGIN, "old");
    let node_id = fake.comments(REPO, 7)[0].node_id.clone();
    fake.set_read_only(true);
    let api = fake.api_url();

    let post = curl(
        "POST",
        &format!("{api}/repos/{REPO}/issues/7/comments"),
        bearer(),
        Some(&json!({ "body": "x" })),
    );
    assert_eq!(post.status, 403);
    assert_eq!(
        post.json()["message"],
        "Resource not accessible by integration"
    );
    assert_eq!(
        post.json()["documentation_url"],
        "https://docs.github.com/rest/issues/comments#create-an-issue-comment"
    );
    let patch = curl(
        "PATCH",
        &format!("{api}/repos/{REPO}/issues/comments/{id}"),
        bearer(),
        Some(&json!({ "body": "x" })),
    );
    assert_eq!(patch.status, 403);
    assert_eq!(
        curl(
            "GET",
            &format!("{api}/repos/{REPO}/issues/7/comments"),
            bearer(),
            None
        )
        .status,
        200
    );

    // GitHub answers a forbidden mutation with 200 and a FORBIDDEN error, not an HTTP 403.
    let minimize = curl(
        "POST",
        &fake.graphql_url(),
        bearer(),
        Some(&minimize_request(&node_id, "OUTDATED")),
    );
    assert_eq!(minimize.status, 200);
    let minimize = minimize.json();
    assert_eq!(minimize["data"]["minimizeComment"], Value::Null);
    assert_eq!(minimize["errors"][0]["type"], "FORBIDDEN");
    assert_eq!(
        minimize["errors"][0]["message"],
        "Resource not accessible by integration"
    );
    assert!(!fake.comments(REPO, 7)[0].minimized);

    git(
        repo.dir.path(),
        &["clone", "-q", &repo_url(&fake, TOKEN), "clone"],
    );
    let clone = repo.dir.path().join("clone");
    git(&clone, &["commit", "-q", "--allow-empty", "-m", "nope"]);
    let push = git_output(&clone, &["push", "origin", "HEAD:refs/heads/nope"]);
    assert!(!push.status.success());
    assert!(
        String::from_utf8_lossy(&push.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// GraphQL
// ---------------------------------------------------------------------------------------------

fn minimize_request(node_id: &str, classifier: &str) -> Value {
    json!({
        "query": "mutation($id: ID!, $classifier: ReportedContentClassifiers!) {\n  minimizeComment(input: {subjectId: $id, classifier: $classifier}) {\n    minimizedComment { isMinimized minimizedReason }\n  }\n}",
        "variables": { "id": node_id, "classifier": classifier },
    })
}

#[test]
fn graphql_minimizes_a_comment() {
    let fake = FakeGitHub::start(TOKEN);
    fake.add_comment(REPO, 7, BOT_LOGIN, "old report");
    fake.add_comment(REPO, 7, BOT_LOGIN, "new report");
    let old = fake.comments(REPO, 7)[0].clone();

    let response = curl(
        "POST",
        &fake.graphql_url(),
        bearer(),
        Some(&minimize_request(&old.node_id, "OUTDATED")),
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-ratelimit-resource"), Some("graphql"));
    assert_eq!(
        response.json(),
        json!({"data":{"minimizeComment":{"minimizedComment":{"isMinimized":true,"minimizedReason":"outdated"}}}})
    );
    let comments = fake.comments(REPO, 7);
    assert!(comments[0].minimized);
    assert_eq!(comments[0].minimized_reason.as_deref(), Some("outdated"));
    assert!(!comments[1].minimized);

    // Literal arguments, an alias and __typename work too.
    let literal = json!({ "query": format!(
        "mutation {{ hide: minimizeComment(input: {{subjectId: \"{}\", classifier: DUPLICATE}}) {{ __typename clientMutationId }} }}",
        comments[1].node_id
    )});
    let response = curl("POST", &fake.graphql_url(), bearer(), Some(&literal)).json();
    assert_eq!(
        response,
        json!({"data":{"hide":{"__typename":"MinimizeCommentPayload","clientMutationId":null}}})
    );
    assert_eq!(
        fake.comments(REPO, 7)[1].minimized_reason.as_deref(),
        Some("duplicate")
    );

    // The REST view shows the minimisation as well.
    let rest = curl(
        "GET",
        &format!("{}/repos/{REPO}/issues/7/comments", fake.api_url()),
        bearer(),
        None,
    )
    .json();
    assert_eq!(rest[0]["minimized"], json!({ "reason": "outdated" }));
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn graphql_rejects_what_github_rejects() {
    let fake = FakeGitHub::start(TOKEN);
    fake.add_comment(REPO, 7, BOT_LOGIN, "report");
    let node_id = fake.comments(REPO, 7)[0].node_id.clone();

    let bad_classifier = curl(
        "POST",
        &fake.graphql_url(),
        bearer(),
        Some(&minimize_request(&node_id, "STALE")),
    )
    .json();
    assert_eq!(bad_classifier.get("data"), None);
    assert!(
        bad_classifier["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("ReportedContentClassifiers")
    );

    let quoted_enum = json!({ "query": format!("mutation {{ minimizeComment(input: {{subjectId: \"{node_id}\", classifier: \"OUTDATED\"}}) {{ clientMutationId }} }}") });
    let quoted_enum = curl("POST", &fake.graphql_url(), bearer(), Some(&quoted_enum)).json();
    assert!(
        quoted_enum["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("(\"OUTDATED\")")
    );

    let unknown_field = json!({ "query": "mutation { hideComment(id: \"x\") { ok } }" });
    let unknown_field = curl("POST", &fake.graphql_url(), bearer(), Some(&unknown_field)).json();
    assert_eq!(
        unknown_field["errors"][0]["message"],
        "Field 'hideComment' doesn't exist on type 'Mutation'"
    );

    let unknown_node = curl(
        "POST",
        &fake.graphql_url(),
        bearer(),
        Some(&minimize_request("IC_nope", "OUTDATED")),
    )
    .json();
    assert_eq!(unknown_node["data"]["minimizeComment"], Value::Null);
    assert_eq!(unknown_node["errors"][0]["type"], "NOT_FOUND");

    let not_a_query = curl(
        "POST",
        &fake.graphql_url(),
        bearer(),
        Some(&json!({ "query": "mutation {", "variables": [] })),
    )
    .json();
    assert!(not_a_query["errors"].is_array());

    assert!(!fake.comments(REPO, 7)[0].minimized);
    let violations = fake.violations();
    assert_eq!(violations.len(), 4, "{violations:#?}");
    assert!(violations[0].contains("ReportedContentClassifiers"));
    assert!(violations[1].contains("(\"OUTDATED\")"));
    assert!(violations[2].contains("Field 'hideComment' doesn't exist on type 'Mutation'"));
    assert!(violations[3].contains("`variables` must be an object"));
}

// ---------------------------------------------------------------------------------------------
// The client the product uses
// ---------------------------------------------------------------------------------------------

/// octocrab against the fake: its models must deserialize the fake's JSON, and its habits
/// (POST to update a comment, `/graphql` under the REST base) show up as violations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn octocrab_reads_and_writes_through_a_ghes_base_url() {
    let fake = FakeGitHub::start(TOKEN);
    fake.add_pull(
        REPO,
        FakePull {
            number: 7,
            head_sha: "1111111111111111111111111111111111111111".to_owned(),
            base_sha: "2222222222222222222222222222222222222222".to_owned(),
            merge_commit_sha: Some("3333333333333333333333333333333333333333".to_owned()),
            ..FakePull::default()
        },
    );
    for i in 0..150 {
        fake.add_comment(REPO, 7, "alice", &format!("comment {i}"));
    }
    let crab = octocrab::Octocrab::builder()
        .base_uri(fake.api_url())
        .unwrap()
        .personal_token(TOKEN.to_owned())
        .build()
        .unwrap();
    let issues = crab.issues("acme", "manifests");

    let pull = crab.pulls("acme", "manifests").get(7).await.unwrap();
    assert_eq!(pull.head.sha, "1111111111111111111111111111111111111111");
    assert_eq!(
        pull.merge_commit_sha.as_deref(),
        Some("3333333333333333333333333333333333333333")
    );

    let first = issues.list_comments(7).per_page(100).send().await.unwrap();
    assert_eq!(first.items.len(), 100);
    assert!(first.next.is_some());
    let all = crab.all_pages(first).await.unwrap();
    assert_eq!(all.len(), 150);

    let created = issues.create_comment(7, "report").await.unwrap();
    assert_eq!(created.user.login, BOT_LOGIN);
    let updated = issues
        .update_comment(created.id, "report v2")
        .await
        .unwrap();
    assert_eq!(updated.body.as_deref(), Some("report v2"));
    issues.delete_comment(created.id).await.unwrap();
    assert_eq!(fake.comments(REPO, 7).len(), 150);

    let graphql: Result<Value, _> = crab
        .graphql(&json!({ "query": "{ rateLimit { remaining } }" }))
        .await;
    assert!(
        graphql.is_err(),
        "octocrab posts GraphQL to <base>/graphql: {graphql:?}"
    );

    let violations = fake.violations();
    assert_eq!(violations.len(), 2, "{violations:#?}");
    assert!(violations[0].starts_with(&format!(
        "POST /api/v3/repos/{REPO}/issues/comments/{}: GitHub's REST description has no POST",
        created.id
    )));
    assert!(
        violations[1].starts_with(
            "POST /api/v3/graphql: GitHub Enterprise Server serves GraphQL at /api/graphql"
        ),
        "{violations:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Promotion pull requests, through the product's own client
// ---------------------------------------------------------------------------------------------

/// The product's client against the fake, retrying quickly so that injected failures stay cheap.
fn client(fake: &FakeGitHub) -> GitHub {
    GitHub::new(
        &fake.api_url(),
        &fake.graphql_url(),
        REPO,
        &secrecy::SecretString::from(TOKEN),
        RetryPolicy {
            attempts: 2,
            base_delay: std::time::Duration::from_millis(10),
            max_wait: std::time::Duration::from_secs(2),
        },
    )
    .expect("a client for the fake")
}

/// `branch` at `sha` in the served repository, as a push of the promotion branch leaves it.
fn push_branch(repo: &ServedRepo, branch: &str, sha: &str) {
    git(
        &repo.dir.path().join("work"),
        &[
            "push",
            "-q",
            "-f",
            repo.bare.to_str().unwrap(),
            &format!("{sha}:refs/heads/{branch}"),
        ],
    );
}

fn promotion(head: &str, draft: bool) -> NewPull {
    NewPull {
        title: "Promote #7: scale web to 3".to_owned(),
        head: head.to_owned(),
        base: "master".to_owned(),
        body: "Cherry-picked from #7.".to_owned(),
        draft,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_pull_is_opened_found_updated_labelled_and_assigned() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    fake.add_pull(REPO, repo.pull());
    fake.add_comment(
        REPO,
        9,
        "alice",
        "an issue with a higher number than any pull request",
    );
    push_branch(&repo, "promote/pr-7", &repo.pr_head);
    let github = client(&fake);

    assert!(
        github
            .find_pull_by_head("promote/pr-7", "master")
            .await
            .unwrap()
            .is_none()
    );
    let created = github
        .create_pull(&promotion("promote/pr-7", false))
        .await
        .unwrap();
    assert_eq!(created.number, 10, "numbered after issue #9");
    assert_eq!(created.state, "open");
    assert_eq!(created.author(), Some(BOT_LOGIN));
    assert_eq!(created.head.ref_name, "promote/pr-7");
    assert_eq!(created.head.sha, repo.pr_head);
    assert_eq!(created.base.sha, repo.master);
    assert_eq!(created.body.as_deref(), Some("Cherry-picked from #7."));
    assert!(!created.draft);
    // GitHub's refs for the new pull request, test merge included.
    assert_eq!(rev_parse(&repo.bare, "refs/pull/10/head"), repo.pr_head);
    let merge = created
        .merge_commit_sha
        .clone()
        .expect("a clean test merge");
    assert_eq!(rev_parse(&repo.bare, "refs/pull/10/merge"), merge);
    assert_eq!(
        rev_parse(&repo.bare, &format!("{merge}^1")),
        repo.master,
        "the test merge's first parent is the base"
    );

    let found = github
        .find_pull_by_head("promote/pr-7", "master")
        .await
        .unwrap()
        .expect("the new pull request");
    assert_eq!(found.number, 10);
    assert_eq!(found.title, "Promote #7: scale web to 3");
    assert!(
        github
            .find_pull_by_head("promote/pr-7", "develop")
            .await
            .unwrap()
            .is_none(),
        "another base is another pull request"
    );

    let again = github
        .create_pull(&promotion("promote/pr-7", false))
        .await
        .unwrap_err();
    assert!(again.is_unprocessable(), "{again}");
    assert!(
        again
            .detail
            .contains("A pull request already exists for acme:promote/pr-7."),
        "{again}"
    );

    let updated = github
        .update_pull(10, "Promote #7 (re-run)", "Cherry-picked from #7 again.")
        .await
        .unwrap();
    assert_eq!(updated.title, "Promote #7 (re-run)");
    assert_eq!(
        updated.body.as_deref(),
        Some("Cherry-picked from #7 again.")
    );

    github
        .add_labels(10, &strings(&["promotion", "production"]))
        .await
        .unwrap();
    github
        .add_labels(10, &strings(&["Promotion", "conflict"]))
        .await
        .unwrap();
    github.add_labels(10, &[]).await.unwrap();
    github
        .add_assignees(10, &strings(&["alice"]))
        .await
        .unwrap();
    github
        .request_reviewers(10, &strings(&["bob", "carol"]))
        .await
        .unwrap();

    let pulls = fake.pulls(REPO);
    let promoted = pulls.iter().find(|p| p.number == 10).unwrap();
    assert_eq!(promoted.title, "Promote #7 (re-run)");
    assert_eq!(promoted.labels, ["promotion", "production", "conflict"]);
    assert_eq!(promoted.assignees, ["alice"]);
    assert_eq!(promoted.requested_reviewers, ["bob", "carol"]);
    let read = github.pull(10).await.unwrap();
    let labels: Vec<&str> = read.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(labels, ["promotion", "production", "conflict"]);
    let requested: Vec<&str> = read
        .requested_reviewers
        .iter()
        .map(|u| u.login.as_str())
        .collect();
    assert_eq!(requested, ["bob", "carol"]);

    fake.set_pull_labels(REPO, 10, ["promotion"]);
    assert_eq!(github.pull(10).await.unwrap().labels[0].name, "promotion");
    assert_eq!(github.pull(10).await.unwrap().labels.len(), 1);
    // No violations: every request fit GitHub's description, every answer its schemas.
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_pull_request_is_refused_where_github_refuses_it() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    push_branch(&repo, "promote/pr-7", &repo.pr_head);
    push_branch(&repo, "promote/empty", &repo.master);
    let github = client(&fake);

    let missing_head = github
        .create_pull(&promotion("promote/pr-8", false))
        .await
        .unwrap_err();
    assert_eq!(missing_head.status, Some(422));
    assert!(
        missing_head
            .detail
            .ends_with("Validation Failed (PullRequest.head invalid)"),
        "{missing_head}"
    );
    let other_owner = github
        .create_pull(&promotion("someone:promote/pr-7", false))
        .await
        .unwrap_err();
    assert!(other_owner.detail.contains("PullRequest.head invalid"));
    let missing_base = github
        .create_pull(&NewPull {
            base: "production".to_owned(),
            ..promotion("promote/pr-7", false)
        })
        .await
        .unwrap_err();
    assert!(
        missing_base.detail.contains("PullRequest.base invalid"),
        "{missing_base}"
    );
    let nothing_new = github
        .create_pull(&promotion("promote/empty", false))
        .await
        .unwrap_err();
    assert!(
        nothing_new
            .detail
            .contains("No commits between master and promote/empty"),
        "{nothing_new}"
    );
    let no_title = curl(
        "POST",
        &format!("{}/repos/{REPO}/pulls", fake.api_url()),
        bearer(),
        Some(&json!({ "head": "promote/pr-7", "base": "master" })),
    );
    assert_eq!(no_title.status, 422);
    assert_eq!(no_title.json()["errors"][0]["field"], "title");
    assert!(fake.pulls(REPO).is_empty());

    // A draft with the `owner:branch` form of head is fine.
    let draft = github
        .create_pull(&promotion("acme:promote/pr-7", true))
        .await
        .unwrap();
    assert!(draft.draft);
    assert_eq!(draft.number, 1);
    let raw = curl(
        "GET",
        &format!("{}/repos/{REPO}/pulls/1", fake.api_url()),
        bearer(),
        None,
    )
    .json();
    assert_eq!(raw["mergeable_state"], "draft");

    let author = github
        .request_reviewers(1, &strings(&["bob", BOT_LOGIN]))
        .await
        .unwrap_err();
    assert!(author.is_unprocessable(), "{author}");
    assert!(
        author
            .detail
            .contains("Review cannot be requested from pull request author."),
        "{author}"
    );
    fake.set_collaborators(REPO, ["bob", "alice"]);
    let outsider = github
        .request_reviewers(1, &strings(&["bob", "mallory"]))
        .await
        .unwrap_err();
    assert!(
        outsider
            .detail
            .contains("Reviews may only be requested from collaborators"),
        "{outsider}"
    );
    assert!(
        fake.pulls(REPO)[0].requested_reviewers.is_empty(),
        "all or nothing"
    );
    // Assignees who may not be assigned are skipped silently, as GitHub does.
    github
        .add_assignees(1, &strings(&["mallory", "alice"]))
        .await
        .unwrap();
    assert_eq!(fake.pulls(REPO)[0].assignees, ["alice"]);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_promotion_is_preferred_over_newer_closed_ones() {
    let fake = FakeGitHub::start(TOKEN);
    let promotion = |number: u64, state: &str| FakePull {
        number,
        head_ref: "promote/pr-7".to_owned(),
        base_ref: "master".to_owned(),
        state: state.to_owned(),
        ..FakePull::default()
    };
    fake.add_pull(REPO, promotion(20, "closed"));
    fake.add_pull(REPO, promotion(21, "open"));
    fake.add_pull(REPO, promotion(22, "closed"));
    fake.add_pull(
        REPO,
        FakePull {
            number: 23,
            head_ref: "promote/pr-8".to_owned(),
            ..FakePull::default()
        },
    );
    let github = client(&fake);

    let found = github.find_pull_by_head("promote/pr-7", "master").await;
    assert_eq!(found.unwrap().map(|p| p.number), Some(21));
    fake.set_pull_merged(REPO, 21, "2024-05-06T07:08:09Z");
    let found = github
        .find_pull_by_head("promote/pr-7", "master")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.number, 22, "the newest when none is open");
    let merged = github.pull(21).await.unwrap();
    assert_eq!(merged.state, "closed");
    assert_eq!(merged.merged_at.as_deref(), Some("2024-05-06T07:08:09Z"));

    let api = fake.api_url();
    let list = |query: &str| {
        curl(
            "GET",
            &format!("{api}/repos/{REPO}/pulls?{query}"),
            bearer(),
            None,
        )
    };
    let numbers = |response: &Http| -> Vec<u64> {
        response
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["number"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        numbers(&list("")),
        [23],
        "open ones by default, newest first"
    );
    assert_eq!(numbers(&list("state=closed&direction=asc")), [20, 21, 22]);
    // GitHub ignores `head` without an owner and lists every pull request.
    assert_eq!(
        numbers(&list("head=promote/pr-7&state=all")),
        [23, 22, 21, 20]
    );
    assert_eq!(numbers(&list("head=acme:promote/pr-8&state=all")), [23]);
    assert_eq!(
        numbers(&list("head=other:promote/pr-8&state=all")),
        Vec::<u64>::new()
    );
    assert_eq!(numbers(&list("base=develop&state=all")), Vec::<u64>::new());

    let first = list("state=all&per_page=3");
    assert_eq!(numbers(&first), [23, 22, 21]);
    let next = link(first.header("link").unwrap(), "next").unwrap();
    assert_eq!(
        next,
        format!("{api}/repos/{REPO}/pulls?state=all&per_page=3&page=2")
    );
    assert_eq!(numbers(&curl("GET", &next, bearer(), None)), [20]);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pull_requests_of_a_commit_come_from_heads_merges_and_associations() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    fake.add_pull(
        REPO,
        FakePull {
            body: Some("Scale web to 3 replicas.".to_owned()),
            labels: strings(&["staging"]),
            ..repo.pull()
        },
    );
    fake.add_pull(
        REPO,
        FakePull {
            number: 8,
            head_sha: repo.master.clone(),
            head_ref: "docs".to_owned(),
            ..FakePull::default()
        },
    );
    let github = client(&fake);

    let open = github.pulls_for_commit(&repo.pr_head).await.unwrap();
    assert_eq!(open.iter().map(|p| p.number).collect::<Vec<_>>(), [7]);
    assert_eq!(open[0].merged_at, None);
    assert!(
        github
            .pulls_for_commit(&repo.pr_merge)
            .await
            .unwrap()
            .is_empty(),
        "an open pull request's test merge is on no branch"
    );

    fake.set_pull_merged(REPO, 7, "2024-05-06T07:08:09Z");
    let merged = github.pulls_for_commit(&repo.pr_merge).await.unwrap();
    assert_eq!(merged.len(), 1);
    let pull = &merged[0];
    assert_eq!(pull.number, 7);
    assert_eq!(pull.state, "closed");
    assert_eq!(pull.merged_at.as_deref(), Some("2024-05-06T07:08:09Z"));
    assert_eq!(pull.title, "Update manifests");
    assert_eq!(pull.body.as_deref(), Some("Scale web to 3 replicas."));
    assert_eq!(pull.author(), Some("alice"));
    assert_eq!(pull.base.ref_name, "master");
    assert_eq!(pull.labels[0].name, "staging");

    // A squash or rebase merge writes new commits; the association is what finds the PR then.
    let squashed = "5555555555555555555555555555555555555555";
    fake.add_commit_pull(REPO, squashed, 7);
    fake.add_commit_pull(REPO, squashed, 8);
    let both = github.pulls_for_commit(squashed).await.unwrap();
    assert_eq!(both.iter().map(|p| p.number).collect::<Vec<_>>(), [7, 8]);

    let unknown = github
        .pulls_for_commit("6666666666666666666666666666666666666666")
        .await
        .unwrap_err();
    assert_eq!(unknown.status, Some(422));
    assert!(
        unknown.detail.contains("No commit found for SHA"),
        "{unknown}"
    );
    assert!(
        github.pulls_for_commit(&repo.master).await.unwrap()[0].number == 8,
        "the head of #8"
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewers_are_those_who_reviewed_then_those_still_asked() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    fake.add_pull(
        REPO,
        FakePull {
            requested_reviewers: strings(&["erin", "carol"]),
            ..repo.pull()
        },
    );
    fake.add_review(REPO, 7, "bob", "COMMENTED");
    let carol = fake.add_review(REPO, 7, "carol", "APPROVED");
    fake.add_review(REPO, 7, "Bob", "APPROVED");
    fake.add_review(REPO, 7, "copilot-pull-request-reviewer[bot]", "COMMENTED");
    // More than one page of reviews at the client's page size.
    for i in 0..101 {
        fake.add_review(REPO, 7, &format!("reader{i}"), "COMMENTED");
    }
    assert_eq!(
        fake.pulls(REPO)[0].requested_reviewers,
        ["erin"],
        "carol's review answered her request"
    );
    let github = client(&fake);

    let reviewers = github.reviewers_of(7).await.unwrap();
    assert_eq!(reviewers.len(), 2 + 101 + 1, "{reviewers:?}");
    assert_eq!(&reviewers[..3], ["bob", "carol", "reader0"]);
    assert_eq!(reviewers.last().map(String::as_str), Some("erin"));

    let page = curl(
        "GET",
        &format!("{}/repos/{REPO}/pulls/7/reviews?per_page=2", fake.api_url()),
        bearer(),
        None,
    );
    let reviews = page.json();
    assert_eq!(reviews[1]["id"], carol);
    assert_eq!(reviews[1]["state"], "APPROVED");
    assert_eq!(reviews[1]["user"]["login"], "carol");
    assert_eq!(reviews[1]["commit_id"], repo.pr_head.as_str());
    assert!(link(page.header("link").unwrap(), "next").is_some());
    assert_eq!(
        curl(
            "GET",
            &format!("{}/repos/{REPO}/pulls/99/reviews", fake.api_url()),
            bearer(),
            None
        )
        .status,
        404
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_the_promotion_branch_moves_its_pull_request() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    push_branch(&repo, "promote/pr-7", &repo.pr_head);
    let github = client(&fake);
    let created = github
        .create_pull(&promotion("promote/pr-7", false))
        .await
        .unwrap();

    // A re-run force-pushes a new cherry-pick over HTTP, as the product does.
    let scratch = repo.dir.path();
    git(scratch, &["clone", "-q", &repo_url(&fake, TOKEN), "rerun"]);
    let rerun = scratch.join("rerun");
    git(&rerun, &["checkout", "-q", "-b", "promote/pr-7"]);
    std::fs::write(rerun.join("replicas.txt"), "4\n").unwrap();
    git(&rerun, &["add", "."]);
    git(&rerun, &["commit", "-q", "-m", "scale web to 4"]);
    let new_head = rev_parse(&rerun, "HEAD");
    git(&rerun, &["push", "-q", "-f", "origin", "promote/pr-7"]);

    let moved = github.pull(created.number).await.unwrap();
    assert_eq!(moved.head.sha, new_head);
    assert_eq!(rev_parse(&repo.bare, "refs/pull/1/head"), new_head);
    let merge = moved.merge_commit_sha.expect("a test merge");
    assert_ne!(Some(merge.clone()), created.merge_commit_sha);
    assert_eq!(rev_parse(&repo.bare, "refs/pull/1/merge"), merge);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_routes_fail_retry_and_refuse_writes_like_the_old_ones() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    fake.add_pull(REPO, repo.pull());
    push_branch(&repo, "promote/pr-7", &repo.pr_head);
    let github = client(&fake);

    fake.fail_next("POST", "/pulls", 502, 1);
    let created = github
        .create_pull(&promotion("promote/pr-7", false))
        .await
        .unwrap();
    fake.rate_limit_next("GET", "/pulls", 429, 1, 1);
    assert!(
        github
            .find_pull_by_head("promote/pr-7", "master")
            .await
            .unwrap()
            .is_some()
    );
    fake.fail_next("GET", "/reviews", 503, 2);
    let gave_up = github.reviewers_of(7).await.unwrap_err();
    assert_eq!(gave_up.status, Some(503), "{gave_up}");

    fake.set_read_only(true);
    let refused = [
        github
            .update_pull(created.number, "t", "b")
            .await
            .map(|_| ()),
        github.add_labels(created.number, &strings(&["x"])).await,
        github
            .add_assignees(created.number, &strings(&["alice"]))
            .await,
        github
            .request_reviewers(created.number, &strings(&["bob"]))
            .await,
        github
            .create_pull(&promotion("promote/pr-7", false))
            .await
            .map(|_| ()),
    ];
    for result in refused {
        let error = result.unwrap_err();
        assert!(error.is_forbidden(), "{error}");
        assert!(
            error
                .detail
                .contains("Resource not accessible by integration"),
            "{error}"
        );
    }
    assert!(
        github.pulls_for_commit(&repo.pr_head).await.is_ok(),
        "reads still work"
    );
    assert_eq!(fake.pulls(REPO).len(), 2);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn a_pull_request_is_closed_reopened_and_retargeted_with_patch() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    push_branch(&repo, "promote/pr-7", &repo.pr_head);
    push_branch(&repo, "develop", &repo.master);
    let api = fake.api_url();
    let open = |base: &str| {
        curl(
            "POST",
            &format!("{api}/repos/{REPO}/pulls"),
            bearer(),
            Some(&json!({ "title": "Promote #7", "head": "promote/pr-7", "base": base })),
        )
    };
    let patch = |n: u64, body: Value| {
        curl(
            "PATCH",
            &format!("{api}/repos/{REPO}/pulls/{n}"),
            bearer(),
            Some(&body),
        )
    };

    let first = open("master");
    assert_eq!(first.status, 201);
    assert_eq!(
        first.header("location"),
        Some(format!("{api}/repos/{REPO}/pulls/1").as_str())
    );
    let closed = patch(1, json!({ "state": "closed" })).json();
    assert_eq!(closed["state"], "closed");
    assert!(closed["closed_at"].is_string());
    assert_eq!(closed["merged_at"], Value::Null);
    assert_eq!(open("master").status, 201, "a closed one does not block");

    let reopen = patch(1, json!({ "state": "open" }));
    assert_eq!(reopen.status, 422);
    assert_eq!(
        reopen.json()["errors"][0]["message"],
        "A pull request already exists for acme:promote/pr-7."
    );
    let retargeted = patch(
        1,
        json!({ "base": "develop", "state": "open", "body": "again" }),
    );
    assert_eq!(retargeted.status, 200, "{}", retargeted.body);
    let retargeted = retargeted.json();
    assert_eq!(retargeted["base"]["ref"], "develop");
    assert_eq!(retargeted["body"], "again");
    assert_eq!(retargeted["closed_at"], Value::Null);
    assert_eq!(patch(1, json!({ "base": "nope" })).status, 422);
    assert_eq!(patch(9, json!({ "title": "x" })).status, 404);

    fake.set_pull_merged(REPO, 2, "2024-05-06T07:08:09Z");
    let merged = patch(2, json!({ "state": "open" }));
    assert_eq!(merged.status, 422);
    assert!(
        merged.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("has been merged")
    );
    let states: Vec<(u64, String, String)> = fake
        .pulls(REPO)
        .into_iter()
        .map(|p| (p.number, p.state, p.base_ref))
        .collect();
    assert_eq!(
        states,
        [
            (1, "open".to_owned(), "develop".to_owned()),
            (2, "closed".to_owned(), "master".to_owned())
        ]
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// ChatOps: who may command, reactions to the command, the command's comment
// ---------------------------------------------------------------------------------------------

/// A client for another repository of the same fake.
fn client_for(fake: &FakeGitHub, repository: &str) -> GitHub {
    GitHub::new(
        &fake.api_url(),
        &fake.graphql_url(),
        repository,
        &secrecy::SecretString::from(TOKEN),
        RetryPolicy {
            attempts: 2,
            base_delay: std::time::Duration::from_millis(10),
            max_wait: std::time::Duration::from_secs(2),
        },
    )
    .expect("a client for the fake")
}

fn permission(permission: &str, role: Option<&str>) -> Permission {
    Permission {
        permission: permission.to_owned(),
        role_name: role.map(str::to_owned),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collaborator_permissions_report_githubs_roles() {
    let fake = FakeGitHub::start(TOKEN);
    for (login, role) in [
        ("ada", "admin"),
        ("mia", "maintain"),
        ("wes", "write"),
        ("tia", "triage"),
        ("rae", "read"),
        ("nil", "none"),
    ] {
        fake.set_permission(REPO, login, role);
    }
    let github = client(&fake);

    let expected = [
        ("ada", permission("admin", Some("admin")), true),
        ("mia", permission("write", Some("maintain")), true),
        ("wes", permission("write", Some("write")), true),
        ("tia", permission("read", Some("triage")), false),
        ("rae", permission("read", Some("read")), false),
        ("nil", permission("none", Some("none")), false),
        // Logins are case-insensitive.
        ("WES", permission("write", Some("write")), true),
        // Not a collaborator: GitHub's 404, which the client reads as no access.
        ("mallory", Permission::none(), false),
    ];
    for (login, want, writes) in expected {
        let got = github.collaborator_permission(login).await.unwrap();
        assert_eq!(got, want, "{login}");
        assert_eq!(got.can_write(), writes, "{login}");
    }
    assert_eq!(Permission::none(), permission("none", None));

    // The raw answer, in the shape GitHub documents.
    let url = |login: &str| {
        format!(
            "{}/repos/{REPO}/collaborators/{login}/permission",
            fake.api_url()
        )
    };
    let mia = curl("GET", &url("mia"), bearer(), None);
    assert_eq!(mia.status, 200);
    let mia = mia.json();
    assert_eq!(mia["permission"], "write");
    assert_eq!(mia["role_name"], "maintain");
    assert_eq!(mia["user"]["login"], "mia");
    assert_eq!(mia["user"]["role_name"], "maintain");
    assert_eq!(
        mia["user"]["permissions"],
        json!({ "admin": false, "maintain": true, "push": true, "triage": true, "pull": true })
    );
    let mallory = curl("GET", &url("mallory"), bearer(), None);
    assert_eq!(mallory.status, 404);
    assert_eq!(mallory.json()["message"], "Not Found");

    // Only a 404 means no access: a server error stays an error.
    fake.fail_next("GET", "/collaborators/ada/permission", 502, 2);
    let failed = github.collaborator_permission("ada").await.unwrap_err();
    assert_eq!(failed.status, Some(502), "{failed}");
    // A repository the token cannot see answers 404 too, and so grants nothing.
    let hidden = client_for(&fake, "acme/secret");
    assert_eq!(
        hidden.collaborator_permission("ada").await.unwrap(),
        Permission::none()
    );

    // Push access also makes a collaborator for review requests, besides set_collaborators.
    fake.add_pull(
        REPO,
        FakePull {
            number: 7,
            ..FakePull::default()
        },
    );
    fake.set_collaborators(REPO, ["bob"]);
    github
        .request_reviewers(7, &strings(&["bob", "mia"]))
        .await
        .unwrap();
    let refused = github
        .request_reviewers(7, &strings(&["tia"]))
        .await
        .unwrap_err();
    assert!(refused.is_unprocessable(), "{refused}");
    assert_eq!(fake.pulls(REPO)[0].requested_reviewers, ["bob", "mia"]);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_sent_as_one_percent_encoded_path_segment() {
    let fake = FakeGitHub::start(TOKEN);
    fake.set_permission(REPO, "deploy-bot[bot]", "write");
    fake.set_permission(REPO, "a b/c?d#e%", "admin");
    fake.set_permission(REPO, "..", "read");
    let github = client(&fake);

    assert_eq!(
        github
            .collaborator_permission("deploy-bot[bot]")
            .await
            .unwrap(),
        permission("write", Some("write"))
    );
    assert_eq!(
        github.collaborator_permission("a b/c?d#e%").await.unwrap(),
        permission("admin", Some("admin"))
    );
    assert_eq!(
        github.collaborator_permission("..").await.unwrap(),
        permission("read", Some("read"))
    );
    // Unescaped, this would address the pull request endpoint.
    assert_eq!(
        github
            .collaborator_permission("x/../../../pulls/7?")
            .await
            .unwrap(),
        Permission::none()
    );
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    let base = format!("/api/v3/repos/{REPO}/collaborators");
    assert_eq!(
        paths,
        [
            format!("{base}/deploy-bot%5Bbot%5D/permission"),
            format!("{base}/a%20b%2Fc%3Fd%23e%25/permission"),
            format!("{base}/%2E%2E/permission"),
            format!("{base}/x%2F%2E%2E%2F%2E%2E%2F%2E%2E%2Fpulls%2F7%3F/permission"),
        ]
    );
    assert!(fake.requests().iter().all(|r| r.query.is_empty()));

    // Nobody has an empty login; no request is sent for one.
    assert_eq!(
        github.collaborator_permission("").await.unwrap(),
        Permission::none()
    );
    assert_eq!(fake.requests().len(), 4);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_is_added_once_per_content() {
    let fake = FakeGitHub::start(TOKEN);
    let id = fake.add_comment(REPO, 7, "alice", "/promote production");
    let other = fake.add_comment(REPO, 7, "bob", "/diff");
    let github = client(&fake);

    let comment = github.comment(id).await.unwrap();
    assert_eq!(comment.id, id);
    assert_eq!(comment.body.as_deref(), Some("/promote production"));
    assert_eq!(comment.user.map(|u| u.login).as_deref(), Some("alice"));

    github.add_reaction(id, "eyes").await.unwrap();
    github.add_reaction(id, "eyes").await.unwrap();
    github.add_reaction(id, "rocket").await.unwrap();
    assert_eq!(fake.reactions(REPO, id), ["eyes", "rocket"]);
    assert!(fake.reactions(REPO, other).is_empty());
    let sent: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| format!("{} {}", r.path, r.body))
        .collect();
    let path = format!("/api/v3/repos/{REPO}/issues/comments/{id}/reactions");
    assert_eq!(
        sent,
        [
            format!("{path} {{\"content\":\"eyes\"}}"),
            format!("{path} {{\"content\":\"eyes\"}}"),
            format!("{path} {{\"content\":\"rocket\"}}"),
        ]
    );

    // 201 for a new reaction, 200 with the same one when it is there already.
    let url = format!(
        "{}/repos/{REPO}/issues/comments/{id}/reactions",
        fake.api_url()
    );
    let created = curl("POST", &url, bearer(), Some(&json!({ "content": "+1" })));
    assert_eq!(created.status, 201);
    let created = created.json();
    assert_eq!(created["content"], "+1");
    assert_eq!(created["user"]["login"], BOT_LOGIN);
    assert!(created["node_id"].is_string() && created["created_at"].is_string());
    let again = curl("POST", &url, bearer(), Some(&json!({ "content": "+1" })));
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), created);
    assert_eq!(fake.reactions(REPO, id), ["eyes", "rocket", "+1"]);

    // The comment's rollup counts them.
    let read = curl(
        "GET",
        &format!("{}/repos/{REPO}/issues/comments/{id}", fake.api_url()),
        bearer(),
        None,
    )
    .json();
    assert_eq!(read["reactions"]["total_count"], 3);
    assert_eq!(read["reactions"]["eyes"], 1);
    assert_eq!(read["reactions"]["+1"], 1);
    assert_eq!(read["reactions"]["heart"], 0);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_are_refused_where_github_refuses_them() {
    let fake = FakeGitHub::start(TOKEN);
    let id = fake.add_comment(REPO, 7, "alice", "/deploy-branch feature");
    let github = client(&fake);

    let unknown = github.add_reaction(id + 1, "eyes").await.unwrap_err();
    assert_eq!(unknown.status, Some(404), "{unknown}");
    let missing = github.comment(id + 1).await.unwrap_err();
    assert_eq!(missing.status, Some(404), "{missing}");

    let invalid = github.add_reaction(id, "smile").await.unwrap_err();
    assert!(invalid.is_unprocessable(), "{invalid}");
    assert!(
        invalid
            .detail
            .contains("For 'properties/content', \"smile\" is not one of [\"+1\", \"-1\","),
        "{invalid}"
    );
    let url = format!(
        "{}/repos/{REPO}/issues/comments/{id}/reactions",
        fake.api_url()
    );
    let no_content = curl("POST", &url, bearer(), Some(&json!({})));
    assert_eq!(no_content.status, 422);
    assert!(fake.reactions(REPO, id).is_empty());

    // A read-only token cannot react; a deleted comment takes its reactions along.
    fake.set_read_only(true);
    let forbidden = github.add_reaction(id, "eyes").await.unwrap_err();
    assert!(forbidden.is_forbidden(), "{forbidden}");
    fake.set_read_only(false);
    github.add_reaction(id, "eyes").await.unwrap();
    github.delete_comment(id).await.unwrap();
    assert!(fake.reactions(REPO, id).is_empty());

    // The two bodies outside the description are reported; nothing else is.
    let violations = fake.violations();
    assert_eq!(violations.len(), 2, "{violations:#?}");
    assert!(
        violations[0].contains("body.content is \"smile\", not one of"),
        "{violations:#?}"
    );
    assert!(
        violations[1].contains("body lacks the required field `content`"),
        "{violations:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Who the token is, and rate limits that outlast the retries
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_user_is_refused_to_an_installation_token_and_names_a_pat_s_user() {
    let fake = FakeGitHub::start(TOKEN);
    fake.add_comment(REPO, 7, "alice", "LGTM");
    let url = format!("{}/user", fake.api_url());
    let github = client(&fake);

    let refused = curl("GET", &url, bearer(), None);
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.json()["message"],
        "Resource not accessible by integration"
    );
    assert_eq!(
        refused.json()["documentation_url"],
        "https://docs.github.com/rest/users/users#get-the-authenticated-user"
    );
    assert_eq!(github.authenticated_login().await.unwrap(), None);
    assert_eq!(curl("GET", &url, None, None).status, 401);

    let bot_comment = github.create_comment(7, "by the bot").await.unwrap();
    let bot = bot_comment.user.unwrap();
    assert_eq!(bot.login, BOT_LOGIN);
    assert!(bot.is_bot());

    fake.set_token_user("ci-user");
    let me = curl("GET", &url, bearer(), None);
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["login"], "ci-user");
    assert_eq!(me.json()["type"], "User");
    assert_eq!(
        github.authenticated_login().await.unwrap().as_deref(),
        Some("ci-user")
    );
    let pat_comment = github.create_comment(7, "by the PAT").await.unwrap();
    let author = pat_comment.user.unwrap();
    assert_eq!(author.login, "ci-user");
    assert!(!author.is_bot());
    github.add_reaction(pat_comment.id, "eyes").await.unwrap();
    let authors: Vec<(String, bool)> = github
        .comments(7)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.user.unwrap())
        .map(|u| (u.login.clone(), u.is_bot()))
        .collect();
    assert_eq!(
        authors,
        [
            ("alice".to_owned(), false),
            (BOT_LOGIN.to_owned(), true),
            ("ci-user".to_owned(), false)
        ]
    );
    assert_eq!(fake.reactions(REPO, pat_comment.id), ["eyes"]);
    // Both answers of GET /user, the 200 checked against the description's private-user.
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_that_outlasts_the_retries_is_an_error_not_a_refusal() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_pull(REPO, repo.pull());
    let github = client(&fake);

    // Primary limit, reset within the 2s the client waits: waited out once, then still limited
    // on the last attempt.
    fake.rate_limit_next("GET", "/pulls/7", 403, 1, 2);
    let still = github.pull(7).await.unwrap_err();
    assert_eq!(still.status, Some(403), "{still}");
    assert!(still.is_rate_limited(), "{still}");
    assert!(
        !still.is_forbidden(),
        "a rate limit is no read-only token: {still}"
    );
    assert!(still.detail.contains("rate limit"), "{still}");

    // A reset later than the client waits for: reported at once, as a rate limit as well.
    fake.rate_limit_next("POST", "/issues/7/comments", 403, 3600, 1);
    let later = github.create_comment(7, "x").await.unwrap_err();
    assert_eq!(later.status, Some(403), "{later}");
    assert!(later.is_rate_limited() && !later.is_forbidden(), "{later}");

    fake.rate_limit_next("GET", "/pulls/7", 429, 1, 2);
    let secondary = github.pull(7).await.unwrap_err();
    assert_eq!(secondary.status, Some(429), "{secondary}");
    assert!(secondary.is_rate_limited() && !secondary.is_forbidden());

    // A plain 403 is still a refusal, and a rate limit does not stick.
    fake.fail_next("GET", "/pulls/7", 403, 1);
    let refused = github.pull(7).await.unwrap_err();
    assert!(
        refused.is_forbidden() && !refused.is_rate_limited(),
        "{refused}"
    );
    assert_eq!(github.pull(7).await.unwrap().number, 7);
    assert_eq!(fake.comments(REPO, 7).len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_still_takes_effect_on_the_fake() {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    fake.add_pull(REPO, repo.pull());
    let once = GitHub::new(
        &fake.api_url(),
        &fake.graphql_url(),
        REPO,
        &secrecy::SecretString::from(TOKEN),
        RetryPolicy {
            attempts: 1,
            base_delay: std::time::Duration::from_millis(10),
            max_wait: std::time::Duration::from_secs(2),
        },
    )
    .unwrap();

    // Adding labels is sent once and not looked for again, so the client sees the 502.
    fake.lose_response_next("POST", "/issues/7/labels", 502, 1);
    let lost = once
        .add_labels(7, &strings(&["promotion"]))
        .await
        .unwrap_err();
    assert_eq!(lost.status, Some(502), "{lost}");
    let labels = fake
        .pulls(REPO)
        .into_iter()
        .find(|p| p.number == 7)
        .unwrap()
        .labels;
    assert_eq!(
        labels,
        ["promotion"],
        "the request took effect all the same"
    );

    // Consumed: the next request is answered normally.
    once.create_comment(7, "answered").await.unwrap();
    assert_eq!(fake.comments(REPO, 7).len(), 1);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

/// A served repository with PR #7, a pushed promotion branch and a client that tries twice.
fn lost_response_setup() -> (ServedRepo, FakeGitHub, GitHub) {
    let repo = ServedRepo::new();
    let fake = FakeGitHub::start(TOKEN);
    fake.add_repo(REPO, &repo.bare);
    fake.add_pull(REPO, repo.pull());
    push_branch(&repo, "promote/pr-7", &repo.pr_head);
    let github = client(&fake);
    (repo, fake, github)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_whose_response_was_lost_is_found_not_posted_twice() {
    let (_repo, fake, github) = lost_response_setup();
    fake.lose_response_next("POST", "/issues/7/comments", 502, 1);
    let comment = github.create_comment(7, "the report").await.unwrap();
    let comments = fake.comments(REPO, 7);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert_eq!(comment.id, comments[0].id);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_whose_response_was_lost_is_found_not_refused() {
    let (_repo, fake, github) = lost_response_setup();
    fake.lose_response_next("POST", "/pulls", 502, 1);
    let pull = github
        .create_pull(&promotion("promote/pr-7", false))
        .await
        .unwrap();
    let opened: Vec<u64> = fake
        .pulls(REPO)
        .into_iter()
        .filter(|p| p.head_ref == "promote/pr-7")
        .map(|p| p.number)
        .collect();
    assert_eq!(opened, [pull.number]);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_writes_whose_response_was_lost_are_sent_again() {
    let (_repo, fake, github) = lost_response_setup();
    let pull = github
        .create_pull(&promotion("promote/pr-7", false))
        .await
        .unwrap();
    // Adding a label twice changes nothing: simply sent again.
    fake.lose_response_next("POST", &format!("/issues/{}/labels", pull.number), 502, 1);
    github
        .add_labels(pull.number, &strings(&["promotion"]))
        .await
        .unwrap();
    let labels = fake
        .pulls(REPO)
        .into_iter()
        .find(|p| p.number == pull.number)
        .unwrap()
        .labels;
    assert_eq!(labels, ["promotion"]);

    // A delete that took effect is done, not a 404 on the second try.
    let comment = github.create_comment(7, "old report").await.unwrap();
    fake.lose_response_next(
        "DELETE",
        &format!("/issues/comments/{}", comment.id),
        502,
        1,
    );
    github.delete_comment(comment.id).await.unwrap();
    assert!(fake.comments(REPO, 7).is_empty());
    assert_eq!(fake.violations(), Vec::<String>::new());
}
