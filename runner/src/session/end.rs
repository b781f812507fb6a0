//! Ending a session: its truth recorder, every process of its workloads, its data files, its
//! proctor and its claim on the machine; the time spent is added to the lab's progress.
use super::kill::kill_trees;
use crate::store::{self, SessionRecord, State};

/// End a session completely and forget it: processes, data directory, state (time spent is
/// added to the lab's progress). Returns the number of processes signalled.
pub fn end(running: &SessionRecord) -> anyhow::Result<usize> {
    // The truth recorder first: it stops by itself once the workloads are gone, but must not
    // be left writing into a data dir being deleted. Not counted: it is not the student's.
    crate::truth::launch::stop(&running.data_dir)?;
    let n = kill_trees(&running.data_dir)?;
    super::remove_data_dir(&running.data_dir)?;
    // The proctor's pinned probe lives as long as the lab does.
    if let Err(e) = super::proctor::disarm(running) {
        eprintln!("lab: warning: proctor: {e:#}");
    }
    // The machine is free for another user's lab (if this session was the one recorded).
    if let Err(e) = super::machine::release(running) {
        eprintln!("lab: warning: {e:#}");
    }
    State::update(|s| {
        if s.session.as_ref().is_some_and(|x| {
            x.lab == running.lab && x.seed == running.seed && x.started_at == running.started_at
        }) {
            let spent = crate::clock::now().saturating_sub(running.started_at);
            s.progress_mut(running.lab).time_spent += spent;
            s.session = None;
        }
        Ok(())
    })?;
    Ok(n)
}

/// Kill and remove every session directory under the state dir that is not the running one.
pub fn end_strays() -> anyhow::Result<usize> {
    let sessions = store::dir()?.join("sessions");
    let current = State::load()?.session.map(|s| s.data_dir);
    let Ok(entries) = std::fs::read_dir(&sessions) else {
        return Ok(0);
    };
    let mut n = 0;
    for e in entries.flatten() {
        let dir = e.path();
        if Some(&dir) == current.as_ref() || !dir.is_dir() {
            continue;
        }
        crate::truth::launch::stop(&dir)?;
        n += kill_trees(&dir)?;
        super::remove_data_dir(&dir)?;
    }
    Ok(n)
}
