//! `lab status`: the running lab, its workloads' PIDs and health (alive, CPU, I/O), time spent.
use std::{process::ExitCode, time::Duration};

use serde::Serialize;

use crate::{
    session::{self, procs, runfiles},
    state::{self, State},
    term::{self, Style},
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON (for scripts and tests)
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    lab: u32,
    title: String,
    seed: u64,
    elapsed_secs: u64,
    data_dir: String,
    complete: bool,
    workloads: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    name: String,
    comm: String,
    pid: i32,
    start_time: u64,
    alive: bool,
    health: String,
    exit_code: Option<i32>,
    exit_signal: Option<i32>,
    processes: usize,
    cpu_percent: Option<f64>,
    read_bytes_per_sec: Option<f64>,
    write_bytes_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    log_tail: Vec<String>,
}

/// Per workload: processes in its tree, their CPU ticks, their (read, write) storage bytes.
type Sample = (usize, u64, Option<(u64, u64)>);

const SAMPLE: Duration = Duration::from_millis(500);

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let style = Style::stdout();
    let Some(running) = State::load()?.session else {
        if args.json {
            println!("null");
        } else {
            println!("No lab is running. Start one with: sudo lab start 1 (see `lab list`)");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let live = session::inspect(&running);
    let title = crate::lab::find(running.lab)
        .map(|l| l.title)
        .unwrap_or_default();

    // Two samples of each tree's CPU ticks and storage I/O, SAMPLE apart.
    let sample = |live: &session::Live| -> Vec<Sample> {
        let table = procs::table();
        live.workloads
            .iter()
            .map(|w| {
                // The supervisor is a root too: orphans of the workload are reparented to it.
                let roots: Vec<_> = w
                    .id()
                    .filter(|_| w.alive)
                    .into_iter()
                    .chain(w.supervisor)
                    .collect();
                let sup = w.supervisor.map(|s| s.pid);
                let cg = session::cgroup::pids(&live.session.data_dir, Some(&w.name));
                let members: Vec<_> = procs::tree_members_plus(&table, &roots, &cg)
                    .into_iter()
                    .filter(|p| Some(p.pid) != sup)
                    .collect();
                let ticks = members.iter().map(|p| p.cpu_ticks).sum();
                let io = members
                    .iter()
                    .map(|p| procs::io_bytes(p.pid))
                    .try_fold((0, 0), |acc, x| x.map(|(r, w)| (acc.0 + r, acc.1 + w)));
                (members.len(), ticks, io)
            })
            .collect()
    };
    let before = sample(&live);
    std::thread::sleep(SAMPLE);
    let after = sample(&live);
    let hz = procfs::ticks_per_second() as f64;
    let secs = SAMPLE.as_secs_f64();

    let rows: Vec<Row> = live
        .workloads
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(w, (b, a))| {
            let running = w.alive;
            let rate = |f: fn(&(u64, u64)) -> u64| match (&b.2, &a.2) {
                (Some(x), Some(y)) if running => Some(f(y).saturating_sub(f(x)) as f64 / secs),
                _ => None,
            };
            Row {
                name: w.name.clone(),
                comm: w.comm.clone(),
                pid: w.pid,
                start_time: w.start_time,
                alive: running,
                health: w.health(),
                exit_code: w.exit.as_ref().and_then(|e| e.code),
                exit_signal: w.exit.as_ref().and_then(|e| e.signal),
                processes: a.0,
                cpu_percent: running.then(|| a.1.saturating_sub(b.1) as f64 / hz / secs * 100.0),
                read_bytes_per_sec: rate(|x| x.0),
                write_bytes_per_sec: rate(|x| x.1),
                log_tail: if running || !w.started {
                    Vec::new()
                } else {
                    runfiles::log_tail(&running_dir(&live), &w.name, 5)
                },
            }
        })
        .collect();
    let report = Report {
        lab: running.lab,
        title,
        seed: running.seed,
        elapsed_secs: state::now().saturating_sub(running.started_at),
        data_dir: running.data_dir.display().to_string(),
        complete: running.complete,
        workloads: rows,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &live, style);
    }
    Ok(ExitCode::SUCCESS)
}

fn running_dir(live: &session::Live) -> std::path::PathBuf {
    live.session.data_dir.clone()
}

fn print_report(r: &Report, live: &session::Live, style: Style) {
    println!(
        "{}",
        style.bold(&format!(
            "Lab {}: {} — running for {} (seed {})",
            r.lab,
            r.title,
            term::human_duration(r.elapsed_secs),
            r.seed
        ))
    );
    if !live.same_boot {
        println!("  {}", style.warn("The machine rebooted since this lab started: its workloads are gone. Run: sudo lab stop"));
    }
    if !r.complete {
        println!(
            "  {}",
            style.warn(
                "`lab start` did not finish (interrupted?); run: sudo lab stop && sudo lab start"
            )
        );
    }
    println!(
        "  {:<10} {:<16} {:>7} {:>6} {:>11} {:>11}  state",
        "workload", "process", "pid", "cpu", "read/s", "write/s"
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
        println!(
            "  {:<10} {:<16} {:>7} {:>6} {:>11} {:>11}  {}",
            w.name,
            w.comm,
            w.pid,
            cpu,
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
        println!("  {}", style.dim("(I/O rates need root: sudo lab status)"));
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
