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

/// Run `tool`'s loop over `src` until the runtime says stop; `each` prints one record to `out`.
pub fn run<S: EventSource>(
    tool: &str,
    rt: &mut Runtime,
    src: &mut S,
    out: &mut Out,
    mut each: impl FnMut(S::Event, &mut Out) -> Result<()>,
) -> Result<()> {
    loop {
        let wake = rt.wait(&[src.ready_fd()])?;
        src.drain_into(&mut |e| each(e, out))?;
        out.flush()?;
        if let Wake::Stop(_) = wake {
            break;
        }
    }
    output::report_lost(tool, src.lost_events()?);
    Ok(())
}
