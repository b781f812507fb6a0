//! cachestat: page-cache hits, misses and dirties per interval, BCC-compatible. Counts calls of
//! the folio-era page-cache functions through kprobes (see lab_probes::mem); on a kernel without
//! kprobes it says so and exits 2 rather than print zeros.
use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::mem::{cachestat_unsupported, CacheCounts, CacheStat};
use lab_tools::{
    help, output,
    runtime::{Runtime, Schedule, Wake},
    timefmt,
};

const EXAMPLES: &str = "
    cachestat             # show page cache stats every second
    cachestat -T 1        # include timestamps
    cachestat 5 3         # 5 second summaries, 3 times
    cachestat -v          # also say which kernel functions are counted";

/// Count cache kernel function calls
#[derive(clap::Parser, Debug)]
#[command(
    name = "cachestat",
    about = "Count page cache hits, misses and dirties per interval (kprobes on folio_mark_accessed, mark_buffer_dirty, filemap_add_folio, folio_account_dirtied or their pre-5.16 names)",
    version
)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// say which kernel functions are counted (on stderr)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// output interval, in seconds
    #[arg(value_name = "interval", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// number of outputs
    #[arg(value_name = "count", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    if let Some(why) = cachestat_unsupported() {
        eprintln!("cachestat: {why}");
        return ExitCode::from(2);
    }
    lab_tools::run("cachestat", || trace(&args))
}

fn meminfo_mb() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kb("Buffers:") / 1024, kb("Cached:") / 1024)
}

fn trace(args: &Args) -> Result<()> {
    let probe = CacheStat::attach()?;
    if args.verbose {
        eprintln!(
            "cachestat: kprobes on {} (accesses, buffer dirtyings, insertions, dirtyings)",
            probe.functions.join(", ")
        );
    }
    let mut rt = Runtime::new(Schedule {
        interval: Some(Duration::from_secs(args.interval)),
        count: args.count,
        duration: None,
    })?;
    let mut out = output::stdout();
    if args.timestamp {
        write!(out, "{:<8} ", "TIME")?;
    }
    writeln!(
        out,
        "{:>8} {:>8} {:>8} {:>8} {:>12} {:>10}",
        "HITS", "MISSES", "DIRTIES", "HITRATIO", "BUFFERS_MB", "CACHED_MB"
    )?;
    out.flush()?;
    let mut last = CacheCounts::default();
    loop {
        let wake = rt.sleep()?;
        let stop = match wake {
            Wake::Ready => continue,
            Wake::Tick { last } => last,
            Wake::Stop(_) => true,
        };
        let now = probe.read()?;
        let (hits, misses, _) = now.since(&last).hits_misses_dirties();
        let dirties = now.since(&last).buffer_dirty;
        last = now;
        let (buffers, cached) = meminfo_mb();
        if args.timestamp {
            write!(out, "{:<8} ", timefmt::hms())?;
        }
        // No accesses: no ratio to show (BCC would print 0.00%).
        let ratio = if hits + misses == 0 {
            format!("{:>8}", "-")
        } else {
            format!("{:>7.2}%", 100.0 * hits as f64 / (hits + misses) as f64)
        };
        writeln!(
            out,
            "{hits:>8} {misses:>8} {dirties:>8} {ratio} {buffers:>12} {cached:>10}"
        )?;
        out.flush()?;
        if stop {
            return Ok(());
        }
    }
}
