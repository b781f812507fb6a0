//! The bpftrace exercises of labs 4-5 as plug-ins: each graded exercise is one module with one
//! `Exercise` (what it prepares and runs while the student's tool is attached, what the runner
//! traces itself, how the output is judged), registered once in `REGISTRY`. The lab files own
//! everything else: an exercise's title and, for an open problem, its text are the question's
//! `params` in labs/NN-*.md (`[questions.params] title = ...`), and the reference solutions and
//! broken variants are files in labs/solutions/ (see `solutions`).
//!
//! They share the exercises' bpftrace runner (`student_tool`), output parser (`output`) and
//! forked workloads (`workload`), none of which the traced labs' checkers (crate::checkers) use.
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::{
    errors::{self, ToolError},
    output::Output,
    student_tool::{group_alive, End, Tool},
    workload::{Rng, Scratch},
};

mod biolat;
mod fdleak;
mod ioratio;
mod procsnoop;
mod rmsnoop;

/// A graded bpftrace exercise.
pub trait Exercise: Sync {
    /// Before bpftrace starts: fork the (gated) workload and attach the system-wide truths, so
    /// the tool sees only the actions.
    fn prepare(&self, rng: &mut Rng, dir: &Path) -> Result<Box<dyn Trial>>;
}

/// One run of an exercise against one tool; the driver calls these in order.
pub trait Trial {
    /// Right after bpftrace was spawned (its probes attach somewhere from here to ready).
    fn spawned(&mut self) -> Result<()> {
        Ok(())
    }
    /// The tool is ready (its probes attached after `since`, CLOCK_MONOTONIC ns): run the
    /// workload and trace the truth.
    fn drive(&mut self, tool: &mut Tool, rng: &mut Rng, dir: &Path, since: u64) -> Result<()>;
    /// Just before the Ctrl-C: close the truth window (what completes while bpftrace shuts down
    /// is in neither count).
    fn before_stop(&mut self, _since: u64) -> Result<()> {
        Ok(())
    }
    /// bpftrace has exited: last readings, then release the probes and the workload.
    fn after_stop(&mut self) -> Result<()> {
        Ok(())
    }
    /// Judge what the tool printed against the truth.
    fn judge(&self, out: &Output, notes: &mut Vec<String>) -> Vec<Check>;
}

/// Every graded exercise by id ("4a" = lab 4, question "a"). Exercises the lab files name
/// without a row here (5c) are open problems: `lab check` shows their text, no verdict.
static REGISTRY: &[(&str, &dyn Exercise)] = &[
    ("4a", &biolat::BioLat { secs: 2.5 }),
    ("4b", &biolat::BioLat { secs: 4.6 }),
    ("4c", &rmsnoop::RmSnoop),
    ("4d", &procsnoop::ProcSnoop),
    ("5a", &ioratio::IoRatio),
    ("5b", &fdleak::FdLeak),
];

/// The graded exercise with this id ("4a").
pub fn graded(id: &str) -> Option<&'static dyn Exercise> {
    let id = id.trim().to_ascii_lowercase();
    REGISTRY.iter().find(|(i, _)| *i == id).map(|(_, e)| *e)
}

/// Ids of every graded exercise, in table order.
pub fn graded_ids() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|(id, _)| *id)
}

/// One judged point.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub ok: bool,
    pub what: String,
    pub detail: String,
}

pub fn check(ok: bool, what: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        ok,
        what: what.into(),
        detail: detail.into(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
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

/// Run `tool` for exercise `id` (titled `title`) with seed `seed` and judge it.
pub fn run(id: &str, title: &str, ex: &dyn Exercise, tool: &Path, seed: u64) -> Result<Outcome> {
    let mut report = Outcome {
        exercise: id.to_string(),
        title: title.to_string(),
        tool: tool.display().to_string(),
        seed,
        passed: None,
        checks: Vec::new(),
        errors: Vec::new(),
        notes: Vec::new(),
    };
    let mut rng = super::workload::rng(seed);
    let scratch = Scratch::new(id, seed)?;
    let dir = scratch.0.clone();

    let mut trial = ex.prepare(&mut rng, &dir)?;
    let mut t = Tool::spawn(tool)?;
    trial.spawned()?;
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
    trial.drive(&mut t, &mut rng, &dir, since)?;
    trial.before_stop(since)?;
    let (end, stderr, lines, raw) = t.stop();
    trial.after_stop()?;
    report.checks.push(match &end {
        End::Exited(_) => check(true, "the tool stops on Ctrl-C", "it exited and printed its maps"),
        End::KilledAfterGrace => check(
            false,
            "the tool stops on Ctrl-C",
            format!("still running {} s after Ctrl-C: killed", super::student_tool::STOP_GRACE.as_secs()),
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
        report.checks.extend(trial.judge(&out, &mut report.notes));
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

/// Let the last events of a workload reach both the tool and the runner's probe.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(400));
}
