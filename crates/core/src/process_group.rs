//! Stopping a child together with everything it started.

/// A child's process group (the child was spawned with `process_group(0)`), killed when dropped.
/// Killing only the child would leave what it started (git's `index-pack`, helm, a plugin)
/// running and holding its pipes open.
pub struct ProcessGroup(pub u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let Ok(pgid) = libc::pid_t::try_from(self.0) else {
            return;
        };
        // SAFETY: killpg(2) takes plain integers. When every member of the group has exited it
        // fails with ESRCH, which is fine.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}
