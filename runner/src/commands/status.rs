//! `lab status`: the running lab, its workloads' PIDs and health (alive, CPU, I/O), time spent.
use std::process::ExitCode;

use crate::{
    session,
    status_json::{self, SessionDoc},
    store::State,
    term::{self, Style},
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
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let style = Style::stdout();
    let state = State::load()?;
    let Some(running) = state.session.clone() else {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&status_json::status(&state, None)?)?
            );
        } else {
            match session::machine::other_users_lab(&crate::store::user()) {
                // One lab per machine: say why `lab start` would be refused.
                Some(a) => println!(
                    "No lab of yours is running; {}'s lab {} runs on this machine (one lab per machine).",
                    a.user, a.lab
                ),
                None => println!(
                    "{}",
                    crate::privilege::as_typed(
                        "No lab is running. Start one with: sudo lab start 1 (see `lab list`)"
                    )
                ),
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let session = status_json::session_doc(&running, &session::inspect(&running));
    if args.json {
        let doc = status_json::status(&state, Some(session))?;
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_report(running.lab, &session, style);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(lab: u32, r: &SessionDoc, style: Style) {
    println!(
        "{}",
        style.bold(&format!(
            "Lab {}: {} — running for {} (seed {})",
            lab,
            r.title,
            term::human_duration(r.elapsed_secs),
            r.seed
        ))
    );
    if !r.same_boot {
        println!("{}", crate::privilege::as_typed(&format!("  {}", style.warn("The machine rebooted since this lab started: its workloads are gone. Run: sudo lab stop"))));
    }
    if !r.complete {
        println!(
            "  {}",
            style.warn(&crate::privilege::as_typed(
                "`lab start` did not finish (interrupted?); run: sudo lab stop && sudo lab start"
            ))
        );
    }
    println!(
        "  {:<10} {:<16} {:>7} {:>6} {:>10} {:>11} {:>11}  state",
        "workload", "process", "pid", "cpu", "memory", "read/s", "write/s"
    );
    for w in &r.workloads {
        let state = if w.alive {
            style.ok(&w.health)
        } else {
            style.bad(&w.health)
        };
        let cpu = w.cpu_percent.map_or("-".into(), |c| format!("{c:.0}%"));
        let rate = |v: Option<f64>| {
            v.map_or(if w.alive { "?".into() } else { "-".into() }, |b| {
                format!("{}/s", human_bytes(b))
            })
        };
        let mem = w.memory_bytes.map_or("-".into(), |m| human_bytes(m as f64));
        println!(
            "  {:<10} {:<16} {:>7} {:>6} {:>10} {:>11} {:>11}  {}",
            w.name,
            w.comm,
            w.pid,
            cpu,
            mem,
            rate(w.read_bytes_per_sec),
            rate(w.write_bytes_per_sec),
            state
        );
        if w.alive && w.processes > 1 {
            println!(
                "  {:<10} {}",
                "",
                style.dim(&format!("{} processes in its tree", w.processes))
            );
        }
        for line in &w.log_tail {
            println!("    {}", style.dim(line));
        }
    }
    println!("  data: {}", r.data_dir);
    if r.workloads
        .iter()
        .any(|w| w.alive && w.read_bytes_per_sec.is_none())
    {
        println!(
            "{}",
            crate::privilege::as_typed(&format!(
                "  {}",
                style.dim("(I/O rates need root: sudo lab status)")
            ))
        );
    }
}

pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}
