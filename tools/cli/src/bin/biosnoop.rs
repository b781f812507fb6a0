//! biosnoop: trace block device I/O with process, disk, size and latency, BCC-compatible.
use std::{io::Write, process::ExitCode};

use anyhow::Result;
use lab_probes::{
    biosnoop::{Bio, BioSnoop, Options},
    block::rwbs_type,
};
use lab_tools::{
    help, histtool, output,
    runtime::{Runtime, Schedule},
    snoop,
};

const EXAMPLES: &str = "
    biosnoop           # trace all block I/O
    biosnoop -Q        # include OS queued time
    biosnoop -d vda    # trace vda only";

/// Trace block I/O
#[derive(clap::Parser, Debug)]
#[command(name = "biosnoop", about = "Trace block I/O", version)]
struct Args {
    /// include OS queued time
    #[arg(short = 'Q', long = "queue")]
    queue: bool,
    /// trace this disk only
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    disk: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("biosnoop", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let mut snoop = BioSnoop::attach(&Options {
        queued: args.queue,
        disk: args.disk.clone(),
    })?;
    let mut rt = Runtime::new(Schedule::default())?;
    let mut out = output::stdout();
    write!(
        out,
        "{:<11} {:<14} {:<7} {:<9} {:<1} {:<10} {:<7}",
        "TIME(s)", "COMM", "PID", "DISK", "T", "SECTOR", "BYTES"
    )?;
    if args.queue {
        write!(out, "{:>7} ", "QUE(ms)")?;
    }
    writeln!(out, "{:>7}", "LAT(ms)")?;
    out.flush()?;
    // BCC's TIME(s) counts from the first I/O seen.
    let mut first_ns = None;
    snoop::run("biosnoop", &mut rt, &mut snoop, &mut out, |b, out| {
        print_bio(args, &mut first_ns, &b, out)
    })?;
    histtool::report_missed("biosnoop", snoop.missed());
    Ok(())
}

fn print_bio(args: &Args, first_ns: &mut Option<u64>, b: &Bio, out: &mut impl Write) -> Result<()> {
    let start = *first_ns.get_or_insert(b.ts_ns);
    let secs = b.ts_ns.saturating_sub(start) as f64 / 1e9;
    let comm: String = b.comm.chars().take(14).collect();
    let comm = if b.pid == 0 && comm.is_empty() {
        "?".to_string()
    } else {
        comm
    };
    write!(
        out,
        "{:<11.6} {:<14} {:<7} {:<9} {:<1} {:<10} {:<7}",
        secs,
        comm,
        b.pid,
        b.disk(),
        rwbs_type(&b.rwbs),
        b.sector,
        b.bytes
    )?;
    if args.queue {
        write!(out, "{:>7.2} ", b.queued_ns as f64 / 1e6)?;
    }
    writeln!(out, "{:>7.2}", b.lat_ns as f64 / 1e6)?;
    Ok(())
}
