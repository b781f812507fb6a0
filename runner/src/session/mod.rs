//! Sessions: a started lab and its supervised workloads, found again by PID + start time.
use std::path::Path;

pub mod cgroup;
pub mod end;
pub mod isolated;
pub mod kill;
pub mod machine;
pub mod prepare;
pub mod procs;
pub mod proctor;
pub mod runfiles;
pub mod spawn;
pub mod start;
pub mod supervisor;

pub use procs::ProcId;
pub use runfiles::ExitInfo;

use crate::store::{SessionRecord, State};

/// The running session as it is now.
#[derive(Debug, Clone)]
pub struct Live {
    pub session: SessionRecord,
    pub workloads: Vec<WorkloadLive>,
    /// False when the machine rebooted since the start (every process is gone).
    pub same_boot: bool,
}

#[derive(Debug, Clone)]
pub struct WorkloadLive {
    pub name: String,
    pub comm: String,
    /// 0 when the workload never started.
    pub pid: i32,
    pub start_time: u64,
    /// The supervisor's identity, when it recorded one.
    pub supervisor: Option<ProcId>,
    pub started: bool,
    pub alive: bool,
    /// How it ended, when the supervisor saw it end.
    pub exit: Option<ExitInfo>,
}

impl WorkloadLive {
    pub fn id(&self) -> Option<ProcId> {
        self.started.then_some(ProcId {
            pid: self.pid,
            start_time: self.start_time,
        })
    }
    /// "running", "exited with status 3", "killed by SIGKILL", "gone (...)", "not started".
    pub fn health(&self) -> String {
        if self.alive {
            "running".into()
        } else if let Some(e) = &self.exit {
            e.to_string()
        } else if self.started {
            "gone (its supervisor was killed; exit status unknown)".into()
        } else {
            "not started".into()
        }
    }
}

impl Live {
    /// Err when a workload of the session stopped, with its last words (e.g. "No space left on
    /// device"): nothing is graded against a workload that stopped.
    pub fn require_alive(&self) -> anyhow::Result<()> {
        let Some(dead) = self.workloads.iter().find(|w| !w.alive) else {
            return Ok(());
        };
        let last = runfiles::log_tail(&self.session.data_dir, &dead.name, 8)
            .into_iter()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("lab-supervise:"))
            .map(|l| format!(": {}", l.trim()))
            .unwrap_or_default();
        let id = self.session.lab;
        anyhow::bail!(
            "workload {} of lab {id} is not running ({}{last}); nothing was graded; restart the lab: sudo lab stop && sudo lab start {id}",
            dead.name,
            dead.health()
        )
    }

    pub fn workload(&self, name: &str) -> Option<&WorkloadLive> {
        self.workloads.iter().find(|w| w.name == name)
    }
    /// PIDs of every live process of every workload tree (supervisors excluded): the filter
    /// for tracing the session.
    pub fn pids(&self) -> Vec<i32> {
        // Supervisors are roots too (orphans are reparented to them) but not members.
        let roots: Vec<ProcId> = self
            .workloads
            .iter()
            .filter(|w| w.alive)
            .filter_map(|w| w.id())
            .chain(self.workloads.iter().filter_map(|w| w.supervisor))
            .collect();
        let sups: Vec<i32> = self
            .workloads
            .iter()
            .filter_map(|w| w.supervisor.map(|s| s.pid))
            .collect();
        let extra = cgroup::pids(&self.session.data_dir, None);
        procs::tree_members_plus(&procs::table(), &roots, &extra)
            .into_iter()
            .map(|p| p.pid)
            .filter(|p| !sups.contains(p))
            .collect()
    }
    pub fn all_alive(&self) -> bool {
        self.workloads.iter().all(|w| w.alive)
    }
}

/// Look at a session's workloads now.
pub fn inspect(session: &SessionRecord) -> Live {
    let same_boot = session.boot_id.is_empty() || session.boot_id == procs::boot_id();
    let mut names = session.workloads.clone();
    for n in runfiles::names(&session.data_dir) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let workloads = names
        .into_iter()
        .map(|name| workload_live(&session.data_dir, name, same_boot))
        .collect();
    Live {
        session: session.clone(),
        workloads,
        same_boot,
    }
}

fn workload_live(data_dir: &Path, name: String, same_boot: bool) -> WorkloadLive {
    let w = runfiles::read::<runfiles::WorkloadFile>(&runfiles::workload_path(data_dir, &name));
    let supervisor = runfiles::read::<ProcId>(&runfiles::supervisor_path(data_dir, &name));
    let exit = runfiles::read::<ExitInfo>(&runfiles::exit_path(data_dir, &name));
    let alive = same_boot && w.as_ref().is_some_and(|w| w.id.alive());
    WorkloadLive {
        comm: w.as_ref().map(|w| w.comm.clone()).unwrap_or_default(),
        pid: w.as_ref().map_or(0, |w| w.id.pid),
        start_time: w.as_ref().map_or(0, |w| w.id.start_time),
        supervisor,
        started: w.is_some(),
        alive,
        exit,
        name,
    }
}

/// The running session, if any.
pub fn current() -> anyhow::Result<Option<Live>> {
    Ok(State::load()?.session.as_ref().map(inspect))
}

/// The session of lab `lab`, with clear errors when no lab or another lab is running.
pub fn require_running(lab: u32) -> anyhow::Result<Live> {
    match current()? {
        None => anyhow::bail!("no lab is running; start it with: sudo lab start {lab}"),
        Some(live) if live.session.lab != lab => {
            anyhow::bail!(
                "lab {} is running, not lab {lab}; stop it with: sudo lab stop",
                live.session.lab
            )
        }
        Some(live) => Ok(live),
    }
}

/// Remove a session's data directory, refusing anything that does not look like one.
pub fn remove_data_dir(dir: &Path) -> anyhow::Result<()> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent = dir
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    anyhow::ensure!(
        name.starts_with("lab-") && parent == "sessions",
        "refusing to delete {}: not a session data directory",
        dir.display()
    );
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("removing {}", dir.display()))),
    }
}

/// Where a lab's session data lives.
pub fn data_dir_for(state_dir: &Path, lab: u32) -> std::path::PathBuf {
    state_dir.join("sessions").join(format!("lab-{lab:02}"))
}
