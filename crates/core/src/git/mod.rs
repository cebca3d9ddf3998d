//! Reads commits and trees from the repository's object database with git2 and exports a tree
//! into a directory. Nothing here touches the user's work tree, index or HEAD.

mod edit;
pub mod pick;
mod transport;

use std::cell::{Ref, RefCell};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use secrecy::{ExposeSecret, SecretString};

/// Why a repository or a revision could not be read; the CLI maps these to exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot open a git repository at {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("cannot resolve '{rev}' to a commit in {repo}: {message}")]
    Resolve {
        rev: String,
        repo: PathBuf,
        message: String,
    },
    #[error("cannot read {what} in {repo}: {message}")]
    Read {
        what: String,
        repo: PathBuf,
        message: String,
    },
}

/// A repository opened for reading objects.
pub struct Repo {
    /// Reopened after each fetch: libgit2 reads the shallow grafts once and caches parsed
    /// commits, so a commit that git deepened would otherwise keep its cut-off parents.
    inner: RefCell<Repository>,
    path: PathBuf,
}

/// One file of a tree: its blob and git file mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) oid: Oid,
    pub(crate) mode: i32,
}

impl Entry {
    pub(crate) fn is_symlink(&self) -> bool {
        self.mode == i32::from(git2::FileMode::Link)
    }
}

/// Every blob of one commit's tree, keyed by repository-relative path with `/` separators.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) files: BTreeMap<String, Entry>,
}

impl Snapshot {
    /// True when `dir` (repo-relative, "." for the root) holds at least one file.
    pub(crate) fn is_dir(&self, dir: &str) -> bool {
        if dir == "." || dir.is_empty() {
            return !self.files.is_empty();
        }
        let prefix = format!("{dir}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    /// Paths whose content or mode differs between two snapshots, or that exist in only one.
    pub fn changed_paths(&self, other: &Snapshot) -> Vec<String> {
        let mut changed: Vec<String> = self
            .files
            .iter()
            .filter(|(p, e)| other.files.get(*p) != Some(e))
            .map(|(p, _)| p.clone())
            .collect();
        changed.extend(
            other
                .files
                .keys()
                .filter(|p| !self.files.contains_key(*p))
                .cloned(),
        );
        changed.sort();
        changed
    }
}

/// What an export left out on purpose.
#[derive(Debug, Default, Clone)]
pub(crate) struct ExportReport {
    /// Symlinks whose target lies outside the exported tree: `(path, target)`.
    pub(crate) skipped_links: Vec<(String, String)>,
}

impl Repo {
    /// Opens the repository containing `dir` (like git, searching upwards).
    pub fn open(dir: &Path) -> Result<Repo, GitError> {
        let inner = Repository::discover(dir).map_err(|e| GitError::Open {
            path: dir.to_path_buf(),
            message: e.message().to_string(),
        })?;
        let path = inner
            .workdir()
            .unwrap_or_else(|| inner.path())
            .to_path_buf();
        Ok(Repo {
            inner: RefCell::new(inner),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn git2(&self) -> Ref<'_, Repository> {
        self.inner.borrow()
    }

    /// Resolves anything `git rev-parse` accepts (branch, tag, sha, `origin/x`) to a commit id.
    pub fn resolve(&self, rev: &str) -> Result<Oid, GitError> {
        let err = |message: String| GitError::Resolve {
            rev: rev.to_string(),
            repo: self.path.clone(),
            message,
        };
        let repo = self.inner.borrow();
        let object = repo
            .revparse_single(rev)
            .map_err(|e| err(e.message().to_string()))?;
        let commit = object
            .peel_to_commit()
            .map_err(|e| err(format!("it is not a commit ({})", e.message())))?;
        Ok(commit.id())
    }

    pub(crate) fn merge_base(&self, a: Oid, b: Oid) -> Result<Oid, GitError> {
        self.inner
            .borrow()
            .merge_base(a, b)
            .map_err(|e| GitError::Read {
                what: format!("the merge base of {a} and {b}"),
                repo: self.path.clone(),
                message: e.message().to_string(),
            })
    }

    /// Lists every blob of the commit's tree. Submodules are skipped: kustomize cannot read them
    /// from an export either.
    pub fn snapshot(&self, commit: Oid) -> Result<Snapshot, GitError> {
        let read_err = |e: git2::Error| GitError::Read {
            what: format!("the tree of commit {commit}"),
            repo: self.path.clone(),
            message: e.message().to_string(),
        };
        let repo = self.inner.borrow();
        let tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(read_err)?;
        let mut files = BTreeMap::new();
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(ObjectType::Blob)
                && let Ok(name) = entry.name()
            {
                files.insert(
                    format!("{dir}{name}"),
                    Entry {
                        oid: entry.id(),
                        mode: entry.filemode(),
                    },
                );
            }
            TreeWalkResult::Ok
        })
        .map_err(read_err)?;
        Ok(Snapshot { files })
    }

    pub(crate) fn read_blob(&self, oid: Oid) -> anyhow::Result<Vec<u8>> {
        let repo = self.inner.borrow();
        let blob = repo
            .find_blob(oid)
            .with_context(|| format!("reading blob {oid}"))?;
        Ok(blob.content().to_vec())
    }

    /// Fetches `refspecs` from `url` into this repository's object database and refs with the
    /// git CLI (see [`transport`]). `depth` limits how far a shallow repository is deepened
    /// (`i32::MAX`: made whole); a complete repository always stays complete. The token is
    /// never part of a URL, an argument, a config file or an error message.
    pub fn fetch(
        &self,
        url: &str,
        token: Option<&SecretString>,
        refspecs: &[String],
        depth: Option<i32>,
    ) -> Result<(), GitError> {
        let git_dir = self.inner.borrow().path().to_path_buf();
        let depth = match depth {
            Some(n) if n > 0 && n < i32::MAX => transport::Depth::Commits(n.unsigned_abs()),
            _ => transport::Depth::Everything,
        };
        transport::Fetch {
            git_dir: &git_dir,
            url,
            token,
            refspecs,
            depth,
            shallow: self.inner.borrow().is_shallow(),
            timeout: transport::FETCH_TIMEOUT,
        }
        .run()
        .map_err(|message| GitError::Read {
            what: format!("{} from {url}", refspecs.join(" ")),
            repo: self.path.clone(),
            message,
        })?;
        let reopened = Repository::open(&git_dir).map_err(|e| GitError::Open {
            path: git_dir.clone(),
            message: e.message().to_string(),
        })?;
        *self.inner.borrow_mut() = reopened;
        Ok(())
    }

    /// Fetches the remote refs `base` and `head` into the local refs `base_ref` and `head_ref`,
    /// shallow first and then the whole history, until they share a merge base. Returns the
    /// merge base and the head commit, or `None` when the histories never meet.
    pub fn fetch_until_merge_base(
        &self,
        url: &str,
        token: Option<&SecretString>,
        (base, head): (&str, &str),
        (base_ref, head_ref): (&str, &str),
    ) -> anyhow::Result<Option<(Oid, Oid)>> {
        let refspecs = [format!("+{base}:{base_ref}"), format!("+{head}:{head_ref}")];
        for depth in [Some(50), Some(i32::MAX)] {
            self.fetch(url, token, &refspecs, depth)?;
            let (Some(base), Some(head)) = (self.find_ref(base_ref), self.find_ref(head_ref))
            else {
                anyhow::bail!("fetching {} did not create the refs", refspecs.join(" "));
            };
            if let Ok(found) = self.merge_base(base, head) {
                return Ok(Some((found, head)));
            }
        }
        Ok(None)
    }

    /// The commit a full ref name points to, if it exists.
    pub fn find_ref(&self, name: &str) -> Option<Oid> {
        self.inner
            .borrow()
            .find_reference(name)
            .ok()
            .and_then(|r| r.peel_to_commit().ok())
            .map(|c| c.id())
    }

    /// The first parent of a commit (the base side of a merge).
    pub fn first_parent(&self, commit: Oid) -> Result<Oid, GitError> {
        self.inner
            .borrow()
            .find_commit(commit)
            .and_then(|c| c.parent_id(0))
            .map_err(|e| GitError::Read {
                what: format!("the first parent of {commit}"),
                repo: self.path.clone(),
                message: e.message().to_string(),
            })
    }

    /// Writes every file of `snapshot` under `dest` (which must exist and be empty), keeping the
    /// executable bit and writing symlinks as links. A link that would lead out of `dest` is not
    /// created at all, so no build can read files outside the repository through it.
    pub(crate) fn export(&self, snapshot: &Snapshot, dest: &Path) -> anyhow::Result<ExportReport> {
        let mut report = ExportReport::default();
        let mut links = Vec::new();
        for (path, entry) in &snapshot.files {
            let target = dest.join(path);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating directory {}", parent.display()))?;
            }
            let content = self.read_blob(entry.oid)?;
            if entry.is_symlink() {
                let link_target = String::from_utf8_lossy(&content).into_owned();
                if escapes(path, &link_target) {
                    report.skipped_links.push((path.clone(), link_target));
                } else {
                    links.push((path.clone(), link_target));
                }
                continue;
            }
            write_new_file(
                &target,
                &content,
                entry.mode == i32::from(git2::FileMode::BlobExecutable),
            )
            .with_context(|| format!("exporting {path} to {}", target.display()))?;
        }
        // Links are created last: a lexically contained link may still escape through another
        // link, which only the real file system can tell once every link exists.
        for (path, link_target) in &links {
            std::os::unix::fs::symlink(link_target, dest.join(path))
                .with_context(|| format!("creating symlink {path} -> {link_target}"))?;
        }
        let root =
            fs::canonicalize(dest).with_context(|| format!("resolving {}", dest.display()))?;
        for (path, link_target) in links {
            let full = dest.join(&path);
            if let Ok(resolved) = fs::canonicalize(&full)
                && !resolved.starts_with(&root)
            {
                fs::remove_file(&full).with_context(|| format!("removing symlink {path}"))?;
                report.skipped_links.push((path, link_target));
            }
        }
        report.skipped_links.sort();
        Ok(report)
    }
}

/// Callbacks that answer GitHub's HTTPS authentication with the token as user `x-access-token`,
/// so the token is never part of a URL, a config file or an error message.
pub(crate) fn token_callbacks<'a>(token: Option<&SecretString>) -> git2::RemoteCallbacks<'a> {
    network_timeouts();
    let mut callbacks = git2::RemoteCallbacks::new();
    let mut asked = false;
    let token = token.map(|t| t.expose_secret().to_string());
    callbacks.credentials(move |_url, _user, _allowed| {
        // libgit2 asks again after a rejection; a second answer would loop forever.
        if asked {
            return Err(git2::Error::from_str("the token was rejected"));
        }
        asked = true;
        match &token {
            Some(token) => git2::Cred::userpass_plaintext("x-access-token", token),
            None => Err(git2::Error::from_str("no token to authenticate with")),
        }
    });
    callbacks
}

/// Bounds libgit2's network calls (pushes): a server that stops answering fails the call instead
/// of hanging the job until GitHub cancels it.
fn network_timeouts() {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        // SAFETY: process-wide libgit2 options, set once before any network call.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(30_000);
            let _ = git2::opts::set_server_timeout_in_milliseconds(300_000);
        }
    });
}

/// Creates a file that must not exist yet, so an export never writes through an existing link.
fn write_new_file(path: &Path, content: &[u8], executable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(content)
}

/// Whether a link at `link_path` (repo-relative) pointing to `target` leaves the repository,
/// judged on the text alone.
fn escapes(link_path: &str, target: &str) -> bool {
    let target = Path::new(target);
    if target.is_absolute() {
        return true;
    }
    let mut depth: i64 = link_path.matches('/').count() as i64;
    for component in target.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// Joins a repo-relative directory and a relative path the way kustomize does, lexically.
/// Returns `None` when the result would leave the repository.
pub(crate) fn join_relative(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if dir == "." || dir.is_empty() {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    if rel.starts_with('/') {
        return None;
    }
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_that_leave_the_tree_are_recognised_from_their_text() {
        assert!(escapes("a/link", "/etc/passwd"));
        assert!(escapes("link", "../outside"));
        assert!(escapes("a/b/link", "../../../x"));
        assert!(!escapes("a/b/link", "../../x"));
        assert!(!escapes("a/link", "./b/../c"));
        assert!(escapes("a/link", "b/../../../c"));
    }

    #[test]
    fn relative_joins_stay_inside_the_repository() {
        assert_eq!(
            join_relative("overlays/prod", "../../base").as_deref(),
            Some("base")
        );
        assert_eq!(
            join_relative("overlays/prod", "../..").as_deref(),
            Some(".")
        );
        assert_eq!(
            join_relative("overlays/prod", "../../base/x.yaml").as_deref(),
            Some("base/x.yaml")
        );
        assert_eq!(join_relative(".", "a/./b/").as_deref(), Some("a/b"));
        assert_eq!(join_relative("a", "../../x"), None);
        assert_eq!(join_relative("a", "/etc"), None);
    }
}
