//! USDT probes of a running process: every ELF object it has mapped (its executable and its
//! libraries), read through /proc/PID/root so a process in a container resolves too.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::notes::{probes_in_file, UsdtProbe};

/// `-p PID` must name a live process.
pub fn check_pid(pid: u32) -> Result<()> {
    if pid == 0 || !Path::new(&format!("/proc/{pid}")).exists() {
        bail!("-p {pid}: no such process");
    }
    Ok(())
}

/// The files process `pid` maps, in map order, each once (paths inside the process).
fn mapped_files(pid: u32) -> Result<Vec<String>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .with_context(|| format!("-p {pid}: reading /proc/{pid}/maps"))?;
    let mut files: Vec<String> = Vec::new();
    for l in maps.lines() {
        // address perms offset dev inode path (the path may hold spaces).
        let Some(path) = l.splitn(6, ' ').nth(5).map(str::trim) else {
            continue;
        };
        if path.starts_with('/')
            && !path.ends_with(" (deleted)")
            && !files.iter().any(|f| f == path)
        {
            files.push(path.to_owned());
        }
    }
    Ok(files)
}

/// Every USDT probe in the objects process `pid` maps. Mapped files that are not ELF (locale
/// archives, caches) are passed over.
pub fn probes_of_pid(pid: u32) -> Result<Vec<UsdtProbe>> {
    check_pid(pid)?;
    let mut out = Vec::new();
    for f in mapped_files(pid)? {
        let path = PathBuf::from(format!("/proc/{pid}/root{f}"));
        if let Ok(probes) = probes_in_file(&path) {
            out.extend(probes);
        }
    }
    if out.is_empty() {
        bail!("-p {pid}: none of the process's binaries or libraries has USDT probes");
    }
    Ok(out)
}

/// A probe's file as the process sees it (without /proc/PID/root), for output.
pub fn shown_path(path: &Path) -> String {
    let s = path.display().to_string();
    if let Some(rest) = s.strip_prefix("/proc/") {
        if let Some((pid, inner)) = rest.split_once("/root/") {
            if pid.bytes().all(|b| b.is_ascii_digit()) {
                return format!("/{inner}");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_paths_drop_the_process_root() {
        assert_eq!(
            shown_path(Path::new("/proc/42/root/usr/lib/libc.so.6")),
            "/usr/lib/libc.so.6"
        );
        assert_eq!(shown_path(Path::new("/usr/bin/x")), "/usr/bin/x");
    }

    #[test]
    fn this_process_maps_its_own_executable() {
        let me = std::process::id();
        let files = mapped_files(me).unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert!(files.iter().any(|f| Path::new(f) == exe), "{files:?}");
        assert!(check_pid(0).is_err() && check_pid(u32::MAX).is_err());
    }
}
