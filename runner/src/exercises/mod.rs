//! `lab check 4a --tool FILE.bt` and friends: labs 4-5, where students write bpftrace tools.
//! The checker runs the tool under bpftrace (as root, with a timeout), drives a seeded workload
//! with known behaviour while tracing the same events with lab's own probes, and judges the
//! tool by what it printed. Exercise 5c is an open problem with no automatic verdict.
//!
//! Where things live: each graded exercise is a module behind one trait (exercises/, one row in
//! its REGISTRY); which exercises exist, their titles and open-problem texts come from the lab
//! files (questions with a `exercise.` metric and `params.title`); reference solutions and broken
//! variants are the files of labs/solutions/ (solutions.rs).
use std::path::Path;

use anyhow::Result;

pub mod errors;
mod graded;
pub mod output;
mod reference;
mod solutions;
pub mod student_tool;
mod syscalls;
mod workload;

pub use graded::{Check, Outcome};
pub use reference::{reference_run, solution_problems};
pub use solutions::{broken, solution, solutions, Broken};

/// An exercise as the lab files define it: a question of a lab with a `exercise.` metric and a
/// `params.title`; "4a" = lab 4, question "a". Graded when a module is registered for its id,
/// else an open problem whose `params.text` `lab check` shows.
pub struct Listed {
    pub lab: u32,
    pub id: String,
    pub title: String,
    /// The open problem's text (`params.text`), for exercises without automatic verdict.
    pub text: Option<String>,
    pub graded: Option<&'static dyn graded::Exercise>,
}

/// Every exercise the labs define, by lab then question order.
pub fn listed() -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    for lab in crate::lab::catalog()? {
        for q in &lab.questions {
            let param = |k: &str| q.params.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let (true, Some(title)) = (q.metric.starts_with("exercise."), param("title")) else {
                continue;
            };
            let id = format!("{}{}", lab.id, q.id);
            out.push(Listed {
                lab: lab.id,
                graded: graded::graded(&id),
                id,
                title,
                text: param("text"),
            });
        }
    }
    Ok(out)
}

/// The exercise `id` ("4a", case-insensitive) if a lab defines it.
pub fn find(id: &str) -> Result<Option<Listed>> {
    let id = id.trim().to_ascii_lowercase();
    Ok(listed()?.into_iter().find(|e| e.id == id))
}

/// What checking a tool for an exercise gave.
pub enum Checked {
    /// An open problem: no verdict, its text instead.
    Open {
        text: String,
    },
    Graded(Outcome),
}

/// Check `tool` for the exercise `ex` (run it under bpftrace against the exercise's workload),
/// or say it is an open problem. Bad input (no such file, unreadable) is a usage error.
pub fn check(ex: &Listed, tool: &Path) -> Result<Checked> {
    let Some(graded) = ex.graded else {
        let text = ex.text.as_deref().unwrap_or_default().trim_end();
        return Ok(Checked::Open { text: text.into() });
    };
    if !tool.is_file() {
        return Err(crate::privilege::usage(format!(
            "--tool {}: no such file (give the path of your .bt file, e.g. --tool ~/rmsnoop.bt)",
            tool.display()
        )));
    }
    if let Err(e) = std::fs::File::open(tool) {
        return Err(crate::privilege::usage(format!(
            "--tool {}: cannot read it: {e}",
            tool.display()
        )));
    }
    crate::privilege::require_root(&format!("lab check {} --tool {}", ex.id, tool.display()))?;
    Ok(Checked::Graded(graded::run(
        &ex.id,
        &ex.title,
        graded,
        tool,
        seed(),
    )?))
}

/// The exercise `id`, or a usage error listing the ones the labs define.
pub fn require(id: &str) -> Result<Listed> {
    match find(id)? {
        Some(ex) => Ok(ex),
        None => {
            let ids: Vec<String> = listed()?.into_iter().map(|e| e.id).collect();
            Err(crate::privilege::usage(format!(
                "no exercise {id:?} with a tool check (exercises: {})",
                ids.join(", ")
            )))
        }
    }
}

/// A seed for the workload: LAB_BTCHECK_SEED to reproduce a run, else from the clock.
pub(crate) fn seed() -> u64 {
    if let Some(s) = std::env::var("LAB_BTCHECK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return s;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_nanos() as u64 ^ u64::from(std::process::id())
}

/// Metrics labs 4-5 name in their questions (`metric = "exercise.4a"`, a graded exercise);
/// `text` questions use `exercise.text` (shown, never graded).
pub fn metric_known(metric: &str) -> bool {
    metric == "exercise.text"
        || metric
            .strip_prefix("exercise.")
            .is_some_and(|id| graded::graded(id).is_some())
}

#[cfg(test)]
mod tests;
