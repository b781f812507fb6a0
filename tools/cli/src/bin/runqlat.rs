//! runqlat: summarize run queue (scheduler) latency as a histogram, BCC-compatible.
use std::{io::Write, process::ExitCode};

use anyhow::Result;
use lab_probes::{
    hist::{format_log2, format_sections, merged, Interval},
    runqlat::{Options, RunqLat},
    sched::KeyBy,
};
use lab_tools::{
    args::{self, IntervalCount},
    help, histtool,
};

const EXAMPLES: &str = "
    runqlat            # summarize run queue latency as a histogram
    runqlat 1 10       # print 1 second summaries, 10 times
    runqlat -mT 1      # 1s summaries, milliseconds, and timestamps
    runqlat -P         # show each PID separately
    runqlat -p 185     # trace PID 185 only";

/// Summarize run queue (scheduler) latency as a histogram
#[derive(clap::Parser, Debug)]
#[command(
    name = "runqlat",
    about = "Summarize run queue (scheduler) latency as a histogram",
    version
)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// print a histogram per process ID
    #[arg(short = 'P', long = "pids", conflicts_with = "tids")]
    pids: bool,
    /// print a histogram per thread ID
    #[arg(short = 'L', long = "tids")]
    tids: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    #[command(flatten)]
    ic: IntervalCount,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("runqlat", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    if let Some(p) = args.pid {
        histtool::check_pid("-p", p)?;
    }
    let key_by = if args.pids {
        KeyBy::Pid
    } else if args.tids {
        KeyBy::Tid
    } else {
        KeyBy::All
    };
    let probe = RunqLat::attach(&Options {
        millis: args.milliseconds,
        key_by,
        pids: args.pid.into_iter().collect(),
    })?;
    println!("Tracing run queue latency... Hit Ctrl-C to end.");
    let label = if args.milliseconds { "msecs" } else { "usecs" };
    let mut interval = Interval::default();
    let res = histtool::run(args.ic.schedule(), args.timestamp, |out| {
        let hists = interval.delta(probe.read()?);
        let text = match key_by {
            KeyBy::All => format_log2(label, &merged(hists.values())),
            KeyBy::Pid => format_sections(
                "pid",
                label,
                false,
                hists.iter().map(|(id, h)| (id.to_string(), h)),
            ),
            KeyBy::Tid => format_sections(
                "tid",
                label,
                false,
                hists.iter().map(|(id, h)| (id.to_string(), h)),
            ),
        };
        out.write_all(text.as_bytes())?;
        Ok(())
    });
    histtool::report_missed("runqlat", probe.missed());
    res
}
