//! Sched tracepoint plumbing shared by runqlat and cpudist: field offsets and the
//! "not runnable" state mask from tracefs, the pid filter, and the tid -> tgid table.
use std::path::Path;

use anyhow::{Context as _, Result};
use aya::{maps::HashMap, Ebpf};
use lab_probes_common::sched::SchedOffsets;

use crate::tracefs;

/// How histograms are split (mirrors lab_probes_common::sched::key_mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyBy {
    #[default]
    All,
    /// Per process id (BCC's -P).
    Pid,
    /// Per thread id (BCC's -L).
    Tid,
}

impl KeyBy {
    pub fn mode(self) -> u8 {
        use lab_probes_common::sched::key_mode;
        match self {
            KeyBy::All => key_mode::NONE,
            KeyBy::Pid => key_mode::PID,
            KeyBy::Tid => key_mode::TID,
        }
    }
}

/// Offsets of the sched tracepoint fields on this kernel. `newtask` only when needed (it is
/// only attached to keep tgids of new tasks).
pub fn offsets(root: &Path, wakeups: bool, newtask: bool) -> Result<SchedOffsets> {
    let off = |tp: &str, f: &str| tracefs::field_offset(root, "sched", tp, f);
    let switch = tracefs::fields(root, "sched", "sched_switch")?;
    let state = switch
        .iter()
        .find(|f| f.name == "prev_state")
        .context("tracepoint sched:sched_switch has no field 'prev_state' on this kernel")?;
    let mut o = SchedOffsets {
        switch_prev_pid: off("sched_switch", "prev_pid")?,
        switch_prev_state: state.offset,
        switch_next_pid: off("sched_switch", "next_pid")?,
        switch_prev_state_size: state.size,
        sleep_mask: sleep_mask(root),
        ..Default::default()
    };
    if wakeups {
        o.wakeup_pid = off("sched_wakeup", "pid")?;
        o.wakeup_new_pid = off("sched_wakeup_new", "pid")?;
    }
    if newtask {
        o.newtask_pid = tracefs::field_offset(root, "task", "task_newtask", "pid")?;
        o.newtask_clone_flags = tracefs::field_offset(root, "task", "task_newtask", "clone_flags")?;
    }
    Ok(o)
}

/// The prev_state bits that mean the task went to sleep (or died): the union of the state
/// flags sched_switch's print fmt names. A preempted task shows none of them (0, or only the
/// "preempted" bit above them), so `prev_state & mask == 0` means it is still runnable.
pub fn sleep_mask(root: &Path) -> u64 {
    let path = root.join("events/sched/sched_switch/format");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| parse_sleep_mask(&t))
        .unwrap_or(0xff)
}

/// Parse the `{ 0x00000001, "S" }` entries of the print fmt's `__print_flags`.
pub fn parse_sleep_mask(format: &str) -> Option<u64> {
    let fmt = format.lines().find(|l| l.starts_with("print fmt:"))?;
    let flags = &fmt[fmt.find("__print_flags(")?..];
    let mut mask = 0u64;
    for entry in flags.split('{').skip(1) {
        let num = entry.split(',').next()?.trim();
        let v = match num.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok()?,
            None => num.parse().ok()?,
        };
        mask |= v;
    }
    (mask != 0).then_some(mask)
}

/// Restrict tracing to these process ids (FILTER map); call before attaching.
pub fn set_filter(bpf: &mut Ebpf, pids: &[u32]) -> Result<()> {
    let mut f: HashMap<_, u32, u8> =
        HashMap::try_from(bpf.map_mut("FILTER").context("map FILTER missing")?)?;
    for &p in pids {
        f.insert(p, 1, 0)
            .with_context(|| format!("adding pid {p} to the filter"))?;
    }
    Ok(())
}

/// Seed the tid -> tgid table from /proc, so tasks that already exist are attributed to their
/// process the first time they wake (new ones come from task_newtask).
pub fn seed_tgids(bpf: &mut Ebpf) -> Result<()> {
    let mut t: HashMap<_, u32, u32> =
        HashMap::try_from(bpf.map_mut("TGIDS").context("map TGIDS missing")?)?;
    for p in std::fs::read_dir("/proc")
        .context("reading /proc")?
        .flatten()
    {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(tasks) = std::fs::read_dir(p.path().join("task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            {
                // Full map (LRU) or a task that just exited: nothing to do about either.
                let _ = t.insert(tid, pid, 0);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_mask_from_print_fmt() {
        let f = r#"print fmt: "prev_comm=%s prev_state=%s%s", REC->prev_comm, (REC->prev_state & ((((0x00000000 | 0x00000001) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & 7, "|", { 0x00000001, "S" }, { 0x00000002, "D" }, { 0x00000080, "I" }) : "R", REC->prev_state & 256 ? "+" : """#;
        assert_eq!(parse_sleep_mask(f), Some(0x83));
        let old = r#"print fmt: "x", __print_flags(REC->prev_state & 63, "|", { 1, "S" } , { 2, "D" }, { 4, "T" })"#;
        assert_eq!(parse_sleep_mask(old), Some(7));
        assert_eq!(parse_sleep_mask("print fmt: \"nothing\""), None);
    }
}
