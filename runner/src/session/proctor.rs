//! The proctor: a record of perturbing tools (strace, ltrace, tcpdump, gdb, ...) run during a
//! lab, the way the workshop forbids them on its "production" system.
//!
//! It is the smoke probe `execcount` (exec counts by comm, from the probe library) with its link
//! and map pinned in bpffs: it keeps counting after `lab` exits, needs no extra terminal or
//! daemon, and `lab check` reads the pinned map. `lab start` arms it, `lab stop` disarms it.
//! Each session has its own pin directory, /sys/fs/bpf/lab-proctor/<user>-<hash of data dir>,
//! so one user's `lab stop` (or ended session) never disarms another user's proctor.
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use aya::maps::{Map, MapData, PerCpuHashMap};

use crate::store::SessionRecord;

const BPFFS: &str = "/sys/fs/bpf";
const DIR: &str = "/sys/fs/bpf/lab-proctor";
/// Programs that stop or slow the traced process (ptrace, or per-packet copies).
pub const PERTURBING: &[&str] = &["strace", "ltrace", "gdb", "tcpdump", "valgrind"];

/// The pin directory of the proctor of `user`'s session with data in `data_dir`.
pub fn dir_for(user: &str, data_dir: &Path) -> PathBuf {
    let key = data_dir
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
    let user: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Path::new(DIR).join(format!("{user}-{key:016x}"))
}

fn dir(session: &SessionRecord) -> PathBuf {
    dir_for(&session.user, &session.data_dir)
}

pub fn armed(session: &SessionRecord) -> bool {
    dir(session).join("map").exists()
}

/// When the session's proctor was armed (its map pin's time), Unix seconds.
pub fn armed_at(session: &SessionRecord) -> Option<u64> {
    std::fs::metadata(dir(session).join("map"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

/// Start recording for `session` (idempotent). Needs root.
pub fn arm(session: &SessionRecord) -> Result<()> {
    if in_dev_session() || armed(session) {
        return Ok(());
    }
    mount_bpffs()?;
    remove_machine_wide_pins();
    let dir = dir(session);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let pinned = lab_probes::execcount::ExecCount::attach().and_then(|c| c.pin(&dir));
    if pinned.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    pinned
}

/// A runner before per-session proctors pinned one machine-wide as lab-proctor/{map,link}:
/// nobody reads those any more, and they would count forever.
fn remove_machine_wide_pins() {
    for f in ["map", "link"] {
        let _ = std::fs::remove_file(Path::new(DIR).join(f));
    }
}

/// Stop recording for `session` and forget (removing the pins detaches the program).
pub fn disarm(session: &SessionRecord) -> Result<()> {
    if in_dev_session() {
        return Ok(());
    }
    disarm_dir(&dir(session))
}

/// Remove a proctor pin directory (of a session found stale, see session::machine).
pub fn disarm_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("removing {}", dir.display()))),
    }
    // The last session's proctor gone: leave no empty directory in bpffs either (fails, as
    // it should, while another session's proctor is pinned there).
    if let Some(parent) = dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

/// Times each perturbing tool was started since `session`'s proctor was armed.
pub fn counts(session: &SessionRecord) -> Result<Vec<(String, u64)>> {
    let data =
        MapData::from_pin(dir(session).join("map")).context("opening the proctor's pinned map")?;
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

/// The proctor belongs to the student's lab: a `lab dev check` session (run in its own state
/// dir, see session::isolated) neither arms, reads nor disarms one.
pub fn in_dev_session() -> bool {
    std::env::var_os(super::isolated::DEV_SESSION_ENV).is_some()
}

/// Lines for `lab check`: empty when nothing perturbing ran. Arms the proctor when a lab started
/// by an older runner left it unarmed, so recording starts at the latest now.
pub fn report(session: &SessionRecord) -> Result<Vec<String>> {
    if in_dev_session() {
        return Ok(Vec::new());
    }
    // Counts from before this session (the same lab restarted without a stop) do not count.
    if armed_at(session).is_some_and(|t| t + 1 < session.started_at) {
        disarm(session)?;
    }
    if !armed(session) {
        arm(session)?;
        return Ok(Vec::new());
    }
    Ok(counts(session)?
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
