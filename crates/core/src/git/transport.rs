//! Fetches with the git CLI, as actions/checkout itself does.
//!
//! libgit2 mishandles a shallow workspace: it offers the depth-1 commit that actions/checkout
//! left as a `have`, so the server sends nothing and the commit keeps its graft (no parents).
//! Every test merge then looked like a root commit and every promotion like a conflict. git
//! itself negotiates shallow boundaries correctly, deepens what is shallow and leaves a full
//! clone whole, so fetches go through it.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use crate::process_group::ProcessGroup;

/// How long one fetch may take before its whole process group is killed.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(600);
/// A transfer slower than this many bytes a second for [`STALL_SECONDS`] is given up.
const STALL_BYTES_PER_SECOND: &str = "1000";
const STALL_SECONDS: &str = "60";
/// git's stderr kept for an error message; a failing fetch says why in its last lines.
const STDERR_CAP: usize = 16 * 1024;

/// How much history a fetch brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// At most this many commits from each fetched tip in a shallow repository. A complete
    /// repository stays complete: git would otherwise graft the new commits' history away.
    Commits(u32),
    /// Everything: a shallow repository is made whole.
    Everything,
}

/// One `git fetch` of `refspecs` from `url` into the repository at `git_dir`.
pub(crate) struct Fetch<'a> {
    pub(crate) git_dir: &'a Path,
    pub(crate) url: &'a str,
    pub(crate) token: Option<&'a SecretString>,
    pub(crate) refspecs: &'a [String],
    pub(crate) depth: Depth,
    pub(crate) shallow: bool,
    pub(crate) timeout: Duration,
}

impl Fetch<'_> {
    /// The arguments after `git`, without any credential: the token only travels in the
    /// environment, so it is never visible in a process list.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "--git-dir",
            &self.git_dir.to_string_lossy(),
            "fetch",
            "--no-tags",
            "--no-recurse-submodules",
            "--no-write-fetch-head",
            "--no-auto-gc",
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match (self.shallow, self.depth) {
            (false, _) => {}
            (true, Depth::Commits(n)) => args.push(format!("--depth={n}")),
            (true, Depth::Everything) => args.push("--unshallow".to_string()),
        }
        args.push("--".to_string());
        args.push(self.url.to_string());
        args.extend(self.refspecs.iter().cloned());
        args
    }

    /// Configuration given through `GIT_CONFIG_*`, which git reads as command-line settings.
    fn config(&self) -> Vec<(String, String)> {
        let mut config = vec![
            ("protocol.version".to_string(), "2".to_string()),
            (
                "http.lowSpeedLimit".to_string(),
                STALL_BYTES_PER_SECOND.to_string(),
            ),
            ("http.lowSpeedTime".to_string(), STALL_SECONDS.to_string()),
            // A stale credential helper must not answer in the token's place or prompt.
            ("credential.helper".to_string(), String::new()),
            ("gc.auto".to_string(), "0".to_string()),
            (
                "safe.directory".to_string(),
                self.git_dir.to_string_lossy().into_owned(),
            ),
        ];
        if let Some(token) = self.token {
            // actions/checkout persists its own `http.<server>/.extraheader`. A key for the full
            // URL is more specific, so git sends ours alone; the empty value first clears any
            // header configured for the very same URL.
            let key = format!("http.{}.extraheader", self.url);
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("x-access-token:{}", token.expose_secret()));
            config.push((key.clone(), String::new()));
            config.push((key, format!("AUTHORIZATION: basic {basic}")));
        }
        config
    }

    /// Runs the fetch. The error is git's own explanation, with the token scrubbed.
    pub(crate) fn run(&self) -> Result<(), String> {
        let mut command = Command::new("git");
        command
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env_remove("GIT_TRACE_REDACT")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE");
        let config = self.config();
        command.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.iter().enumerate() {
            command
                .env(format!("GIT_CONFIG_KEY_{i}"), key)
                .env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        let outcome = run_bounded(command, self.timeout)?;
        let stderr = self.scrub(&outcome.stderr);
        match outcome.status {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(format!(
                "git fetch failed ({status}): {}",
                last_lines(&stderr, 6)
            )),
            None => Err(format!(
                "git fetch did not finish within {} s and was stopped{}",
                self.timeout.as_secs(),
                if stderr.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", last_lines(&stderr, 6))
                }
            )),
        }
    }

    fn scrub(&self, text: &str) -> String {
        match self.token.map(|t| t.expose_secret()) {
            Some(token) if !token.is_empty() => text.replace(token, "***"),
            _ => text.to_string(),
        }
    }
}

struct Outcome {
    /// `None` when the command was stopped at the deadline.
    status: Option<std::process::ExitStatus>,
    stderr: String,
}

/// Runs `command` in a process group of its own, keeping at most [`STDERR_CAP`] bytes of its
/// stderr, and kills the whole group at the deadline: git runs helpers (`git-remote-http`,
/// `index-pack`) that would otherwise outlive it.
fn run_bounded(mut command: Command, timeout: Duration) -> Result<Outcome, String> {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    // Dropped on every way out, so nothing git started outlives the fetch.
    let group = ProcessGroup(child.id());
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match stderr.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = STDERR_CAP.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                drop(group);
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                drop(group);
                return Err(format!("waiting for git failed: {e}"));
            }
        }
    };
    let stderr = reader.join().unwrap_or_default();
    Ok(Outcome { status, stderr })
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(n);
    match lines[start..].join(" / ") {
        s if s.is_empty() => "git printed nothing".to_string(),
        s => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(shallow: bool, depth: Depth) -> Vec<String> {
        Fetch {
            git_dir: Path::new("/ws/.git"),
            url: "https://github.com/acme/m.git",
            token: None,
            refspecs: &["+refs/pull/7/merge:refs/x".to_string()],
            depth,
            shallow,
            timeout: FETCH_TIMEOUT,
        }
        .args()
    }

    #[test]
    fn a_complete_repository_is_never_fetched_shallowly() {
        let args = fetch(false, Depth::Commits(2));
        assert!(!args.iter().any(|a| a.starts_with("--depth")), "{args:?}");
        assert!(!args.contains(&"--unshallow".to_string()), "{args:?}");
    }

    #[test]
    fn a_shallow_repository_is_deepened_or_made_whole() {
        assert!(fetch(true, Depth::Commits(2)).contains(&"--depth=2".to_string()));
        assert!(fetch(true, Depth::Everything).contains(&"--unshallow".to_string()));
    }

    #[test]
    fn the_token_is_in_the_environment_only_and_scrubbed_from_errors() {
        let token = SecretString::from("ghs_secret123");
        let refspecs = ["+refs/heads/a:refs/b".to_string()];
        let fetch = Fetch {
            git_dir: Path::new("/ws/.git"),
            url: "https://github.com/acme/m.git",
            token: Some(&token),
            refspecs: &refspecs,
            depth: Depth::Everything,
            shallow: false,
            timeout: FETCH_TIMEOUT,
        };
        assert!(!fetch.args().iter().any(|a| a.contains("ghs_secret123")));
        let config = fetch.config();
        let header = config
            .iter()
            .filter(|(k, _)| k == "http.https://github.com/acme/m.git.extraheader")
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>();
        // Cleared first, then ours: `eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldDEyMw==` is
        // base64("x-access-token:ghs_secret123").
        assert_eq!(
            header,
            [
                "",
                "AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldDEyMw=="
            ]
        );
        assert_eq!(
            fetch.scrub("fatal: could not read ghs_secret123"),
            "fatal: could not read ***"
        );
    }

    #[test]
    fn a_command_past_its_deadline_is_stopped_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("sleep 30 & echo $! > {}; wait", pid_file.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let outcome = run_bounded(command, Duration::from_millis(500)).unwrap();
        assert!(outcome.status.is_none());
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild was killed with the group; give the kernel a moment to reap it.
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            // SAFETY: signal 0 only checks whether the process exists.
            let exists = unsafe { libc::kill(pid, 0) == 0 };
            !exists
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        });
        assert!(gone, "the grandchild sleep {pid} outlived the deadline");
    }

    #[test]
    fn a_server_that_never_answers_fails_the_fetch_at_its_deadline() {
        // Accepts connections and says nothing, like a hung proxy.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/acme/m.git", listener.local_addr().unwrap());
        let held = std::thread::spawn(move || {
            let mut open = Vec::new();
            for stream in listener.incoming().take(4).flatten() {
                open.push(stream);
            }
            std::thread::sleep(Duration::from_secs(10));
        });
        let repo = tempfile::tempdir().unwrap();
        let init = Command::new("git")
            .args(["init", "-q", "--bare"])
            .arg(repo.path())
            .status()
            .unwrap();
        assert!(init.success());
        let token = SecretString::from("ghs_hung");
        let started = Instant::now();
        let error = Fetch {
            git_dir: repo.path(),
            url: &url,
            token: Some(&token),
            refspecs: &["+refs/heads/main:refs/x".to_string()],
            depth: Depth::Commits(1),
            shallow: false,
            timeout: Duration::from_secs(2),
        }
        .run()
        .unwrap_err();
        assert!(error.contains("did not finish within 2 s"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(8), "{error}");
        assert!(!error.contains("ghs_hung"), "{error}");
        drop(held);
    }

    #[test]
    fn stderr_is_capped() {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg("head -c 1000000 /dev/zero | tr '\\0' x >&2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let outcome = run_bounded(command, Duration::from_secs(30)).unwrap();
        assert!(outcome.status.unwrap().success());
        assert_eq!(outcome.stderr.len(), STDERR_CAP);
    }
}
