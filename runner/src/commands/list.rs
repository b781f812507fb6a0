//! `lab list`: every lab with its status and the time spent on it.
use std::process::ExitCode;

use crate::{
    lab,
    store::{self, State},
    term::{self, Style},
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the versioned JSON form (docs/status-json.md): every lab with its progress
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let style = Style::stdout();
    let labs = lab::catalog()?;
    let state = State::load()?;
    if args.json {
        let now = crate::clock::now();
        let doc = crate::status_json::ListDoc {
            schema: crate::status_json::SCHEMA,
            kind: "lab-list".into(),
            user: store::user(),
            now,
            labs: crate::status_json::labs(&labs, &state, now),
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "  {:>3}  {:<40} {:>8}  {:<30} {:>8}",
        "lab", "title", "duration", "status", "time"
    );
    for l in &labs {
        let running = state.session.as_ref().filter(|s| s.lab == l.id);
        let progress = state.progress(l.id);
        let required: Vec<&str> = l
            .questions
            .iter()
            .filter(|q| q.required)
            .map(|q| q.id.as_str())
            .collect();
        let passed = progress.map_or(0, |p| p.passed_count(required.iter().copied()));
        let total = required.len();
        let status = match (running, progress) {
            (_, Some(p)) if p.passed_at.is_some() => style.ok(&p.summary(passed, total)),
            (Some(_), Some(p)) if passed > 0 => {
                style.warn(&format!("running, {}", p.summary(passed, total)))
            }
            (Some(_), _) => style.warn("running"),
            (None, Some(p)) if !p.questions.is_empty() => p.summary(passed, total),
            (None, Some(p)) if p.time_spent > 0 => "started".into(),
            _ => style.dim("not started"),
        };
        let spent = progress.map_or(0, |p| p.time_spent)
            + running.map_or(0, |s| crate::clock::now().saturating_sub(s.started_at));
        let time = if spent > 0 {
            term::human_duration(spent)
        } else {
            "-".into()
        };
        // Pad on the plain text: escape codes have no width.
        let pad = 30 + status.len() - strip_len(&status);
        println!(
            "  {:>3}  {:<40} {:>8}  {:<pad$} {:>8}",
            l.id, l.title, l.duration, status, time
        );
    }
    if state.session.is_none() {
        println!(
            "{}",
            crate::privilege::as_typed("\nStart one with: sudo lab start N")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Visible length of a string with ANSI escapes.
fn strip_len(s: &str) -> usize {
    let mut n = 0;
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}
