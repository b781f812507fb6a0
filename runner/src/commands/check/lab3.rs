//! Lab 3 ground truth: busy threads, their CPU, the repeated system call and its size, the
//! run-queue latency p99, and how many distinct problems that makes.
use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context as _, Result};

use super::{
    answer::{show_ns, Truth},
    probes, window, Measured, Measurements,
};
use crate::{lab::Lab, session::Live};

mod record;

pub use record::{Recorder, RECORDED};

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

pub fn measure(_lab: &Lab, live: &Live, window: Option<Duration>) -> Result<Measurements> {
    let w = live
        .workload("spinner")
        .context("lab 3 has no workload named spinner")?;
    let pid = w.pid;
    let dur = window.unwrap_or(DEFAULT_WINDOW);

    // A probe missing for one question only fails that question.
    let syscalls = probes::SyscallCounts::start(pid).map_err(|e| format!("{e:#}"));
    let runq = probes::RunqHist::start(&[pid]).map_err(|e| format!("{e:#}"));
    let before = threads(pid);
    let io_before = io(pid)?;
    window::trace_for(&format!("tracing {} (PID {pid})", w.comm), dur, || Ok(()))?;
    let after = threads(pid);
    let io_after = io(pid)?;
    let counts = syscalls.and_then(|s| s.counts().map_err(|e| format!("{e:#}")));
    let fine = runq.and_then(|r| r.fine().map_err(|e| format!("{e:#}")));

    let hz = procfs::ticks_per_second() as f64;
    let secs = dur.as_secs_f64();
    let mut busy: Vec<&Thread> = Vec::new();
    for t in &after {
        let prev = before
            .iter()
            .find(|b| b.tid == t.tid)
            .map(|b| b.ticks)
            .unwrap_or(t.ticks);
        if (t.ticks.saturating_sub(prev)) as f64 / hz / secs >= BUSY_SHARE {
            busy.push(t);
        }
    }
    let mut m = Measurements::new();
    let n_busy = busy.len();
    m.insert(
        "spinner.busy_threads".into(),
        Ok(Measured {
            truth: Truth::number(n_busy as f64),
            shown: n_busy.to_string(),
            why: format!("{n_busy} of {} threads used ≥{:.0}% of a CPU during {secs:.0}s (per-thread CPU time)", after.len(), BUSY_SHARE * 100.0),
        }),
    );

    // The CPU they share: where the busy threads ran and may run.
    let mut on_cpu: BTreeMap<u32, usize> = BTreeMap::new();
    for t in &busy {
        *on_cpu.entry(t.cpu).or_default() += 1;
    }
    let cpu = on_cpu.iter().max_by_key(|(_, n)| **n).map(|(c, _)| *c);
    let pinned = busy.iter().all(|t| t.allowed.len() == 1);
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    m.insert(
        "spinner.cpu".into(),
        match cpu {
            Some(c) => Ok(Measured {
                truth: Truth::number(c as f64),
                shown: format!("CPU {c}"),
                why: format!(
                    "{} of {n_busy} busy threads ran on CPU {c}{}",
                    on_cpu[&c],
                    if pinned { format!("; their affinity allows only CPU {c}, so the other {} CPU(s) get none of their work, whatever else runs there", ncpu - 1) } else { String::new() }
                ),
            }),
            None => Err("no busy thread in the window".into()),
        },
    );

    let (counts, no_counts) = match counts {
        Ok(c) => (c, None),
        Err(e) => (BTreeMap::new(), Some(e)),
    };
    let total: u64 = counts.values().sum();
    let top = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(s, n)| (s.clone(), *n));
    m.insert(
        "spinner.syscall".into(),
        match &top {
            None if no_counts.is_some() => Err(no_counts.unwrap_or_default()),
            Some((name, n)) => Ok(Measured {
                truth: Truth::Syscall(name.clone()),
                shown: name.clone(),
                why: format!(
                    "{n} of its {total} system calls ({:.0}/s) were {name} (syscount's probe)",
                    *n as f64 / secs
                ),
            }),
            None => Err("the process made no system calls in the window".into()),
        },
    );

    let calls = (io_after.syscr + io_after.syscw).saturating_sub(io_before.syscr + io_before.syscw);
    let bytes = (io_after.rchar + io_after.wchar).saturating_sub(io_before.rchar + io_before.wchar);
    let per_call = if calls > 0 {
        bytes as f64 / calls as f64
    } else {
        f64::NAN
    };
    m.insert(
        "spinner.bytes_per_call".into(),
        if calls > 0 {
            Ok(Measured {
                truth: Truth::number(per_call.round()),
                shown: format!("{:.0} bytes", per_call),
                why: format!("{calls} read/write calls moved {bytes} bytes in all (/proc/{pid}/io: syscr+syscw, rchar+wchar)"),
            })
        } else {
            Err("no read or write calls counted in /proc/PID/io".into())
        },
    );

    let (fine, no_hist) = match fine {
        Ok(f) => (f, None),
        Err(e) => (Default::default(), Some(e)),
    };
    // The recorded last minute plus this window (just this window without a recording).
    let s = &live.session;
    let recorded = crate::truth::History::load(&s.data_dir, s.started_at, crate::state::now())
        .map(|h| h.merged_hist(P99, STEADY_SECS))
        .unwrap_or_default();
    let mut steady = fine.clone();
    for (slot, n) in &recorded {
        steady.add(*slot as usize, *n);
    }
    let stretch = if recorded.is_empty() {
        format!("this {secs:.0}s window")
    } else {
        format!("the last {STEADY_SECS} s of the session and this window")
    };
    m.insert(
        P99.into(),
        match p99(&steady) {
            _ if no_hist.is_some() => Err(no_hist.unwrap_or_default()),
            Some(p99) => {
                let now = self::p99(&fine);
                let (lo, hi) = now.map_or((p99, p99), |n| (n.min(p99), n.max(p99)));
                Ok(Measured {
                    truth: Truth::Number {
                        value: p99,
                        range: Some((lo, hi)),
                    },
                    // The row of runqlat's histogram this very value falls in, so the figure
                    // and the row named beside it always agree.
                    shown: {
                        let (lo, hi) = runqlat_row(p99);
                        format!("{}, in runqlat's row {lo} -> {hi} usecs", show_ns(p99))
                    },
                    why: format!(
                        "99% of {} waits for a CPU over {stretch} were shorter{} (runqlat's probe, this process only, in slots of 1/32 of the value); an idle CPU shows microseconds",
                        steady.total(),
                        now.map_or(String::new(), |n| format!("; this window alone: {}", show_ns(n)))
                    ),
                })
            }
            None => Err(format!(
                "only {} run-queue waits of this process in the window (a p99 needs {MIN_WAITS}); run the check again",
                fine.total()
            )),
        },
    );

    let spinning = n_busy > 0;
    let affinity = pinned && ncpu > 1 && spinning;
    let useless = calls > 0 && per_call < 1.0 && calls as f64 / secs > 1000.0;
    let problems = [affinity, spinning, useless].iter().filter(|p| **p).count();
    let mut found = Vec::new();
    if affinity {
        found.push("all threads pinned to one CPU");
    }
    if spinning {
        found.push("threads busy-loop instead of waiting for work");
    }
    if useless {
        found.push("every call transfers 0 bytes");
    }
    m.insert(
        "lab3.problems".into(),
        Ok(Measured {
            truth: Truth::number(problems as f64),
            shown: problems.to_string(),
            why: if found.is_empty() {
                "no problem measured".into()
            } else {
                found.join("; ")
            },
        }),
    );
    Ok(m)
}

/// The row ("low -> high", microseconds) of runqlat's power-of-2 histogram that a wait of `ns`
/// nanoseconds is counted in.
pub fn runqlat_row(ns: f64) -> (u64, u64) {
    // bpf_log2l: slot = bit length of the value.
    let us = (ns / 1e3).max(0.0) as u64;
    let slot = (u64::BITS - us.leading_zeros()) as usize;
    lab_probes::hist::log2_row_bounds(slot)
}

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

struct Thread {
    tid: i32,
    ticks: u64,
    cpu: u32,
    allowed: Vec<usize>,
}

fn threads(pid: i32) -> Vec<Thread> {
    let Ok(p) = procfs::process::Process::new(pid) else {
        return Vec::new();
    };
    let Ok(tasks) = p.tasks() else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| {
            let t = t.ok()?;
            let st = t.stat().ok()?;
            Some(Thread {
                tid: t.tid,
                ticks: st.utime + st.stime,
                cpu: st.processor.unwrap_or(0) as u32,
                allowed: affinity(t.tid),
            })
        })
        .collect()
}

fn affinity(tid: i32) -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if unsafe { libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) }
        != 0
    {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

struct Io {
    rchar: u64,
    wchar: u64,
    syscr: u64,
    syscw: u64,
}

fn io(pid: i32) -> Result<Io> {
    let io = procfs::process::Process::new(pid)
        .and_then(|p| p.io())
        .with_context(|| format!("reading /proc/{pid}/io"))?;
    Ok(Io {
        rchar: io.rchar,
        wchar: io.wchar,
        syscr: io.syscr,
        syscw: io.syscw,
    })
}

/// Before hand-over: do the spinning threads really queue? p99 run-queue latency of the
/// workload should be well above an idle CPU's (tens of microseconds).
pub fn verify_symptom(live: &Live) -> Result<String> {
    let w = live
        .workload("spinner")
        .context("lab 3 has no workload named spinner")?;
    let runq = probes::RunqHist::start(&[w.pid])?;
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

/// Lab 3's checker (see check::checker).
pub struct Lab3;

impl super::checker::Checker for Lab3 {
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
    fn recorder(&self) -> Result<Box<dyn crate::truth::Source>> {
        Ok(Box::new(Recorder::start()?))
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
