//! Atomic file writes: readers see the old or the new content, never a mix.
use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    os::unix::{fs::OpenOptionsExt, io::AsRawFd},
    path::Path,
};

use anyhow::Context as _;

/// Write `bytes` to `path` so that readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with(path, bytes, false)
}

/// `write_atomic` for a file only the owner of its directory reads (the student's answers):
/// mode 0600, and owned like the directory, so the student still reads it without root.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with(path, bytes, true)
}

fn write_with(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let dir = path.parent().context("state path has no directory")?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        // A fresh file, never through a link someone left at that name.
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if private { 0o600 } else { 0o644 })
            .open(&tmp)?;
        if private {
            own_like_dir(&f, dir)?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(crate::privilege::usage(format!(
                "cannot write {} (permission denied); re-run it as root (e.g. sudo {})",
                path.display(),
                crate::privilege::command_line()
            )));
        }
        return Err(anyhow::Error::new(e).context(format!("writing {}", path.display())));
    }
    Ok(())
}

/// Give the new file `f` the owner of `dir` (root writing into a student's dir; a no-op when
/// they are the same, and left alone when not root).
fn own_like_dir(f: &File, dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let d = fs::metadata(dir)?;
    let m = f.metadata()?;
    // SAFETY: geteuid has no preconditions.
    if (m.uid(), m.gid()) == (d.uid(), d.gid()) || unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    // SAFETY: a valid fd for the life of `f`.
    if unsafe { libc::fchown(f.as_raw_fd(), d.uid(), d.gid()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
