//! Killing a session's processes: every process of every workload tree (supervisors included).
use std::{
    path::Path,
    time::{Duration, Instant},
};

use super::{
    cgroup,
    procs::{self, ProcId},
    runfiles::{self, WorkloadFile},
};

/// The roots of a session's process trees: supervisors and workloads, from the run files.
pub fn roots(data_dir: &Path) -> Vec<ProcId> {
    let mut roots = Vec::new();
    for name in runfiles::names(data_dir) {
        if let Some(s) = runfiles::read::<ProcId>(&runfiles::supervisor_path(data_dir, &name)) {
            roots.push(s);
        }
        if let Some(w) = runfiles::read::<WorkloadFile>(&runfiles::workload_path(data_dir, &name)) {
            roots.push(w.id);
        }
    }
    roots
}

/// End every process of the session: SIGTERM the workloads (their supervisors record how they
/// ended), then SIGKILL whatever is left, supervisors included, until nothing is. Returns how
/// many processes were signalled.
pub fn kill_trees(data_dir: &Path) -> anyhow::Result<usize> {
    let roots = roots(data_dir);
    let supervisors: Vec<i32> = runfiles::names(data_dir)
        .iter()
        .filter_map(|n| runfiles::read::<ProcId>(&runfiles::supervisor_path(data_dir, n)))
        .map(|p| p.pid)
        .collect();
    let mut signalled = std::collections::BTreeSet::new();

    // Polite: SIGTERM to the workloads' processes, not the supervisors.
    let grace = Instant::now() + Duration::from_secs(2);
    let mut termed = false;
    loop {
        let members: Vec<_> =
            procs::tree_members_plus(&procs::table(), &roots, &cgroup::pids(data_dir, None))
                .into_iter()
                .filter(|p| !supervisors.contains(&p.pid))
                .collect();
        if members.is_empty() || Instant::now() > grace {
            break;
        }
        if !termed {
            for p in &members {
                signalled.insert(p.pid);
                // SAFETY: a process of this session's tree (identity checked by start time).
                unsafe { libc::kill(p.pid, libc::SIGTERM) };
            }
            termed = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Then SIGKILL everything left, repeatedly, in case something forks while we kill.
    // Supervisors exit by themselves once their workload is gone; they get half a second.
    let kill_supervisors_at = Instant::now() + Duration::from_millis(500);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let members =
            procs::tree_members_plus(&procs::table(), &roots, &cgroup::pids(data_dir, None));
        if members.is_empty() {
            cgroup::remove(data_dir);
            return Ok(signalled.len());
        }
        if Instant::now() > deadline {
            let left: Vec<String> = members
                .iter()
                .map(|p| format!("{} ({})", p.pid, p.comm))
                .collect();
            anyhow::bail!("could not stop: still running: {}", left.join(", "));
        }
        if Instant::now() > kill_supervisors_at {
            cgroup::kill_all(data_dir);
        }
        for p in &members {
            if !supervisors.contains(&p.pid) || Instant::now() > kill_supervisors_at {
                signalled.insert(p.pid);
                // SAFETY: as above.
                unsafe { libc::kill(p.pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
