//! `lab stop`: end the running lab's workloads (whole process trees) and delete their data
//! files; progress is kept.
use std::process::ExitCode;

use crate::{
    privilege, session,
    state::{self, Session, State},
    term::{self, Style},
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Stop this user's lab instead of your own (for an instructor: one lab runs per machine)
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    privilege::require_root("lab stop")?;
    if let Some(user) = &args.user {
        act_as(user)?;
    }
    let style = Style::stdout();
    let state = State::load()?;
    let mut ended = 0;
    let mut what = None;
    if let Some(running) = &state.session {
        let spent = state::now().saturating_sub(running.started_at);
        ended += end_session(running)?;
        what = Some((running.lab, spent));
    }
    // Sessions the state does not know about (state lost or reset): nothing may keep running.
    ended += stop_strays()?;
    // Reference labs of a `lab dev check` that was killed: theirs are this user's too.
    if std::env::var_os(super::dev::SESSION_ENV).is_none() {
        let reaped = super::dev::reap_abandoned();
        if reaped > 0 {
            eprintln!(
                "lab: stopped {reaped} reference lab(s) left by an interrupted `lab dev check`"
            );
        }
    }
    match what {
        Some((lab, spent)) => {
            println!(
                "Stopped lab {lab} after {}: {ended} process(es) ended, data files removed.",
                term::human_duration(spent)
            );
            let st = State::load()?;
            let labs = crate::report::labs(&crate::lab::catalog()?, &st, crate::state::now());
            if let Some(l) = labs.iter().find(|l| l.id == lab && l.required > 0) {
                println!(
                    "Progress kept: {}. {}",
                    l.progress(),
                    style.dim(&crate::privilege::as_typed(&format!(
                        "(sudo lab start {lab} to continue)"
                    )))
                );
            }
        }
        None if ended > 0 => {
            println!("No lab was recorded as running; ended {ended} leftover process(es).")
        }
        None => println!("No lab is running."),
    }
    Ok(ExitCode::SUCCESS)
}

/// `--user NAME`: from here on this process acts on NAME's state dir (/var/lib/lab/NAME), the
/// way `sudo` by NAME would have (state::user reads SUDO_USER).
fn act_as(user: &str) -> anyhow::Result<()> {
    if std::env::var_os("LAB_STATE_DIR").is_some_and(|d| !d.is_empty()) {
        return Err(privilege::usage(
            "--user NAME picks /var/lib/lab/NAME, but LAB_STATE_DIR is set: unset it, or drop --user",
        ));
    }
    if user.is_empty() || user.contains('/') || user == "." || user == ".." {
        return Err(privilege::usage(format!(
            "--user {user:?}: give a user name, e.g. --user alice"
        )));
    }
    // Single-threaded here: every later state read of this process uses it.
    std::env::set_var("SUDO_USER", user);
    Ok(())
}

/// Stop a session completely and forget it: processes, data directory, state (time spent is
/// added to the lab's progress). Returns the number of processes signalled.
pub fn end_session(running: &Session) -> anyhow::Result<usize> {
    // The truth recorder first: it stops by itself once the workloads are gone, but must not
    // be left writing into a data dir being deleted. Not counted: it is not the student's.
    crate::truth::launch::stop(&running.data_dir)?;
    let n = session::stop_session(running)?;
    // The proctor's pinned probe lives as long as the lab does.
    if let Err(e) = crate::commands::check::proctor::disarm(running) {
        eprintln!("lab: warning: proctor: {e:#}");
    }
    // The machine is free for another user's lab (if this session was the one recorded).
    if let Err(e) = session::machine::release(running) {
        eprintln!("lab: warning: {e:#}");
    }
    State::update(|s| {
        if s.session.as_ref().is_some_and(|x| {
            x.lab == running.lab && x.seed == running.seed && x.started_at == running.started_at
        }) {
            let spent = state::now().saturating_sub(running.started_at);
            s.progress_mut(running.lab).time_spent += spent;
            s.session = None;
        }
        Ok(())
    })?;
    Ok(n)
}

/// Kill and remove every session directory under the state dir that is not the running one.
fn stop_strays() -> anyhow::Result<usize> {
    let sessions = state::dir()?.join("sessions");
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
        n += session::stop::kill_trees(&dir)?;
        session::remove_data_dir(&dir)?;
    }
    Ok(n)
}
