//! One lab per machine: a machine-wide record of whose lab runs (/run/lab/active.json).
//!
//! Labs share the CPU, the disk and the machine-wide tracers, so two students' labs on one
//! host would perturb each other's workloads and truth. `lab start` claims the machine under a
//! flock (refusing in one line when another user's lab is live), `lab stop` (session::end)
//! releases it. /run is a tmpfs, so a reboot forgets the record; a record whose processes are
//! all gone (or from another boot) is stale and is taken over, so nothing blocks forever.
use std::{
    fs::File,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::{cgroup, kill, procs, ProcId};
use crate::{store::SessionRecord, term};

const DIR: &str = "/run/lab";
const FILE: &str = "active.json";

/// Whose lab runs on this machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Active {
    pub user: String,
    pub lab: u32,
    /// Unix seconds.
    pub started_at: u64,
    pub boot_id: String,
    pub data_dir: PathBuf,
    /// The `lab start` that claimed the machine: the lab is live while it runs, even before
    /// any workload has started (prepare steps can take a while).
    pub starter: ProcId,
}

impl Active {
    /// Anything of this lab still running on this boot: its `lab start`, a workload or
    /// supervisor, or a process in its cgroups.
    pub fn live(&self) -> bool {
        if self.boot_id != procs::boot_id() {
            return false;
        }
        self.starter.alive()
            || kill::roots(&self.data_dir).iter().any(ProcId::alive)
            || !cgroup::pids(&self.data_dir, None).is_empty()
    }

    /// The one-line refusal for a user who may not start a lab while this one runs.
    fn refusal(&self) -> anyhow::Error {
        let ran = crate::clock::now().saturating_sub(self.started_at);
        anyhow::anyhow!(
            "{}'s lab {} has been running on this machine for {} and only one lab runs per machine \
             (labs share the CPU, disk and tracers): ask {} to run `sudo lab stop`, or stop it as \
             root with: sudo lab stop --user {}",
            self.user,
            self.lab,
            term::human_duration(ran),
            self.user,
            self.user
        )
    }
}

fn path() -> PathBuf {
    Path::new(DIR).join(FILE)
}

/// The record as it is (no lock: it is replaced by rename). None when absent or unreadable.
pub fn read() -> Option<Active> {
    let text = std::fs::read_to_string(path()).ok()?;
    serde_json::from_str(&text).ok()
}

/// Another user's live lab, if one runs (what `user` may not start beside).
pub fn other_users_lab(user: &str) -> Option<Active> {
    read().filter(|a| a.user != user && a.live())
}

/// Refuse (one line) when another user's lab runs; reads only, writes nothing.
pub fn refuse_if_taken(user: &str) -> anyhow::Result<()> {
    match other_users_lab(user) {
        Some(a) => Err(a.refusal()),
        None => Ok(()),
    }
}

/// Record `session` as the machine's lab, unless another user's lab is live (checked again
/// under the lock, so two `lab start`s at once cannot both win). A stale record of another
/// user's lab is taken over and its proctor disarmed (its owner's next `lab stop` or
/// `lab start` cleans up the rest in their own state dir).
pub fn claim(session: &SessionRecord) -> anyhow::Result<()> {
    let _lock = lock()?;
    if let Some(old) = read() {
        if old.user != session.user {
            if old.live() {
                return Err(old.refusal());
            }
            let _ = crate::session::proctor::disarm_dir(&crate::session::proctor::dir_for(
                &old.user,
                &old.data_dir,
            ));
        }
    }
    let me = ProcId::of(std::process::id() as i32).context("reading this process's start time")?;
    let active = Active {
        user: session.user.clone(),
        lab: session.lab,
        started_at: session.started_at,
        boot_id: session.boot_id.clone(),
        data_dir: session.data_dir.clone(),
        starter: me,
    };
    crate::store::write_atomic(&path(), serde_json::to_string_pretty(&active)?.as_bytes())
}

/// Forget the record if it is `session`'s (a record of a later session, or of another user who
/// took over a stale one, stays).
pub fn release(session: &SessionRecord) -> anyhow::Result<()> {
    if read().is_none() {
        return Ok(());
    }
    let _lock = lock()?;
    if read().is_some_and(|a| {
        a.user == session.user
            && a.data_dir == session.data_dir
            && a.started_at == session.started_at
    }) {
        match std::fs::remove_file(path()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("removing {}", path().display())))
            }
        }
    }
    Ok(())
}

/// An exclusive flock on /run/lab/active.lock, released on drop (or by the kernel on kill).
fn lock() -> anyhow::Result<File> {
    std::fs::create_dir_all(DIR).with_context(|| format!("creating {DIR}"))?;
    crate::store::lock_file(&Path::new(DIR).join("active.lock"))
}
