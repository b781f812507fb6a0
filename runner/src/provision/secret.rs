//! Files holding passwords or their hashes: created mode 0600 (directories 0700) from the start,
//! never world-readable even for a moment.
use std::{
    fs::{self, OpenOptions, Permissions},
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

use anyhow::Context;

pub fn write(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // An existing file keeps its old mode on open: tighten it before writing.
    f.set_permissions(Permissions::from_mode(0o600))
        .with_context(|| format!("chmod 600 {}", path.display()))?;
    f.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn create_dir(path: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    fs::set_permissions(path, Permissions::from_mode(0o700))
        .with_context(|| format!("chmod 700 {}", path.display()))
}

/// Like `write`, but readers see the old file or the new one, never a half-written one (a
/// kill -9 mid-write leaves the old): written to a 0600 temporary beside it, then renamed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let name = path.file_name().context("a file name")?.to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    write(&tmp, contents)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}
