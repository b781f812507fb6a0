//! flocks: the state file's, and any other file's lock (the machine record's).
use std::{
    fs::{File, OpenOptions},
    os::unix::{fs::OpenOptionsExt, io::AsRawFd},
    path::Path,
};

use anyhow::Context as _;

/// An flock on `<dir>/state.lock`, released on drop (and by the kernel if we are killed).
pub(super) struct Lock {
    _file: File,
}

/// Open (creating, never following a link) and flock `path` exclusively; the lock lasts as
/// long as the returned file.
pub fn lock_file(path: &Path) -> anyhow::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: valid fd for the life of f.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("locking {}", path.display()));
    }
    Ok(f)
}

impl Lock {
    pub(super) fn exclusive(dir: &Path) -> anyhow::Result<Lock> {
        let f = lock_file(&dir.join("state.lock"))?;
        Ok(Lock { _file: f })
    }
}
