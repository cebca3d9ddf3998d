//! Runs `kustomize build` (or `kubectl kustomize`) for many overlays in parallel, each with a
//! timeout and its stderr captured, and never lets a child outlive the run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The command that renders one kustomization directory, given as argv before the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KustomizeCommand {
    pub program: String,
    pub args: Vec<String>,
}

impl KustomizeCommand {
    /// Parses a user-given command line (shell-style quoting). A bare `kustomize` gets `build`,
    /// so `--kustomize kustomize` and `--kustomize "kubectl kustomize"` both do what they say.
    pub fn parse(command: &str) -> Result<KustomizeCommand, String> {
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
    pub fn given_or_detected(given: Option<&str>) -> Result<KustomizeCommand, String> {
        given.map_or_else(|| Ok(KustomizeCommand::detect()), KustomizeCommand::parse)
    }

    /// `kustomize build` when kustomize is on PATH, else the kustomize built into kubectl.
    pub fn detect() -> KustomizeCommand {
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

    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub fn find_on_path(program: &str) -> Option<PathBuf> {
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

/// One build to run: the overlay directory inside an exported tree.
#[derive(Debug, Clone)]
pub struct BuildJob {
    /// The exported tree (a temporary directory).
    pub tree: Arc<PathBuf>,
    /// Repo-relative directory of the kustomization.
    pub overlay: String,
}

/// Why a build produced no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildFailure {
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

/// Runs builds with bounded concurrency.
#[derive(Debug, Clone)]
pub struct Builder {
    pub command: KustomizeCommand,
    pub build_args: Vec<String>,
    pub jobs: usize,
    pub timeout: Duration,
}

impl Builder {
    /// Runs every job, at most `jobs` at once, and returns the results in the jobs' order.
    /// `on_done` is called as each build finishes (for progress display).
    pub async fn run_all(
        &self,
        jobs: &[BuildJob],
        on_done: impl Fn() + Send + Sync + 'static,
    ) -> Vec<Result<String, BuildFailure>> {
        let permits = Arc::new(Semaphore::new(self.jobs.max(1)));
        let on_done = Arc::new(on_done);
        // Dropping the set (on error or Ctrl-C) aborts the tasks, and kill_on_drop takes the
        // children with them.
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
            .kill_on_drop(true);
        // What a PR renders is untrusted: a plugin enabled through build-args must not find the
        // run's credentials in its environment.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_credential_var) {
                command.env_remove(&name);
            }
        }
        let child = command.spawn().map_err(|e| {
            BuildFailure::NotStarted(format!("cannot run `{}`: {e}", self.command.display()))
        })?;
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => {
                return Err(BuildFailure::NotStarted(format!(
                    "waiting for `{}` failed: {e}",
                    self.command.display()
                )));
            }
            Err(_) => return Err(BuildFailure::TimedOut(self.timeout)),
        };
        if output.status.success() {
            return String::from_utf8(output.stdout).map_err(|_| {
                BuildFailure::Failed("kustomize printed output that is not UTF-8".to_string())
            });
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut message = relative_to_tree(stderr.trim(), &job.tree);
        if message.is_empty() {
            message = format!("`{}` exited with {}", self.command.display(), output.status);
        }
        Err(BuildFailure::Failed(message))
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
