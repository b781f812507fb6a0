//! The loop every histogram tool shares (biolatency, runqlat, runqlen, cpudist, bitesize), as
//! BCC's tools run it: print each `interval` and once more at Ctrl-C/SIGTERM, each print
//! preceded by a blank line and, with -T, an HH:MM:SS line.
use std::io::Write;

use anyhow::Result;

use crate::{
    output::{self, Out},
    runtime::{Runtime, Schedule, Wake},
    timefmt,
};

/// Run until `count` intervals or a signal; `print` writes one interval's output (counts since
/// its previous call).
pub fn run(
    schedule: Schedule,
    timestamp: bool,
    mut print: impl FnMut(&mut Out) -> Result<()>,
) -> Result<()> {
    let mut rt = Runtime::new(schedule)?;
    let mut out = output::stdout();
    loop {
        let wake = rt.sleep()?;
        let last = match wake {
            Wake::Ready => continue,
            Wake::Tick { last } => last,
            Wake::Stop(_) => true,
        };
        writeln!(out)?;
        if timestamp {
            writeln!(out, "{:<8}", timefmt::hms())?;
        }
        print(&mut out)?;
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
