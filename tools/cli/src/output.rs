//! Buffered stdout (one write per batch of events, not per line) and end-of-run reporting.
use std::io::{self, BufWriter, Stdout, Write};

/// Stdout with a 64 KiB buffer. Flush after each ring-buffer batch so output stays live.
pub type Out = BufWriter<Stdout>;

pub fn stdout() -> Out {
    BufWriter::with_capacity(64 * 1024, io::stdout())
}

/// Whether stdout is a terminal: someone watches the lines as they come.
pub fn is_live() -> bool {
    io::IsTerminal::is_terminal(&io::stdout())
}

/// End of a batch of events: flush when `live` (stdout is a terminal); into a file or a pipe
/// the lines wait until the 64 KiB buffer is full or the tool exits, as BCC's tools' (Python's
/// block-buffered stdout): one write per 64 KiB, not one per batch.
pub fn end_batch(out: &mut Out, live: bool) -> io::Result<()> {
    if live {
        out.flush()?;
    }
    Ok(())
}

/// Whether an error (anywhere in its chain) is EPIPE: the reader of stdout went away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Print the lost-event count at exit, on stderr so it never mixes with parseable output.
/// BCC prints "Possibly lost N samples"; we print it whenever N > 0.
pub fn report_lost(tool: &str, lost: u64) {
    if lost > 0 {
        eprintln!(
            "{tool}: lost {lost} events (ring buffer full); use a filter or a faster consumer"
        );
    }
}

/// Write then flush, so a final summary is out before the process exits.
pub fn flush(out: &mut impl Write) -> io::Result<()> {
    out.flush()
}
