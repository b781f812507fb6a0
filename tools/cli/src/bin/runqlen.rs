//! runqlen: summarize scheduler run queue length as a histogram, BCC-compatible.
use std::process::ExitCode;

use anyhow::Result;
use lab_probes::{
    hist::{format_linear, format_sections, merged},
    runqlen::{occupancy, RunqLen},
};
use lab_tools::{
    help,
    histtool::{self, Periodic},
};

const EXAMPLES: &str = "
    runqlen            # summarize run queue length as a histogram
    runqlen 1 10       # print 1 second summaries, 10 times
    runqlen -T 1       # 1s summaries and timestamps
    runqlen -O         # report run queue occupancy
    runqlen -C         # show each CPU separately";

/// Summarize scheduler run queue length as a histogram
#[derive(clap::Parser, Debug)]
#[command(
    name = "runqlen",
    about = "Summarize scheduler run queue length as a histogram",
    version
)]
struct Args {
    #[command(flatten)]
    every: Periodic,
    /// report run queue occupancy
    #[arg(short = 'O', long = "runqocc")]
    runqocc: bool,
    /// print output for each CPU separately
    #[arg(short = 'C', long = "cpus")]
    cpus: bool,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("runqlen", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let probe = RunqLen::attach(args.cpus)?;
    println!("Sampling run queue length... Hit Ctrl-C to end.");
    let res = histtool::run(
        &args.every,
        || probe.read(),
        |hists| match (args.runqocc, args.cpus) {
            (true, true) => probe
                .cpus()
                .iter()
                .map(|&c| {
                    let occ = hists.get(&(c as u64)).map(occupancy).unwrap_or(0.0);
                    format!("runqocc, CPU {c:<3} {:6.2}%\n", 100.0 * occ)
                })
                .collect(),
            (true, false) => format!(
                "runqocc: {:.2}%\n",
                100.0 * occupancy(&merged(hists.values()))
            ),
            (false, true) => format_sections(
                "cpu",
                "runqlen",
                true,
                hists.iter().map(|(c, h)| (c.to_string(), h)),
            ),
            (false, false) => format_linear("runqlen", &merged(hists.values())),
        },
    );
    histtool::report_missed("runqlen", probe.missed());
    res
}
