//! The running session and every lab's progress, as `lab status --json` gives them: built from
//! the state file and /proc (and the proctor's live counts when root).
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::{ProctorDoc, SessionDoc, StatusDoc, WorkloadDoc};
use crate::{
    session::{self, procs, proctor, runfiles},
    store::{self, SessionRecord, State},
};

/// How long the workloads' CPU and I/O rates are sampled.
const SAMPLE: Duration = Duration::from_millis(500);

/// The running session `running` (`live` as found now).
pub fn session_doc(running: &SessionRecord, live: &session::Live) -> SessionDoc {
    let lab = crate::lab::find(running.lab).ok();
    SessionDoc {
        title: lab.as_ref().map(|l| l.title.clone()).unwrap_or_default(),
        seed: running.seed,
        started_at: running.started_at,
        elapsed_secs: crate::clock::now().saturating_sub(running.started_at),
        duration_secs: lab.as_ref().map_or(0, |l| l.duration_secs),
        data_dir: running.data_dir.display().to_string(),
        complete: running.complete,
        same_boot: live.same_boot,
        workloads: workload_rows(live),
    }
}

/// The whole `lab status --json` document.
pub fn status(state: &State, session: Option<SessionDoc>) -> anyhow::Result<StatusDoc> {
    let now = crate::clock::now();
    let catalog = crate::lab::catalog()?;
    let labs = super::labs(&catalog, state, now);
    let running = state.session.as_ref().map(|s| s.lab);
    let proctor = match running {
        None => ProctorDoc {
            seen: Default::default(),
            source: "none".into(),
        },
        Some(lab) => match live_proctor(state) {
            Some(seen) => ProctorDoc {
                seen,
                source: "live".into(),
            },
            None => ProctorDoc {
                seen: state
                    .progress(lab)
                    .map(|p| p.proctor.clone())
                    .unwrap_or_default(),
                source: "last_check".into(),
            },
        },
    };
    Ok(StatusDoc {
        schema: super::SCHEMA,
        kind: "lab-status".into(),
        user: store::user(),
        host: super::hostname(),
        now,
        lab: running,
        session,
        last_check: super::last_check(&labs),
        hints_used: labs.iter().map(|l| l.hints_used).sum(),
        labs,
        proctor,
        doctor: super::doctor(),
    })
}

/// The proctor's counts read live (needs root: the pinned map is root's), when it was armed
/// for the running session.
fn live_proctor(state: &State) -> Option<std::collections::BTreeMap<String, u64>> {
    let session = state.session.as_ref()?;
    if !crate::privilege::is_root() {
        return None;
    }
    // Armed for an earlier run of the same lab and never disarmed: not this session's counts.
    if proctor::armed_at(session)? + 1 < session.started_at {
        return None;
    }
    proctor::counts(session)
        .ok()
        .map(|v| v.into_iter().collect())
}

/// Each workload's health and its tree's CPU, memory and storage I/O over SAMPLE (sysinfo).
fn workload_rows(live: &session::Live) -> Vec<WorkloadDoc> {
    // Tree membership from the process table (PID + start time, sessions, cgroup).
    let table = procs::table();
    let trees: Vec<Vec<i32>> = live
        .workloads
        .iter()
        .map(|w| {
            // The supervisor is a root too: orphans of the workload are reparented to it.
            let roots: Vec<_> = w
                .id()
                .filter(|_| w.alive)
                .into_iter()
                .chain(w.supervisor)
                .collect();
            let sup = w.supervisor.map(|s| s.pid);
            let cg = session::cgroup::pids(&live.session.data_dir, Some(&w.name));
            procs::tree_members_plus(&table, &roots, &cg)
                .into_iter()
                .map(|p| p.pid)
                .filter(|p| Some(*p) != sup)
                .collect()
        })
        .collect();
    let all: Vec<Pid> = trees
        .iter()
        .flatten()
        .map(|p| Pid::from(*p as usize))
        .collect();
    let kind = ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .with_disk_usage()
        .without_tasks();
    let mut sys = System::new();
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&all), true, kind);
    let t0 = Instant::now();
    std::thread::sleep(SAMPLE);
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&all), true, kind);
    let secs = t0.elapsed().as_secs_f64();

    live.workloads
        .iter()
        .zip(&trees)
        .map(|(w, tree)| {
            let running = w.alive;
            let members: Vec<&sysinfo::Process> = tree
                .iter()
                .filter_map(|p| sys.process(Pid::from(*p as usize)))
                .collect();
            // /proc/PID/io is readable only for one's own processes (or by root): without it
            // the rates are unknown, not zero.
            let io_readable = running
                && tree
                    .first()
                    .is_some_and(|p| std::fs::File::open(format!("/proc/{p}/io")).is_ok());
            let rate = |f: fn(&sysinfo::DiskUsage) -> u64| {
                io_readable
                    .then(|| members.iter().map(|p| f(&p.disk_usage())).sum::<u64>() as f64 / secs)
            };
            WorkloadDoc {
                name: w.name.clone(),
                comm: w.comm.clone(),
                pid: w.pid,
                start_time: w.start_time,
                alive: running,
                health: w.health(),
                exit_code: w.exit.as_ref().and_then(|e| e.code),
                exit_signal: w.exit.as_ref().and_then(|e| e.signal),
                processes: tree.len(),
                cpu_percent: running
                    .then(|| members.iter().map(|p| p.cpu_usage() as f64).sum::<f64>()),
                memory_bytes: running.then(|| members.iter().map(|p| p.memory()).sum()),
                read_bytes_per_sec: rate(|d| d.read_bytes),
                write_bytes_per_sec: rate(|d| d.written_bytes),
                log_tail: if running || !w.started {
                    Vec::new()
                } else {
                    runfiles::log_tail(&live.session.data_dir, &w.name, 5)
                },
            }
        })
        .collect()
}
