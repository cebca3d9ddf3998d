//! Fixtures for the integration tests: real git repositories in temp dirs, real kustomize (through
//! `kubectl kustomize`), and the real `gitops-promote` binary. Nothing here is mocked.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// No single run of the binary may take longer than this; a hang fails the test instead of the suite.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Every commit is made at this instant.
const COMMIT_DATE: &str = "2025-01-01T12:00:00Z";

// ---------------------------------------------------------------------------------------------
// The typical GitOps repository
// ---------------------------------------------------------------------------------------------

pub const README: &str = "# deployments\n\nStaging follows develop, production follows master.\n";

pub const BASE_KUSTOMIZATION: &str = "\
resources:
- deployment.yaml
- service.yaml
configMapGenerator:
- name: web-config
  literals:
  - LOG_LEVEL=info
";

pub const BASE_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25.0
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef:
            name: web-config
";

pub const BASE_SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
";

pub const STAGING_KUSTOMIZATION: &str = "\
namespace: staging
resources:
- ../../base
images:
- name: nginx
  newTag: 1.25.0
replicas:
- name: web
  count: 1
";

pub const PRODUCTION_KUSTOMIZATION: &str = "\
namespace: production
resources:
- ../../base
images:
- name: nginx
  newTag: 1.24.0
replicas:
- name: web
  count: 3
";

/// An overlay in the same shape as staging and production, for tests that add one.
pub fn overlay_kustomization(namespace: &str, tag: &str, replicas: u32) -> String {
    format!(
        "namespace: {namespace}\nresources:\n- ../../base\nimages:\n- name: nginx\n  newTag: {tag}\n\
         replicas:\n- name: web\n  count: {replicas}\n"
    )
}

// ---------------------------------------------------------------------------------------------
// GitRepo
// ---------------------------------------------------------------------------------------------

/// A git repository in a temp dir, driven through the `git` CLI (so the binary under test reads a
/// repository written by the real tool, not by the same library it uses).
pub struct GitRepo {
    dir: TempDir,
}

impl GitRepo {
    /// An empty repository on branch `master`, with an identity and no signing.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("gitops-promote-repo-")
            .tempdir()
            .expect("create temp dir for the repository");
        let repo = GitRepo { dir };
        repo.git(&["init", "-q", "-b", "master"]);
        repo.git(&["config", "user.name", "Test Author"]);
        repo.git(&["config", "user.email", "test@example.com"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo.git(&["config", "tag.gpgsign", "false"]);
        repo.git(&["config", "core.autocrlf", "false"]);
        repo.git(&["config", "core.symlinks", "true"]);
        repo
    }

    /// The repository every deployment team starts from:
    ///
    /// ```text
    /// README.md
    /// base/            Deployment web (nginx:1.25.0, envFrom ConfigMap web-config),
    ///                  Service web, configMapGenerator web-config (LOG_LEVEL=info)
    /// overlays/staging     namespace staging,    tag 1.25.0, 1 replica
    /// overlays/production  namespace production, tag 1.24.0, 3 replicas
    /// ```
    ///
    /// committed on `master`, with `develop` branched from it and checked out, so a test writes
    /// its change, commits it on `develop`, and diffs `master` against `develop`.
    pub fn base_and_two_overlays() -> Self {
        GitRepo::base_and_two_overlays_with(&[])
    }

    /// [`GitRepo::base_and_two_overlays`], with `files` (path, content) written over the layout
    /// before the first commit, so `master` already holds them.
    pub fn base_and_two_overlays_with(files: &[(&str, &str)]) -> Self {
        let repo = GitRepo::new();
        repo.write("README.md", README)
            .write("base/kustomization.yaml", BASE_KUSTOMIZATION)
            .write("base/deployment.yaml", BASE_DEPLOYMENT)
            .write("base/service.yaml", BASE_SERVICE)
            .write("overlays/staging/kustomization.yaml", STAGING_KUSTOMIZATION)
            .write(
                "overlays/production/kustomization.yaml",
                PRODUCTION_KUSTOMIZATION,
            );
        for (path, content) in files {
            repo.write(path, content);
        }
        repo.commit("initial layout");
        repo.branch("develop");
        repo.checkout("develop");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, path: &str) -> PathBuf {
        self.dir.path().join(path)
    }

    /// Writes `content` to the repo-relative `path`, creating parent directories.
    pub fn write(&self, path: &str, content: &str) -> &Self {
        let full = self.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        // A symlink left by an earlier step would redirect the write; replace it instead.
        if full
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            fs::remove_file(&full).expect("remove symlink before writing");
        }
        fs::write(&full, content).unwrap_or_else(|e| panic!("write {path}: {e}"));
        self
    }

    /// Replaces the one occurrence of `from` in `path` with `to`; panics if `from` is not there, so a
    /// fixture that drifted from the test's assumption fails loudly instead of testing nothing.
    pub fn edit(&self, path: &str, from: &str, to: &str) -> &Self {
        let before = self.read(path);
        assert_eq!(
            before.matches(from).count(),
            1,
            "expected exactly one {from:?} in {path}:\n{before}"
        );
        self.write(path, &before.replacen(from, to, 1))
    }

    pub fn read(&self, path: &str) -> String {
        fs::read_to_string(self.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    pub fn read_bytes(&self, path: &str) -> Vec<u8> {
        fs::read(self.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    /// Removes a file or a whole directory.
    pub fn remove(&self, path: &str) -> &Self {
        let full = self.join(path);
        let meta = full
            .symlink_metadata()
            .unwrap_or_else(|e| panic!("remove {path}: {e}"));
        if meta.is_dir() {
            fs::remove_dir_all(&full).expect("remove directory");
        } else {
            fs::remove_file(&full).expect("remove file");
        }
        self
    }

    /// Creates a symlink at `path` whose target is `target`, verbatim (relative or absolute).
    pub fn symlink(&self, path: &str, target: impl AsRef<Path>) -> &Self {
        let full = self.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        std::os::unix::fs::symlink(target.as_ref(), &full)
            .unwrap_or_else(|e| panic!("symlink {path}: {e}"));
        self
    }

    /// Stages everything and commits; returns the new commit's sha.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&[
            "commit",
            "-q",
            "--allow-empty",
            "--no-verify",
            "-m",
            message,
        ]);
        self.sha("HEAD")
    }

    /// Creates `name` at HEAD without switching to it.
    pub fn branch(&self, name: &str) {
        self.git(&["branch", name]);
    }

    pub fn checkout(&self, name: &str) {
        self.git(&["checkout", "-q", name]);
    }

    pub fn tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    /// The full sha `rev` resolves to.
    pub fn sha(&self, rev: &str) -> String {
        self.git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")])
            .trim()
            .to_owned()
    }

    /// Runs git in the repository and returns its stdout; panics with stderr on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let out = StdCommand::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            // Fixed dates make every sha reproducible, so snapshots can show them.
            .env("GIT_AUTHOR_DATE", COMMIT_DATE)
            .env("GIT_COMMITTER_DATE", COMMIT_DATE)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("git output is UTF-8")
    }

    /// Renders an overlay of the work tree with the real kustomize, for tests that need to know
    /// what kustomize itself produced (e.g. a generated name) instead of hard-coding it.
    pub fn kustomize(&self, overlay: &str) -> String {
        let out = StdCommand::new("kubectl")
            .args(["kustomize", overlay])
            .current_dir(self.path())
            .output()
            .expect("run kubectl kustomize");
        assert!(
            out.status.success(),
            "kubectl kustomize {overlay} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("kustomize output is UTF-8")
    }

    /// The name kustomize generates today for the ConfigMap/Secret `prefix` in `overlay`,
    /// e.g. `web-config-7t2h5g9m2f` for `web-config`.
    pub fn generated_name(&self, overlay: &str, prefix: &str) -> String {
        let rendered = self.kustomize(overlay);
        let wanted = format!("{prefix}-");
        rendered
            .lines()
            .filter_map(|l| l.trim().strip_prefix("name: "))
            .find(|name| {
                name.strip_prefix(&wanted).is_some_and(|hash| {
                    hash.len() == 10 && hash.chars().all(|c| c.is_ascii_alphanumeric())
                })
            })
            .unwrap_or_else(|| panic!("no generated {prefix}-<hash> in {overlay}:\n{rendered}"))
            .to_owned()
    }

    /// A `gitops-promote` command that runs in this repository (`--repo` defaults to `.`).
    pub fn command(&self) -> Command {
        let mut cmd = Command::cargo_bin("gitops-promote").expect("the gitops-promote binary");
        cmd.current_dir(self.path())
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_TOKEN")
            .env_remove("CLICOLOR_FORCE")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .timeout(RUN_TIMEOUT);
        cmd
    }

    /// Runs `gitops-promote diff ARGS...` in this repository.
    pub fn run_diff(&self, args: &[&str]) -> Outcome {
        self.diff_with().run(args)
    }

    /// A `gitops-promote diff` run to adjust (environment, working directory) before running it.
    pub fn diff_with(&self) -> DiffRun {
        DiffRun {
            cmd: self.command(),
        }
    }

    /// Runs `gitops-promote diff --base BASE --head HEAD --format json EXTRA...`.
    pub fn diff_json(&self, base: &str, head: &str, extra: &[&str]) -> Outcome {
        let mut args = vec!["--base", base, "--head", head, "--format", "json"];
        args.extend_from_slice(extra);
        self.run_diff(&args)
    }

    /// Runs `gitops-promote diff --base BASE --head HEAD --format FORMAT EXTRA...`.
    pub fn diff_as(&self, format: &str, base: &str, head: &str, extra: &[&str]) -> Outcome {
        let mut args = vec!["--base", base, "--head", head, "--format", format];
        args.extend_from_slice(extra);
        self.run_diff(&args)
    }
}

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// A `gitops-promote diff` command being prepared.
pub struct DiffRun {
    cmd: Command,
}

impl DiffRun {
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    pub fn run(mut self, args: &[&str]) -> Outcome {
        self.cmd.arg("diff").args(args);
        Outcome::of(&mut self.cmd, args)
    }
}

/// What one run of the binary did.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    args: String,
}

impl Outcome {
    pub fn of(cmd: &mut Command, args: &[&str]) -> Outcome {
        let out = cmd.output().expect("run gitops-promote");
        Outcome {
            // A timeout or a signal has no code; -1 never matches an expected one.
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            args: args.join(" "),
        }
    }

    /// stdout and stderr together, for "never appears anywhere" checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts the exit code, showing everything the binary said when it differs.
    #[track_caller]
    pub fn assert_code(self, expected: i32) -> Self {
        assert_eq!(
            self.code, expected,
            "`gitops-promote diff {}` exited {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    /// stdout parsed as the JSON report.
    #[track_caller]
    pub fn report(&self) -> Report {
        let value: Value = serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of `gitops-promote diff {}` is not JSON ({e}); exit {}\n--- stdout\n{}\n--- stderr\n{}",
                self.args, self.code, self.stdout, self.stderr
            )
        });
        Report(value)
    }
}

// ---------------------------------------------------------------------------------------------
// The JSON report, read in the user's words
// ---------------------------------------------------------------------------------------------

pub struct Report(pub Value);

impl Report {
    pub fn overlays(&self) -> &Vec<Value> {
        self.0["overlays"]
            .as_array()
            .unwrap_or_else(|| panic!("report has no overlays array:\n{:#}", self.0))
    }

    /// `(path, status)` of every listed overlay, sorted by path.
    pub fn statuses(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .overlays()
            .iter()
            .map(|o| (str_of(&o["path"]), str_of(&o["status"])))
            .collect();
        all.sort();
        all
    }

    #[track_caller]
    pub fn overlay(&self, path: &str) -> Overlay<'_> {
        let found = self
            .overlays()
            .iter()
            .find(|o| o["path"] == path)
            .unwrap_or_else(|| {
                panic!(
                    "no overlay {path:?} in the report; listed: {:?}\n{:#}",
                    self.statuses(),
                    self.0
                )
            });
        Overlay(found)
    }

    pub fn stat(&self, name: &str) -> u64 {
        self.0["stats"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("stats.{name} is not a count: {:#}", self.0["stats"]))
    }
}

pub struct Overlay<'a>(pub &'a Value);

impl Overlay<'_> {
    pub fn status(&self) -> String {
        str_of(&self.0["status"])
    }

    pub fn error(&self) -> String {
        str_of(&self.0["error"])
    }

    pub fn resources(&self) -> Vec<&Value> {
        self.0["resources"]
            .as_array()
            .unwrap_or_else(|| panic!("overlay has no resources array: {:#}", self.0))
            .iter()
            .collect()
    }

    /// One line per resource, `"<change> <kind> <namespace>/<name>"` (`-` for no namespace),
    /// sorted: the shape of a change at a glance.
    pub fn changes(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .resources()
            .iter()
            .map(|r| {
                let namespace = r["namespace"].as_str().unwrap_or("-");
                format!(
                    "{} {} {}/{}",
                    str_of(&r["change"]),
                    str_of(&r["kind"]),
                    namespace,
                    str_of(&r["name"])
                )
            })
            .collect();
        all.sort();
        all
    }

    /// The one resource of `kind` whose name is `name`, or starts with `name-` followed by a
    /// kustomize hash (so tests can ask for `web-config` without knowing the suffix).
    #[track_caller]
    pub fn resource(&self, kind: &str, name: &str) -> &Value {
        let matches: Vec<&Value> = self
            .resources()
            .into_iter()
            .filter(|r| r["kind"] == kind && name_matches(&str_of(&r["name"]), name))
            .collect();
        assert_eq!(
            matches.len(),
            1,
            "expected one {kind} {name} in {}, found {}: {:?}",
            str_of(&self.0["path"]),
            matches.len(),
            self.changes()
        );
        matches[0]
    }

    pub fn diff_of(&self, kind: &str, name: &str) -> String {
        str_of(&self.resource(kind, name)["diff"])
    }
}

fn name_matches(actual: &str, wanted: &str) -> bool {
    actual == wanted
        || actual
            .strip_prefix(wanted)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|hash| hash.len() == 10 && hash.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A JSON string as an owned String; `""` marks a missing or non-string field in failure output.
pub fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// `[("overlays/production", "unchanged"), ...]` as owned pairs, for comparing with `statuses()`.
pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reading unified diffs
// ---------------------------------------------------------------------------------------------

/// Lines the diff removes (`-` but not the `---` header).
pub fn removed_lines(diff: &str) -> Vec<&str> {
    diff.lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect()
}

/// Lines the diff adds (`+` but not the `+++` header).
pub fn added_lines(diff: &str) -> Vec<&str> {
    diff.lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect()
}

#[track_caller]
pub fn assert_removes(diff: &str, text: &str) {
    assert!(
        removed_lines(diff).iter().any(|l| l.contains(text)),
        "expected a removed line containing {text:?} in:\n{diff}"
    );
}

#[track_caller]
pub fn assert_adds(diff: &str, text: &str) {
    assert!(
        added_lines(diff).iter().any(|l| l.contains(text)),
        "expected an added line containing {text:?} in:\n{diff}"
    );
}

// ---------------------------------------------------------------------------------------------
// Kustomize wrappers
// ---------------------------------------------------------------------------------------------

/// A `--kustomize` command that logs each invocation's arguments, one line per build, then runs
/// the real `kubectl kustomize`. Keep the returned TempDir alive for the duration of the test.
pub struct KustomizeCounter {
    _dir: TempDir,
    pub script: PathBuf,
    pub log: PathBuf,
}

impl KustomizeCounter {
    /// The script's path, for `--kustomize`.
    pub fn command(&self) -> &str {
        self.script.to_str().expect("temp path is UTF-8")
    }

    /// How many builds ran.
    pub fn builds(&self) -> usize {
        self.invocations().len()
    }

    /// The arguments of each build, one string per build.
    pub fn invocations(&self) -> Vec<String> {
        match fs::read_to_string(&self.log) {
            Ok(text) => text.lines().map(str::to_owned).collect(),
            Err(_) => Vec::new(),
        }
    }
}

pub fn kustomize_counter() -> KustomizeCounter {
    let dir = tempfile::Builder::new()
        .prefix("gitops-promote-kustomize-")
        .tempdir()
        .expect("temp dir for the wrapper");
    let log = dir.path().join("builds.log");
    let script = write_script(
        dir.path(),
        "kustomize-counter.sh",
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec kubectl kustomize \"$@\"\n",
            log.display()
        ),
    );
    KustomizeCounter {
        _dir: dir,
        script,
        log,
    }
}

/// Writes an executable script and returns its path.
pub fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, body).expect("write script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod script");
    path
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// Standard base64 (with padding), the encoding of a Secret's `data`.
pub fn base64(input: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = input.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Asserts that no secret value, plain or base64, appears in `text`.
#[track_caller]
pub fn assert_no_secret_in(text: &str, secrets: &[&str], where_: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "secret value {secret:?} leaked into {where_}:\n{text}"
        );
        let encoded = base64(secret);
        assert!(
            !text.contains(&encoded),
            "base64 of secret value {secret:?} ({encoded}) leaked into {where_}:\n{text}"
        );
        // Without padding, as some renderers strip it.
        let unpadded = encoded.trim_end_matches('=');
        assert!(
            !text.contains(unpadded),
            "unpadded base64 of secret value {secret:?} leaked into {where_}:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

/// A fenced code block of a markdown document.
pub struct Fence {
    /// Number of backticks in the opening (and closing) fence.
    pub len: usize,
    pub info: String,
    pub body: String,
}

/// The backtick-fenced blocks of `md`, following CommonMark's rule that a block closes at the
/// first line of at least as many backticks and nothing else. Panics on an unclosed block.
pub fn fenced_blocks(md: &str) -> Vec<Fence> {
    let mut blocks = Vec::new();
    let mut lines = md.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let ticks = trimmed.chars().take_while(|&c| c == '`').count();
        if ticks < 3 {
            continue;
        }
        let info = trimmed[ticks..].trim().to_owned();
        let mut body = String::new();
        let mut closed = false;
        for inner in lines.by_ref() {
            let t = inner.trim();
            if t.len() >= ticks && t.chars().all(|c| c == '`') {
                closed = true;
                break;
            }
            body.push_str(inner);
            body.push('\n');
        }
        assert!(
            closed,
            "unclosed code fence ({ticks} backticks, {info:?}) in:\n{md}"
        );
        blocks.push(Fence {
            len: ticks,
            info,
            body,
        });
    }
    blocks
}

/// The longest run of consecutive backticks in `text`.
pub fn longest_backtick_run(text: &str) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for c in text.chars() {
        if c == '`' {
            current += 1;
            longest = longest.max(current);
        } else {
            current = 0;
        }
    }
    longest
}

/// Replaces wall-clock figures such as `in 0.4s` with `in [secs]`, so reports can be snapshotted.
pub fn mask_durations(text: &str) -> String {
    text.lines()
        .map(|line| match line.rfind(" in ") {
            Some(at) => {
                let figure = &line[at + 4..];
                let is_duration = figure.strip_suffix('s').is_some_and(|n| {
                    !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.')
                });
                if is_duration {
                    format!("{} in [secs]", &line[..at])
                } else {
                    line.to_owned()
                }
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
