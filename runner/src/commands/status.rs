//! `lab status`: the running lab, its workloads' PIDs and health (alive, CPU, I/O), time spent.
use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::{
    commands::check,
    report::{self, ProctorDoc, SessionDoc, StatusDoc, WorkloadDoc},
    session::{self, procs, runfiles},
    state::{self, State},
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

const SAMPLE: Duration = Duration::from_millis(500);

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let style = Style::stdout();
    let state = State::load()?;
    let Some(running) = state.session.clone() else {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&document(&state, None)?)?
            );
        } else {
            match session::machine::other_users_lab(&crate::state::user()) {
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
    let live = session::inspect(&running);
    let lab = crate::lab::find(running.lab).ok();
    let rows = workload_rows(&live);
    let session = SessionDoc {
        title: lab.as_ref().map(|l| l.title.clone()).unwrap_or_default(),
        seed: running.seed,
        started_at: running.started_at,
        elapsed_secs: state::now().saturating_sub(running.started_at),
        duration_secs: lab.as_ref().map_or(0, |l| l.duration_secs),
        data_dir: running.data_dir.display().to_string(),
        complete: running.complete,
        same_boot: live.same_boot,
        workloads: rows,
    };
    if args.json {
        let doc = document(&state, Some(session))?;
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_report(running.lab, &session, style);
    }
    Ok(ExitCode::SUCCESS)
}

/// The whole `lab status --json` document.
fn document(state: &State, session: Option<SessionDoc>) -> anyhow::Result<StatusDoc> {
    let now = state::now();
    let catalog = crate::lab::catalog()?;
    let labs = report::labs(&catalog, state, now);
    let running = state.session.as_ref().map(|s| s.lab);
    let proctor = match running {
        None => ProctorDoc {
            seen: Default::default(),
            source: "none".into(),
        },
        Some(lab) => match live_proctor(state) {
            Some(seen) => ProctorDoc {
                seen,
                source: "live".into(),
            },
            None => ProctorDoc {
                seen: state
                    .progress(lab)
                    .map(|p| p.proctor.clone())
                    .unwrap_or_default(),
                source: "last_check".into(),
            },
        },
    };
    Ok(StatusDoc {
        schema: report::SCHEMA,
        kind: "lab-status".into(),
        user: state::user(),
        host: report::hostname(),
        now,
        lab: running,
        session,
        last_check: report::last_check(&labs),
        hints_used: labs.iter().map(|l| l.hints_used).sum(),
        labs,
        proctor,
        doctor: report::doctor(),
    })
}

/// The proctor's counts read live (needs root: the pinned map is root's), when it was armed
/// for the running session.
fn live_proctor(state: &State) -> Option<std::collections::BTreeMap<String, u64>> {
    let session = state.session.as_ref()?;
    if !crate::privilege::is_root() {
        return None;
    }
    // Armed for an earlier run of the same lab and never disarmed: not this session's counts.
    if check::proctor::armed_at(session)? + 1 < session.started_at {
        return None;
    }
    check::proctor::counts(session)
        .ok()
        .map(|v| v.into_iter().collect())
}

/// Each workload's health and its tree's CPU, memory and storage I/O over SAMPLE (sysinfo).
fn workload_rows(live: &session::Live) -> Vec<WorkloadDoc> {
    // Tree membership from the process table (PID + start time, sessions, cgroup).
    let table = procs::table();
    let trees: Vec<Vec<i32>> = live
        .workloads
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
            procs::tree_members_plus(&table, &roots, &cg)
                .into_iter()
                .map(|p| p.pid)
                .filter(|p| Some(*p) != sup)
                .collect()
        })
        .collect();
    let all: Vec<Pid> = trees
        .iter()
        .flatten()
        .map(|p| Pid::from(*p as usize))
        .collect();
    let kind = ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .with_disk_usage()
        .without_tasks();
    let mut sys = System::new();
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&all), true, kind);
    let t0 = Instant::now();
    std::thread::sleep(SAMPLE);
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&all), true, kind);
    let secs = t0.elapsed().as_secs_f64();

    live.workloads
        .iter()
        .zip(&trees)
        .map(|(w, tree)| {
            let running = w.alive;
            let members: Vec<&sysinfo::Process> = tree
                .iter()
                .filter_map(|p| sys.process(Pid::from(*p as usize)))
                .collect();
            // /proc/PID/io is readable only for one's own processes (or by root): without it
            // the rates are unknown, not zero.
            let io_readable = running
                && tree
                    .first()
                    .is_some_and(|p| std::fs::File::open(format!("/proc/{p}/io")).is_ok());
            let rate = |f: fn(&sysinfo::DiskUsage) -> u64| {
                io_readable
                    .then(|| members.iter().map(|p| f(&p.disk_usage())).sum::<u64>() as f64 / secs)
            };
            WorkloadDoc {
                name: w.name.clone(),
                comm: w.comm.clone(),
                pid: w.pid,
                start_time: w.start_time,
                alive: running,
                health: w.health(),
                exit_code: w.exit.as_ref().and_then(|e| e.code),
                exit_signal: w.exit.as_ref().and_then(|e| e.signal),
                processes: tree.len(),
                cpu_percent: running
                    .then(|| members.iter().map(|p| p.cpu_usage() as f64).sum::<f64>()),
                memory_bytes: running.then(|| members.iter().map(|p| p.memory()).sum()),
                read_bytes_per_sec: rate(|d| d.read_bytes),
                write_bytes_per_sec: rate(|d| d.written_bytes),
                log_tail: if running || !w.started {
                    Vec::new()
                } else {
                    runfiles::log_tail(&live.session.data_dir, &w.name, 5)
                },
            }
        })
        .collect()
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
