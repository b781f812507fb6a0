//! Truth over the session. On a noisy machine (a TCG lab VM) a workload's disk latency swings
//! several-fold between 6-second windows, and a student measures minutes before `lab check`
//! runs; grading against one fresh window then fails right answers. So from `lab start` a
//! recorder process (`lab record`, hidden) traces the workload with the checker's own probes
//! and appends one summary per window to a bounded file in the session's data dir, and
//! `lab check` grades numeric answers against the last RECENT of that recording as well as its
//! own fresh window (history.rs says exactly how).
//!
//! A lab takes part through its checker's `WindowSource` (crate::checkers: `recorded_metrics`,
//! `open_recorder`); disk_latency's does (checkers/disk_latency/record.rs: block I/O sizes and
//! latencies), and runqueue's (checkers/runqueue/record.rs: the run-queue latency p99, with its
//! histogram per window).
use std::{collections::BTreeMap, path::Path, path::PathBuf, time::Duration};

pub mod history;
pub mod launch;
pub mod recorder;
pub mod ring;

pub use history::History;

/// The stretch of the session a numeric answer may match: long enough to cover a student's
/// investigation before checking, short enough that an answer from an unrelated phase long ago
/// does not count.
pub const RECENT: Duration = Duration::from_secs(15 * 60);
/// How much recording the file keeps (it is rewritten down to this once it holds 25 % more).
pub const KEEP: Duration = Duration::from_secs(60 * 60);
/// How often the recorder drains its probes: often enough that the ring buffer (256 KiB, ~3,000
/// block I/O records) cannot fill at lab rates, rare enough to cost nothing on 2 cores.
pub const POLL: Duration = Duration::from_millis(250);

/// One lab's recorded truth: fed the workload's events, it sums up one window at a time.
pub trait WindowSource {
    /// Window length (the lab's fresh check window, so each record is what a check measured).
    fn window(&self) -> Duration;
    /// Take the events traced since the last call; `pids` are the workload's processes now.
    fn poll(&mut self, pids: &[i32]) -> anyhow::Result<()>;
    /// End the window: only what it saw enough of to measure.
    fn take_window(&mut self) -> Window;
}

/// One window's truth, in the questions' base units (bytes, ns, count).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// Metric name → the value a check over the whole window measures.
    pub metrics: BTreeMap<String, f64>,
    /// Metric name → [lowest, highest] a shorter reading inside the window could measure, where
    /// that differs from the whole window's value (lab 1: the outlier latency of single dumps).
    pub spread: BTreeMap<String, [f64; 2]>,
    /// Metric name → the window's histogram (slot → count) where the metric is a quantile: the
    /// check adds up the last minute's to grade against a quantile that one busy 5-second
    /// window cannot pin down (lab 3's p99 rests on ~1 % of a few hundred waits).
    pub hists: BTreeMap<String, BTreeMap<u64, u64>>,
}

/// The recorder's own directory in a session: run files, log and the recording. Apart from
/// `<data_dir>/run/` so neither `lab status` nor the checker's PID filter takes it for a workload.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("truth")
}
