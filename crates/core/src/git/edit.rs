//! Small commits made without a work tree: one file changed on top of a branch tip, as a
//! ChatOps command needs.

use anyhow::Context;
use git2::Oid;

use super::Repo;
use super::pick::Signature;

impl Repo {
    /// The contents of `path` in `commit`, or `None` when the commit has no such file.
    pub fn file_at(&self, commit: Oid, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let guard = self.git2();
        let repo: &git2::Repository = &guard;
        let tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .with_context(|| format!("reading the tree of {commit}"))?;
        let Ok(entry) = tree.get_path(std::path::Path::new(path)) else {
            return Ok(None);
        };
        if entry.kind() != Some(git2::ObjectType::Blob)
            || entry.filemode() == i32::from(git2::FileMode::Link)
        {
            anyhow::bail!("{path} is not a regular file in {commit}");
        }
        Ok(Some(self.read_blob(entry.id())?))
    }

    /// A commit on top of `parent` that changes `path` (an existing file, mode kept) to
    /// `content` and nothing else. No ref moves; the caller pushes it.
    pub fn commit_file(
        &self,
        parent: Oid,
        path: &str,
        content: &[u8],
        message: &str,
        who: &Signature,
    ) -> anyhow::Result<Oid> {
        let guard = self.git2();
        let repo: &git2::Repository = &guard;
        let make = || -> Result<Oid, git2::Error> {
            let parent = repo.find_commit(parent)?;
            let tree = parent.tree()?;
            let mode = match tree.get_path(std::path::Path::new(path))?.filemode() {
                0o100755 => git2::FileMode::BlobExecutable,
                _ => git2::FileMode::Blob,
            };
            let blob = repo.blob(content)?;
            let mut update = git2::build::TreeUpdateBuilder::new();
            update.upsert(path, blob, mode);
            let new_tree = repo.find_tree(update.create_updated(repo, &tree)?)?;
            let signature = git2::Signature::now(&who.name, &who.email)?;
            repo.commit(None, &signature, &signature, message, &new_tree, &[&parent])
        };
        make().with_context(|| format!("committing {path} on top of {parent}"))
    }

    /// The newest of the last `limit` first-parent commits from `tip` whose message has `line`
    /// as one whole line (a trailer naming the request that made it: `comment 12` must not
    /// match `comment 123`).
    pub fn find_commit_with_line(&self, tip: Oid, line: &str, limit: usize) -> Option<Oid> {
        let guard = self.git2();
        let repo: &git2::Repository = &guard;
        let mut commit = repo.find_commit(tip).ok()?;
        for _ in 0..limit {
            if commit
                .message_raw()
                .is_ok_and(|m| m.lines().any(|l| l.trim_end() == line))
            {
                return Some(commit.id());
            }
            commit = commit.parent(0).ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_one_file_and_finds_the_commit_by_its_trailer() {
        let dir = tempfile::tempdir().unwrap();
        let raw = git2::Repository::init_bare(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let mut builder = raw.treebuilder(None).unwrap();
        let app = raw.blob(b"allow: old\n").unwrap();
        let run = raw.blob(b"#!/bin/sh\n").unwrap();
        builder.insert("app.yaml", app, 0o100644).unwrap();
        builder.insert("run.sh", run, 0o100755).unwrap();
        let tree = raw.find_tree(builder.write().unwrap()).unwrap();
        let root = raw.commit(None, &sig, &sig, "root", &tree, &[]).unwrap();
        let repo = Repo::open(dir.path()).unwrap();
        let who = Signature {
            name: "bot".into(),
            email: "bot@example.com".into(),
        };

        let next = repo
            .commit_file(
                root,
                "app.yaml",
                b"allow: new\n",
                "edit\n\nTrailer: 42\n",
                &who,
            )
            .unwrap();
        assert_eq!(
            repo.file_at(next, "app.yaml").unwrap().unwrap(),
            b"allow: new\n"
        );
        assert_eq!(
            repo.file_at(next, "run.sh").unwrap().unwrap(),
            b"#!/bin/sh\n"
        );
        assert_eq!(repo.file_at(next, "missing.yaml").unwrap(), None);
        let commit = raw.find_commit(next).unwrap();
        assert_eq!(commit.committer().name().unwrap(), "bot");
        assert_eq!(commit.parent_id(0).unwrap(), root);
        let changed = repo.changed_files(next).unwrap();
        assert_eq!(changed, ["app.yaml"]);
        let executable = commit
            .tree()
            .unwrap()
            .get_name("run.sh")
            .unwrap()
            .filemode();
        assert_eq!(executable, 0o100755);
        assert_eq!(
            repo.find_commit_with_line(next, "Trailer: 42", 10),
            Some(next)
        );
        assert_eq!(repo.find_commit_with_line(next, "Trailer: 43", 10), None);
        assert_eq!(repo.find_commit_with_line(next, "Trailer: 4", 10), None);
        assert!(
            repo.commit_file(root, "nope.yaml", b"x", "m", &who)
                .is_err()
        );
    }
}
