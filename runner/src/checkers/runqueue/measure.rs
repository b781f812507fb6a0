//! The run-queue checker's window: per-thread CPU time, the system calls and bytes they move,
//! and the run-queue waits of the spinner, turned into the lab's measurements.
use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context as _, Result};

use super::{p99, runqlat_row, BUSY_SHARE, DEFAULT_WINDOW, MIN_WAITS, P99, STEADY_SECS};
use crate::{
    checkers::{traces, window, Measured, Measurements},
    grading::answer::{show_ns, Expected},
    lab::Lab,
    session::Live,
};

type Found = std::result::Result<Measured, String>;
/// The spinner's run-queue waits (runqlat's probe, fine slots), or why they are missing.
type Waits = std::result::Result<lab_probes::hist::Hist, String>;

/// What one window traced of the spinner.
struct Traced {
    pid: i32,
    secs: f64,
    before: Vec<Thread>,
    after: Vec<Thread>,
    io_before: Io,
    io_after: Io,
    counts: std::result::Result<BTreeMap<String, u64>, String>,
    hist: Waits,
}

pub fn measure(_lab: &Lab, live: &Live, window: Option<Duration>) -> Result<Measurements> {
    let w = live
        .workload("spinner")
        .context("lab 3 has no workload named spinner")?;
    let t = trace(w.pid, &w.comm, window.unwrap_or(DEFAULT_WINDOW))?;
    let busy = busy_threads(&t);
    let cpu = Cpu::of(&busy);
    let io = IoRate::of(&t);
    let mut m = Measurements::new();
    m.insert(
        "spinner.busy_threads".into(),
        Ok(Measured {
            expected: Expected::number(busy.len() as f64),
            shown: busy.len().to_string(),
            why: format!(
                "{} of {} threads used ≥{:.0}% of a CPU during {:.0}s (per-thread CPU time)",
                busy.len(),
                t.after.len(),
                BUSY_SHARE * 100.0,
                t.secs
            ),
        }),
    );
    m.insert("spinner.cpu".into(), cpu.measured(busy.len()));
    m.insert("spinner.syscall".into(), top_syscall(&t));
    m.insert("spinner.bytes_per_call".into(), io.measured(t.pid));
    m.insert(P99.into(), runq_p99(live, &t));
    m.insert("lab3.problems".into(), Ok(problems(&cpu, busy.len(), &io)));
    Ok(m)
}

/// A probe missing for one question only fails that question.
fn trace(pid: i32, comm: &str, dur: Duration) -> Result<Traced> {
    let syscalls = traces::SyscallCounts::start(pid).map_err(|e| format!("{e:#}"));
    let runq = traces::RunqHist::start(&[pid]).map_err(|e| format!("{e:#}"));
    let before = threads(pid);
    let io_before = io(pid)?;
    window::trace_for(&format!("tracing {comm} (PID {pid})"), dur, || Ok(()))?;
    let after = threads(pid);
    let io_after = io(pid)?;
    Ok(Traced {
        pid,
        secs: dur.as_secs_f64(),
        before,
        after,
        io_before,
        io_after,
        counts: syscalls.and_then(|s| s.counts().map_err(|e| format!("{e:#}"))),
        hist: runq.and_then(|r| r.fine().map_err(|e| format!("{e:#}"))),
    })
}

/// Threads that used at least BUSY_SHARE of a CPU over the window.
fn busy_threads(t: &Traced) -> Vec<&Thread> {
    let hz = procfs::ticks_per_second() as f64;
    t.after
        .iter()
        .filter(|a| {
            let prev = t
                .before
                .iter()
                .find(|b| b.tid == a.tid)
                .map_or(a.ticks, |b| b.ticks);
            (a.ticks.saturating_sub(prev)) as f64 / hz / t.secs >= BUSY_SHARE
        })
        .collect()
}

/// The CPU the busy threads share: where they ran, and whether they may run anywhere else.
struct Cpu {
    on: BTreeMap<u32, usize>,
    top: Option<u32>,
    pinned: bool,
    ncpu: usize,
}

impl Cpu {
    fn of(busy: &[&Thread]) -> Cpu {
        let mut on: BTreeMap<u32, usize> = BTreeMap::new();
        for t in busy {
            *on.entry(t.cpu).or_default() += 1;
        }
        Cpu {
            top: on.iter().max_by_key(|(_, n)| **n).map(|(c, _)| *c),
            on,
            pinned: busy.iter().all(|t| t.allowed.len() == 1),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    fn measured(&self, n_busy: usize) -> Found {
        let Some(c) = self.top else {
            return Err("no busy thread in the window".into());
        };
        let pinned = if self.pinned {
            format!("; their affinity allows only CPU {c}, so the other {} CPU(s) get none of their work, whatever else runs there", self.ncpu - 1)
        } else {
            String::new()
        };
        Ok(Measured {
            expected: Expected::number(c as f64),
            shown: format!("CPU {c}"),
            why: format!(
                "{} of {n_busy} busy threads ran on CPU {c}{pinned}",
                self.on[&c]
            ),
        })
    }
}

fn top_syscall(t: &Traced) -> Found {
    let counts = t.counts.as_ref().map_err(Clone::clone)?;
    let total: u64 = counts.values().sum();
    match counts.iter().max_by_key(|(_, n)| **n) {
        Some((name, n)) => Ok(Measured {
            expected: Expected::Syscall(name.clone()),
            shown: name.clone(),
            why: format!(
                "{n} of its {total} system calls ({:.0}/s) were {name} (syscount's probe)",
                *n as f64 / t.secs
            ),
        }),
        None => Err("the process made no system calls in the window".into()),
    }
}

/// Read and write calls over the window and the bytes they moved (/proc/PID/io).
struct IoRate {
    calls: u64,
    bytes: u64,
    per_call: f64,
    per_sec: f64,
}

impl IoRate {
    fn of(t: &Traced) -> IoRate {
        let (a, b) = (&t.io_after, &t.io_before);
        let calls = (a.syscr + a.syscw).saturating_sub(b.syscr + b.syscw);
        let bytes = (a.rchar + a.wchar).saturating_sub(b.rchar + b.wchar);
        IoRate {
            calls,
            bytes,
            per_call: if calls > 0 {
                bytes as f64 / calls as f64
            } else {
                f64::NAN
            },
            per_sec: calls as f64 / t.secs,
        }
    }

    fn measured(&self, pid: i32) -> Found {
        if self.calls == 0 {
            return Err("no read or write calls counted in /proc/PID/io".into());
        }
        Ok(Measured {
            expected: Expected::number(self.per_call.round()),
            shown: format!("{:.0} bytes", self.per_call),
            why: format!(
                "{} read/write calls moved {} bytes in all (/proc/{pid}/io: syscr+syscw, rchar+wchar)",
                self.calls, self.bytes
            ),
        })
    }
}

/// The p99 over the recorded last minute plus this window (just this window without a
/// recording).
fn runq_p99(live: &Live, t: &Traced) -> Found {
    let fine = t.hist.as_ref().map_err(Clone::clone)?;
    let s = &live.session;
    let recorded = crate::truth::History::load(&s.data_dir, s.started_at, crate::clock::now())
        .map(|h| h.merged_hist(P99, STEADY_SECS))
        .unwrap_or_default();
    let mut steady = fine.clone();
    for (slot, n) in &recorded {
        steady.add(*slot as usize, *n);
    }
    let stretch = if recorded.is_empty() {
        format!("this {:.0}s window", t.secs)
    } else {
        format!("the last {STEADY_SECS} s of the session and this window")
    };
    let Some(value) = p99(&steady) else {
        return Err(format!(
            "only {} run-queue waits of this process in the window (a p99 needs {MIN_WAITS}); run the check again",
            fine.total()
        ));
    };
    let now = p99(fine);
    let (lo, hi) = now.map_or((value, value), |n| (n.min(value), n.max(value)));
    Ok(Measured {
        expected: Expected::Number {
            value,
            range: Some((lo, hi)),
        },
        // The row of runqlat's histogram this very value falls in, so the figure and the row
        // named beside it always agree.
        shown: {
            let (lo, hi) = runqlat_row(value);
            format!("{} (in runqlat's row {lo} -> {hi} usecs)", show_ns(value))
        },
        why: format!(
            "99% of {} waits for a CPU over {stretch} were shorter{} (runqlat's probe, this process only, in slots of 1/32 of the value); an idle CPU shows microseconds",
            steady.total(),
            now.map_or(String::new(), |n| format!("; this window alone: {}", show_ns(n)))
        ),
    })
}

/// The distinct problems: threads pinned to one CPU, busy-looping, calls that move nothing.
fn problems(cpu: &Cpu, n_busy: usize, io: &IoRate) -> Measured {
    let spinning = n_busy > 0;
    let affinity = cpu.pinned && cpu.ncpu > 1 && spinning;
    let useless = io.calls > 0 && io.per_call < 1.0 && io.per_sec > 1000.0;
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
    Measured {
        expected: Expected::number(found.len() as f64),
        shown: found.len().to_string(),
        why: if found.is_empty() {
            "no problem measured".into()
        } else {
            found.join("; ")
        },
    }
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
