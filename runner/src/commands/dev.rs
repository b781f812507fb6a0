//! `lab dev check`: for lab authors. Parses every lab, renders it with several seeds, checks
//! that every workload, tool and metric it names exists, and runs each lab's reference answers
//! through the checker (crate::lint, crate::grading::reference).
use std::{collections::BTreeSet, process::ExitCode};

use crate::{
    lab::{self, Lab},
    term::Style,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: DevCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum DevCommand {
    /// Parse and cross-check every lab; run the reference answers through the checker
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Only parse and cross-check; do not start workloads to run reference answers
    #[arg(long)]
    pub no_run: bool,
    /// Only this lab
    #[arg(long)]
    pub lab: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        DevCommand::Check(a) => check(a),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let style = Style::stdout();
    let only = args
        .lab
        .as_deref()
        .map(lab::parse_id)
        .transpose()
        .map_err(crate::privilege::usage)?;
    let workloads = crate::lint::workload_subcommands();
    let mut problems = 0usize;
    let mut labs = Vec::new();
    let mut ids = BTreeSet::new();
    for (name, text) in lab::sources()? {
        match lab::format::parse(&name, &text) {
            Ok(l) => {
                if !ids.insert(l.id) {
                    println!(
                        "{} {name}: id {} is used by another lab",
                        style.bad("✗"),
                        l.id
                    );
                    problems += 1;
                }
                labs.push(l);
            }
            Err(e) => {
                println!("{} {e}", style.bad("✗"));
                problems += 1;
            }
        }
    }
    labs.retain(|l| only.is_none_or(|o| o == l.id));
    for l in &labs {
        let found = crate::lint::lab_problems(l, &workloads);
        if found.is_empty() {
            println!(
                "{} {} (lab {}: {}): {} questions, {} hints, {} workloads",
                style.ok("✓"),
                l.source,
                l.id,
                l.title,
                l.questions.len(),
                l.hints.len(),
                l.workloads.len()
            );
        }
        for p in &found {
            println!("{} {p}", style.bad("✗"));
        }
        problems += found.len();
    }
    // The bpftrace exercises' solution files (labs/solutions) against the exercise registry.
    for p in crate::exercises::solution_problems() {
        println!("{} {p}", style.bad("✗"));
        problems += 1;
    }
    if !args.no_run && !labs.is_empty() {
        // The reference runs start and stop labs: in a state dir of their own, so they never
        // stop (or are stopped by) a lab the student runs, nor record into their progress.
        // Beside another user's lab they would perturb its truth (and it theirs): refused.
        if let Some(a) = crate::session::machine::other_users_lab(&crate::store::user()) {
            anyhow::bail!(
                "{}'s lab {} is running on this machine; the reference runs would perturb it: \
                 check without them (lab dev check --no-run), or run it once that lab is stopped",
                a.user,
                a.lab
            );
        }
        let _own = crate::session::isolated::Isolated::enter()?;
        for l in &labs {
            match reference_run(l) {
                Ok(Some(summary)) => println!(
                    "{} lab {} reference answers: {summary}",
                    style.ok("✓"),
                    l.id
                ),
                Ok(None) => println!(
                    "{} lab {}: no automatic reference run",
                    style.dim("-"),
                    l.id
                ),
                Err(e) => {
                    println!("{} lab {} reference answers: {e:#}", style.bad("✗"), l.id);
                    problems += 1;
                }
            }
        }
    }
    if problems == 0 {
        println!("All {} labs are fine.", labs.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{problems} problem(s).");
        Ok(ExitCode::from(1))
    }
}

/// The lab's reference run: its bpftrace exercises' (labs 4-5), or its checker's; None when it
/// has neither.
fn reference_run(l: &Lab) -> anyhow::Result<Option<String>> {
    match crate::exercises::reference_run(l.id)? {
        Some(done) => Ok(Some(done)),
        None => crate::grading::reference::reference_run(l),
    }
}
