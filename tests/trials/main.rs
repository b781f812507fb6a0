//! `lab-trials [--trials N] [--seed S] [--only NAME]`: kill -9 trials of `lab start`, `lab check`,
//! `lab dev check` and every BPF tool at random moments, then the figure (tests/trials.rs).
//! As root, with the binaries built (`cargo build --bins`), on a machine where nothing else
//! loads BPF programs meanwhile (a program loaded by someone else and then orphaned would count).
//!
//!   cargo run -p lab-tests --bin lab-trials -- --trials 100
use std::process::ExitCode;

use lab_tests::trials::{run, table, tools, Target};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut trials, mut seed, mut only) = (100u32, 1u64, None::<String>);
    while let Some(a) = args.next() {
        let mut val = |flag: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("lab-trials: {flag} needs a value");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--trials" => trials = val("--trials").parse().unwrap_or_else(|_| bad("--trials")),
            "--seed" => seed = val("--seed").parse().unwrap_or_else(|_| bad("--seed")),
            "--only" => only = Some(val("--only")),
            "-h" | "--help" => {
                println!("usage: lab-trials [--trials N (100)] [--seed S (1)] [--only 'lab start 1'|'lab check 1'|'lab dev check --lab 3'|TOOL]");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("lab-trials: unknown argument {other:?} (see --help)");
                return ExitCode::from(2);
            }
        }
    }
    if !lab_tests::is_root() {
        eprintln!("lab-trials: needs root (BPF programs, workloads)");
        return ExitCode::from(2);
    }
    let mut targets = vec![Target::Start, Target::Check, Target::DevCheck];
    targets.extend(tools().map(Target::Tool));
    if let Some(o) = &only {
        targets.retain(|t| t.name() == *o);
        if targets.is_empty() {
            eprintln!("lab-trials: --only {o:?} names no target (see --help)");
            return ExitCode::from(2);
        }
    }
    let rows = run(&targets, trials, seed, |p| eprintln!("{p}"));
    print!("{}", table(&rows));
    for r in &rows {
        for p in &r.problems {
            println!("- {}: {p}", r.what);
        }
    }
    if rows.iter().all(|r| r.clean()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn bad(flag: &str) -> ! {
    eprintln!("lab-trials: {flag} takes a number");
    std::process::exit(2)
}
