//! `lab hint [N] [--all]`: the next hint of the running lab (or lab N), or all of them.
use std::process::ExitCode;

use crate::{
    lab::{self, render::Context},
    privilege,
    screen::Screen,
    session,
    store::{self, State},
    term::Style,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Lab number (default: the running lab)
    pub lab: Option<String>,
    /// Show every hint, not just the next one
    #[arg(long)]
    pub all: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let style = Style::stdout();
    let state = State::load()?;
    let id = match &args.lab {
        Some(l) => lab::parse_id(l).map_err(privilege::usage)?,
        None => match &state.session {
            Some(s) => s.lab,
            None => return Err(privilege::usage("no lab is running; name one: lab hint 1")),
        },
    };
    let lab = lab::find(id)?;
    if lab.hints.is_empty() {
        println!("Lab {id} has no hints.");
        return Ok(ExitCode::SUCCESS);
    }
    // Hints may mention seeded values: use the running session's, else the last seed's.
    let ctx = match state.session.as_ref().filter(|s| s.lab == id) {
        Some(s) => Context::for_session(&lab, s),
        None => {
            let seed = state.progress(id).and_then(|p| p.last_seed).unwrap_or(1);
            let dir = session::data_dir_for(&store::dir()?, id);
            Context::for_seed(&lab, seed, &dir, &store::user())?
        }
    };
    let shown = state.progress(id).map_or(0, |p| p.hints_revealed);
    let total = lab.hints.len();
    let (from, to) = if args.all {
        (0, total)
    } else if shown >= total {
        println!(
            "{}",
            style.dim(&format!(
                "All {total} hints were shown already; here they are again."
            ))
        );
        (0, total)
    } else {
        (shown, shown + 1)
    };
    // Render before recording, so a broken hint is not counted as seen.
    let texts: Vec<String> = (from..to)
        .map(|i| ctx.hint(&lab, i))
        .collect::<anyhow::Result<_>>()?;
    if to > shown {
        State::update(|s| {
            let p = s.progress_mut(id);
            p.hints_revealed = p.hints_revealed.max(to);
            Ok(())
        })?;
    }
    for (i, text) in (from..to).zip(&texts) {
        println!(
            "{}",
            style.bold(&format!("Hint {} of {total} (lab {id}):", i + 1))
        );
        println!("{}\n", Screen::stdout().markdown(text));
    }
    if !args.all && to < total {
        println!("{}", style.dim(&format!("{} more: lab hint", total - to)));
    }
    Ok(ExitCode::SUCCESS)
}
