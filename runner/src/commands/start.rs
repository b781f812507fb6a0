//! `lab start N [--seed S]`: show the lab, prepare its data, start its workloads supervised.
use std::process::ExitCode;

use crate::{
    lab::{self, render::Context, seed, Lab},
    privilege,
    screen::Screen,
    session,
    store::{self, SessionRecord, State},
    term::{self, Style},
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Lab number (see `lab list`)
    pub lab: String,
    /// Seed for the session's values; the same seed reproduces a session exactly
    #[arg(long)]
    pub seed: Option<u64>,
    /// If another lab is running, stop it without asking
    #[arg(long)]
    pub replace: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let id = lab::parse_id(&args.lab).map_err(privilege::usage)?;
    privilege::require_root(&format!("lab start {id}"))?;
    let lab = lab::find(id)?;
    let style = Style::stdout();
    // One lab per machine: another user's live lab refuses this start before anything happens.
    session::machine::refuse_if_taken(&store::user())?;
    if let Some(running) = State::load()?.session {
        let live = session::inspect(&running);
        if running.lab == id && running.complete && live.same_boot {
            return show_running(&lab, &running, style);
        }
        let anything_alive = live.workloads.iter().any(|w| w.alive);
        end_earlier(
            &running,
            id,
            anything_alive && running.complete,
            args.replace,
        )?;
    }
    let plan = session::start::plan(&lab, args.seed.unwrap_or_else(seed::fresh))?;
    let session = session::start::claim(&plan)?;
    println!("{}\n", Screen::stdout().markdown(&plan.body));
    let started = session::start::launch(&plan, &session, &mut Bar::default())?;
    let settled = session::start::settle(&lab, &session)?;
    for w in &settled.warnings {
        eprintln!("lab: warning: {w}");
    }
    if let Some(line) = &settled.symptom {
        println!("{}", Screen::stdout().indented(line, ""));
    }
    println!(
        "{}",
        style.bold(&format!("Lab {id} is running (seed {}).", plan.seed))
    );
    for (name, comm, pid) in &started {
        println!("  {name}: {} (pid {pid})", style.code(comm));
    }
    footer(id, lab.hints.len(), style);
    Ok(ExitCode::SUCCESS)
}

/// Another lab's session (or an earlier, interrupted one of this lab) ends before this starts:
/// a live one only when the student agrees (or gave --replace).
fn end_earlier(running: &SessionRecord, id: u32, live: bool, replace: bool) -> anyhow::Result<()> {
    if running.lab != id && live {
        let question = format!(
            "Lab {} is running; labs compete for the CPU and disk. Stop it and start lab {id}?",
            running.lab
        );
        let stop = replace || (term::interactive() && term::confirm(&question)?);
        if !stop {
            anyhow::bail!(
                "lab {} is running (labs compete for the CPU and disk); stop it first with: sudo lab stop \
                 (or: sudo lab start {id} --replace)",
                running.lab
            );
        }
    } else {
        eprintln!(
            "Cleaning up an earlier session of lab {} that ended or was interrupted.",
            running.lab
        );
    }
    session::end::end(running)?;
    Ok(())
}

fn footer(id: u32, hints: usize, style: Style) {
    let screen = Screen::stdout();
    let mut rows = vec![(
        "Begin:",
        "open another terminal and investigate with the BPF tools (lab tools lists them)"
            .to_string(),
    )];
    if hints > 0 {
        rows.push((
            "Hints:",
            format!(
                "sudo lab hint {}",
                style.dim(&format!("({hints} available)"))
            ),
        ));
    }
    rows.push(("Check:", format!("sudo lab check {id}")));
    rows.push((
        "Status:",
        format!(
            "sudo lab status {}",
            style.dim("(--watch keeps it on screen)")
        ),
    ));
    rows.push((
        "Stop:",
        format!("sudo lab stop {}", style.dim("(progress is kept)")),
    ));
    println!();
    for (what, how) in rows {
        let how = crate::privilege::as_typed(&how);
        println!(
            "{}",
            screen.wrap(&how, &format!("  {what:<8} "), &" ".repeat(11))
        );
    }
}

/// The lab is already running: show it again instead of starting a second copy.
fn show_running(lab: &Lab, running: &SessionRecord, style: Style) -> anyhow::Result<ExitCode> {
    let ctx = Context::for_session(lab, running);
    println!("{}\n", Screen::stdout().markdown(&ctx.body(lab)?));
    let live = session::inspect(running);
    let elapsed = crate::clock::now().saturating_sub(running.started_at);
    let already = format!(
        "Lab {} is already running (seed {}, started {} ago); not starting a second copy.",
        lab.id,
        running.seed,
        term::human_duration(elapsed)
    );
    println!("{}", Screen::stdout().indented(&style.bold(&already), ""));
    for w in &live.workloads {
        println!(
            "  {}: {} (pid {}) {}",
            w.name,
            style.code(&w.comm),
            w.pid,
            w.health()
        );
    }
    if !live.all_alive() {
        let ended = crate::privilege::as_typed(&format!(
            "Some workloads ended; restart the lab with: sudo lab stop && sudo lab start {}",
            lab.id
        ));
        println!("{}", Screen::stdout().indented(&ended, "  "));
    }
    footer(lab.id, lab.hints.len(), style);
    Ok(ExitCode::SUCCESS)
}

/// A prepare step's progress as an indicatif bar, or plain lines when stdout is not a terminal.
#[derive(Default)]
struct Bar {
    bar: Option<indicatif::ProgressBar>,
}

impl session::prepare::Progress for Bar {
    fn begin(&mut self, label: &str) {
        let bar = indicatif::ProgressBar::new(1); // 0% until the step reports its total
        bar.set_style(
            indicatif::ProgressStyle::with_template("  {msg} [{bar:30}] {percent:>3}%")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        if bar.is_hidden() {
            println!("  {label} ...");
        }
        self.bar = Some(bar);
    }
    fn set(&mut self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(done);
        }
    }
    fn done(&mut self, label: &str) {
        match self.bar.take() {
            Some(b) if !b.is_hidden() => {
                b.finish_and_clear();
                println!("  {label}: {}", Style::stdout().ok("done"));
            }
            _ => println!("  {label}: done"),
        }
    }
    fn failed(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
