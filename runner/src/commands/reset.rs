//! `lab reset [N] [--yes]`: forget the progress of one lab or of all labs.
use std::process::ExitCode;

use crate::{lab, privilege, store::State, term};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Lab number (default: every lab)
    pub lab: Option<String>,
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let id = args
        .lab
        .as_deref()
        .map(lab::parse_id)
        .transpose()
        .map_err(privilege::usage)?;
    if let Some(id) = id {
        lab::find(id)?;
    }
    let what = id.map_or("every lab".to_string(), |i| format!("lab {i}"));
    privilege::require_root(&privilege::command_line())?;
    if !args.yes {
        if !term::interactive() {
            return Err(privilege::usage(format!(
                "resetting forgets the progress of {what}; confirm with: {} --yes",
                privilege::command_line()
            )));
        }
        if !term::confirm(&format!(
            "Forget all progress (answers, hints, time) of {what}?"
        ))? {
            println!("Nothing changed.");
            return Ok(ExitCode::SUCCESS);
        }
    }
    // A running session of a reset lab is stopped first: its progress is what we forget.
    if let Some(running) = State::load()?
        .session
        .filter(|s| id.is_none_or(|i| i == s.lab))
    {
        crate::session::end::end(&running)?;
        println!("Stopped lab {}.", running.lab);
    }
    State::update(|s| {
        match id {
            Some(i) => {
                s.labs.remove(&i);
            }
            None => s.labs.clear(),
        }
        Ok(())
    })?;
    println!("Forgot the progress of {what}.");
    Ok(ExitCode::SUCCESS)
}
