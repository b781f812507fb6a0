//! The exercises of labs 4-5: what each runs while the student's tool is attached, what the
//! runner traces itself, and how the tool's output is judged against that truth.
use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result};
use lab_probes::{
    biosnoop::{BioSnoop, Options},
    filetrack::{FdLeak, ForkSnoop, RwBytes, UnlinkSnoop},
};
use serde::Serialize;

use super::{
    errors::{self, ToolError},
    output::{has_number, numbers, Hist, Output},
    tool::{group_alive, End, Tool},
    workload::{self, Rng, Scratch},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BioLhist,
    BioInterval,
    Rmsnoop,
    Procsnoop,
    IoRatio,
    FdLeaks,
    Open,
}

pub struct Exercise {
    pub id: &'static str,
    pub title: &'static str,
    pub kind: Kind,
}

pub const EXERCISES: &[Exercise] = &[
    Exercise {
        id: "4a",
        title: "biolatency as a linear histogram, 0-100 ms in 1 ms steps",
        kind: Kind::BioLhist,
    },
    Exercise {
        id: "4b",
        title: "the same histogram, printed every second",
        kind: Kind::BioInterval,
    },
    Exercise {
        id: "4c",
        title: "rmsnoop: files being deleted",
        kind: Kind::Rmsnoop,
    },
    Exercise {
        id: "4d",
        title: "procsnoop: new processes, including forks without exec",
        kind: Kind::Procsnoop,
    },
    Exercise {
        id: "5a",
        title: "ratio of logical file system I/O to physical block I/O",
        kind: Kind::IoRatio,
    },
    Exercise {
        id: "5b",
        title: "file descriptor leaks by process",
        kind: Kind::FdLeaks,
    },
    Exercise {
        id: "5c",
        title: "time between accesses in the page cache (open problem)",
        kind: Kind::Open,
    },
];

pub fn find(id: &str) -> Option<&'static Exercise> {
    let id = id.trim().to_ascii_lowercase();
    EXERCISES.iter().find(|e| e.id == id)
}

/// One judged point.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub ok: bool,
    pub what: String,
    pub detail: String,
}

fn check(ok: bool, what: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        ok,
        what: what.into(),
        detail: detail.into(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub exercise: String,
    pub title: String,
    pub tool: String,
    pub seed: u64,
    /// None: not graded automatically (5c).
    pub passed: Option<bool>,
    pub checks: Vec<Check>,
    pub errors: Vec<ToolError>,
    pub notes: Vec<String>,
}

/// What the runner traced while the tool ran.
enum Truth {
    Bio {
        lat_ms: Vec<f64>,
        run_secs: f64,
    },
    Deleted {
        names: Vec<(String, &'static str)>,
    },
    Forked {
        master: i32,
        workers: Vec<u32>,
        comm: String,
    },
    Leaks {
        pid: i32,
        comm: String,
        leaked: usize,
        opened: u64,
    },
    /// Bytes as (least, most) the tool can have seen: its probes attach somewhere between spawn
    /// and ready, and detach somewhere between Ctrl-C and exit; on a busy machine (writeback
    /// bursts) those edges matter.
    Ratio {
        logical: (u64, u64),
        physical: (u64, u64),
    },
}

/// Run `tool` for exercise `ex` with seed `seed` and judge it.
pub fn run(ex: &Exercise, tool: &Path, seed: u64) -> Result<Report> {
    let mut report = Report {
        exercise: ex.id.to_string(),
        title: ex.title.to_string(),
        tool: tool.display().to_string(),
        seed,
        passed: None,
        checks: Vec::new(),
        errors: Vec::new(),
        notes: Vec::new(),
    };
    let mut rng = super::workload::rng(seed);
    let scratch = Scratch::new(ex.id, seed)?;
    let dir = scratch.0.clone();

    // Prepare what needs preparing before the tool starts, so it sees only the actions.
    let mut child = None;
    let mut plan = None;
    let mut fork_comm = String::new();
    let mut leak = (String::new(), 0usize);
    match ex.kind {
        Kind::Rmsnoop => {
            let p = workload::delete_plan(&mut rng, &dir);
            child = Some(workload::deleter(&p, &dir)?);
            plan = Some(p);
        }
        Kind::Procsnoop => {
            fork_comm = rng
                .pick(&["pgpool", "gunicornd", "prefork-srv", "mpm-master"])
                .to_string();
            let workers = rng.range(3, 6) as u32;
            child = Some(workload::forker(&fork_comm, workers, 400)?);
        }
        Kind::FdLeaks => {
            let comm = rng
                .pick(&["connpoold", "indexer", "feedsync", "mailq"])
                .to_string();
            let leaked = rng.range(3, 9) as usize;
            let opens = leaked + rng.range(6, 16) as usize;
            let file = dir.join("config.ini");
            std::fs::write(&file, b"[lab]\n")?;
            child = Some(workload::leaker(&comm, &mut rng, opens, leaked, &file)?);
            leak = (comm, leaked);
        }
        _ => {}
    }

    // System-wide truths are attached before the tool starts and counted from the moment it is
    // ready to the Ctrl-C, so both count the same window.
    let mut bio = match ex.kind {
        Kind::BioLhist | Kind::BioInterval => {
            Some(BioSnoop::attach(&Options::default()).context("runner's block I/O probe")?)
        }
        _ => None,
    };
    let rw = match ex.kind {
        Kind::IoRatio => Some(RwBytes::attach().context("runner's logical/physical I/O probe")?),
        _ => None,
    };
    let mut t = Tool::spawn(tool)?;
    let rw_spawn = match &rw {
        Some(rw) => rw.totals()?,
        None => Default::default(),
    };
    let pgid = t.pid() as i32;
    if let Err(why) = t.wait_ready() {
        let (end, stderr, ..) = t.stop();
        report.errors = errors::parse(&stderr, tool);
        let detail = match (&why, &end) {
            (Some(w), _) => format!("{w}; stopped"),
            (None, End::Exited(code)) => format!(
                "bpftrace exited before tracing anything (status {})",
                code.map_or("signal".into(), |c| c.to_string())
            ),
            (None, other) => format!("bpftrace ended before tracing: {other:?}"),
        };
        report.checks.push(check(false, "the tool starts", detail));
        if report.errors.is_empty() && !stderr.trim().is_empty() {
            report
                .notes
                .push(format!("bpftrace said: {}", last_lines(&stderr, 6)));
        }
        report.checks.push(nothing_left(pgid));
        report.passed = Some(false);
        return Ok(report);
    }

    // bpftrace said its probes were all attached at most one 20 ms poll before it was declared
    // ready: 50 ms of slack.
    let since = lab_probes::events::monotonic_ns().saturating_sub(50_000_000);
    let rw_start = match &rw {
        Some(rw) => rw.totals()?,
        None => Default::default(),
    };
    let mut truth = drive(
        ex.kind,
        &mut t,
        &mut rng,
        &dir,
        child.as_mut(),
        plan.as_ref(),
        &fork_comm,
        &leak,
        bio.as_mut(),
        since,
    )?;
    // Truth up to the Ctrl-C that `stop` sends next: what completes while bpftrace shuts down
    // (on a busy machine, a lot) is in neither count.
    match (&mut truth, bio.as_mut(), &rw) {
        (Truth::Bio { lat_ms, .. }, Some(bio), _) => drain_bio(bio, lat_ms, since),
        (Truth::Ratio { logical, physical }, _, Some(rw)) => {
            let b = rw.totals()?;
            logical.0 = (b.read + b.write).saturating_sub(rw_start.read + rw_start.write);
            physical.0 = b.block.saturating_sub(rw_start.block);
        }
        _ => {}
    }
    let (end, stderr, lines, raw) = t.stop();
    if let (Truth::Ratio { logical, physical }, Some(rw)) = (&mut truth, &rw) {
        let b = rw.totals()?;
        logical.1 = (b.read + b.write).saturating_sub(rw_spawn.read + rw_spawn.write);
        physical.1 = b.block.saturating_sub(rw_spawn.block);
    }
    drop(bio);
    drop(rw);
    drop(child); // the fd leaker stays alive until the tool has printed its maps
    report.checks.push(match &end {
        End::Exited(_) => check(true, "the tool stops on Ctrl-C", "it exited and printed its maps"),
        End::KilledAfterGrace => check(
            false,
            "the tool stops on Ctrl-C",
            format!("still running {} s after Ctrl-C: killed", super::tool::STOP_GRACE.as_secs()),
        ),
        End::Flooded { bytes, secs } => check(
            false,
            "the tool's output stays readable",
            format!(
                "it printed {} KiB in {secs:.1} s and was stopped: print per event only for rare events, aggregate in maps otherwise \
                 (a printf on every syscall feeds itself: bpftrace's own write()s are syscalls)",
                bytes >> 10
            ),
        ),
    });
    report.checks.push(nothing_left(pgid));
    report.errors = errors::parse(&stderr, tool);
    let out = Output::parse(&lines, &raw);
    if !matches!(end, End::Flooded { .. }) {
        report.checks.extend(judge(&truth, &out, &mut report.notes));
    }
    report.passed = Some(report.checks.iter().all(|c| c.ok));
    Ok(report)
}

fn nothing_left(pgid: i32) -> Check {
    let alive = group_alive(pgid);
    check(
        !alive,
        "nothing left attached",
        if alive {
            "bpftrace processes still running after the stop"
        } else {
            "bpftrace and its probes are gone"
        },
    )
}

fn last_lines(s: &str, n: usize) -> String {
    let v: Vec<&str> = s
        .lines()
        .filter(|l| !l.contains("RLIMIT_MEMLOCK") && !l.trim().is_empty())
        .collect();
    v[v.len().saturating_sub(n)..].join(" | ")
}

#[allow(clippy::too_many_arguments)]
fn drive(
    kind: Kind,
    t: &mut Tool,
    rng: &mut Rng,
    dir: &Path,
    child: Option<&mut workload::Gated>,
    plan: Option<&workload::DeletePlan>,
    fork_comm: &str,
    leak: &(String, usize),
    bio: Option<&mut BioSnoop>,
    since: u64,
) -> Result<Truth> {
    let settle = || std::thread::sleep(Duration::from_millis(400));
    Ok(match kind {
        Kind::BioLhist | Kind::BioInterval => {
            let secs = if kind == Kind::BioLhist { 2.5 } else { 4.6 };
            let bio = bio.context("block probe")?;
            let mut lat_ms = Vec::new();
            workload::block_io(rng, dir, secs, || {
                drain_bio(bio, &mut lat_ms, since);
                t.pump();
            })?;
            std::thread::sleep(Duration::from_millis(150));
            drain_bio(bio, &mut lat_ms, since);
            Truth::Bio {
                lat_ms,
                run_secs: t.elapsed(),
            }
        }
        Kind::Rmsnoop => {
            let child = child.context("deleter")?;
            let mut snoop =
                UnlinkSnoop::attach(child.pid as u32).context("runner's unlink probe")?;
            child.go();
            let files = plan.map_or(0, |p| p.files.len());
            child.wait(Duration::from_millis(200 + 60 * files as u64));
            settle();
            let names = snoop
                .deletions()
                .iter()
                .map(|d| {
                    (
                        d.path.rsplit('/').next().unwrap_or(&d.path).to_string(),
                        d.syscall,
                    )
                })
                .collect();
            Truth::Deleted { names }
        }
        Kind::Procsnoop => {
            let child = child.context("forker")?;
            let mut snoop = ForkSnoop::attach(child.pid as u32).context("runner's fork probe")?;
            child.go();
            child.wait(Duration::from_secs(5));
            settle();
            let workers = snoop.forks().into_iter().map(|(_, c)| c).collect();
            Truth::Forked {
                master: child.pid,
                workers,
                comm: fork_comm.to_string(),
            }
        }
        Kind::FdLeaks => {
            let child = child.context("leaker")?;
            let probe = FdLeak::attach(child.pid as u32).context("runner's fd probe")?;
            child.go();
            // It never exits by itself: its opens and closes (10 ms apart, at most 24) take
            // under 0.3 s; then it holds the leaked ones.
            std::thread::sleep(Duration::from_millis(900));
            let (opened, _) = probe.totals()?;
            let leaked = probe
                .open_fds()?
                .get(&(child.pid as u32))
                .map_or(0, Vec::len);
            Truth::Leaks {
                pid: child.pid,
                comm: leak.0.clone(),
                leaked,
                opened,
            }
        }
        Kind::IoRatio => {
            let mib = rng.range(12, 24) as usize;
            let rereads = rng.range(4, 9) as usize;
            workload::cached_rereads(dir, mib, rereads)?;
            settle();
            // Filled in after the tool stops (same window as the tool's).
            Truth::Ratio {
                logical: (0, 0),
                physical: (0, 0),
            }
        }
        Kind::Open => unreachable!("5c is not run"),
    })
}

/// Latencies of requests issued since `since` (CLOCK_MONOTONIC ns).
fn drain_bio(bio: &mut BioSnoop, lat_ms: &mut Vec<f64>, since: u64) {
    let _ = bio.drain(|b| {
        if b.ts_ns.saturating_sub(b.lat_ns) >= since {
            lat_ms.push(b.lat_ns as f64 / 1e6);
        }
        Ok::<(), ()>(())
    });
}

fn judge(truth: &Truth, out: &Output, notes: &mut Vec<String>) -> Vec<Check> {
    match truth {
        Truth::Bio { lat_ms, run_secs } => judge_bio(lat_ms, *run_secs, out, notes),
        Truth::Deleted { names } => judge_deleted(names, out, notes),
        Truth::Forked {
            master,
            workers,
            comm,
        } => judge_forked(*master, workers, comm, out),
        Truth::Leaks {
            pid,
            comm,
            leaked,
            opened,
        } => judge_leaks(*pid, comm, *leaked, *opened, out),
        Truth::Ratio { logical, physical } => judge_ratio(*logical, *physical, out),
    }
}

/// Truth as 1 ms buckets 0..=99 plus slot 100 for >= 100 ms.
fn ms_buckets(lat_ms: &[f64]) -> Vec<f64> {
    let mut b = vec![0.0; 101];
    for &l in lat_ms {
        b[(l.max(0.0) as usize).min(100)] += 1.0;
    }
    b
}

/// A printed linear histogram as slots 0..=100 (below-range counts go to slot 0).
fn tool_buckets(hists: &[&Hist]) -> Vec<f64> {
    let mut b = vec![0.0; 101];
    for h in hists {
        for k in &h.buckets {
            let slot = match (k.lo, k.hi) {
                (Some(lo), _) => lo.clamp(0, 100) as usize,
                (None, _) => 0,
            };
            b[slot] += k.count as f64;
        }
    }
    b
}

/// Largest gap between two cumulative distributions (Kolmogorov-Smirnov distance).
fn ks(a: &[f64], b: &[f64]) -> f64 {
    let (ta, tb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
    if ta == 0.0 || tb == 0.0 {
        return 1.0;
    }
    let (mut ca, mut cb, mut d) = (0.0, 0.0, 0.0f64);
    for i in 0..a.len().min(b.len()) {
        ca += a[i] / ta;
        cb += b[i] / tb;
        d = d.max((ca - cb).abs());
    }
    d
}

fn share(b: &[f64], range: std::ops::RangeInclusive<usize>) -> f64 {
    let t: f64 = b.iter().sum();
    if t == 0.0 {
        0.0
    } else {
        b[range].iter().sum::<f64>() / t
    }
}

fn describe(b: &[f64]) -> String {
    format!(
        "{:.0} I/Os: {:.0}% in [0,1) ms, {:.0}% in [1,10) ms, {:.0}% in [10,100) ms, {:.0}% >= 100 ms",
        b.iter().sum::<f64>(),
        100.0 * share(b, 0..=0),
        100.0 * share(b, 1..=9),
        100.0 * share(b, 10..=99),
        100.0 * share(b, 100..=100)
    )
}

fn judge_bio(lat_ms: &[f64], run_secs: f64, out: &Output, notes: &mut Vec<String>) -> Vec<Check> {
    let interval = run_secs > 4.0;
    let mut checks = Vec::new();
    let truth = ms_buckets(lat_ms);
    let Some(name) = pick_hist(out) else {
        checks.push(check(
            false,
            "a histogram is printed",
            "no histogram in the output: expected a map like @ms = lhist(latency_ms, 0, 100, 1)",
        ));
        return checks;
    };
    let mine: Vec<&Hist> = out.hists.iter().filter(|h| h.name == name).collect();
    let linear = mine.iter().all(|h| h.is_step1() || h.total() == 0);
    let log2 = mine.iter().any(|h| h.is_log2());
    checks.push(check(
        linear,
        "linear buckets of 1 ms",
        if linear {
            format!("{name} has 1-wide buckets")
        } else if log2 {
            format!("{name} uses power-of-2 buckets (hist()): use lhist(ms, 0, 100, 1)")
        } else {
            format!("{name}'s buckets are wider than 1: use lhist(ms, 0, 100, 1) (step 1)")
        },
    ));
    let too_wide = mine
        .iter()
        .flat_map(|h| &h.buckets)
        .any(|b| b.hi.is_some_and(|hi| hi > 100));
    checks.push(check(
        !too_wide,
        "range 0-100 ms",
        if too_wide {
            "buckets go beyond 100: use lhist(ms, 0, 100, 1)"
        } else {
            "ok"
        },
    ));

    // Group prints by time: one print() of a keyed map arrives as one record.
    let mut prints: Vec<(f64, Vec<&Hist>)> = Vec::new();
    for h in &mine {
        match prints.last_mut() {
            Some((at, v)) if (h.at - *at).abs() < 0.05 => v.push(h),
            _ => prints.push((h.at, vec![h])),
        }
    }
    let during: Vec<f64> = prints
        .iter()
        .map(|(at, _)| *at)
        .filter(|at| *at <= run_secs + 0.2)
        .collect();
    if interval {
        let expect = run_secs.floor();
        let gaps: Vec<f64> = during.windows(2).map(|w| w[1] - w[0]).collect();
        let mut sorted = gaps.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        let ok = during.len() as f64 >= expect - 1.0
            && during.len() as f64 <= expect + 1.0
            && (0.7..=1.4).contains(&median);
        checks.push(check(
            ok,
            "printed once per second",
            if during.len() <= 1 {
                format!(
                    "{} print(s) of {name} while it ran {run_secs:.1} s; expected about {expect:.0}: add interval:s:1 {{ print({name}); clear({name}); }}",
                    during.len()
                )
            } else {
                format!("{} prints in {run_secs:.1} s (expected about {expect:.0}), median gap {median:.2} s (expected 1 s)", during.len())
            },
        ));
    }
    // Mass: per-interval prints (cleared) add up; cumulative ones end with the total.
    let summed = tool_buckets(
        &prints
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .collect::<Vec<_>>(),
    );
    let last = prints
        .last()
        .map(|(_, v)| tool_buckets(v))
        .unwrap_or_else(|| vec![0.0; 101]);
    let tt: f64 = truth.iter().sum();
    let pick = |b: &Vec<f64>| (b.iter().sum::<f64>() - tt).abs();
    let got = if pick(&summed) <= pick(&last) {
        summed
    } else {
        last
    };
    let gt: f64 = got.iter().sum();
    let tol = (0.1 * tt).max(8.0);
    checks.push(check(
        gt > 0.0 && (gt - tt).abs() <= tol,
        "every I/O counted",
        format!("{name} holds {gt:.0} I/Os; the runner traced {tt:.0} (tolerance ±{tol:.0})"),
    ));
    let d = ks(&got, &truth);
    let mut detail = format!("yours: {}; traced: {}", describe(&got), describe(&truth));
    // Values 1000x too small all land in bucket 0; KS alone misses that when most I/O is < 1 ms.
    let (t1, g1) = (share(&truth, 1..=100), share(&got, 1..=100));
    let too_small = t1 >= 0.1 && g1 < t1 / 3.0;
    let too_large = share(&got, 10..=100) > share(&truth, 10..=100) + 0.3;
    if too_large {
        detail.push_str(". Your values are far too large: nsecs/1000 is microseconds; milliseconds are nsecs/1000000");
    } else if too_small {
        detail.push_str(
            ". Your values are too small: milliseconds are nsecs/1000000 (not /1000000000)",
        );
    }
    checks.push(check(
        d <= 0.15 && !too_small && !too_large,
        "buckets hold the right mass",
        detail,
    ));
    notes.push(format!(
        "latency spread traced by the runner: {}",
        describe(&truth)
    ));
    checks
}

/// The histogram map to judge: the one with 1-wide buckets, else any.
fn pick_hist(out: &Output) -> Option<String> {
    out.hists
        .iter()
        .find(|h| h.is_step1())
        .or_else(|| out.hists.iter().max_by_key(|h| h.total()))
        .map(|h| h.name.clone())
}

fn judge_deleted(
    names: &[(String, &'static str)],
    out: &Output,
    notes: &mut Vec<String>,
) -> Vec<Check> {
    let text = out.all_text();
    let missing: Vec<&(String, &str)> = names
        .iter()
        .filter(|(n, _)| !text.contains(n.as_str()))
        .collect();
    let mut detail = if missing.is_empty() {
        format!("all {} deleted files appear", names.len())
    } else {
        format!(
            "{} of {} deleted files do not appear: {}",
            missing.len(),
            names.len(),
            missing
                .iter()
                .map(|(n, s)| format!("{n} (deleted with {s})"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if !missing.is_empty()
        && missing.iter().all(|(_, s)| *s == "unlinkat")
        && missing.len() < names.len()
    {
        detail.push_str(". The unlinkat() ones are missing: rm and most programs call unlinkat(2): trace tracepoint:syscalls:sys_enter_unlinkat");
    } else if !missing.is_empty()
        && missing.iter().all(|(_, s)| *s == "unlink")
        && missing.len() < names.len()
    {
        detail.push_str(
            ". The unlink() ones are missing: trace tracepoint:syscalls:sys_enter_unlink too",
        );
    } else if missing.len() == names.len() && !names.is_empty() {
        detail.push_str(". Nothing matched: the syscalls are unlink(2) and unlinkat(2); print str(args->pathname)");
    }
    notes.push("Part 2 (what an SSH login to the lab 2 server deletes) is a written answer: not graded automatically.".into());
    vec![check(
        !names.is_empty() && missing.is_empty(),
        "deleted files shown",
        detail,
    )]
}

fn judge_forked(master: i32, workers: &[u32], comm: &str, out: &Output) -> Vec<Check> {
    let text = out.all_text();
    let missing: Vec<u32> = workers
        .iter()
        .copied()
        .filter(|p| !has_number(&text, *p as u64))
        .collect();
    let mut detail = if missing.is_empty() {
        format!("all {} worker PIDs appear", workers.len())
    } else {
        format!(
            "{} of {} workers forked by {comm} (PID {master}) do not appear: PIDs {}",
            missing.len(),
            workers.len(),
            missing
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if !missing.is_empty() {
        detail.push_str(". They fork without exec, so exec tracepoints never see them: trace tracepoint:sched:sched_process_fork (args->parent_pid, args->child_pid)");
    }
    let mut checks = vec![check(
        !workers.is_empty() && missing.is_empty(),
        "forked workers shown",
        detail,
    )];
    let parent = has_number(&text, master as u64);
    let named = text.contains(comm);
    checks.push(check(
        true,
        "details (not graded)",
        format!(
            "parent PID {master}: {}; name {comm}: {}",
            if parent { "shown" } else { "not shown" },
            if named { "shown" } else { "not shown" }
        ),
    ));
    checks
}

fn judge_leaks(pid: i32, comm: &str, leaked: usize, opened: u64, out: &Output) -> Vec<Check> {
    let p = pid as u64;
    // Either a count per process (@leaks[pid, comm] = 5) or one entry per leaked fd.
    let keyed: Vec<_> = out
        .entries
        .iter()
        .filter(|e| e.key.as_deref().is_some_and(|k| has_number(k, p)))
        .collect();
    let values: Vec<f64> = keyed.iter().filter_map(|e| e.value.as_f64()).collect();
    let text_vals: Vec<f64> = out
        .text
        .iter()
        .filter(|(_, l)| has_number(l, p))
        .flat_map(|(_, l)| numbers(l))
        .filter(|v| *v != p as f64)
        .collect();
    let want = leaked as f64;
    let ok = values.iter().any(|v| (v - want).abs() <= 1.0)
        || (keyed.len() > 1 && (keyed.len() as f64 - want).abs() <= 1.0)
        || text_vals.iter().any(|v| (v - want).abs() <= 1.0);
    let detail = if ok {
        format!("{comm} (PID {pid}) leaked {leaked} descriptors; your tool says so")
    } else if keyed.is_empty() && text_vals.is_empty() {
        format!("nothing about PID {pid} ({comm}) in the output; expected {leaked} leaked descriptors keyed by process, e.g. @leaked[pid, comm]")
    } else {
        let said = values
            .first()
            .or(text_vals.first())
            .copied()
            .unwrap_or(keyed.len() as f64);
        let mut d = format!("for PID {pid} ({comm}) your tool says {said:.0}; expected {leaked} ({opened} opened, {} closed)", opened as usize - leaked.min(opened as usize));
        if (said - opened as f64).abs() <= 1.0 {
            d.push_str(". That is every open: subtract the descriptors closed (sys_enter_close, by pid and fd)");
        }
        d
    };
    vec![check(ok, "leaked descriptors by process", detail)]
}

fn judge_ratio(logical: (u64, u64), physical: (u64, u64), out: &Output) -> Vec<Check> {
    let div = |a: u64, b: u64| {
        if b == 0 {
            f64::INFINITY
        } else {
            a as f64 / b as f64
        }
    };
    let truth = div(logical.0, physical.0);
    let (lo, hi) = (div(logical.0, physical.1), div(logical.1, physical.0));
    let from_text = out.text.iter().rev().find_map(|(_, l)| {
        let low = l.to_lowercase();
        let i = low.find("ratio")?;
        numbers(&l[i..]).first().copied()
    });
    let from_map = out
        .entries
        .iter()
        .rev()
        .find(|e| e.name.to_lowercase().contains("ratio"))
        .and_then(|e| e.value.as_f64());
    let Some(got) = from_text.or(from_map) else {
        return vec![check(
            false,
            "ratio printed",
            format!(
                "no line with \"ratio\" and a number in the output (expected about {truth:.1})"
            ),
        )];
    };
    let ok = truth.is_finite() && got >= lo / 2.0 && got <= hi * 2.0;
    vec![check(
        ok,
        "logical/physical ratio",
        format!(
            "yours: {got:.2}; traced: {truth:.2} ({} MiB logical / {} MiB physical; {lo:.2} to {hi:.2} counting the moments \
             bpftrace attaches and detaches); tolerance: within a factor of 2 of that range{}",
            logical.0 >> 20,
            physical.0 >> 20,
            if !ok && got > hi * 50.0 { ". Physical bytes look too small: block_rq_issue's bytes field is bytes; nr_sector counts 512-byte sectors" } else { "" }
        ),
    )]
}

/// Text of exercise 5c: an open problem, not graded.
pub const OPEN_PROBLEM: &str = "\
Exercise 5c is an open problem: measure the time between accesses to the same page in the page
cache. There is no automatic verdict: write your answer (tool + findings) and discuss it.
Hints:
  - The filemap tracepoints see pages enter and leave the cache:
      sudo bpftrace -l 'tracepoint:filemap:*'
    (mm_filemap_add_to_page_cache, mm_filemap_delete_from_page_cache; fields: sudo bpftrace -lv ...)
  - Hits do not go through those: without kprobes (mark_page_accessed, folio_mark_accessed) you
    see accesses only at the syscall level (read/pread offsets by file) or via readahead tracepoints.
  - Key by (device, inode, page index) and keep the last access time in a map; histogram the
    deltas with hist() in milliseconds.
  - Say what your tool cannot see (mmap'd access, for one) and how that biases the answer.";
