//! drsnoop: trace reclaim that tasks do themselves (direct reclaim, and memory-cgroup limit
//! reclaim), with its latency and the pages it freed; BCC-compatible columns.
use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::mem::{DrSnoop, Reclaim};
use lab_tools::{
    args, help,
    histtool::check_pid,
    output,
    runtime::{Runtime, Schedule},
    snoop,
    timefmt::Clock,
};

const EXAMPLES: &str = "
    drsnoop           # trace all direct reclaim (global and memory-cgroup limit)
    drsnoop -T        # include timestamps
    drsnoop -p 123    # only trace PID 123
    drsnoop -t 123    # only trace TID 123
    drsnoop -d 10     # trace for 10 seconds only
    drsnoop -n main   # only print process names containing \"main\"
    drsnoop --no-memcg  # global direct reclaim only (BCC's scope)";

/// Trace direct reclaim
#[derive(clap::Parser, Debug)]
#[command(
    name = "drsnoop",
    about = "Trace direct reclaim latency: vmscan:mm_vmscan_direct_reclaim_begin/end (global memory pressure) and vmscan:mm_vmscan_memcg_reclaim_begin/end (a cgroup at its memory limit); PAGES = pages reclaimed",
    version
)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid, conflicts_with = "tid")]
    pid: Option<u32>,
    /// trace this TID only
    #[arg(short = 't', long = "tid", value_name = "TID", value_parser = args::pid)]
    tid: Option<u32>,
    /// total duration of trace in seconds
    #[arg(short = 'd', long = "duration", value_name = "DURATION", value_parser = args::seconds)]
    duration: Option<Duration>,
    /// only print process names containing this name
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    name: Option<String>,
    /// leave out memory-cgroup limit reclaim
    #[arg(long = "no-memcg")]
    no_memcg: bool,
    /// say what is traced (on stderr)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("drsnoop", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    if let Some(p) = args.pid {
        check_pid("-p", p)?;
    }
    let mut snoop = DrSnoop::attach(args.pid, args.tid, !args.no_memcg)?;
    if args.verbose {
        eprintln!(
            "drsnoop: tracepoints vmscan:mm_vmscan_direct_reclaim_begin/end{}",
            if snoop.memcg {
                " and vmscan:mm_vmscan_memcg_reclaim_begin/end"
            } else {
                " (no memcg reclaim)"
            }
        );
    }
    let mut rt = Runtime::new(Schedule {
        duration: args.duration,
        ..Default::default()
    })?;
    rt.drain_every(Duration::from_millis(100));
    let clock = Clock::start();
    let mut out = output::stdout();
    if args.timestamp {
        write!(out, "{:<14}", "TIME(s)")?;
    }
    writeln!(
        out,
        "{:<14} {:<6} {:>8} {:>5}",
        "COMM", "PID", "LAT(ms)", "PAGES"
    )?;
    out.flush()?;
    snoop::run("drsnoop", &mut rt, &mut snoop, &mut out, |r, out| {
        print_reclaim(args, &clock, &r, out)
    })?;
    Ok(())
}

fn print_reclaim(args: &Args, clock: &Clock, r: &Reclaim, out: &mut impl Write) -> Result<()> {
    if args
        .name
        .as_ref()
        .is_some_and(|n| !r.comm.contains(n.as_str()))
    {
        return Ok(());
    }
    if args.timestamp {
        write!(out, "{:<14.6}", clock.secs_at(r.end_ns))?;
    }
    let comm: String = r.comm.chars().take(14).collect();
    writeln!(
        out,
        "{:<14} {:<6} {:>8.2} {:>5}",
        comm,
        r.pid,
        r.delta_ns as f64 / 1e6,
        r.pages
    )?;
    Ok(())
}
