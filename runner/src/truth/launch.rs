//! Starting and stopping the recorder. `lab supervise` runs `lab record` exactly as it runs a
//! workload (session::spawn::supervise: own session, own cgroup, run files, exit status, log),
//! only rooted in `<data_dir>/truth/` instead of `<data_dir>/`: `lab stop` ends it with the same
//! tree kill, a kill -9 of `lab start` leaves run files that `lab stop` finds, and `lab status`
//! and the checker's PID filter (which read `<data_dir>/run/` and the session's cgroup) never
//! see it.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use crate::{
    lab::Lab,
    session::{procs::ProcId, runfiles},
};

/// The run-file name of the recorder (`truth/run/recorder.*.json`).
const NAME: &str = "recorder";
/// Its process name in ps.
const COMM: &str = "lab-record";
/// Loading the probes takes a few seconds in a TCG guest.
const ATTACH_WITHIN: Duration = Duration::from_secs(20);

/// Start the recorder for the session in `data_dir` and wait until its probes are attached, so
/// everything the student does after `lab start` returns is recorded. Ok(None): the lab records
/// nothing over the session.
pub fn start(lab: &Lab, data_dir: &Path) -> Result<Option<ProcId>> {
    if !crate::checkers::records(lab) {
        return Ok(None);
    }
    let dir = super::dir(data_dir);
    for d in [runfiles::run_dir(&dir), dir.join("logs")] {
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    let me = std::env::current_exe().context("finding the lab binary")?;
    let program = [
        me.display().to_string(),
        "record".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ];
    let handle = crate::session::spawn::supervise(&dir, NAME, COMM, &program)
        .context("starting the truth recorder's supervisor")?;
    let log = runfiles::log_path(&dir, NAME);
    // It outlives us: duct must neither wait for nor kill it.
    let handle = std::mem::ManuallyDrop::new(handle);

    let ring = super::ring::path(data_dir);
    let deadline = Instant::now() + ATTACH_WITHIN;
    loop {
        let rec = runfiles::read::<runfiles::WorkloadFile>(&runfiles::workload_path(&dir, NAME));
        if let (Some(w), true) = (&rec, ring.exists()) {
            return Ok(Some(w.id));
        }
        let ended = runfiles::read::<runfiles::ExitInfo>(&runfiles::exit_path(&dir, NAME));
        if ended.is_some() || matches!(handle.try_wait(), Ok(Some(_))) {
            let tail = runfiles::log_tail(&dir, NAME, 3).join(" / ");
            anyhow::bail!("the truth recorder ended at once: {tail}");
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the truth recorder did not attach within {} s (see {})",
                ATTACH_WITHIN.as_secs(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// End the recorder of the session in `data_dir` (nothing to do when there is none). Returns
/// how many processes were signalled.
pub fn stop(data_dir: &Path) -> Result<usize> {
    let dir = super::dir(data_dir);
    if !dir.exists() {
        return Ok(0);
    }
    crate::session::kill::kill_trees(&dir).context("stopping the truth recorder")
}

/// The recorder's identity, while it runs.
pub fn running(data_dir: &Path) -> Option<ProcId> {
    let dir = super::dir(data_dir);
    runfiles::read::<runfiles::WorkloadFile>(&runfiles::workload_path(&dir, NAME))
        .map(|w| w.id)
        .filter(ProcId::alive)
}
