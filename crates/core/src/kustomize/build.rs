//! What a kustomize build is: the command, the jobs, how a build fails, and the settings builds
//! run with. Running them is behind [`RunBuilds`], so this crate starts no processes of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The command that renders one kustomization directory, given as argv before the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KustomizeCommand {
    pub program: String,
    pub args: Vec<String>,
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
    pub fn given_or_detected(given: Option<&str>) -> Result<KustomizeCommand, String> {
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
pub fn is_credential_var(name: &str) -> bool {
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
pub fn privileged_args(args: &[String]) -> Vec<String> {
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

/// The most of one build's stderr kept for the report; kustomize names its cause first.
pub const STDERR_CAP: usize = 64 * 1024;

/// The settings every build of a run shares.
#[derive(Debug, Clone)]
pub struct Builder {
    pub command: KustomizeCommand,
    pub build_args: Vec<String>,
    pub jobs: usize,
    pub timeout: Duration,
    /// A render longer than this is the overlay's error.
    pub max_render_bytes: usize,
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

/// Runs builds: the binary starts each as a child process in its own group, with the
/// builder's timeout and output caps.
pub trait RunBuilds {
    /// Runs every job under `builder`'s settings, at most `builder.jobs` at once, and returns
    /// one result per job in the jobs' order. `on_done` is called as each build finishes, with
    /// the job's index and how long it ran (for progress display and shard balancing).
    fn run_all(
        &self,
        builder: &Builder,
        jobs: &[BuildJob],
        on_done: impl Fn(usize, std::time::Duration) + Send + Sync + 'static,
    ) -> impl std::future::Future<Output = Vec<Result<String, BuildFailure>>> + Send;
}

/// Bytes in the unit a reader thinks in.
pub fn size(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Kustomize names files by absolute path; inside a temporary export those paths mean nothing
/// to the reader, so they become repo-relative.
pub fn relative_to_tree(message: &str, tree: &Path) -> String {
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
