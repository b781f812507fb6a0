//! The event tools' loop (execsnoop, opensnoop, biosnoop, tcpconnect, ...): wait for records, a
//! tick or Ctrl-C; hand each waiting record to the tool; flush the batch (so output stays live
//! through a pipe); at the end say how many records the ring buffer dropped.
use std::io::Write as _;

use anyhow::Result;
use lab_probes::events::EventSource;

use crate::{
    output::{self, Out},
    runtime::{Runtime, Wake},
};

/// When a batch of records goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// After every batch: the lines come as the events do, into a pipe too.
    EveryBatch,
    /// After every batch on a terminal; into a file or a pipe when the 64 KiB buffer fills, as
    /// BCC's tools' (Python's block-buffered stdout). For a tool that may trace its own output
    /// (ext4slower writing into a file on ext4).
    WhenFull,
}

/// Run `tool`'s loop over `src` until the runtime says stop; `each` prints one record to `out`.
pub fn run<S: EventSource>(
    tool: &str,
    rt: &mut Runtime,
    src: &mut S,
    out: &mut Out,
    each: impl FnMut(S::Event, &mut Out) -> Result<()>,
) -> Result<()> {
    run_with(tool, rt, src, out, Flush::EveryBatch, each)
}

/// `run`, flushing as `flush` says.
pub fn run_with<S: EventSource>(
    tool: &str,
    rt: &mut Runtime,
    src: &mut S,
    out: &mut Out,
    flush: Flush,
    mut each: impl FnMut(S::Event, &mut Out) -> Result<()>,
) -> Result<()> {
    let live = flush == Flush::EveryBatch || output::is_live();
    loop {
        let wake = rt.wait(&[src.ready_fd()])?;
        src.drain_into(&mut |e| each(e, out))?;
        output::end_batch(out, live)?;
        if let Wake::Stop(_) = wake {
            break;
        }
    }
    out.flush()?;
    output::report_lost(tool, src.lost_events()?);
    Ok(())
}
