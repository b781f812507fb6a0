//! Ownership and modes of the student's directories.
use std::{
    fs::OpenOptions,
    os::unix::{fs::OpenOptionsExt, io::AsRawFd},
    path::Path,
};

use anyhow::Context as _;

use super::user;

/// Mode of a session data dir: the student's alone. A lab whose workload runs as another
/// account (lab 2's sshd logs in as `student`) opens its own data dir for passing (o+x).
pub const PRIVATE: u32 = 0o700;
/// Mode of the state dir and `sessions/`: others cannot list them, but may pass through to a
/// lab's data dir opened for passing (lab 2's sshd reads its keys there as `student`, which
/// 0700 would refuse). The state file itself is 0600 (`write_private`).
pub const PASS_THROUGH: u32 = 0o711;

/// Make `path` (a directory of the student's) owned by the student (so they read their own
/// state without root, e.g. `lab status --json` run by `lab class`), with `mode` (PRIVATE or
/// PASS_THROUGH). Only for the default per-user dirs, when root: a LAB_STATE_DIR is the
/// caller's choice, its permissions are left alone. Symlinks are not followed.
pub fn make_private(path: &Path, mode: u32) -> anyhow::Result<()> {
    if std::env::var_os("LAB_STATE_DIR").is_some_and(|d| !d.is_empty())
        // SAFETY: geteuid has no preconditions.
        || unsafe { libc::geteuid() } != 0
    {
        return Ok(());
    }
    let (uid, gid) = account(&user()).unwrap_or((0, 0));
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: a valid fd for the life of `dir`.
    let ok = unsafe {
        libc::fchown(dir.as_raw_fd(), uid, gid) == 0 && libc::fchmod(dir.as_raw_fd(), mode) == 0
    };
    if !ok {
        return Err(std::io::Error::last_os_error()).with_context(|| {
            format!(
                "making {} private (owner {uid}, mode {mode:o})",
                path.display()
            )
        });
    }
    Ok(())
}

/// The uid and gid of account `name`, if it exists.
fn account(name: &str) -> Option<(libc::uid_t, libc::gid_t)> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or null; read at once.
    unsafe {
        let pw = libc::getpwnam(c.as_ptr());
        (!pw.is_null()).then(|| ((*pw).pw_uid, (*pw).pw_gid))
    }
}
