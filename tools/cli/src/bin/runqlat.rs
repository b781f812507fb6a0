//! runqlat: summarize run queue (scheduler) latency as a histogram, BCC-compatible.
use std::process::ExitCode;

use anyhow::Result;
use lab_probes::runqlat::{Options, RunqLat};
use lab_tools::{
    help,
    histtool::{self, HistArgs},
};

const EXAMPLES: &str = "
    runqlat            # summarize run queue latency as a histogram
    runqlat 1 10       # print 1 second summaries, 10 times
    runqlat -mT 1      # 1s summaries, milliseconds, and timestamps
    runqlat -P         # show each PID separately
    runqlat -p 185     # trace PID 185 only
    runqlat --pidnss -m   # show each PID namespace separately, milliseconds";

/// Summarize run queue (scheduler) latency as a histogram
#[derive(clap::Parser, Debug)]
#[command(
    name = "runqlat",
    about = "Summarize run queue (scheduler) latency as a histogram",
    version
)]
struct Args {
    #[command(flatten)]
    hist: HistArgs,
    /// print a histogram per PID namespace
    #[arg(long = "pidnss", conflicts_with_all = ["pids", "tids"])]
    pidnss: bool,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("runqlat", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let h = &args.hist;
    let probe = RunqLat::attach(&Options {
        millis: h.milliseconds,
        key_by: h.key_by(),
        pids: h.filter()?,
        pidns: args.pidnss,
        fine: false,
    })?;
    println!("Tracing run queue latency... Hit Ctrl-C to end.");
    let section = if args.pidnss {
        Some("pidns")
    } else {
        histtool::section(h.key_by())
    };
    let res = histtool::run(
        &h.every,
        || probe.read(),
        |hists| histtool::format_keyed(h.label(), section, hists, |id| id.to_string()),
    );
    histtool::report_missed("runqlat", probe.missed());
    res
}
