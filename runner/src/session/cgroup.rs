//! Containment by cgroup v2, when the machine has a cgroup2 mount we can write (root): every
//! process a workload ever forks stays in its cgroup, even one that calls setsid and is
//! orphaned after its supervisor was killed, so `lab stop` finds it. Without cgroup2 the
//! process-tree and session walks in procs.rs are the fallback.
use std::path::{Path, PathBuf};

/// The cgroup2 mount point (/sys/fs/cgroup on pure v2, /sys/fs/cgroup/unified on hybrid).
fn mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[2] == "cgroup2").then(|| PathBuf::from(f[1]))
    })
}

/// The session's cgroup directory: <mount>/lab/<hash of data_dir>.
pub fn session_dir(data_dir: &Path) -> Option<PathBuf> {
    let key = data_dir
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
    let leaf = data_dir.file_name()?.to_string_lossy().into_owned();
    Some(mount()?.join("lab").join(format!("{leaf}-{key:016x}")))
}

/// Move process `pid` into the session's cgroup for workload `name` (created if needed).
pub fn join(data_dir: &Path, name: &str, pid: i32) -> std::io::Result<PathBuf> {
    let dir = session_dir(data_dir)
        .ok_or_else(|| std::io::Error::other("no cgroup2 mount"))?
        .join(name);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("cgroup.procs"), pid.to_string())?;
    Ok(dir)
}

/// Every process (tgid) in the session's cgroups, or in one workload's.
pub fn pids(data_dir: &Path, name: Option<&str>) -> Vec<i32> {
    let Some(base) = session_dir(data_dir) else {
        return Vec::new();
    };
    let dirs: Vec<PathBuf> = match name {
        Some(n) => vec![base.join(n)],
        None => std::fs::read_dir(&base)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default(),
    };
    dirs.iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// SIGKILL everything in the session's cgroups at once (cgroup.kill, Linux 5.14+).
pub fn kill_all(data_dir: &Path) {
    let Some(base) = session_dir(data_dir) else {
        return;
    };
    if let Ok(rd) = std::fs::read_dir(&base) {
        for d in rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            let _ = std::fs::write(d.join("cgroup.kill"), "1");
        }
    }
}

/// Remove the session's (empty) cgroups.
pub fn remove(data_dir: &Path) {
    let Some(base) = session_dir(data_dir) else {
        return;
    };
    if let Ok(rd) = std::fs::read_dir(&base) {
        for d in rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            let _ = std::fs::remove_dir(d);
        }
    }
    let _ = std::fs::remove_dir(&base);
}
