//! `lab doctor`: the preflight an instructor runs on every lab VM and a student runs first (the
//! checks are crate::doctor's).
use std::process::ExitCode;

use crate::doctor::{diagnose, Diagnosis, Verdict};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the result as JSON (for provisioning scripts)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = diagnose();
    let json = serde_json::to_string_pretty(&report)?;
    if crate::privilege::is_root() {
        crate::status_json::save_doctor(&json);
    }
    if args.json {
        println!("{json}");
    } else {
        print_report(&report);
    }
    Ok(if report.all_labs_runnable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_report(r: &Diagnosis) {
    let color = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    let mark = |v: Verdict| -> String {
        let (s, c) = match v {
            Verdict::Ok => ("ok", "32"),
            Verdict::Warn => ("WARN", "33"),
            Verdict::Fail => ("FAIL", "31"),
        };
        if color {
            format!("\x1b[{c}m{s:<4}\x1b[0m")
        } else {
            format!("{s:<4}")
        }
    };
    let w = r.checks.iter().map(|c| c.check.len()).max().unwrap_or(10);
    println!("{:<w$}  {:<4}  DETAIL", "CHECK", "");
    for c in &r.checks {
        println!("{:<w$}  {}  {}", c.check, mark(c.verdict), c.detail);
        if !c.fix.is_empty() {
            println!("{:<w$}        fix: {}", "", c.fix);
        }
    }
    println!();
    for (title, items) in [("Labs", &r.labs), ("Tools", &r.tools)] {
        if items.is_empty() {
            continue;
        }
        let ok: Vec<_> = items
            .iter()
            .filter(|i| i.runnable)
            .map(|i| i.name.as_str())
            .collect();
        println!(
            "{title} that can run here: {}",
            if ok.is_empty() {
                "none".to_string()
            } else {
                ok.join(", ")
            }
        );
        for i in items.iter().filter(|i| !i.runnable) {
            println!("  cannot run {}: needs {}", i.name, i.missing.join(", "));
        }
        for i in items.iter().filter(|i| i.runnable && !i.limited.is_empty()) {
            println!("  {} in part: needs {}", i.name, i.limited.join(", "));
        }
    }
    println!(
        "{}",
        if r.all_labs_runnable {
            "Verdict: every lab can run on this machine."
        } else {
            "Verdict: some labs cannot run here (see above)."
        }
    );
}
