//! biolatency: summarize block device I/O latency as a histogram, BCC-compatible.
use std::{io::Write, process::ExitCode};

use anyhow::Result;
use lab_probes::{
    biolatency::{BioLatency, KeyBy, Options},
    hist::{format_log2, format_sections, merged, Interval},
};
use lab_tools::{args::IntervalCount, help, histtool};

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
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
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
    #[command(flatten)]
    ic: IntervalCount,
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
    let mut interval = Interval::default();
    let res = histtool::run(args.ic.schedule(), args.timestamp, |out| {
        let hists = interval.delta(probe.read()?);
        let text = match key_by {
            KeyBy::All => format_log2(label, &merged(hists.values())),
            KeyBy::Disk => format_sections(
                "disk",
                label,
                false,
                hists.iter().map(|(id, h)| (probe.section_name(*id), h)),
            ),
            KeyBy::Flags => format_sections(
                "flags",
                label,
                false,
                hists.iter().map(|(id, h)| (probe.section_name(*id), h)),
            ),
        };
        out.write_all(text.as_bytes())?;
        Ok(())
    });
    histtool::report_missed("biolatency", probe.missed());
    res
}
