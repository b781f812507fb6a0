//! What the histogram tools share (biolatency, runqlat, runqlen, cpudist, bitesize): their
//! common flags, and the loop as BCC's tools run it: print each `interval` and once more at
//! Ctrl-C/SIGTERM, each print preceded by a blank line and, with -T, an HH:MM:SS line.
use std::{collections::BTreeMap, hash::Hash, io::Write};

use anyhow::Result;
use lab_probes::{
    hist::{format_log2, format_sections, merged, Hist, Interval},
    sched::KeyBy,
};

use crate::{
    args::{self, IntervalCount},
    output,
    runtime::{Runtime, Wake},
    timefmt,
};

/// `-T` and `[interval] [count]`: how often and how every histogram tool prints.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Periodic {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    pub timestamp: bool,
    #[command(flatten)]
    pub ic: IntervalCount,
}

/// The flags of the scheduler histogram tools (runqlat, cpudist), as BCC spells them.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HistArgs {
    #[command(flatten)]
    pub every: Periodic,
    /// millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    pub milliseconds: bool,
    /// print a histogram per process ID
    #[arg(short = 'P', long = "pids", conflicts_with = "tids")]
    pub pids: bool,
    /// print a histogram per thread ID
    #[arg(short = 'L', long = "tids")]
    pub tids: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pub pid: Option<u32>,
}

impl HistArgs {
    /// -P: per process, -L: per thread, else one histogram.
    pub fn key_by(&self) -> KeyBy {
        if self.pids {
            KeyBy::Pid
        } else if self.tids {
            KeyBy::Tid
        } else {
            KeyBy::All
        }
    }

    /// The -p filter as a PID list (empty: all), after checking the process exists.
    pub fn filter(&self) -> Result<Vec<u32>> {
        if let Some(p) = self.pid {
            check_pid("-p", p)?;
        }
        Ok(self.pid.into_iter().collect())
    }

    /// The histogram's unit column.
    pub fn label(&self) -> &'static str {
        if self.milliseconds {
            "msecs"
        } else {
            "usecs"
        }
    }
}

/// The section header BCC prints above each histogram for `key_by` ("pid = 42"), if any.
pub fn section(key_by: KeyBy) -> Option<&'static str> {
    match key_by {
        KeyBy::All => None,
        KeyBy::Pid => Some("pid"),
        KeyBy::Tid => Some("tid"),
    }
}

/// One interval's log2 histograms: merged into one when `section` is None, else one per key
/// under "`section` = `name(key)`".
pub fn format_keyed(
    label: &str,
    section: Option<&str>,
    hists: &BTreeMap<u64, Hist>,
    name: impl Fn(u64) -> String,
) -> String {
    match section {
        None => format_log2(label, &merged(hists.values())),
        Some(s) => format_sections(s, label, false, hists.iter().map(|(id, h)| (name(*id), h))),
    }
}

/// Run until `count` intervals or a signal; each time print `format` of the histograms `read`
/// has counted since the previous print.
pub fn run<K: Ord + Clone + Hash>(
    every: &Periodic,
    mut read: impl FnMut() -> Result<BTreeMap<K, Hist>>,
    mut format: impl FnMut(&BTreeMap<K, Hist>) -> String,
) -> Result<()> {
    let mut rt = Runtime::new(every.ic.schedule())?;
    let mut out = output::stdout();
    let mut interval = Interval::default();
    loop {
        let wake = rt.sleep()?;
        let last = match wake {
            Wake::Ready => continue,
            Wake::Tick { last } => last,
            Wake::Stop(_) => true,
        };
        writeln!(out)?;
        if every.timestamp {
            writeln!(out, "{:<8}", timefmt::hms())?;
        }
        let text = format(&interval.delta(read()?));
        out.write_all(text.as_bytes())?;
        out.flush()?;
        if last {
            return Ok(());
        }
    }
}

/// A `-p PID` that names no running process is a mistake worth stopping for: tracing it would
/// print nothing, forever.
pub fn check_pid(flag: &str, pid: u32) -> Result<()> {
    if std::path::Path::new(&format!("/proc/{pid}")).exists() {
        Ok(())
    } else {
        anyhow::bail!("{flag} {pid}: no such process")
    }
}

/// Tell (on stderr, at exit) how many probe hits the kernel skipped because another BPF
/// program was running on that CPU: the output is short by up to that many events.
pub fn report_missed(tool: &str, missed: u64) {
    if missed > 0 {
        eprintln!("{tool}: the kernel skipped {missed} probe hits (another BPF program was running on that CPU); output may be short by that many events");
    }
}
