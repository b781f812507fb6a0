//! `lab record` (hidden): the session's truth recorder. `lab start` runs it under a supervisor
//! (launch.rs); every window it appends the lab's metrics to the recording (ring.rs). It ends
//! on SIGTERM (`lab stop`), and by itself as soon as its session is over: the state names
//! another session or none, the data dir is gone, or no workload is alive. Its probes are
//! plain fds, so however it ends (kill -9 too) the kernel detaches them.
use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use super::ring;
use crate::{session, store::SessionRecord};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The session's data directory (`session.data_dir`)
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// How often it looks whether its session is still on (besides every window's state check).
const ALIVE_EVERY: Duration = Duration::from_secs(1);

pub fn run(args: Args) -> Result<ExitCode> {
    // SAFETY: plain prctl/setpriority calls on this process.
    unsafe {
        libc::prctl(
            libc::PR_SET_NAME,
            c"lab-record".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        );
        // Beside the workload and the student's tools on 2 cores it must never be the one
        // competing: it only drains a ring buffer (timestamps are taken in the kernel).
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
        // The supervisor hands us the log as stdout (its stderr_to_stdout ends up /dev/null).
        libc::dup2(1, 2);
    }
    let Some(session) = current(&args)? else {
        eprintln!(
            "lab-record: no running session uses {}; nothing to record",
            args.data_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let lab = crate::lab::find(session.lab)?;
    let mut source = crate::checkers::open_recorder(&lab)?;
    let window = source.window();
    let keep = (super::KEEP.as_secs_f64() / window.as_secs_f64()).ceil() as usize;
    let path = ring::path(&args.data_dir);
    let mut out = ring::Writer::open(&path, keep)?;
    eprintln!(
        "lab-record: recording lab {} every {} s into {}",
        lab.id,
        window.as_secs_f64(),
        path.display()
    );

    loop {
        let live = session::inspect(&session);
        if let Some(why) = over(&args, &live) {
            eprintln!("lab-record: {why}; stopping");
            return Ok(ExitCode::SUCCESS);
        }
        // The workload's processes now (it may fork); supervisors and we are not among them.
        let pids = live.pids();
        let start = Instant::now();
        let mut looked = Instant::now();
        while start.elapsed() < window {
            std::thread::sleep(super::POLL.min(window.saturating_sub(start.elapsed())));
            source.poll(&pids)?;
            if looked.elapsed() >= ALIVE_EVERY {
                looked = Instant::now();
                if let Some(why) = over(&args, &session::inspect(&session)) {
                    eprintln!("lab-record: {why}; stopping");
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        let w = source.take_window();
        if !w.metrics.is_empty() {
            out.append(&ring::Record {
                end: crate::clock::now(),
                secs: start.elapsed().as_secs_f64(),
                metrics: w.metrics,
                spread: w.spread,
                hists: w.hists,
            })?;
        }
        if current(&args)?.is_none_or(|s| s.started_at != session.started_at) {
            eprintln!("lab-record: the session ended; stopping");
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// The running session, when it is the one whose data dir we record into.
fn current(args: &Args) -> Result<Option<SessionRecord>> {
    Ok(crate::store::State::load()
        .context("reading the lab state")?
        .session
        .filter(|s| s.data_dir == args.data_dir))
}

/// Why the session is over for the recorder, if it is.
fn over(args: &Args, live: &session::Live) -> Option<&'static str> {
    if !args.data_dir.exists() {
        Some("the session's data dir is gone")
    } else if !live.workloads.iter().any(|w| w.alive) {
        Some("no workload of the session is running")
    } else {
        None
    }
}
