//! syscount's user half: count syscalls by number or by process in a per-CPU kernel map and read
//! the sums. Used by the `syscount` tool and by the runner (ground truth: syscall mix of a PID set).
use anyhow::{Context as _, Result};
use aya::{maps::PerCpuHashMap, Ebpf};
use lab_probes_common::snoop::SyscallStat;

use crate::{events, requirements::Tracepoint, tracefs};

/// sys_exit counts; sys_enter is attached only for latency.
pub const TRACEPOINTS: &[Tracepoint] =
    &[("raw_syscalls", "sys_enter"), ("raw_syscalls", "sys_exit")];

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Only these processes (tgids); None = all.
    pub pids: Option<Vec<u32>>,
    pub tid: Option<u32>,
    /// Only failed calls (ret < 0).
    pub failed_only: bool,
    /// Only calls failing with this errno.
    pub errno: Option<u32>,
    /// Only this syscall number.
    pub syscall: Option<u32>,
    /// Key by process (tgid) instead of syscall number.
    pub by_process: bool,
    /// Measure time in the syscall too.
    pub latency: bool,
    /// Only tasks in this cgroup v2 (its id, see `events::cgroup_id`).
    pub cgroup: Option<u64>,
}

/// Sums over CPUs for one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    pub count: u64,
    pub total_ns: u64,
}

/// An attached syscall counter; detaches when dropped.
pub struct SysCount {
    bpf: Ebpf,
}

impl SysCount {
    pub fn attach(cfg: &Config) -> Result<Self> {
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let id = tracefs::field_offset(&root, "raw_syscalls", "sys_exit", "id")?;
        let ret = tracefs::field_offset(&root, "raw_syscalls", "sys_exit", "ret")?;
        let filter_pids = u8::from(cfg.pids.is_some());
        let tid = cfg.tid.unwrap_or(0);
        let failed = u8::from(cfg.failed_only);
        let errno = cfg.errno.unwrap_or(0);
        let syscall = cfg.syscall.unwrap_or(u32::MAX);
        let by_process = u8::from(cfg.by_process);
        let latency = u8::from(cfg.latency);
        let cgroup = cfg.cgroup.unwrap_or(0);
        let mut bpf = crate::loader::load_with("syscount", |l| {
            l.override_global("EXIT_ID_OFF", &id, true)
                .override_global("EXIT_RET_OFF", &ret, true)
                .override_global("FILTER_PIDS", &filter_pids, true)
                .override_global("FILTER_TID", &tid, true)
                .override_global("FAILED_ONLY", &failed, true)
                .override_global("FILTER_ERRNO", &errno, true)
                .override_global("FILTER_SYSCALL", &syscall, true)
                .override_global("BY_PROCESS", &by_process, true)
                .override_global("LATENCY", &latency, true)
                .override_global("FILTER_CGROUP", &cgroup, true);
        })?;
        if let Some(pids) = &cfg.pids {
            events::add_pids(&mut bpf, pids)?;
        }
        events::attach_tracepoint(&mut bpf, "syscount_exit", "raw_syscalls", "sys_exit")?;
        if cfg.latency {
            events::attach_tracepoint(&mut bpf, "syscount_enter", "raw_syscalls", "sys_enter")?;
        }
        Ok(Self { bpf })
    }

    pub fn add_pids(&mut self, pids: &[u32]) -> Result<()> {
        events::add_pids(&mut self.bpf, pids)
    }

    /// Counts so far, by key (syscall number, or tgid with `by_process`), summed over CPUs.
    pub fn counts(&self) -> Result<Vec<(u32, Stat)>> {
        let map: PerCpuHashMap<_, u32, SyscallStat> = PerCpuHashMap::try_from(
            self.bpf
                .map("COUNTS")
                .context("map COUNTS missing from object")?,
        )?;
        let mut out = Vec::new();
        for item in map.iter() {
            let (k, per_cpu) = item?;
            let s = per_cpu.iter().fold(Stat::default(), |a, v| Stat {
                count: a.count + v.count,
                total_ns: a.total_ns + v.total_ns,
            });
            out.push((k, s));
        }
        Ok(out)
    }

    /// Read the counts and reset them (interval output).
    pub fn take(&mut self) -> Result<Vec<(u32, Stat)>> {
        let out = self.counts()?;
        let mut map: PerCpuHashMap<_, u32, SyscallStat> = PerCpuHashMap::try_from(
            self.bpf
                .map_mut("COUNTS")
                .context("map COUNTS missing from object")?,
        )?;
        for (k, _) in &out {
            // A key may vanish between read and delete only if we raced ourselves; ignore.
            let _ = map.remove(k);
        }
        Ok(out)
    }
}

/// x86_64 syscall name of `nr`, or the number when unknown.
pub fn syscall_name(nr: u32) -> String {
    match syscalls::Sysno::new(nr as usize) {
        Some(s) => s.name().to_owned(),
        None => format!("[unknown: {nr}]"),
    }
}

/// Number of syscall `name` on x86_64.
pub fn syscall_number(name: &str) -> Option<u32> {
    name.parse::<syscalls::Sysno>().ok().map(|s| s.id() as u32)
}

/// Every syscall name known (for `syscount -l`).
pub fn syscall_names() -> impl Iterator<Item = &'static str> {
    syscalls::Sysno::iter().map(|s| s.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let nr = libc::SYS_getppid as u32;
        assert_eq!(syscall_name(nr), "getppid");
        assert_eq!(syscall_number("getppid"), Some(nr));
        assert_eq!(syscall_number("no_such_call"), None);
    }
}
