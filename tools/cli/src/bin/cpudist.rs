//! cpudist: summarize on-CPU (or off-CPU) time per task as a histogram, BCC-compatible.
use std::{io::Write, process::ExitCode};

use anyhow::Result;
use lab_probes::{
    cpudist::{CpuDist, Options},
    hist::{format_log2, format_sections, merged, Interval},
    sched::KeyBy,
};
use lab_tools::{
    args::{self, IntervalCount},
    help, histtool,
};

const EXAMPLES: &str = "
    cpudist              # summarize on-CPU time as a histogram
    cpudist -O           # summarize off-CPU time as a histogram
    cpudist 1 10         # print 1 second summaries, 10 times
    cpudist -mT 1        # 1s summaries, milliseconds, and timestamps
    cpudist -P           # show each PID separately
    cpudist -p 185       # trace PID 185 only";

/// Summarize on-CPU time per task as a histogram
#[derive(clap::Parser, Debug)]
#[command(
    name = "cpudist",
    about = "Summarize on- and off-CPU time per task as a histogram",
    version
)]
struct Args {
    /// measure off-CPU time
    #[arg(short = 'O', long = "offcpu")]
    offcpu: bool,
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
    lab_tools::run("cpudist", || trace(&args))
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
    let probe = CpuDist::attach(&Options {
        millis: args.milliseconds,
        offcpu: args.offcpu,
        key_by,
        pids: args.pid.into_iter().collect(),
    })?;
    println!(
        "Tracing {}-CPU time... Hit Ctrl-C to end.",
        if args.offcpu { "off" } else { "on" }
    );
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
    histtool::report_missed("cpudist", probe.missed());
    res
}
