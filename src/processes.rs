//! Runs `kustomize build` (or `kubectl kustomize`) for many overlays in parallel, each in its own
//! process group with a timeout and capped output, and never lets a child outlive the run.

use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::kustomize::build::{
    BuildFailure, BuildJob, Builder, RunBuilds, STDERR_CAP, is_credential_var, relative_to_tree,
    size,
};
use crate::process_group::ProcessGroup;

/// The kustomize builds of a run, as child processes of this one.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Processes;

impl RunBuilds for Processes {
    async fn run_all(
        &self,
        builder: &Builder,
        jobs: &[BuildJob],
        on_done: impl Fn(usize, std::time::Duration) + Send + Sync + 'static,
    ) -> Vec<Result<String, BuildFailure>> {
        run_all(builder, jobs, on_done).await
    }
}

/// Runs every job, at most `jobs` at once, and returns the results in the jobs' order.
/// `on_done` is called as each build finishes, with its index and how long it ran.
async fn run_all(
    builder: &Builder,
    jobs: &[BuildJob],
    on_done: impl Fn(usize, std::time::Duration) + Send + Sync + 'static,
) -> Vec<Result<String, BuildFailure>> {
    let permits = Arc::new(Semaphore::new(builder.jobs.max(1)));
    let on_done = Arc::new(on_done);
    // Dropping the set (on error or Ctrl-C) aborts the tasks, and each task's process
    // group guard takes the builds and whatever they started with them.
    let mut set = JoinSet::new();
    for (index, job) in jobs.iter().cloned().enumerate() {
        let permits = permits.clone();
        let builder = builder.clone();
        let on_done = on_done.clone();
        set.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let started = std::time::Instant::now();
            let result = run_one(&builder, &job).await;
            on_done(index, started.elapsed());
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

async fn run_one(builder: &Builder, job: &BuildJob) -> Result<String, BuildFailure> {
    let dir = job.tree.join(&job.overlay);
    let mut command = Command::new(&builder.command.program);
    command
        .args(&builder.command.args)
        .args(&builder.build_args)
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
        BuildFailure::NotStarted(format!("cannot run `{}`: {e}", builder.command.display()))
    })?;
    // Dropped on every way out (done, timeout, over the cap, the run cancelled).
    let _group = child.id().map(ProcessGroup);
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let collected = async {
        tokio::try_join!(
            read_capped(stdout, builder.max_render_bytes),
            async { Ok(read_head(stderr, STDERR_CAP).await) },
            async { child.wait().await.map_err(Stop::Io) },
        )
    };
    let (stdout, (stderr, cut), status) =
        match tokio::time::timeout(builder.timeout, collected).await {
            Ok(Ok(done)) => done,
            Ok(Err(Stop::TooLarge)) => {
                return Err(BuildFailure::Failed(format!(
                    "the render is larger than {}, the most one build may print; it was stopped",
                    size(builder.max_render_bytes)
                )));
            }
            Ok(Err(Stop::Io(e))) => {
                return Err(BuildFailure::NotStarted(format!(
                    "waiting for `{}` failed: {e}",
                    builder.command.display()
                )));
            }
            Err(_) => return Err(BuildFailure::TimedOut(builder.timeout)),
        };
    if status.success() {
        return String::from_utf8(stdout).map_err(|_| {
            BuildFailure::Failed("kustomize printed output that is not UTF-8".to_string())
        });
    }
    let stderr = String::from_utf8_lossy(&stderr);
    let mut message = relative_to_tree(stderr.trim(), &job.tree);
    if message.is_empty() {
        message = format!("`{}` exited with {status}", builder.command.display());
    }
    if cut {
        message.push_str("\n(kustomize printed more on stderr; the rest was dropped)");
    }
    Err(BuildFailure::Failed(message))
}

/// Why collecting a build's output stopped early.
enum Stop {
    TooLarge,
    Io(std::io::Error),
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::kustomize::KustomizeCommand;

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
        let results = Processes.run_all(&builder, &[job], |_, _| {}).await;
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
        let run = Processes.run_all(&builder, &jobs, |_, _| {});
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
        let results = Processes.run_all(&builder, &[job], |_, _| {}).await;
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
        let results = Processes.run_all(&builder, &[job], |_, _| {}).await;
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
}
