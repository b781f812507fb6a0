//! cpudist: summarize on-CPU (or off-CPU) time per task as a histogram, BCC-compatible.
use std::process::ExitCode;

use anyhow::Result;
use lab_probes::cpudist::{CpuDist, Options};
use lab_tools::{
    help,
    histtool::{self, HistArgs},
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
    #[command(flatten)]
    hist: HistArgs,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("cpudist", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let h = &args.hist;
    let probe = CpuDist::attach(&Options {
        millis: h.milliseconds,
        offcpu: args.offcpu,
        key_by: h.key_by(),
        pids: h.filter()?,
    })?;
    println!(
        "Tracing {}-CPU time... Hit Ctrl-C to end.",
        if args.offcpu { "off" } else { "on" }
    );
    let section = histtool::section(h.key_by());
    let res = histtool::run(
        &h.every,
        || probe.read(),
        |hists| histtool::format_keyed(h.label(), section, hists, |id| id.to_string()),
    );
    histtool::report_missed("cpudist", probe.missed());
    res
}
