//! The proctor: a record of perturbing tools (strace, ltrace, tcpdump, gdb, ...) run during a
//! lab, the way the workshop forbids them on its "production" system.
//!
//! It is the smoke probe `execcount` (exec counts by comm, from the probe library) with its link
//! and map pinned in bpffs: it keeps counting after `lab` exits, needs no extra terminal or
//! daemon, and `lab check` reads the pinned map. `lab start` arms it, `lab stop` disarms it.
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use aya::{
    maps::{Map, MapData, PerCpuHashMap},
    programs::{links::FdLink, TracePoint},
};

const BPFFS: &str = "/sys/fs/bpf";
const DIR: &str = "/sys/fs/bpf/lab-proctor";
/// Programs that stop or slow the traced process (ptrace, or per-packet copies).
pub const PERTURBING: &[&str] = &["strace", "ltrace", "gdb", "tcpdump", "valgrind"];

fn dir() -> PathBuf {
    PathBuf::from(DIR)
}

pub fn armed() -> bool {
    dir().join("map").exists()
}

/// Start recording (idempotent). Needs root.
pub fn arm() -> Result<()> {
    if in_dev_session() {
        return Ok(());
    }
    if armed() {
        return Ok(());
    }
    mount_bpffs()?;
    std::fs::create_dir_all(dir()).with_context(|| format!("creating {DIR}"))?;
    let (root, _) = lab_probes::tracefs::mount_if_missing()?;
    anyhow::ensure!(
        lab_probes::tracefs::tracepoint_exists(&root, "sched", "sched_process_exec"),
        "tracepoint sched:sched_process_exec does not exist on this kernel"
    );
    let mut bpf = lab_probes::load("execcount")?;
    let prog: &mut TracePoint = bpf
        .program_mut("execcount")
        .context("program execcount missing")?
        .try_into()?;
    prog.load().context("verifier rejected execcount")?;
    let id = prog
        .attach("sched", "sched_process_exec")
        .context("attaching sched:sched_process_exec")?;
    let link = prog.take_link(id)?;
    let fd: FdLink = link
        .try_into()
        .context("this kernel has no BPF links for tracepoints (needs 5.15+)")?;
    bpf.map("EXEC_COUNTS")
        .context("map EXEC_COUNTS")?
        .pin(dir().join("map"))
        .context("pinning the proctor map")?;
    fd.pin(dir().join("link"))
        .context("pinning the proctor link")?;
    Ok(())
}

/// Stop recording and forget (removing the pins detaches the program).
pub fn disarm() -> Result<()> {
    if in_dev_session() {
        return Ok(());
    }
    if dir().exists() {
        std::fs::remove_dir_all(dir()).with_context(|| format!("removing {DIR}"))?;
    }
    Ok(())
}

/// Times each perturbing tool was started since the proctor was armed.
pub fn counts() -> Result<Vec<(String, u64)>> {
    let data = MapData::from_pin(dir().join("map")).context("opening the proctor's pinned map")?;
    let map = Map::from_map_data(data)?;
    let map: PerCpuHashMap<_, [u8; 16], u64> = PerCpuHashMap::try_from(map)?;
    let mut out = Vec::new();
    for item in map.iter() {
        let (k, per_cpu) = item?;
        let comm = lab_probes::execcount::comm_str(&k);
        if PERTURBING.contains(&comm.as_str()) {
            out.push((comm, per_cpu.iter().sum()));
        }
    }
    out.sort();
    Ok(out)
}

/// The machine-wide proctor belongs to the student's lab: a `lab dev check` session (run in its
/// own state dir, see commands::dev) neither arms, reads nor disarms it.
pub fn in_dev_session() -> bool {
    std::env::var_os(crate::commands::dev::SESSION_ENV).is_some()
}

/// Lines for `lab check`: empty when nothing perturbing ran. Arms the proctor when a lab started
/// by an older runner left it unarmed, so recording starts at the latest now.
pub fn report(started_at: u64) -> Result<Vec<String>> {
    if in_dev_session() {
        return Ok(Vec::new());
    }
    // Counts from before this session (armed for an earlier lab, never disarmed) do not count.
    let armed_at = std::fs::metadata(dir().join("map"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    if armed() && armed_at.is_some_and(|t| t + 1 < started_at) {
        disarm()?;
    }
    if !armed() {
        arm()?;
        return Ok(Vec::new());
    }
    Ok(counts()?
        .into_iter()
        .map(|(comm, n)| {
            format!("proctor: {comm} was started {n} time(s) during this lab; on a production system it would have slowed the application down (use BPF tools instead)")
        })
        .collect())
}

fn mount_bpffs() -> Result<()> {
    let mounted = std::fs::read_to_string("/proc/mounts")
        .map(|m| {
            m.lines().any(|l| {
                l.split_whitespace().nth(1) == Some(BPFFS)
                    && l.split_whitespace().nth(2) == Some("bpf")
            })
        })
        .unwrap_or(false);
    if mounted {
        return Ok(());
    }
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (src, target) = (c("bpf"), c(BPFFS));
    // SAFETY: plain mount(2) with NUL-terminated strings.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 && !Path::new(BPFFS).join("lab-proctor").exists() {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("mounting bpffs at {BPFFS}"));
    }
    Ok(())
}
