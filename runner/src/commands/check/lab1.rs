//! Lab 1 ground truth: who does the disk I/O and to which file, its typical size, the sync call
//! after every write, and the size and latency of the outliers (the slowest 5 % of its block
//! I/O), all traced from the running workload. The numbers come from `stats::summarize`, which
//! the session recorder (`record::Recorder`, see crate::truth) applies to every window too.
use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context as _, Result};

use super::{
    answer::{show_ns, show_size, Truth},
    probes, window, Measured, Measurements,
};
use crate::{lab::Lab, session::Live};

mod files;
mod record;
mod stats;

pub use record::Recorder;
use stats::OUTLIER_SHARE;
pub use stats::{median, RECORDED};

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

pub fn measure(lab: &Lab, live: &Live, window: Option<Duration>) -> Result<Measurements> {
    let w = live
        .workload("writer")
        .context("lab 1 has no workload named writer")?;
    let pids = live.pids();
    let dur = window.unwrap_or(DEFAULT_WINDOW);

    // Block I/O is essential; a probe missing for one question only fails that question.
    let mut bio = probes::BioTrace::start()?;
    let mut opens = probes::OpenTrace::start(w.pid).map_err(|e| format!("{e:#}"));
    let mut sys = probes::SyscallCounts::start(w.pid).map_err(|e| format!("{e:#}"));
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
    let counts = match &sys {
        Ok(s) => s.counts().map_err(|e| format!("{e:#}")),
        Err(e) => Err(e.clone()),
    };
    let _ = (lab, &mut sys);

    let mut m = Measurements::new();
    let sum = stats::summarize(&ios);
    let n = sum.ios;
    let no_io = || {
        format!(
            "{} (PID {}) issued no block I/O in {:.0}s of tracing",
            w.comm,
            w.pid,
            dur.as_secs_f64()
        )
    };
    m.insert(
        "writer.comm".into(),
        if n == 0 {
            Err(no_io())
        } else {
            Ok(Measured {
                truth: Truth::Process {
                    names: vec![w.comm.clone()],
                    pids: pids.clone(),
                },
                shown: format!("{} (PID {})", w.comm, w.pid),
                why: format!(
                    "it issued {n} block I/Os ({}) in {:.0}s (biosnoop's probe)",
                    show_size(sum.bytes as f64),
                    dur.as_secs_f64()
                ),
            })
        },
    );

    // The file: where its writes went (descriptor positions), else what it opened for writing.
    written.sample(&pids);
    let mut by_path: BTreeMap<&str, usize> = BTreeMap::new();
    for o in files.iter().filter(|o| o.writes) {
        *by_path.entry(o.path.as_str()).or_default() += 1;
    }
    let opened = by_path.iter().max_by_key(|(_, n)| **n);
    m.insert(
        "writer.file".into(),
        match (written.top(), opened) {
            (Some((path, bytes)), _) => Ok(Measured {
                truth: Truth::File { path: path.into() },
                shown: path.into(),
                why: format!(
                    "its writes moved that file's position by {} while traced (/proc/PID/fd and fdinfo)",
                    show_size(bytes as f64)
                ),
            }),
            (None, Some((path, k))) => Ok(Measured {
                truth: Truth::File {
                    path: path.to_string(),
                },
                shown: path.to_string(),
                why: format!("opened for writing {k} time(s) while traced (opensnoop's probe)"),
            }),
            (None, None) => Err(match &opens {
                Err(e) => e.clone(),
                Ok(_) => "it wrote to no file while traced; run the check again".into(),
            }),
        },
    );

    // Cache flushes are 0-byte requests: they carry no data, so sizes and latencies skip them.
    m.insert(
        stats::IO_SIZE.into(),
        match sum.p50_size {
            Some(s) => Ok(Measured {
                truth: Truth::number(s),
                shown: show_size(s),
                why: format!(
                    "median size of its {} data I/Os, cache flushes left out (bitesize/biosnoop)",
                    sum.data
                ),
            }),
            None => Err(no_io()),
        },
    );

    let no_counts = counts.as_ref().err().cloned();
    let counts = counts.unwrap_or_default();
    let syncs: Vec<(&str, u64)> = SYNC_CALLS
        .iter()
        .filter_map(|s| counts.get(*s).map(|n| (*s, *n)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let writes: u64 = WRITE_CALLS.iter().filter_map(|s| counts.get(*s)).sum();
    let top_sync = syncs.iter().max_by_key(|(_, n)| *n).copied();
    m.insert(
        "writer.sync_syscall".into(),
        match top_sync {
            Some((name, k)) => Ok(Measured {
                truth: Truth::Syscall(name.to_string()),
                shown: name.to_string(),
                why: format!(
                    "{k} {name} calls for {writes} writes while traced (syscount's probe)"
                ),
            }),
            None => Err(no_counts
                .clone()
                .unwrap_or_else(|| "no sync system call seen while traced".into())),
        },
    );

    let no_outliers = no_io;
    m.insert(
        stats::OUTLIER_SIZE.into(),
        match sum.outlier_size {
            Some(s) => Ok(Measured {
                truth: Truth::number(s),
                shown: show_size(s),
                why: format!(
                    "the size carrying most bytes among its slowest {:.0}% of I/Os ({} of them)",
                    OUTLIER_SHARE * 100.0,
                    sum.outliers
                ),
            }),
            None => Err(no_outliers()),
        },
    );
    m.insert(
        stats::OUTLIER_LATENCY.into(),
        match (sum.outlier_lat, sum.p50_lat) {
            (Some(l), Some(typ)) => Ok(Measured {
                // A reading of one dump inside the window measures that dump: it counts too.
                truth: Truth::Number {
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
            }),
            _ => Err(no_outliers()),
        },
    );

    // Every small record waits for a sync: removing that wait helps every request.
    let fix = "eliminate the sync (fsync/fdatasync) per record";
    m.insert(
        "lab1.best_fix".into(),
        match top_sync {
            Some((name, k)) if writes > 0 && k * 2 >= writes => Ok(Measured {
                truth: Truth::Choice(fix.into()),
                shown: fix.into(),
                why: format!("{k} {name} for {writes} writes: each record waits for the disk; the dumps are rare"),
            }),
            _ => Err(no_counts.unwrap_or_else(|| format!("the sync pattern was not seen ({writes} writes); run the check again"))),
        },
    );
    Ok(m)
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
        let mut bio = probes::BioTrace::start()?;
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

/// Lab 1's checker (see check::checker).
pub struct Lab1;

impl super::checker::Checker for Lab1 {
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
    fn recorder(&self) -> Result<Box<dyn crate::truth::Source>> {
        Ok(Box::new(Recorder::start()?))
    }
}
