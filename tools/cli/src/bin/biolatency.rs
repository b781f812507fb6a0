//! biolatency: summarize block device I/O latency as a histogram, BCC-compatible.
use std::process::ExitCode;

use anyhow::Result;
use lab_probes::biolatency::{BioLatency, KeyBy, Options};
use lab_tools::{
    help,
    histtool::{self, Periodic},
};

const EXAMPLES: &str = "
    biolatency              # summarize block I/O latency as a histogram
    biolatency 1 10         # print 1 second summaries, 10 times
    biolatency -mT 1        # 1s summaries, milliseconds, and timestamps
    biolatency -Q           # include OS queued time in I/O time
    biolatency -D           # show each disk device separately
    biolatency -F           # show I/O flags separately
    biolatency -d vda       # trace vda only";

/// Summarize block device I/O latency as a histogram
#[derive(clap::Parser, Debug)]
#[command(
    name = "biolatency",
    about = "Summarize block device I/O latency as a histogram",
    version
)]
struct Args {
    #[command(flatten)]
    every: Periodic,
    /// include OS queued time in I/O time
    #[arg(short = 'Q', long = "queued")]
    queued: bool,
    /// millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// print a histogram per disk device
    #[arg(short = 'D', long = "disks", conflicts_with = "flags")]
    disks: bool,
    /// print a histogram per set of I/O flags
    #[arg(short = 'F', long = "flags")]
    flags: bool,
    /// trace this disk only
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    disk: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("biolatency", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let key_by = if args.disks {
        KeyBy::Disk
    } else if args.flags {
        KeyBy::Flags
    } else {
        KeyBy::All
    };
    let probe = BioLatency::attach(&Options {
        millis: args.milliseconds,
        key_by,
        queued: args.queued,
        disk: args.disk.clone(),
    })?;
    println!("Tracing block device I/O... Hit Ctrl-C to end.");
    let label = if args.milliseconds { "msecs" } else { "usecs" };
    let section = match key_by {
        KeyBy::All => None,
        KeyBy::Disk => Some("disk"),
        KeyBy::Flags => Some("flags"),
    };
    let res = histtool::run(
        &args.every,
        || probe.read(),
        |hists| histtool::format_keyed(label, section, hists, |id| probe.section_name(id)),
    );
    histtool::report_missed("biolatency", probe.missed());
    res
}
