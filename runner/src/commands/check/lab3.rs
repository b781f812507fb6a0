//! Lab 3 ground truth: busy threads, their CPU, the repeated system call and its size, the
//! run-queue latency p99, and how many distinct problems that makes.
use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context as _, Result};

use super::{
    answer::{show_ns, Truth},
    probes, window, Measured, Measurements,
};
use crate::{lab::Lab, session::Live};

pub const METRICS: &[&str] = &[
    "spinner.busy_threads",
    "spinner.cpu",
    "spinner.syscall",
    "spinner.bytes_per_call",
    "runqlat.p99",
    "lab3.problems",
];

const DEFAULT_WINDOW: Duration = Duration::from_secs(5);
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
    let runq = probes::RunqHist::start(pid).map_err(|e| format!("{e:#}"));
    let before = threads(pid);
    let io_before = io(pid)?;
    window::trace_for(&format!("tracing {} (PID {pid})", w.comm), dur, || Ok(()))?;
    let after = threads(pid);
    let io_after = io(pid)?;
    let counts = syscalls.and_then(|s| s.counts().map_err(|e| format!("{e:#}")));
    let hist = runq.and_then(|r| r.hist().map_err(|e| format!("{e:#}")));

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
                    if pinned { format!("; their affinity allows only CPU {c}, so the other {} CPU(s) stay idle", ncpu - 1) } else { String::new() }
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

    let (hist, no_hist) = match hist {
        Ok(h) => (h, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let samples: u64 = hist.iter().map(|b| b.2).sum();
    m.insert(
        "runqlat.p99".into(),
        match percentile_bucket(&hist, 0.99) {
            None if no_hist.is_some() => Err(no_hist.unwrap_or_default()),
            Some((lo, hi)) => {
                // Interpolated inside the bucket, as `Hist::log2_percentile` does: a student
                // reading the bucket's middle is within 1.5× of it.
                let p99 = interpolated(&hist, 0.99).unwrap_or(lo);
                Ok(Measured {
                    truth: Truth::number(p99),
                    shown: format!("{} (histogram row {} .. {})", show_ns(p99), show_ns(lo), show_ns(hi)),
                    why: format!(
                        "99% of {samples} waits for a CPU were shorter (runqlat's histogram, this process only); an idle CPU shows microseconds"
                    ),
                })
            }
            None => Err("no run-queue waits of this process in the window".into()),
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

/// Quantile `q` of (lo, hi, count) rows, interpolated linearly inside its row.
pub fn interpolated(hist: &[(f64, f64, u64)], q: f64) -> Option<f64> {
    let total: u64 = hist.iter().map(|b| b.2).sum();
    let rank = total as f64 * q;
    let mut before = 0.0;
    for &(lo, hi, n) in hist {
        if before + n as f64 >= rank && n > 0 {
            return Some(lo + (rank - before) / n as f64 * (hi - lo));
        }
        before += n as f64;
    }
    hist.last().map(|b| b.1)
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
    let runq = probes::RunqHist::start(w.pid)?;
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
