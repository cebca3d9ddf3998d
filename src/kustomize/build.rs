//! Runs `kustomize build` (or `kubectl kustomize`) for many overlays in parallel, each in its own
//! process group with a timeout and capped output, and never lets a child outlive the run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The command that renders one kustomization directory, given as argv before the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KustomizeCommand {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
}

impl KustomizeCommand {
    /// Parses a user-given command line (shell-style quoting). A bare `kustomize` gets `build`,
    /// so `--kustomize kustomize` and `--kustomize "kubectl kustomize"` both do what they say.
    pub(crate) fn parse(command: &str) -> Result<KustomizeCommand, String> {
        let words = shlex::split(command)
            .ok_or_else(|| format!("cannot split the kustomize command {command:?}"))?;
        let (program, args) = words
            .split_first()
            .ok_or_else(|| "the kustomize command is empty".to_string())?;
        let mut args = args.to_vec();
        let base = Path::new(program)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if base == "kustomize" && args.is_empty() {
            args.push("build".to_string());
        }
        Ok(KustomizeCommand {
            program: program.clone(),
            args,
        })
    }

    /// The command the user gave, else the detected one.
    pub(crate) fn given_or_detected(given: Option<&str>) -> Result<KustomizeCommand, String> {
        given.map_or_else(|| Ok(KustomizeCommand::detect()), KustomizeCommand::parse)
    }

    /// `kustomize build` when kustomize is on PATH, else the kustomize built into kubectl.
    pub(crate) fn detect() -> KustomizeCommand {
        let program = if find_on_path("kustomize").is_some() {
            "kustomize"
        } else {
            "kubectl"
        };
        let args = if program == "kustomize" {
            "build"
        } else {
            "kustomize"
        };
        KustomizeCommand {
            program: program.to_string(),
            args: vec![args.to_string()],
        }
    }

    pub(crate) fn display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Variables holding the run's tokens: the action's own input and the runner's.
fn is_credential_var(name: &str) -> bool {
    let upper = name.to_ascii_uppercase().replace('-', "_");
    upper == "INPUT_GITHUB_TOKEN"
        || upper == "GITHUB_TOKEN"
        || upper == "GH_TOKEN"
        || upper.starts_with("ACTIONS_RUNTIME_")
        || upper.starts_with("ACTIONS_ID_TOKEN_")
}

/// The arguments in `args` that let what kustomize renders run programs on the runner (exec and
/// container plugins, Helm) or read files outside its tree, as the user spelled them. Every
/// spelling Go's flag parser accepts counts: `--enable-helm`, `--enable-helm=true`, `-enable-helm`,
/// `--load-restrictor LoadRestrictionsNone` and `--load-restrictor=LoadRestrictionsNone`; an
/// explicit false (`--enable-helm=false`) does not.
pub(crate) fn privileged_args(args: &[String]) -> Vec<String> {
    const SWITCHES: [&str; 3] = ["enable-exec", "enable-alpha-plugins", "enable-helm"];
    const FALSE: [&str; 6] = ["0", "f", "F", "false", "False", "FALSE"];
    let mut found = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(flag) = arg.strip_prefix('-') else {
            continue;
        };
        let flag = flag.strip_prefix('-').unwrap_or(flag);
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        if SWITCHES.contains(&name) {
            if !value.is_some_and(|v| FALSE.contains(&v)) {
                found.push(arg.clone());
            }
        } else if name == "load-restrictor" {
            let (value, shown) = match value {
                Some(v) => (Some(v), arg.clone()),
                None => {
                    let next = rest.next();
                    (
                        next.map(String::as_str),
                        format!("{arg} {}", next.map_or("", |n| n.as_str())),
                    )
                }
            };
            if value.is_some_and(|v| v.eq_ignore_ascii_case("LoadRestrictionsNone")) {
                found.push(shown);
            }
        }
    }
    found
}

/// One build to run: the overlay directory inside an exported tree.
#[derive(Debug, Clone)]
pub(crate) struct BuildJob {
    /// The exported tree (a temporary directory).
    pub(crate) tree: Arc<PathBuf>,
    /// Repo-relative directory of the kustomization.
    pub(crate) overlay: String,
}

/// Why a build produced no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BuildFailure {
    /// Kustomize ran and refused; its message, with temp paths made repo-relative.
    Failed(String),
    TimedOut(Duration),
    /// The command itself could not be started.
    NotStarted(String),
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildFailure::Failed(message) => f.write_str(message),
            BuildFailure::TimedOut(limit) => {
                write!(f, "the build did not finish within {}s", limit.as_secs())
            }
            BuildFailure::NotStarted(message) => f.write_str(message),
        }
    }
}

/// The most of one build's stderr kept for the report; kustomize names its cause first.
pub(crate) const STDERR_CAP: usize = 64 * 1024;

/// Runs builds with bounded concurrency.
#[derive(Debug, Clone)]
pub(crate) struct Builder {
    pub(crate) command: KustomizeCommand,
    pub(crate) build_args: Vec<String>,
    pub(crate) jobs: usize,
    pub(crate) timeout: Duration,
    /// A render longer than this is the overlay's error.
    pub(crate) max_render_bytes: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            command: KustomizeCommand::detect(),
            build_args: Vec::new(),
            jobs: 1,
            timeout: Duration::from_secs(120),
            max_render_bytes: crate::manifest::DEFAULT_MAX_RENDER_BYTES,
        }
    }
}

impl Builder {
    /// Runs every job, at most `jobs` at once, and returns the results in the jobs' order.
    /// `on_done` is called as each build finishes (for progress display).
    pub(crate) async fn run_all(
        &self,
        jobs: &[BuildJob],
        on_done: impl Fn() + Send + Sync + 'static,
    ) -> Vec<Result<String, BuildFailure>> {
        let permits = Arc::new(Semaphore::new(self.jobs.max(1)));
        let on_done = Arc::new(on_done);
        // Dropping the set (on error or Ctrl-C) aborts the tasks, and each task's process
        // group guard takes the builds and whatever they started with them.
        let mut set = JoinSet::new();
        for (index, job) in jobs.iter().cloned().enumerate() {
            let permits = permits.clone();
            let builder = self.clone();
            let on_done = on_done.clone();
            set.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                let result = builder.run_one(&job).await;
                on_done();
                (index, result)
            });
        }
        let mut results: Vec<Option<Result<String, BuildFailure>>> = vec![None; jobs.len()];
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((index, result)) => results[index] = Some(result),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every job reports once"))
            .collect()
    }

    async fn run_one(&self, job: &BuildJob) -> Result<String, BuildFailure> {
        let dir = job.tree.join(&job.overlay);
        let mut command = Command::new(&self.command.program);
        command
            .args(&self.command.args)
            .args(&self.build_args)
            .arg(&dir)
            .current_dir(job.tree.as_path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so helm and plugins it starts can be stopped with it.
            .process_group(0)
            .kill_on_drop(true);
        // What a PR renders is untrusted: a plugin enabled through build-args must not find the
        // run's credentials in its environment.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_credential_var) {
                command.env_remove(&name);
            }
        }
        let mut child = command.spawn().map_err(|e| {
            BuildFailure::NotStarted(format!("cannot run `{}`: {e}", self.command.display()))
        })?;
        // Dropped on every way out (done, timeout, over the cap, the run cancelled).
        let _group = child.id().map(ProcessGroup);
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let collected = async {
            tokio::try_join!(
                read_capped(stdout, self.max_render_bytes),
                async { Ok(read_head(stderr, STDERR_CAP).await) },
                async { child.wait().await.map_err(Stop::Io) },
            )
        };
        let (stdout, (stderr, cut), status) = match tokio::time::timeout(self.timeout, collected)
            .await
        {
            Ok(Ok(done)) => done,
            Ok(Err(Stop::TooLarge)) => {
                return Err(BuildFailure::Failed(format!(
                    "the render is larger than {}, the most one build may print; it was stopped",
                    size(self.max_render_bytes)
                )));
            }
            Ok(Err(Stop::Io(e))) => {
                return Err(BuildFailure::NotStarted(format!(
                    "waiting for `{}` failed: {e}",
                    self.command.display()
                )));
            }
            Err(_) => return Err(BuildFailure::TimedOut(self.timeout)),
        };
        if status.success() {
            return String::from_utf8(stdout).map_err(|_| {
                BuildFailure::Failed("kustomize printed output that is not UTF-8".to_string())
            });
        }
        let stderr = String::from_utf8_lossy(&stderr);
        let mut message = relative_to_tree(stderr.trim(), &job.tree);
        if message.is_empty() {
            message = format!("`{}` exited with {status}", self.command.display());
        }
        if cut {
            message.push_str("\n(kustomize printed more on stderr; the rest was dropped)");
        }
        Err(BuildFailure::Failed(message))
    }
}

/// Why collecting a build's output stopped early.
enum Stop {
    TooLarge,
    Io(std::io::Error),
}

/// A build's process group, killed when dropped: kill_on_drop alone would stop kustomize but
/// leave helm or a plugin it started running (and holding the pipes open).
struct ProcessGroup(u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let Ok(pgid) = libc::pid_t::try_from(self.0) else {
            return;
        };
        // SAFETY: killpg(2) takes plain integers. The group was created for this build by
        // process_group(0); when every member has exited it fails with ESRCH, which is fine.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// Reads all of `reader`, or stops as soon as it holds more than `cap` bytes.
async fn read_capped(reader: impl AsyncRead + Unpin, cap: usize) -> Result<Vec<u8>, Stop> {
    let mut buffer = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut buffer)
        .await
        .map_err(Stop::Io)?;
    if buffer.len() > cap {
        return Err(Stop::TooLarge);
    }
    Ok(buffer)
}

/// The first `cap` bytes of `reader`, and whether there was more. The rest is read and dropped,
/// so a chatty child never blocks on a full pipe.
async fn read_head(mut reader: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
    let mut head = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX);
    // A read error ends what we can learn from stderr; the exit status still tells the outcome.
    let _ = (&mut reader).take(limit).read_to_end(&mut head).await;
    let rest = tokio::io::copy(&mut reader, &mut tokio::io::sink())
        .await
        .unwrap_or(0);
    if rest > 0
        && let Some(end) = head.iter().rposition(|b| *b == b'\n')
    {
        // The cut line may end inside a Secret value, where the scrubber cannot recognise it.
        head.truncate(end);
    }
    (head, rest > 0)
}

/// Bytes in the unit a reader thinks in.
fn size(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Kustomize names files by absolute path; inside a temporary export those paths mean nothing
/// to the reader, so they become repo-relative.
fn relative_to_tree(message: &str, tree: &Path) -> String {
    let mut text = message.to_string();
    let mut prefixes = vec![tree.to_path_buf()];
    if let Ok(real) = tree.canonicalize()
        && real != tree
    {
        prefixes.push(real);
    }
    for prefix in prefixes {
        let prefix = prefix.to_string_lossy().into_owned();
        text = text
            .replace(&format!("{prefix}/"), "")
            .replace(&prefix, ".");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_kustomize_gets_the_build_subcommand() {
        let cmd = KustomizeCommand::parse("kustomize").unwrap();
        assert_eq!(cmd.args, ["build"]);
        let cmd = KustomizeCommand::parse("/usr/local/bin/kustomize").unwrap();
        assert_eq!(cmd.args, ["build"]);
        let cmd = KustomizeCommand::parse("kubectl kustomize").unwrap();
        assert_eq!(
            (cmd.program.as_str(), cmd.args),
            ("kubectl", vec!["kustomize".to_string()])
        );
        let cmd = KustomizeCommand::parse("'/opt/my tools/wrap.sh' --flag").unwrap();
        assert_eq!(cmd.program, "/opt/my tools/wrap.sh");
        assert!(KustomizeCommand::parse("  ").is_err());
        assert!(KustomizeCommand::parse("kustomize 'unclosed").is_err());
    }

    /// A `Builder` running `script` (a shell script body) as its kustomize. Run through `sh`
    /// rather than exec'd: exec'ing a file just written races with other tests' forks (ETXTBSY).
    fn scripted(dir: &Path, script: &str, timeout: Duration) -> (Builder, BuildJob) {
        let program = dir.join("kustomize.sh");
        std::fs::write(&program, format!("{script}\n")).unwrap();
        let tree = dir.join("tree");
        std::fs::create_dir_all(tree.join("overlay")).unwrap();
        let builder = Builder {
            command: KustomizeCommand {
                program: "sh".to_string(),
                args: vec![program.to_string_lossy().into_owned()],
            },
            build_args: Vec::new(),
            jobs: 1,
            timeout,
            ..Builder::default()
        };
        let job = BuildJob {
            tree: Arc::new(tree),
            overlay: "overlay".to_string(),
        };
        (builder, job)
    }

    fn is_running(pid: &str) -> bool {
        // A zombie has finished; only its parent's bookkeeping is left.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "))
    }

    #[tokio::test]
    async fn a_timeout_kills_what_the_build_started_too() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let (builder, job) = scripted(
            dir.path(),
            &format!("sleep 60 &\necho $! > '{}'\nwait\n", pidfile.display()),
            Duration::from_secs(1),
        );
        let results = builder.run_all(&[job], || {}).await;
        assert_eq!(
            results,
            [Err(BuildFailure::TimedOut(Duration::from_secs(1)))]
        );
        assert_gone(&pidfile).await;
    }

    #[tokio::test]
    async fn a_cancelled_run_kills_what_the_build_started_too() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let (builder, job) = scripted(
            dir.path(),
            &format!("sleep 60 &\necho $! > '{}'\nwait\n", pidfile.display()),
            Duration::from_secs(60),
        );
        // Dropping the run part-way is what Ctrl-C does.
        let jobs = [job];
        let run = builder.run_all(&jobs, || {});
        assert!(
            tokio::time::timeout(Duration::from_millis(500), run)
                .await
                .is_err()
        );
        assert_gone(&pidfile).await;
    }

    /// Waits briefly for the pid in `pidfile` to end; kills it and fails if it does not.
    async fn assert_gone(pidfile: &Path) {
        let pid = std::fs::read_to_string(pidfile).unwrap();
        let pid = pid.trim();
        // SIGKILL is delivered at once, but the kernel may take a moment to tear the process down.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while is_running(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let alive = is_running(pid);
        if alive {
            // SAFETY: kill(2) on a pid this test's script started; leave nothing behind.
            unsafe { libc::kill(pid.parse().unwrap(), libc::SIGKILL) };
        }
        assert!(!alive, "the build's child {pid} outlived the build");
    }

    #[tokio::test]
    async fn an_endless_render_is_cut_at_the_cap_not_read_into_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (mut builder, job) = scripted(dir.path(), "exec yes", Duration::from_secs(20));
        builder.max_render_bytes = 1 << 20;
        let started = std::time::Instant::now();
        let results = builder.run_all(&[job], || {}).await;
        assert_eq!(
            results,
            [Err(BuildFailure::Failed(
                "the render is larger than 1 MiB, the most one build may print; it was stopped"
                    .to_string()
            ))]
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_flood_on_stderr_keeps_its_start_only() {
        let dir = tempfile::tempdir().unwrap();
        let (builder, job) = scripted(
            dir.path(),
            "echo 'Error: the first line names the cause' >&2\nyes 'more noise' | head -c 1000000 >&2\nexit 1",
            Duration::from_secs(20),
        );
        let results = builder.run_all(&[job], || {}).await;
        let [Err(BuildFailure::Failed(message))] = &results[..] else {
            panic!("expected a failed build: {results:?}");
        };
        assert!(message.starts_with("Error: the first line names the cause\n"));
        assert!(
            message.len() <= STDERR_CAP + 200,
            "{} bytes kept",
            message.len()
        );
        assert!(message.ends_with("(kustomize printed more on stderr; the rest was dropped)"));
    }

    #[test]
    fn privileged_args_are_found_in_every_spelling() {
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(
            privileged_args(&args(&[
                "--enable-helm",
                "--enable-exec=true",
                "-enable-alpha-plugins",
                "--enable-alpha-plugins=1",
                "--load-restrictor",
                "LoadRestrictionsNone",
                "--load-restrictor=loadrestrictionsnone",
            ])),
            [
                "--enable-helm",
                "--enable-exec=true",
                "-enable-alpha-plugins",
                "--enable-alpha-plugins=1",
                "--load-restrictor LoadRestrictionsNone",
                "--load-restrictor=loadrestrictionsnone",
            ]
        );
        assert!(
            privileged_args(&args(&[
                "--enable-helm=false",
                "--enable-exec=0",
                "--load-restrictor",
                "LoadRestrictionsRootOnly",
                "--load-restrictor=LoadRestrictionsRootOnly",
                "--helm-command=helm3",
                "--reorder=none",
                "enable-helm",
            ]))
            .is_empty()
        );
    }

    #[test]
    fn temporary_paths_in_messages_become_repo_relative() {
        let tree = Path::new("/tmp/.tmpAbC/head");
        assert_eq!(
            relative_to_tree(
                "Error: accumulating resources from '/tmp/.tmpAbC/head/overlays/x/missing.yaml'",
                tree
            ),
            "Error: accumulating resources from 'overlays/x/missing.yaml'"
        );
    }
}
