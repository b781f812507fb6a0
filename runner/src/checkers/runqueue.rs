//! The run-queue checker (lab 3): busy threads, their CPU, the repeated system call and its size, the
//! run-queue latency p99, and how many distinct problems that makes.
use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context as _, Result};

use super::{traces, window, Measurements};
use crate::{grading::answer::show_ns, lab::Lab, session::Live};

mod measure;
mod record;

pub use record::{RunqWindows, RECORDED};

pub const METRICS: &[&str] = &[
    "spinner.busy_threads",
    "spinner.cpu",
    "spinner.syscall",
    "spinner.bytes_per_call",
    "runqlat.p99",
    "lab3.problems",
];

/// The fresh window, and every recorded one.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5);
/// The p99 metric (the only lab 3 truth that moves with the machine's load).
pub const P99: &str = "runqlat.p99";
/// The stretch of recorded windows the p99 adds to the fresh window's waits: a p99 rests on the
/// slowest 1 % of a few hundred waits per window, which the machine's other load moves from one
/// 5-second window to the next; over a minute it holds still.
pub const STEADY_SECS: u64 = 60;
/// Fewer waits than this in a window give no p99 worth grading against (1 % of 100 is 1 wait).
pub const MIN_WAITS: u64 = 100;
/// A thread using at least this share of one CPU counts as busy.
const BUSY_SHARE: f64 = 0.01;

pub use measure::measure;

/// The bucket (lo, hi in ns) holding quantile `q` of a histogram given as (lo, hi, count) rows.
pub fn percentile_bucket(hist: &[(f64, f64, u64)], q: f64) -> Option<(f64, f64)> {
    let total: u64 = hist.iter().map(|b| b.2).sum();
    if total == 0 {
        return None;
    }
    let want = (total as f64 * q).ceil() as u64;
    let mut seen = 0;
    for &(lo, hi, n) in hist {
        seen += n;
        if seen >= want {
            return Some((lo, hi));
        }
    }
    hist.last().map(|b| (b.0, b.1))
}

/// The row ("low -> high", microseconds) of runqlat's power-of-2 histogram that a wait of `ns`
/// nanoseconds is counted in.
pub fn runqlat_row(ns: f64) -> (u64, u64) {
    // bpf_log2l: slot = bit length of the value.
    let us = (ns / 1e3).max(0.0) as u64;
    let slot = (u64::BITS - us.leading_zeros()) as usize;
    lab_probes::hist::log2_row_bounds(slot)
}

/// A histogram as recorded: only the slots that occur.
pub fn sparse(h: &lab_probes::hist::Hist) -> BTreeMap<u64, u64> {
    h.slots
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (i as u64, *n))
        .collect()
}

/// The p99 of a window's waits (ns, log-linear slots), when it saw enough of them.
pub fn p99(fine: &lab_probes::hist::Hist) -> Option<f64> {
    (fine.total() >= MIN_WAITS)
        .then(|| fine.fine_percentile(0.99))
        .flatten()
}

/// Before hand-over: do the spinning threads really queue? p99 run-queue latency of the
/// workload should be well above an idle CPU's (tens of microseconds).
pub fn verify_symptom(live: &Live) -> Result<String> {
    let w = live
        .workload("spinner")
        .context("lab 3 has no workload named spinner")?;
    let runq = traces::RunqHist::start(&[w.pid])?;
    window::trace_for(
        "checking the symptom (run-queue latency)",
        Duration::from_secs(2),
        || Ok(()),
    )?;
    Ok(match percentile_bucket(&runq.hist()?, 0.99) {
        Some((lo, hi)) if lo >= 500_000.0 => {
            format!("symptom verified: p99 run-queue latency of its threads is {} .. {}", show_ns(lo), show_ns(hi))
        }
        Some((lo, hi)) => format!(
            "this machine shows only {} .. {} p99 run-queue latency for the workload (expected ≥ 0.5 ms); the lab's latency question may be hard to see",
            show_ns(lo),
            show_ns(hi)
        ),
        None => "the workload's threads never waited for a CPU while checked; is it running? (sudo lab status)".into(),
    })
}

/// Lab 3's checker (see crate::checkers).
pub struct Runqueue;

impl super::Checker for Runqueue {
    fn metrics(&self) -> &'static [&'static str] {
        METRICS
    }
    fn measure(&self, lab: &Lab, live: &Live, window: Option<Duration>) -> Result<Measurements> {
        measure(lab, live, window)
    }
    fn verify_symptom(&self, live: &Live) -> Result<String> {
        verify_symptom(live)
    }
    fn recorded(&self, lab: &Lab) -> &'static [&'static str] {
        if lab.workload("spinner").is_some() {
            RECORDED
        } else {
            &[]
        }
    }
    fn recorder(&self) -> Result<Box<dyn crate::truth::WindowSource>> {
        Ok(Box::new(RunqWindows::start()?))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_runqlat_row_named_holds_the_value() {
        assert_eq!(super::runqlat_row(20.18e6), (16384, 32767));
        assert_eq!(super::runqlat_row(16.384e6), (16384, 32767));
        assert_eq!(super::runqlat_row(16.383e6), (8192, 16383));
        assert_eq!(super::runqlat_row(1500.0), (0, 1));
        assert_eq!(super::runqlat_row(2500.0), (2, 3));
        for ns in [3e3, 7.7e5, 1.234e7, 9.9e8] {
            let (lo, hi) = super::runqlat_row(ns);
            let us = ns / 1e3;
            assert!(
                lo as f64 <= us && us < (hi + 1) as f64,
                "{ns}: {lo} -> {hi}"
            );
        }
    }
}
