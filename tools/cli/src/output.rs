//! Buffered stdout (one write per batch of events, not per line) and end-of-run reporting.
use std::io::{self, BufWriter, Stdout, Write};

/// Stdout with a 64 KiB buffer. Flush after each ring-buffer batch so output stays live.
pub type Out = BufWriter<Stdout>;

pub fn stdout() -> Out {
    BufWriter::with_capacity(64 * 1024, io::stdout())
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
