//! Cherry-picks merged changes onto the production branch in memory, commits and pushes them.
//! A conflict is committed with its markers and listed for a human; nothing is resolved silently.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, bail};
use git2::{
    Commit, FileMode, Index, IndexConflict, IndexEntry, IndexTime, MergeFileInput,
    MergeFileOptions, MergeOptions, Oid, Repository, Tree,
};
use globset::GlobSet;
use secrecy::SecretString;

/// The identity that commits the picked changes; each commit keeps its original author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub email: String,
}

/// Who commits the picks and which files never move to the target.
#[derive(Debug, Clone, Copy)]
pub struct PickOptions<'a> {
    pub committer: &'a Signature,
    /// Globs (globset syntax, repo-relative paths) of files never promoted: the target's version
    /// is kept.
    pub exclude: &'a GlobSet,
    /// The target branch's name for conflict markers; found from the refs when not given.
    pub target_name: Option<&'a str>,
}

/// Why a pick produced no commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NothingReason {
    /// Every path the commits touch matches an exclude glob.
    AllExcluded,
    /// The target already holds the change (or the commits cancel out), like `git cherry` reports.
    AlreadyInTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickOutcome {
    /// New commit(s) created on top of `onto`; `tip` is the last one.
    Picked {
        tip: Oid,
        commits: Vec<Oid>,
        /// Paths the change touches that were left out because they match an exclude glob.
        excluded: Vec<String>,
    },
    /// Nothing to promote.
    Nothing {
        reason: NothingReason,
        excluded: Vec<String>,
    },
    /// A commit whose tree holds the conflicted files with diff3 conflict markers, on top of
    /// `onto` and of any commit picked cleanly before the conflicting one. Later commits are not
    /// picked: they would be applied to a tree that still has markers in it.
    Conflict {
        tip: Oid,
        conflicted: Vec<String>,
        excluded: Vec<String>,
    },
}

/// The result of picking one commit onto the current tip.
enum Step {
    Unchanged,
    Clean(Oid),
    Conflict { tree: Oid, files: Vec<ConflictFile> },
}

struct ConflictFile {
    path: String,
    /// Why the file holds no markers or how to read them, for the commit message.
    note: Option<&'static str>,
}

/// Labels written after the conflict markers, so a reader knows which side is which.
struct Labels {
    target: String,
    base: String,
    source: String,
}

/// How many leading bytes are searched for a NUL to call a file binary, as git does.
const BINARY_PROBE: usize = 8000;

impl super::Repo {
    /// Cherry-picks `commits` (oldest first) one after another onto `onto`. A merge commit is
    /// picked against its first parent (mainline 1). Each new commit keeps the original author,
    /// uses `committer`, and its message is the original one plus a blank line and
    /// `(cherry picked from commit <full sha>)` (like `git cherry-pick -x`). Paths matching
    /// `exclude` keep the `onto` side's version (or stay absent); they are listed.
    ///
    /// A commit whose change is already in the target is skipped, like `git cherry-pick
    /// --empty=drop`. Only objects are written: no ref, index or work tree changes.
    pub fn cherry_pick(
        &self,
        commits: &[Oid],
        onto: Oid,
        options: &PickOptions,
    ) -> anyhow::Result<PickOutcome> {
        if commits.is_empty() {
            bail!("no commits were given to cherry-pick onto {onto}");
        }
        let guard = self.git2();
        let repo: &git2::Repository = &guard;
        let committer = git2::Signature::now(&options.committer.name, &options.committer.email)
            .with_context(|| {
                format!(
                    "the committer '{} <{}>' is not a valid git identity",
                    options.committer.name, options.committer.email
                )
            })?;
        let onto_commit = repo
            .find_commit(onto)
            .with_context(|| format!("reading the target commit {onto}"))?;
        let target = options
            .target_name
            .map_or_else(|| self.branch_label(onto), str::to_string);

        let mut tip = onto_commit.clone();
        let mut created = Vec::new();
        let mut excluded = BTreeSet::new();
        let mut touched_kept = false;
        for &id in commits {
            let source = repo
                .find_commit(id)
                .with_context(|| format!("reading commit {id} to cherry-pick it"))?;
            let touched = self.changed_files(id)?;
            for path in touched {
                if options.exclude.is_match(&path) {
                    excluded.insert(path);
                } else {
                    touched_kept = true;
                }
            }
            let labels = Labels::new(&source, &target);
            let step = self
                .pick_one(&source, &tip, &labels, options.exclude, &mut excluded)
                .with_context(|| format!("cherry-picking {} onto {}", source.id(), tip.id()))?;
            let (tree, conflicts) = match step {
                Step::Unchanged => continue,
                Step::Clean(tree) => (tree, None),
                Step::Conflict { tree, files } => (tree, Some(files)),
            };
            let message = match &conflicts {
                None => picked_message(&source),
                Some(files) => conflict_message(&source, &target, files),
            };
            let tree = repo.find_tree(tree)?;
            let new = repo
                .commit(None, &source.author(), &committer, &message, &tree, &[&tip])
                .with_context(|| format!("writing the cherry-pick of {id}"))?;
            created.push(new);
            tip = repo.find_commit(new)?;
            if let Some(files) = conflicts {
                return Ok(PickOutcome::Conflict {
                    tip: new,
                    conflicted: files.into_iter().map(|f| f.path).collect(),
                    excluded: excluded.into_iter().collect(),
                });
            }
        }

        let excluded: Vec<String> = excluded.into_iter().collect();
        // Commits that cancel each other out promote nothing either, so the net tree decides.
        if created.is_empty() || tip.tree_id() == onto_commit.tree_id() {
            let reason = if !touched_kept && !excluded.is_empty() {
                NothingReason::AllExcluded
            } else {
                NothingReason::AlreadyInTarget
            };
            return Ok(PickOutcome::Nothing { reason, excluded });
        }
        Ok(PickOutcome::Picked {
            tip: tip.id(),
            commits: created,
            excluded,
        })
    }

    /// Pushes `commit` to `refs/heads/<branch>` on `url`, forcing when `force` (a promotion
    /// branch is ours to rewrite). The token goes through the credential callback as user
    /// `x-access-token`, never into a URL or an error message.
    pub fn push(
        &self,
        url: &str,
        token: Option<&SecretString>,
        commit: Oid,
        branch: &str,
        force: bool,
    ) -> anyhow::Result<()> {
        let refname = branch_ref(branch)?;
        let shown_url = without_userinfo(url);
        // A server refuses a single ref (protected branch, hook) without failing the whole push,
        // so the refusal only shows up in the push_update_reference callback.
        let rejected: RefCell<Option<String>> = RefCell::new(None);
        let mut callbacks = super::token_callbacks(token);
        callbacks.push_update_reference(|_name, status| {
            if let Some(message) = status {
                rejected.replace(Some(message.to_string()));
            }
            Ok(())
        });
        let mut options = git2::PushOptions::new();
        options.remote_callbacks(callbacks);

        let repo = self.git2();
        let mut remote = repo
            .remote_anonymous(url)
            .with_context(|| format!("preparing to push to {shown_url}"))?;
        let refspec = format!("{}{commit}:{refname}", if force { "+" } else { "" });
        remote
            .push(&[refspec], Some(&mut options))
            .with_context(|| {
                format!(
                    "pushing {commit} to branch '{branch}' of {shown_url}{}",
                    if force { " (forced)" } else { "" }
                )
            })?;
        drop(options);
        if let Some(message) = rejected.into_inner() {
            bail!("{shown_url} rejected the push to branch '{branch}': {message}");
        }
        Ok(())
    }

    /// Whether the trees of two commits are identical (to skip a push when the branch content
    /// did not change).
    pub fn same_tree(&self, a: Oid, b: Oid) -> anyhow::Result<bool> {
        let tree = |id: Oid| {
            self.git2()
                .find_commit(id)
                .map(|c| c.tree_id())
                .with_context(|| format!("reading commit {id}"))
        };
        Ok(tree(a)? == tree(b)?)
    }

    /// Paths changed by a commit relative to its first parent (everything, for a root commit):
    /// what the change touches. A rename lists both names.
    pub(crate) fn changed_files(&self, commit: Oid) -> anyhow::Result<Vec<String>> {
        let guard = self.git2();
        let repo: &git2::Repository = &guard;
        let read = || -> Result<Vec<String>, git2::Error> {
            let commit = repo.find_commit(commit)?;
            let new = commit.tree()?;
            let old = match commit.parent_count() {
                0 => None,
                _ => Some(commit.parent(0)?.tree()?),
            };
            let diff = repo.diff_tree_to_tree(old.as_ref(), Some(&new), None)?;
            let mut paths = BTreeSet::new();
            for delta in diff.deltas() {
                for file in [delta.old_file(), delta.new_file()] {
                    if let Some(path) = file.path_bytes() {
                        paths.insert(String::from_utf8_lossy(path).into_owned());
                    }
                }
            }
            Ok(paths.into_iter().collect())
        };
        read().with_context(|| format!("listing the files changed by commit {commit}"))
    }

    /// Applies one commit onto `ours` and returns the tree to commit, with excluded paths reset
    /// to `ours` and conflicts written out with markers.
    fn pick_one(
        &self,
        source: &Commit,
        ours: &Commit,
        labels: &Labels,
        exclude: &GlobSet,
        excluded: &mut BTreeSet<String>,
    ) -> anyhow::Result<Step> {
        let guard = self.git2();
        let repo: &git2::Repository = &guard;
        // libgit2 refuses a mainline for an ordinary commit and requires one for a merge.
        let mainline = if source.parent_count() > 1 { 1 } else { 0 };
        let mut index =
            repo.cherrypick_commit(source, ours, mainline, Some(&MergeOptions::new()))?;
        let ours_tree = ours.tree()?;

        let conflicts = index.conflicts()?.collect::<Result<Vec<_>, _>>()?;
        let mut files = Vec::new();
        let mut resolved = Vec::new();
        for conflict in conflicts {
            let paths = conflict_paths(&conflict);
            for path in &paths {
                match index.conflict_remove(path_of(path)) {
                    Err(e) if e.code() != git2::ErrorCode::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            // The path the target knows the file by; a rename on the source side follows it.
            let Some(path) = conflict
                .our
                .as_ref()
                .or(conflict.their.as_ref())
                .or(conflict.ancestor.as_ref())
                .map(|e| e.path.clone())
            else {
                continue;
            };
            if exclude.is_match(path_of(&path)) {
                // Left without an entry: the exclude pass below restores the target's version.
                continue;
            }
            let (entry, note) = self.with_markers(&conflict, &path, labels)?;
            resolved.extend(entry);
            files.push(ConflictFile {
                path: String::from_utf8_lossy(&path).into_owned(),
                note,
            });
        }
        for entry in &resolved {
            index.add(entry)?;
        }

        let tree = restore_excluded(repo, &mut index, &ours_tree, exclude, excluded)?;
        if !files.is_empty() {
            files.sort_by(|a, b| a.path.cmp(&b.path));
            return Ok(Step::Conflict { tree, files });
        }
        if tree == ours_tree.id() {
            return Ok(Step::Unchanged);
        }
        Ok(Step::Clean(tree))
    }

    /// The index entry that stands for a conflicted file in the committed tree (none when no side
    /// has the file), and a note for the commit message when it needs one.
    fn with_markers(
        &self,
        conflict: &IndexConflict,
        path: &[u8],
        labels: &Labels,
    ) -> anyhow::Result<(Option<IndexEntry>, Option<&'static str>)> {
        let guard = self.git2();
        let repo: &git2::Repository = &guard;
        let read = |entry: &Option<IndexEntry>| -> anyhow::Result<Option<(Vec<u8>, u32)>> {
            entry
                .as_ref()
                .map(|e| Ok((self.read_blob(e.id)?, e.mode)))
                .transpose()
        };
        let base = read(&conflict.ancestor)?;
        let ours = read(&conflict.our)?;
        let theirs = read(&conflict.their)?;

        let mergeable = [&base, &ours, &theirs]
            .into_iter()
            .flatten()
            .all(|(content, mode)| {
                is_regular(*mode) && !content[..content.len().min(BINARY_PROBE)].contains(&0)
            });
        if !mergeable {
            // Markers would corrupt a binary file, a symlink or a submodule. Keeping the target's
            // version means merging the PR unresolved changes nothing in production; when the
            // target deleted the file, the source's version shows the change in the PR diff.
            let (kept, note) = match (&conflict.our, &conflict.their) {
                (Some(ours), _) => (
                    ours,
                    "not text: the target's version is kept, apply the change by hand",
                ),
                (None, Some(theirs)) => (
                    theirs,
                    "not text and deleted in the target: the change's version is kept",
                ),
                (None, None) => return Ok((None, Some("deleted on both sides"))),
            };
            return Ok((Some(entry_at(path, kept.id, kept.mode)), Some(note)));
        }

        let (content, mode, note) = match (&ours, &theirs) {
            (Some((ours, ours_mode)), Some((theirs, theirs_mode))) => {
                let mut options = MergeFileOptions::new();
                options
                    .style_diff3(true)
                    .our_label(labels.target.as_str())
                    .ancestor_label(labels.base.as_str())
                    .their_label(labels.source.as_str());
                let path_text = String::from_utf8_lossy(path).into_owned();
                let mut base_input = MergeFileInput::new();
                if let Some((content, mode)) = &base {
                    base_input
                        .content(content)
                        .path(path_text.as_str())
                        .mode(Some(file_mode(*mode)));
                }
                let mut ours_input = MergeFileInput::new();
                ours_input
                    .content(ours)
                    .path(path_text.as_str())
                    .mode(Some(file_mode(*ours_mode)));
                let mut theirs_input = MergeFileInput::new();
                theirs_input
                    .content(theirs)
                    .path(path_text.as_str())
                    .mode(Some(file_mode(*theirs_mode)));
                let merged =
                    git2::merge_file(&base_input, &ours_input, &theirs_input, Some(&mut options))?;
                let note = merged
                    .is_automergeable()
                    .then_some("no markers: the sides disagree on its name or file mode");
                let mode = match merged.mode() {
                    0 => *ours_mode,
                    mode => mode,
                };
                (merged.content().to_vec(), mode, note)
            }
            (None, Some((theirs, mode))) => (
                deletion_markers(None, base.as_ref(), Some(theirs), labels),
                *mode,
                Some("deleted in the target, changed by the source"),
            ),
            (Some((ours, mode)), None) => (
                deletion_markers(Some(ours), base.as_ref(), None, labels),
                *mode,
                Some("changed in the target, deleted by the source"),
            ),
            (None, None) => return Ok((None, Some("deleted on both sides"))),
        };
        let blob = repo.blob(&content)?;
        Ok((Some(entry_at(path, blob, mode)), note))
    }

    /// A name for the target side of conflict markers: the branch that points at `onto`
    /// (remote-tracking first, as CI fetches it), else its short id.
    fn branch_label(&self, onto: Oid) -> String {
        let guard = self.git2();
        let repo: &git2::Repository = &guard;
        let mut remote = Vec::new();
        let mut local = Vec::new();
        if let Ok(references) = repo.references() {
            for reference in references.flatten() {
                if reference.kind() != Some(git2::ReferenceType::Direct)
                    || reference.peel_to_commit().map(|c| c.id()).ok() != Some(onto)
                {
                    continue;
                }
                let Ok(name) = reference.name() else {
                    continue;
                };
                if let Some(rest) = name.strip_prefix("refs/remotes/")
                    && let Some((_remote, branch)) = rest.split_once('/')
                {
                    remote.push(branch.to_string());
                } else if let Some(branch) = name.strip_prefix("refs/heads/") {
                    local.push(branch.to_string());
                }
            }
        }
        remote.sort();
        local.sort();
        remote
            .into_iter()
            .chain(local)
            .next()
            .unwrap_or_else(|| format!("target {}", short_id(repo, onto)))
    }
}

impl Labels {
    fn new(source: &Commit, target: &str) -> Labels {
        let short = source
            .as_object()
            .short_id()
            .ok()
            .and_then(|b| b.as_str().ok().map(str::to_string))
            .unwrap_or_else(|| source.id().to_string()[..7].to_string());
        let subject = source
            .summary_bytes()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        Labels {
            target: target.to_string(),
            base: format!("parent of {short} ({subject})"),
            source: format!("{short} ({subject})"),
        }
    }
}

/// Resets every path that differs from `ours` and matches `exclude` to its version in `ours`
/// (or removes it), records those paths, and writes the tree. The diff catches paths a rename
/// carried into an excluded directory, which the source commit's own file list would miss.
fn restore_excluded(
    repo: &Repository,
    index: &mut Index,
    ours: &Tree,
    exclude: &GlobSet,
    excluded: &mut BTreeSet<String>,
) -> Result<Oid, git2::Error> {
    let tree = index.write_tree_to(repo)?;
    if exclude.is_empty() {
        return Ok(tree);
    }
    let result = repo.find_tree(tree)?;
    let diff = repo.diff_tree_to_tree(Some(ours), Some(&result), None)?;
    let mut restored = false;
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            let Some(path) = file.path() else { continue };
            if !exclude.is_match(path) {
                continue;
            }
            match ours.get_path(path) {
                Ok(entry) => index.add(&entry_at(
                    path.as_os_str().as_bytes(),
                    entry.id(),
                    entry.filemode() as u32,
                ))?,
                Err(e) if e.code() == git2::ErrorCode::NotFound => match index.remove(path, 0) {
                    Err(e) if e.code() != git2::ErrorCode::NotFound => return Err(e),
                    _ => {}
                },
                Err(e) => return Err(e),
            }
            excluded.insert(path.to_string_lossy().into_owned());
            restored = true;
        }
    }
    if restored {
        index.write_tree_to(repo)
    } else {
        Ok(tree)
    }
}

/// Markers for a file one side deleted: the whole file is the conflict, and the deleted side's
/// label says so, since an empty section alone reads like an emptied file.
fn deletion_markers(
    ours: Option<&[u8]>,
    base: Option<&(Vec<u8>, u32)>,
    theirs: Option<&[u8]>,
    labels: &Labels,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut section = |marker: &str, label: &str, deleted: bool, content: Option<&[u8]>| {
        out.extend_from_slice(marker.as_bytes());
        if !label.is_empty() {
            out.push(b' ');
            out.extend_from_slice(label.as_bytes());
        }
        if deleted {
            out.extend_from_slice(b" (deleted)");
        }
        out.push(b'\n');
        if let Some(content) = content
            && !content.is_empty()
        {
            out.extend_from_slice(content);
            if !content.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
    };
    section("<<<<<<<", &labels.target, ours.is_none(), ours);
    section(
        "|||||||",
        &labels.base,
        false,
        base.map(|(c, _)| c.as_slice()),
    );
    section("=======", "", false, theirs);
    out.extend_from_slice(b">>>>>>> ");
    out.extend_from_slice(labels.source.as_bytes());
    if theirs.is_none() {
        out.extend_from_slice(b" (deleted)");
    }
    out.push(b'\n');
    out
}

fn picked_message(source: &Commit) -> String {
    let original = String::from_utf8_lossy(source.message_bytes());
    let original = original.trim_end();
    let line = format!("(cherry picked from commit {})", source.id());
    if original.lines().any(|l| l == line) {
        return format!("{original}\n");
    }
    format!("{original}\n\n{line}\n")
}

fn conflict_message(source: &Commit, target: &str, files: &[ConflictFile]) -> String {
    let original = String::from_utf8_lossy(source.message_bytes());
    let mut message = format!(
        "{}\n\nThis change conflicts with {target}. The files below were committed with conflict \
         markers; resolve them on this branch before merging:\n",
        original.trim_end()
    );
    for file in files {
        message.push('\t');
        message.push_str(&file.path);
        if let Some(note) = file.note {
            message.push_str(&format!(" ({note})"));
        }
        message.push('\n');
    }
    message.push_str(&format!("\n(cherry picked from commit {})\n", source.id()));
    message
}

/// Every distinct path a conflict occupies; with renames the three sides can differ.
fn conflict_paths(conflict: &IndexConflict) -> Vec<Vec<u8>> {
    let mut paths: Vec<Vec<u8>> = [&conflict.ancestor, &conflict.our, &conflict.their]
        .into_iter()
        .flatten()
        .map(|e| e.path.clone())
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

fn entry_at(path: &[u8], id: Oid, mode: u32) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode,
        uid: 0,
        gid: 0,
        file_size: 0,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.to_vec(),
    }
}

fn path_of(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

fn is_regular(mode: u32) -> bool {
    mode == u32::from(FileMode::Blob) || mode == u32::from(FileMode::BlobExecutable)
}

fn file_mode(mode: u32) -> FileMode {
    if mode == u32::from(FileMode::BlobExecutable) {
        FileMode::BlobExecutable
    } else {
        FileMode::Blob
    }
}

fn short_id(repo: &Repository, id: Oid) -> String {
    repo.find_object(id, None)
        .and_then(|o| o.short_id())
        .ok()
        .and_then(|b| b.as_str().ok().map(str::to_string))
        .unwrap_or_else(|| id.to_string()[..7].to_string())
}

fn branch_ref(branch: &str) -> anyhow::Result<String> {
    let refname = format!("refs/heads/{branch}");
    if !git2::Reference::is_valid_name(&refname) {
        bail!("'{branch}' is not a valid branch name");
    }
    Ok(refname)
}

/// The URL as it may appear in a message: credentials someone wrote into it are dropped.
fn without_userinfo(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            return format!("{scheme}://{}", &rest[at + 1..]);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    use globset::{Glob, GlobSetBuilder};

    use super::*;
    use crate::git::Repo;

    /// A repository built with the git CLI, with fixed identities and clock so runs repeat.
    struct Fixture {
        dir: tempfile::TempDir,
        work: PathBuf,
        clock: std::cell::Cell<i64>,
    }

    const AUTHOR: (&str, &str) = ("Ada Author", "ada@example.com");

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let work = dir.path().join("work");
            std::fs::create_dir(&work).unwrap();
            let fixture = Fixture {
                dir,
                work,
                clock: std::cell::Cell::new(1_704_157_445),
            };
            fixture.git(&["init", "-q", "-b", "master"]);
            fixture
        }

        fn command(&self, dir: &Path) -> Command {
            let now = self.clock.get();
            self.clock.set(now + 60);
            let date = format!("{now} +0200");
            let mut command = Command::new("git");
            command
                .current_dir(dir)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("HOME", dir)
                .env("GIT_AUTHOR_NAME", AUTHOR.0)
                .env("GIT_AUTHOR_EMAIL", AUTHOR.1)
                .env("GIT_AUTHOR_DATE", &date)
                .env("GIT_COMMITTER_NAME", "Cid Committer")
                .env("GIT_COMMITTER_EMAIL", "cid@example.com")
                .env("GIT_COMMITTER_DATE", &date)
                .args([
                    "-c",
                    "commit.gpgsign=false",
                    "-c",
                    "init.defaultBranch=master",
                ]);
            command
        }

        fn git_in(&self, dir: &Path, args: &[&str]) -> String {
            let output = self.command(dir).args(args).output().unwrap();
            assert!(
                output.status.success(),
                "git {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        }

        fn git(&self, args: &[&str]) -> String {
            self.git_in(&self.work, args)
        }

        fn git_fails(&self, args: &[&str]) -> bool {
            !self
                .command(&self.work)
                .args(args)
                .output()
                .unwrap()
                .status
                .success()
        }

        fn write(&self, path: &str, content: &str) {
            let full = self.work.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }

        /// Writes the files and commits them all, returning the new commit.
        fn commit(&self, message: &str, files: &[(&str, &str)]) -> Oid {
            for (path, content) in files {
                self.write(path, content);
            }
            self.git(&["add", "-A"]);
            self.git(&["commit", "-q", "-m", message]);
            self.rev("HEAD")
        }

        fn rev(&self, rev: &str) -> Oid {
            Oid::from_str(self.git(&["rev-parse", rev]).trim()).unwrap()
        }

        fn show(&self, commit: Oid, path: &str) -> String {
            self.git(&["show", &format!("{commit}:{path}")])
        }

        fn repo(&self) -> Repo {
            Repo::open(&self.work).unwrap()
        }

        /// master with a base and two overlays; `develop` branched from it and checked out.
        fn gitops() -> Fixture {
            let fixture = Fixture::new();
            fixture.commit(
                "Initial layout",
                &[
                    (
                        "base/deployment.yaml",
                        "kind: Deployment\nreplicas: 1\nimage: app:1\n",
                    ),
                    (
                        "overlays/staging/kustomization.yaml",
                        "resources: [../../base]\n",
                    ),
                    (
                        "overlays/production/kustomization.yaml",
                        "resources: [../../base]\n",
                    ),
                    ("overlays/production/replicas.yaml", "replicas: 2\n"),
                ],
            );
            fixture.git(&["checkout", "-q", "-b", "develop"]);
            fixture
        }
    }

    fn bot() -> Signature {
        Signature {
            name: "Promote Bot".to_string(),
            email: "bot@example.com".to_string(),
        }
    }

    fn globs(patterns: &[&str]) -> GlobSet {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            builder.add(Glob::new(pattern).unwrap());
        }
        builder.build().unwrap()
    }

    fn pick(fixture: &Fixture, commits: &[Oid], exclude: &[&str]) -> PickOutcome {
        let committer = bot();
        let exclude = globs(exclude);
        let options = PickOptions {
            committer: &committer,
            exclude: &exclude,
            target_name: None,
        };
        fixture
            .repo()
            .cherry_pick(commits, fixture.rev("master"), &options)
            .unwrap()
    }

    fn picked(outcome: PickOutcome) -> (Oid, Vec<Oid>, Vec<String>) {
        match outcome {
            PickOutcome::Picked {
                tip,
                commits,
                excluded,
            } => (tip, commits, excluded),
            other => panic!("expected a clean pick, got {other:?}"),
        }
    }

    #[test]
    fn a_squashed_pr_arrives_as_one_commit_that_keeps_its_author() {
        let fixture = Fixture::gitops();
        let source = fixture.commit(
            "Raise production replicas (#12)\n\nTraffic doubled.",
            &[("overlays/production/replicas.yaml", "replicas: 4\n")],
        );
        let status_before = fixture.git(&["status", "--porcelain"]);

        let (tip, commits, excluded) = picked(pick(&fixture, &[source], &[]));

        assert_eq!(commits, vec![tip]);
        assert!(excluded.is_empty());
        assert_eq!(
            fixture.git(&["rev-parse", &format!("{tip}^")]).trim(),
            fixture.rev("master").to_string()
        );
        let fields = fixture.git(&[
            "log",
            "-1",
            "--date=raw",
            "--format=%an|%ae|%ad|%cn|%ce",
            &tip.to_string(),
        ]);
        let original_date = fixture.git(&["log", "-1", "--date=raw", "--format=%ad", "develop"]);
        assert_eq!(
            fields.trim(),
            format!(
                "Ada Author|ada@example.com|{}|Promote Bot|bot@example.com",
                original_date.trim()
            )
        );
        assert!(original_date.trim().ends_with("+0200"));
        assert_eq!(
            fixture.git(&["log", "-1", "--format=%B", &tip.to_string()]),
            format!(
                "Raise production replicas (#12)\n\nTraffic doubled.\n\n\
                 (cherry picked from commit {source})\n\n"
            )
        );
        assert_eq!(
            fixture.show(tip, "overlays/production/replicas.yaml"),
            "replicas: 4\n"
        );
        assert_eq!(
            fixture.git(&["diff", "--name-only", "master", &tip.to_string()]),
            "overlays/production/replicas.yaml\n"
        );
        // Objects only: no ref moved, nothing on disk changed.
        assert_eq!(fixture.rev("HEAD"), source);
        assert_eq!(fixture.git(&["status", "--porcelain"]), status_before);
        assert_eq!(
            fixture.git(&["branch", "--format=%(refname)"]),
            "refs/heads/develop\nrefs/heads/master\n"
        );
    }

    #[test]
    fn a_merge_commit_brings_only_its_branch_changes() {
        let fixture = Fixture::gitops();
        // On develop but never promoted: must not ride along with the merge.
        fixture.commit(
            "Staging-only image",
            &[(
                "base/deployment.yaml",
                "kind: Deployment\nreplicas: 1\nimage: app:2\n",
            )],
        );
        fixture.git(&["checkout", "-q", "-b", "feature"]);
        fixture.commit(
            "Add an ingress",
            &[("overlays/production/ingress.yaml", "kind: Ingress\n")],
        );
        fixture.git(&["checkout", "-q", "develop"]);
        fixture.git(&[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge pull request #7 from feature",
            "feature",
        ]);
        let merge = fixture.rev("HEAD");

        let repo = fixture.repo();
        assert_eq!(
            repo.changed_files(merge).unwrap(),
            vec!["overlays/production/ingress.yaml".to_string()]
        );
        let (tip, commits, _) = picked(pick(&fixture, &[merge], &[]));

        assert_eq!(commits.len(), 1);
        assert_eq!(
            fixture.git(&["diff", "--name-only", "master", &tip.to_string()]),
            "overlays/production/ingress.yaml\n"
        );
        assert!(
            fixture
                .show(tip, "base/deployment.yaml")
                .contains("image: app:1")
        );
        assert_eq!(
            fixture
                .git(&["log", "-1", "--format=%P", &tip.to_string()])
                .trim(),
            fixture.rev("master").to_string()
        );
        assert!(
            fixture
                .git(&["log", "-1", "--format=%B", &tip.to_string()])
                .contains(&format!("(cherry picked from commit {merge})"))
        );
    }

    #[test]
    fn rebased_commits_arrive_in_order_as_separate_commits() {
        let fixture = Fixture::gitops();
        let first = fixture.commit(
            "Set replicas",
            &[("overlays/production/replicas.yaml", "replicas: 3\n")],
        );
        let second = fixture.commit(
            "Add a config map",
            &[("overlays/production/config.yaml", "kind: ConfigMap\n")],
        );
        let third = fixture.commit(
            "Raise replicas again",
            &[("overlays/production/replicas.yaml", "replicas: 5\n")],
        );

        let (tip, commits, _) = picked(pick(&fixture, &[first, second, third], &[]));

        assert_eq!(commits.len(), 3);
        assert_eq!(*commits.last().unwrap(), tip);
        let range = format!("master..{tip}");
        assert_eq!(
            fixture.git(&["log", "--reverse", "--format=%H %s", &range]),
            format!(
                "{} Set replicas\n{} Add a config map\n{} Raise replicas again\n",
                commits[0], commits[1], commits[2]
            )
        );
        assert_eq!(
            fixture
                .git(&["rev-list", "--count", "--min-parents=2", &range])
                .trim(),
            "0"
        );
        assert_eq!(
            fixture.show(tip, "overlays/production/replicas.yaml"),
            "replicas: 5\n"
        );
        assert_eq!(
            fixture.show(tip, "overlays/production/config.yaml"),
            "kind: ConfigMap\n"
        );
    }

    #[test]
    fn excluded_paths_keep_the_targets_version() {
        let fixture = Fixture::gitops();
        let both = fixture.commit(
            "Tune both environments",
            &[
                ("overlays/staging/x.yaml", "replicas: 1\n"),
                (
                    "overlays/staging/kustomization.yaml",
                    "resources: [../../base, x.yaml]\n",
                ),
                ("overlays/production/y.yaml", "replicas: 9\n"),
            ],
        );

        let (tip, _, excluded) = picked(pick(&fixture, &[both], &["overlays/staging/**"]));

        assert_eq!(
            excluded,
            vec![
                "overlays/staging/kustomization.yaml".to_string(),
                "overlays/staging/x.yaml".to_string()
            ]
        );
        assert_eq!(
            fixture.git(&["diff", "--name-only", "master", &tip.to_string()]),
            "overlays/production/y.yaml\n"
        );
        assert!(fixture.git_fails(&["cat-file", "-e", &format!("{tip}:overlays/staging/x.yaml")]));
        assert_eq!(
            fixture.show(tip, "overlays/staging/kustomization.yaml"),
            "resources: [../../base]\n"
        );

        let staging_only = fixture.commit(
            "Staging only",
            &[("overlays/staging/x.yaml", "replicas: 2\n")],
        );
        assert_eq!(
            pick(&fixture, &[staging_only], &["overlays/staging/**"]),
            PickOutcome::Nothing {
                reason: NothingReason::AllExcluded,
                excluded: vec!["overlays/staging/x.yaml".to_string()],
            }
        );
    }

    #[test]
    fn a_change_already_in_the_target_is_not_picked_again() {
        let fixture = Fixture::gitops();
        let change = [("overlays/production/replicas.yaml", "replicas: 6\n")];
        let source = fixture.commit("Scale up", &change);
        fixture.git(&["checkout", "-q", "master"]);
        fixture.commit("Hotfix: scale up directly", &change);

        assert_eq!(
            pick(&fixture, &[source], &[]),
            PickOutcome::Nothing {
                reason: NothingReason::AlreadyInTarget,
                excluded: vec![],
            }
        );
    }

    #[test]
    fn a_conflict_is_committed_with_markers_and_stops_the_pick() {
        let fixture = Fixture::gitops();
        let conflicting = fixture.commit(
            "Scale to five",
            &[("overlays/production/replicas.yaml", "replicas: 5\n")],
        );
        let later = fixture.commit(
            "Add a config map",
            &[("overlays/production/config.yaml", "kind: ConfigMap\n")],
        );
        fixture.git(&["checkout", "-q", "master"]);
        fixture.commit(
            "Scale to three in production",
            &[("overlays/production/replicas.yaml", "replicas: 3\n")],
        );

        let outcome = pick(&fixture, &[conflicting, later], &[]);
        let PickOutcome::Conflict {
            tip,
            conflicted,
            excluded,
        } = outcome
        else {
            panic!("expected a conflict, got {outcome:?}");
        };

        assert_eq!(
            conflicted,
            vec!["overlays/production/replicas.yaml".to_string()]
        );
        assert!(excluded.is_empty());
        assert_eq!(
            fixture
                .git(&["log", "-1", "--format=%P", &tip.to_string()])
                .trim(),
            fixture.rev("master").to_string()
        );
        let short = fixture.git(&["rev-parse", "--short", &conflicting.to_string()]);
        let short = short.trim();
        assert_eq!(
            fixture.show(tip, "overlays/production/replicas.yaml"),
            format!(
                "<<<<<<< master\nreplicas: 3\n\
                 ||||||| parent of {short} (Scale to five)\nreplicas: 2\n\
                 =======\nreplicas: 5\n\
                 >>>>>>> {short} (Scale to five)\n"
            )
        );
        assert!(fixture.git_fails(&[
            "cat-file",
            "-e",
            &format!("{tip}:overlays/production/config.yaml")
        ]));
        let message = fixture.git(&["log", "-1", "--format=%B", &tip.to_string()]);
        assert!(
            message.starts_with("Scale to five\n\nThis change conflicts with master."),
            "{message}"
        );
        assert!(
            message.contains("\toverlays/production/replicas.yaml\n"),
            "{message}"
        );
        assert!(message.contains(&format!("(cherry picked from commit {conflicting})")));
    }

    #[test]
    fn a_file_deleted_in_the_target_conflicts_with_the_whole_change_marked() {
        let fixture = Fixture::gitops();
        let source = fixture.commit(
            "Scale to five",
            &[("overlays/production/replicas.yaml", "replicas: 5\n")],
        );
        fixture.git(&["checkout", "-q", "master"]);
        fixture.git(&["rm", "-q", "overlays/production/replicas.yaml"]);
        fixture.git(&["commit", "-q", "-m", "Drop the replica patch"]);

        let outcome = pick(&fixture, &[source], &[]);
        let PickOutcome::Conflict {
            tip, conflicted, ..
        } = outcome
        else {
            panic!("expected a conflict, got {outcome:?}");
        };

        assert_eq!(
            conflicted,
            vec!["overlays/production/replicas.yaml".to_string()]
        );
        let content = fixture.show(tip, "overlays/production/replicas.yaml");
        assert!(
            content.starts_with("<<<<<<< master (deleted)\n||||||| parent of "),
            "{content}"
        );
        assert!(
            content.contains("\nreplicas: 2\n=======\nreplicas: 5\n>>>>>>> "),
            "{content}"
        );
        let message = fixture.git(&["log", "-1", "--format=%B", &tip.to_string()]);
        assert!(
            message.contains("deleted in the target, changed by the source"),
            "{message}"
        );
    }

    #[test]
    fn a_binary_conflict_keeps_the_targets_bytes_and_is_listed() {
        let fixture = Fixture::gitops();
        fixture.git(&["checkout", "-q", "master"]);
        fixture.commit("Add a key store", &[("files/store.bin", "\0v1\n")]);
        fixture.git(&["checkout", "-q", "develop"]);
        fixture.git(&["reset", "-q", "--hard", "master"]);
        let source = fixture.commit("Rotate the key store", &[("files/store.bin", "\0v2\n")]);
        fixture.git(&["checkout", "-q", "master"]);
        fixture.commit("Rotate it differently", &[("files/store.bin", "\0v3\n")]);

        let outcome = pick(&fixture, &[source], &[]);
        let PickOutcome::Conflict {
            tip, conflicted, ..
        } = outcome
        else {
            panic!("expected a conflict, got {outcome:?}");
        };

        assert_eq!(conflicted, vec!["files/store.bin".to_string()]);
        assert_eq!(fixture.show(tip, "files/store.bin"), "\0v3\n");
        let message = fixture.git(&["log", "-1", "--format=%B", &tip.to_string()]);
        assert!(
            message.contains("\tfiles/store.bin (not text: the target's version is kept"),
            "{message}"
        );
    }

    #[test]
    fn a_conflict_in_an_excluded_file_keeps_the_target_and_is_not_a_conflict() {
        let fixture = Fixture::gitops();
        let source = fixture.commit(
            "Scale both",
            &[
                ("overlays/production/replicas.yaml", "replicas: 5\n"),
                ("overlays/production/extra.yaml", "kind: ConfigMap\n"),
            ],
        );
        fixture.git(&["checkout", "-q", "master"]);
        fixture.commit(
            "Scale production",
            &[("overlays/production/replicas.yaml", "replicas: 3\n")],
        );

        let (tip, _, excluded) = picked(pick(&fixture, &[source], &["**/replicas.yaml"]));

        assert_eq!(
            excluded,
            vec!["overlays/production/replicas.yaml".to_string()]
        );
        assert_eq!(
            fixture.show(tip, "overlays/production/replicas.yaml"),
            "replicas: 3\n"
        );
        assert_eq!(
            fixture.show(tip, "overlays/production/extra.yaml"),
            "kind: ConfigMap\n"
        );
    }

    #[test]
    fn push_creates_then_force_moves_a_branch_on_a_bare_remote() {
        let fixture = Fixture::gitops();
        let remote = fixture.dir.path().join("remote.git");
        fixture.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
        let url = format!("file://{}", remote.display());
        let first_change = fixture.commit(
            "Scale to four",
            &[("overlays/production/replicas.yaml", "replicas: 4\n")],
        );
        let (first, _, _) = picked(pick(&fixture, &[first_change], &[]));
        let repo = fixture.repo();

        repo.push(&url, None, first, "gitops-promote/pr-12", false)
            .unwrap();
        let on_remote = |fixture: &Fixture| {
            fixture
                .git_in(&remote, &["rev-parse", "refs/heads/gitops-promote/pr-12"])
                .trim()
                .to_string()
        };
        assert_eq!(on_remote(&fixture), first.to_string());

        // A new pick of a different change is not a descendant: only a forced push replaces it.
        fixture.git(&["checkout", "-q", "master"]);
        fixture.git(&["checkout", "-q", "-b", "other"]);
        let second_change = fixture.commit(
            "Add a config map",
            &[("overlays/production/config.yaml", "kind: ConfigMap\n")],
        );
        let (second, _, _) = picked(pick(&fixture, &[second_change], &[]));
        let error = repo
            .push(&url, None, second, "gitops-promote/pr-12", false)
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("branch 'gitops-promote/pr-12'"),
            "{error:#}"
        );
        assert_eq!(on_remote(&fixture), first.to_string());

        repo.push(&url, None, second, "gitops-promote/pr-12", true)
            .unwrap();
        assert_eq!(on_remote(&fixture), second.to_string());

        let again = picked(pick(&fixture, &[second_change], &[])).0;
        assert!(repo.same_tree(second, again).unwrap());
        assert!(!repo.same_tree(first, second).unwrap());
    }

    #[test]
    fn credentials_in_a_url_never_reach_a_message() {
        assert_eq!(
            without_userinfo("https://x-access-token:ghs_secret@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(
            without_userinfo("file:///tmp/a@b/r.git"),
            "file:///tmp/a@b/r.git"
        );
    }
}
