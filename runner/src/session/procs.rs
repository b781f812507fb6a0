//! Processes by identity: a PID plus its start time (/proc/PID/stat field 22), because PIDs
//! get reused. Also the process-table walks `lab stop` and `lab status` need.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A process identity that survives PID reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcId {
    pub pid: i32,
    /// Clock ticks after boot (/proc/PID/stat field 22).
    pub start_time: u64,
}

impl ProcId {
    /// This process's identity now (None if it does not exist).
    pub fn of(pid: i32) -> Option<ProcId> {
        let st = procfs::process::Process::new(pid).ok()?.stat().ok()?;
        Some(ProcId {
            pid,
            start_time: st.starttime,
        })
    }
    /// The same process still exists and has not exited (a zombie counts as exited).
    pub fn alive(&self) -> bool {
        match procfs::process::Process::new(self.pid).and_then(|p| p.stat()) {
            Ok(st) => st.starttime == self.start_time && st.state != 'Z' && st.state != 'X',
            Err(_) => false,
        }
    }
}

/// One row of the process table.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub session: i32,
    pub start_time: u64,
    pub state: char,
    pub comm: String,
}

impl Proc {
    pub fn running(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

/// A snapshot of every process.
pub fn table() -> Vec<Proc> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    all.filter_map(|p| p.ok()?.stat().ok())
        .map(|st| Proc {
            pid: st.pid,
            ppid: st.ppid,
            session: st.session,
            start_time: st.starttime,
            state: st.state,
            comm: st.comm,
        })
        .collect()
}

/// Every live process belonging to the trees rooted at `roots`: the roots themselves (if they
/// are still the same processes), their descendants, and members of the session a root leads
/// (setsid'd supervisors: orphans reparented to init keep the session id). A session member
/// must have started no earlier than its leader, so a reused session id cannot match.
#[allow(dead_code)] // API for the checker
pub fn tree_members(table: &[Proc], roots: &[ProcId]) -> Vec<Proc> {
    tree_members_plus(table, roots, &[])
}

/// As tree_members, plus the processes `extra` (e.g. a cgroup's) and their descendants.
pub fn tree_members_plus(table: &[Proc], roots: &[ProcId], extra: &[i32]) -> Vec<Proc> {
    let by_pid: BTreeMap<i32, &Proc> = table.iter().map(|p| (p.pid, p)).collect();
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in table {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut found = BTreeSet::new();
    let mut queue = Vec::new();
    for r in roots {
        if by_pid
            .get(&r.pid)
            .is_some_and(|p| p.start_time == r.start_time)
        {
            queue.push(r.pid); // else the PID was reused: not ours
        }
        // Session members outlive their leader (a killed supervisor); they started after it.
        for m in table {
            if m.session == r.pid && m.start_time >= r.start_time {
                queue.push(m.pid);
            }
        }
    }
    queue.extend(extra.iter().copied().filter(|p| by_pid.contains_key(p)));
    while let Some(pid) = queue.pop() {
        if found.insert(pid) {
            queue.extend(children.get(&pid).into_iter().flatten().copied());
        }
    }
    found
        .into_iter()
        .filter_map(|pid| by_pid.get(&pid))
        .filter(|p| p.running())
        .map(|p| (*p).clone())
        .collect()
}

/// /proc/sys/kernel/random/boot_id: changes on every boot.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn signal_name(sig: i32) -> String {
    // SAFETY: strsignal returns a static string (or null on some libcs).
    let abbrev = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    abbrev.to_string()
}
