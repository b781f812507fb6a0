//! `lab status`: the running lab, its workloads' PIDs and health (alive, CPU, I/O), time spent.
use std::{io::IsTerminal, process::ExitCode, time::Duration};

use crate::{
    screen::Screen,
    session,
    status_json::{self, StatusDoc},
    store::State,
};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "--json prints the versioned form documented in docs/status-json.md \
(schema 1): the running lab and its workloads (CPU, memory, I/O), every lab's progress, the last \
check, hints used, proctor flags and the doctor verdict. Readable without root; `lab class` reads it \
from every student VM."
)]
pub struct Args {
    /// Print the versioned JSON form (docs/status-json.md), for scripts and `lab class`
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Keep the report on screen and refresh it in place (q quits), while you work in another
    /// terminal
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Seconds between refreshes with --watch
    #[arg(long, value_name = "SECS", default_value_t = 2.0, requires = "watch",
          value_parser = interval)]
    pub interval: f64,
}

fn interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.5..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?}: give seconds between 0.5 and 3600, e.g. --interval 2"
        )),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.watch {
        if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
            return Err(crate::privilege::usage(
                "lab status --watch redraws a terminal; in a pipe or a script use lab status or lab status --json",
            ));
        }
        let every = Duration::from_secs_f64(args.interval);
        crate::screen::live::run(every, |screen| text(&snapshot()?, screen))?;
        return Ok(ExitCode::SUCCESS);
    }
    let doc = snapshot()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", text(&doc, Screen::stdout())?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The state and the running lab's workloads as they are now (status_json samples their CPU
/// and I/O rates for half a second).
fn snapshot() -> anyhow::Result<StatusDoc> {
    let state = State::load()?;
    let session = state
        .session
        .as_ref()
        .map(|running| status_json::session_doc(running, &session::inspect(running)));
    status_json::status(&state, session)
}

/// `lab status` in words: the running lab, or why there is none.
fn text(doc: &StatusDoc, screen: Screen) -> anyhow::Result<String> {
    let Some(id) = doc.lab else {
        let why = match session::machine::other_users_lab(&crate::store::user()) {
            // One lab per machine: say why `lab start` would be refused.
            Some(a) => format!(
                "No lab of yours is running; {}'s lab {} runs on this machine (one lab per machine).",
                a.user, a.lab
            ),
            None => crate::privilege::as_typed(
                "No lab is running. Start one with: sudo lab start 1 (lab list shows every lab)",
            ),
        };
        return Ok(format!("{}\n", screen.indented(&why, "")));
    };
    let lab = crate::lab::find(id).ok();
    Ok(crate::screen::status::render(doc, lab.as_ref(), screen))
}
