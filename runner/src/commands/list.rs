//! `lab list`: every lab with its status and the time spent on it.
use std::process::ExitCode;

use crate::{
    lab,
    screen::{Grid, Screen},
    store::{self, State},
    term,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the versioned JSON form (docs/status-json.md): every lab with its progress
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let screen = Screen::stdout();
    let style = screen.style;
    let catalog = lab::catalog()?;
    let state = State::load()?;
    let now = crate::clock::now();
    let labs = crate::status_json::labs(&catalog, &state, now);
    if args.json {
        let doc = crate::status_json::ListDoc {
            schema: crate::status_json::SCHEMA,
            kind: "lab-list".into(),
            user: store::user(),
            now,
            labs,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut grid = Grid::new(screen, &["lab", "title", "planned", "spent", "progress"]);
    for (c, l) in catalog.iter().zip(&labs) {
        let progress = l.progress();
        let progress = match progress.as_str() {
            "passed" => style.ok(&progress),
            "not started" if !l.running => style.dim(&progress),
            _ => progress,
        };
        let progress = if l.running {
            format!("{progress}, {}", style.warn("running"))
        } else {
            progress
        };
        let spent = match l.time_spent_secs {
            0 => "-".into(),
            t => term::human_duration(t),
        };
        grid.row([
            l.id.to_string(),
            l.title.clone(),
            c.duration.clone(),
            spent,
            progress,
        ]);
    }
    print!("{}", grid.right(&[0, 2, 3]).keep(&[0, 2, 3, 4]).render());
    if state.session.is_none() {
        println!(
            "{}",
            crate::privilege::as_typed("\nStart one with: sudo lab start N")
        );
    }
    Ok(ExitCode::SUCCESS)
}
