//! The disk-latency checker (lab 1): who does the disk I/O and to which file, its typical size, the sync call
//! after every write, and the size and latency of the outliers (the slowest 5 % of its block
//! I/O), all traced from the running workload. The numbers come from `summary::summarize`, which
//! the session recorder (`record::BioWindows`, see crate::truth) applies to every window too.
use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context as _, Result};

use super::{stats::median, traces, window, Measured, Measurements};
use crate::{
    grading::answer::{show_ns, show_size, Expected},
    lab::Lab,
    session::{Live, WorkloadLive},
};

mod files;
mod record;
mod summary;

pub use record::BioWindows;
use summary::OUTLIER_SHARE;
pub use summary::RECORDED;

pub const METRICS: &[&str] = &[
    "writer.comm",
    "writer.file",
    "writer.io_size.p50",
    "writer.sync_syscall",
    "writer.outlier.size",
    "writer.outlier.latency",
    "lab1.best_fix",
];

/// The fresh window, and every recorded one (so a recorded value is what a check then measured).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(6);
/// The symptom: outliers at least this many times slower than the typical I/O.
pub const OUTLIER_FACTOR: f64 = 10.0;
const SYNC_CALLS: &[&str] = &[
    "fsync",
    "fdatasync",
    "sync_file_range",
    "msync",
    "syncfs",
    "sync",
];
const WRITE_CALLS: &[&str] = &["write", "pwrite64", "writev", "pwritev", "pwritev2"];

/// What one window traced of the writer.
struct Traced<'a> {
    w: &'a WorkloadLive,
    pids: Vec<i32>,
    dur: Duration,
    ios: Vec<traces::Bio>,
    /// Files it opened (from opensnoop's probe), or why that probe is missing.
    opens: std::result::Result<Vec<traces::Open>, String>,
    written: files::FileWrites,
    /// System call counts (syscount's probe), or why they are missing.
    counts: std::result::Result<BTreeMap<String, u64>, String>,
}

impl Traced<'_> {
    fn no_io(&self) -> String {
        format!(
            "{} (PID {}) issued no block I/O in {:.0}s of tracing",
            self.w.comm,
            self.w.pid,
            self.dur.as_secs_f64()
        )
    }
}

pub fn measure(_lab: &Lab, live: &Live, window: Option<Duration>) -> Result<Measurements> {
    let w = live
        .workload("writer")
        .context("lab 1 has no workload named writer")?;
    let t = trace(w, live.pids(), window.unwrap_or(DEFAULT_WINDOW))?;
    let sum = summary::summarize(&t.ios);
    let mut m = Measurements::new();
    m.insert("writer.comm".into(), process(&t, &sum));
    m.insert("writer.file".into(), file(&t));
    // Cache flushes are 0-byte requests: they carry no data, so sizes and latencies skip them.
    m.insert(
        summary::IO_SIZE.into(),
        match sum.p50_size {
            Some(s) => Ok(Measured {
                expected: Expected::number(s),
                shown: show_size(s),
                why: format!(
                    "median size of its {} data I/Os, cache flushes left out (bitesize/biosnoop)",
                    sum.data
                ),
            }),
            None => Err(t.no_io()),
        },
    );
    let syncs = Syncs::of(&t.counts);
    m.insert("writer.sync_syscall".into(), sync_call(&syncs));
    m.insert(summary::OUTLIER_SIZE.into(), outlier_size(&t, &sum));
    m.insert(summary::OUTLIER_LATENCY.into(), outlier_latency(&t, &sum));
    m.insert("lab1.best_fix".into(), best_fix(&syncs));
    Ok(m)
}

/// Trace the writer for `dur`: its block I/O, the files it opens and writes, its system calls.
/// Block I/O is essential; a probe missing for one question only fails that question.
fn trace(w: &WorkloadLive, pids: Vec<i32>, dur: Duration) -> Result<Traced<'_>> {
    let mut bio = traces::BioTrace::start()?;
    let mut opens = traces::OpenTrace::start(w.pid).map_err(|e| format!("{e:#}"));
    let sys = traces::SyscallCounts::start(w.pid).map_err(|e| format!("{e:#}"));
    let (mut ios, mut files) = (Vec::new(), Vec::new());
    let mut written = files::FileWrites::default();
    written.sample(&pids);
    window::trace_for(&format!("tracing {} (PID {})", w.comm, w.pid), dur, || {
        written.sample(&pids);
        ios.extend(
            bio.poll()?
                .into_iter()
                .filter(|b| pids.contains(&(b.pid as i32))),
        );
        if let Ok(o) = opens.as_mut() {
            files.extend(
                o.poll()?
                    .into_iter()
                    .filter(|o| pids.contains(&(o.pid as i32))),
            );
        }
        Ok(())
    })?;
    written.sample(&pids);
    let counts = match &sys {
        Ok(s) => s.counts().map_err(|e| format!("{e:#}")),
        Err(e) => Err(e.clone()),
    };
    Ok(Traced {
        w,
        pids,
        dur,
        ios,
        opens: opens.map(|_| files),
        written,
        counts,
    })
}

fn process(t: &Traced, sum: &summary::Summary) -> std::result::Result<Measured, String> {
    if sum.ios == 0 {
        return Err(t.no_io());
    }
    Ok(Measured {
        expected: Expected::Process {
            names: vec![t.w.comm.clone()],
            pids: t.pids.clone(),
        },
        shown: format!("{} (PID {})", t.w.comm, t.w.pid),
        why: format!(
            "it issued {} block I/Os ({}) in {:.0}s (biosnoop's probe)",
            sum.ios,
            show_size(sum.bytes as f64),
            t.dur.as_secs_f64()
        ),
    })
}

/// The file: where its writes went (descriptor positions), else what it opened for writing.
fn file(t: &Traced) -> std::result::Result<Measured, String> {
    let mut by_path: BTreeMap<&str, usize> = BTreeMap::new();
    for o in t.opens.iter().flatten().filter(|o| o.writes) {
        *by_path.entry(o.path.as_str()).or_default() += 1;
    }
    let opened = by_path.iter().max_by_key(|(_, n)| **n);
    match (t.written.top(), opened) {
        (Some((path, bytes)), _) => Ok(Measured {
            expected: Expected::File { path: path.into() },
            shown: path.into(),
            why: format!(
                "its writes moved that file's position by {} while traced (/proc/PID/fd and fdinfo)",
                show_size(bytes as f64)
            ),
        }),
        (None, Some((path, k))) => Ok(Measured {
            expected: Expected::File {
                path: path.to_string(),
            },
            shown: path.to_string(),
            why: format!("opened for writing {k} time(s) while traced (opensnoop's probe)"),
        }),
        (None, None) => Err(match &t.opens {
            Err(e) => e.clone(),
            Ok(_) => "it wrote to no file while traced; run the check again".into(),
        }),
    }
}

/// The writer's sync calls against its writes (syscount's probe).
struct Syncs {
    /// The most frequent sync call and its count.
    top: Option<(&'static str, u64)>,
    writes: u64,
    /// Why there are no counts, when the probe is missing.
    missing: Option<String>,
}

impl Syncs {
    fn of(counts: &std::result::Result<BTreeMap<String, u64>, String>) -> Syncs {
        let empty = BTreeMap::new();
        let c = counts.as_ref().unwrap_or(&empty);
        Syncs {
            top: SYNC_CALLS
                .iter()
                .filter_map(|s| c.get(*s).map(|n| (*s, *n)))
                .filter(|(_, n)| *n > 0)
                .max_by_key(|(_, n)| *n),
            writes: WRITE_CALLS.iter().filter_map(|s| c.get(*s)).sum(),
            missing: counts.as_ref().err().cloned(),
        }
    }
}

fn sync_call(s: &Syncs) -> std::result::Result<Measured, String> {
    match s.top {
        Some((name, k)) => Ok(Measured {
            expected: Expected::Syscall(name.to_string()),
            shown: name.to_string(),
            why: format!(
                "{k} {name} calls for {} writes while traced (syscount's probe)",
                s.writes
            ),
        }),
        None => Err(s
            .missing
            .clone()
            .unwrap_or_else(|| "no sync system call seen while traced".into())),
    }
}

fn outlier_size(t: &Traced, sum: &summary::Summary) -> std::result::Result<Measured, String> {
    match sum.outlier_size {
        Some(s) => Ok(Measured {
            expected: Expected::number(s),
            shown: show_size(s),
            why: format!(
                "the size carrying most bytes among its slowest {:.0}% of I/Os ({} of them)",
                OUTLIER_SHARE * 100.0,
                sum.outliers
            ),
        }),
        None => Err(t.no_io()),
    }
}

fn outlier_latency(t: &Traced, sum: &summary::Summary) -> std::result::Result<Measured, String> {
    let (Some(l), Some(typ)) = (sum.outlier_lat, sum.p50_lat) else {
        return Err(t.no_io());
    };
    Ok(Measured {
        // A reading of one dump inside the window measures that dump: it counts too.
        expected: Expected::Number {
            value: l,
            range: sum
                .outlier_lat_bursts
                .map(|(lo, hi)| (lo.min(l), hi.max(l))),
        },
        shown: show_ns(l),
        why: format!(
            "median latency of the outliers, {:.0}× the typical {}{} (biosnoop's probe)",
            l / typ,
            show_ns(typ),
            match sum.outlier_lat_bursts {
                Some((lo, hi)) if show_ns(lo) != show_ns(hi) =>
                    format!("; single dumps took {}–{}", show_ns(lo), show_ns(hi)),
                _ => String::new(),
            }
        ),
    })
}

/// Every small record waits for a sync: removing that wait helps every request.
fn best_fix(s: &Syncs) -> std::result::Result<Measured, String> {
    let fix = "eliminate the sync (fsync/fdatasync) per record";
    match s.top {
        Some((name, k)) if s.writes > 0 && k * 2 >= s.writes => Ok(Measured {
            expected: Expected::Choice(fix.into()),
            shown: fix.into(),
            why: format!(
                "{k} {name} for {} writes: each record waits for the disk; the dumps are rare",
                s.writes
            ),
        }),
        _ => Err(s.missing.clone().unwrap_or_else(|| {
            format!(
                "the sync pattern was not seen ({} writes); run the check again",
                s.writes
            )
        })),
    }
}

/// Before hand-over: is the outlier symptom visible on this machine? Traces block I/O for a few
/// seconds; when outliers are missing or under 10× the typical latency, asks the workload for
/// larger dumps (SIGUSR1 doubles them, at most twice) and looks again.
pub fn verify_symptom(live: &Live) -> Result<String> {
    let w = live
        .workload("writer")
        .context("lab 1 has no workload named writer")?;
    let mut boosts = 0;
    loop {
        let mut bio = traces::BioTrace::start()?;
        let mut ios = Vec::new();
        window::trace_for(
            "checking the symptom (disk latency outliers)",
            Duration::from_secs(4),
            || {
                ios.extend(
                    bio.poll()?
                        .into_iter()
                        .filter(|b| b.pid as i32 == w.pid && b.bytes > 0),
                );
                Ok(())
            },
        )?;
        let mut lats: Vec<f64> = ios.iter().map(|b| b.lat_ns as f64).collect();
        let typical = median(&mut lats);
        let mut slow: Vec<f64> = match typical {
            Some(t) => ios
                .iter()
                .map(|b| b.lat_ns as f64)
                .filter(|l| *l >= OUTLIER_FACTOR * t)
                .collect(),
            None => Vec::new(),
        };
        if let (Some(t), Some(o)) = (typical, median(&mut slow)) {
            return Ok(format!(
                "symptom verified: disk I/O outliers take {}, {:.0}× the typical {}",
                show_ns(o),
                o / t,
                show_ns(t)
            ));
        }
        if boosts >= 2 {
            return Ok(format!(
                "this machine does not show the outliers clearly (no I/O ≥{OUTLIER_FACTOR}× the typical latency even with 4× larger dumps); the lab still runs, but its latency questions may not be checkable here"
            ));
        }
        boosts += 1;
        // SAFETY: plain kill(2) to the workload we identified by PID + start time.
        unsafe { libc::kill(w.pid, libc::SIGUSR1) };
        // Let a dump cycle pass with the new size.
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Lab 1's checker (see crate::checkers).
pub struct DiskLatency;

impl super::Checker for DiskLatency {
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
        if lab.workload("writer").is_some() {
            RECORDED
        } else {
            &[]
        }
    }
    fn recorder(&self) -> Result<Box<dyn crate::truth::WindowSource>> {
        Ok(Box::new(BioWindows::start()?))
    }
}
