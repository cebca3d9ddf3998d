//! The exported trees are temporary: gone after a normal run, after a failed one, and after Ctrl-C
//! in the middle of the builds (with the builds themselves stopped).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{GitRepo, write_script};

/// Our temporary directories left in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("gitops-promote-"))
        .collect()
}

fn changed_base() -> GitRepo {
    let repo = GitRepo::base_and_two_overlays();
    repo.edit("base/service.yaml", "port: 80", "port: 8080");
    repo.commit("change the shared base");
    repo
}

fn diff_command(repo: &GitRepo, tmp: &Path, kustomize: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops-promote"));
    cmd.args([
        "diff", "--base", "master", "--head", "develop", "--quiet", "--repo",
    ])
    .arg(repo.path())
    .arg("--kustomize")
    .arg(kustomize)
    .env("TMPDIR", tmp)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

#[test]
fn temporary_trees_are_removed_after_success_and_after_failed_builds() {
    let repo = changed_base();
    let tmp = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    let ok = write_script(
        tools.path(),
        "ok.sh",
        "#!/bin/sh\nexec kubectl kustomize \"$@\"\n",
    );
    let broken = write_script(
        tools.path(),
        "broken.sh",
        "#!/bin/sh\necho 'no luck' >&2\nexit 1\n",
    );

    let status = diff_command(&repo, tmp.path(), &ok).status().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());

    let status = diff_command(&repo, tmp.path(), &broken).status().unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
}

#[test]
fn ctrl_c_during_the_builds_removes_the_trees_and_stops_the_builds() {
    let repo = changed_base();
    let tmp = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    let started = tools.path().join("started");
    // Each build announces itself, then hangs far longer than the test waits.
    let slow = write_script(
        tools.path(),
        "slow.sh",
        &format!(
            "#!/bin/sh\necho $$ >> '{}'\nexec sleep 60\n",
            started.display()
        ),
    );
    let mut child = diff_command(&repo, tmp.path(), &slow).spawn().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() {
        assert!(Instant::now() < deadline, "no build started");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !leftovers(tmp.path()).is_empty(),
        "the trees exist while building"
    );

    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 15 s after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());

    // The builds were killed, not left behind.
    let pids = std::fs::read_to_string(&started).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    for pid in pids.lines() {
        let alive = Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(!alive, "build {pid} outlived the run");
    }
}
