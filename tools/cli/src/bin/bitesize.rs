//! bitesize: summarize block I/O size (Kbytes) as a histogram per process name, BCC-compatible.
use std::process::ExitCode;

use anyhow::Result;
use lab_probes::{bitesize::BiteSize, hist::format_sections};
use lab_tools::{
    help,
    histtool::{self, Periodic},
};

const EXAMPLES: &str = "
    bitesize                # block I/O size histograms by process name, until Ctrl-C
    bitesize 1 5            # print 1 second summaries, 5 times
    bitesize -c dd          # only processes named dd
    bitesize -d vda -T 5    # only disk vda, 5 second summaries with timestamps";

/// Summarize block device I/O size as a histogram by process
#[derive(clap::Parser, Debug)]
#[command(
    name = "bitesize",
    about = "Summarize block device I/O size as a histogram by process",
    version
)]
struct Args {
    #[command(flatten)]
    every: Periodic,
    /// only show processes with this name
    #[arg(short = 'c', long = "comm", value_name = "COMM")]
    comm: Option<String>,
    /// trace this disk only
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    disk: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("bitesize", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let probe = BiteSize::attach(args.disk.as_deref())?;
    println!("Tracing block I/O... Hit Ctrl-C to end.");
    let res = histtool::run(
        &args.every,
        || probe.read(),
        |hists| {
            let wanted = hists
                .iter()
                .filter(|(comm, _)| args.comm.as_ref().is_none_or(|c| c == *comm));
            format_sections(
                "Process Name",
                "Kbytes",
                false,
                wanted.map(|(c, h)| (c.clone(), h)),
            )
        },
    );
    histtool::report_missed("bitesize", probe.missed());
    res
}
