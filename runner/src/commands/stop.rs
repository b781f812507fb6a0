//! `lab stop`: end the running lab's workloads (whole process trees) and delete their data
//! files; progress is kept.
use std::process::ExitCode;

use crate::{
    privilege, session,
    store::State,
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
        let spent = crate::clock::now().saturating_sub(running.started_at);
        ended += session::end::end(running)?;
        what = Some((running.lab, spent));
    }
    // Sessions the state does not know about (state lost or reset): nothing may keep running.
    ended += session::end::end_strays()?;
    // Reference labs of a `lab dev check` that was killed: theirs are this user's too.
    if std::env::var_os(crate::session::isolated::DEV_SESSION_ENV).is_none() {
        let reaped = crate::session::isolated::reap_abandoned();
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
            let labs = crate::status_json::labs(&crate::lab::catalog()?, &st, crate::clock::now());
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
/// way `sudo` by NAME would have (store::user reads SUDO_USER).
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
