//! `lab status`: the running lab, its workloads' PIDs and health (alive, CPU, I/O), time spent.
use std::{
    io::IsTerminal,
    process::ExitCode,
    time::{Duration, Instant},
};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::{
    commands::check,
    report::{self, ProctorDoc, SessionDoc, StatusDoc, WorkloadDoc},
    screen::Screen,
    session::{self, procs, runfiles},
    state::{self, State},
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

const SAMPLE: Duration = Duration::from_millis(500);

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

/// The state and the running lab's workloads as they are now (takes SAMPLE to measure CPU and
/// I/O rates).
fn snapshot() -> anyhow::Result<StatusDoc> {
    let state = State::load()?;
    let session = state.session.as_ref().map(|running| {
        let live = session::inspect(running);
        let lab = crate::lab::find(running.lab).ok();
        SessionDoc {
            title: lab.as_ref().map(|l| l.title.clone()).unwrap_or_default(),
            seed: running.seed,
            started_at: running.started_at,
            elapsed_secs: state::now().saturating_sub(running.started_at),
            duration_secs: lab.as_ref().map_or(0, |l| l.duration_secs),
            data_dir: running.data_dir.display().to_string(),
            complete: running.complete,
            same_boot: live.same_boot,
            workloads: workload_rows(&live),
        }
    });
    document(&state, session)
}

/// `lab status` in words: the running lab, or why there is none.
fn text(doc: &StatusDoc, screen: Screen) -> anyhow::Result<String> {
    let Some(id) = doc.lab else {
        let why = match session::machine::other_users_lab(&crate::state::user()) {
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
