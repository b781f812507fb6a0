//! The trace window: run for a while with an indicatif progress bar (on stderr, hidden when it
//! is not a terminal), polling the probes as it goes.
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

/// Call `poll` about every 50 ms for `dur`, showing `label` and the time left.
pub fn trace_for(label: &str, dur: Duration, mut poll: impl FnMut() -> Result<()>) -> Result<()> {
    let bar = bar(label, dur);
    let start = Instant::now();
    while start.elapsed() < dur {
        poll()?;
        bar.set_position(start.elapsed().as_millis().min(dur.as_millis()) as u64);
        std::thread::sleep(Duration::from_millis(50));
    }
    poll()?;
    bar.finish_and_clear();
    Ok(())
}

/// A bar counting milliseconds up to `dur`; the caller sets positions and clears it.
pub fn bar(label: &str, dur: Duration) -> ProgressBar {
    let bar = ProgressBar::new(dur.as_millis() as u64);
    let style = ProgressStyle::with_template("{msg} [{bar:30.cyan/blue}] {elapsed}/{duration}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(label.to_string());
    bar
}
