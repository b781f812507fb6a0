//! `lab check 4a --tool FILE.bt` and friends: labs 4-5, where students write bpftrace tools.
//! The checker runs the tool under bpftrace (as root, with a timeout), drives a seeded workload
//! with known behaviour while tracing the same events with lab's own probes, and judges the
//! tool by what it printed. Exercise 5c is an open problem with no automatic verdict.
//!
//! Where things live: each graded exercise is a module behind one trait (exercises/, one row in
//! its REGISTRY); which exercises exist, their titles and open-problem texts come from the lab
//! files (questions with a `btcheck.` metric and `params.title`); reference solutions and broken
//! variants are the files of labs/solutions/ (solutions.rs).
use std::{
    io::IsTerminal as _,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Result;

use crate::privilege::as_typed;

mod errors;
mod exercises;
pub mod output;
mod solutions;
mod sys;
pub mod tool;
mod workload;

pub use exercises::Report;
pub use solutions::{broken, solution, solutions, Broken};

/// An exercise as the lab files define it: a question of a lab with a `btcheck.` metric and a
/// `params.title`; "4a" = lab 4, question "a". Graded when a module is registered for its id,
/// else an open problem whose `params.text` `lab check` shows.
pub struct Listed {
    pub lab: u32,
    pub id: String,
    pub title: String,
    /// The open problem's text (`params.text`), for exercises without automatic verdict.
    pub text: Option<String>,
    pub graded: Option<&'static dyn exercises::Exercise>,
}

/// Every exercise the labs define, by lab then question order.
pub fn listed() -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    for lab in crate::lab::catalog()? {
        for q in &lab.questions {
            let param = |k: &str| q.params.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let (true, Some(title)) = (q.metric.starts_with("btcheck."), param("title")) else {
                continue;
            };
            let id = format!("{}{}", lab.id, q.id);
            out.push(Listed {
                lab: lab.id,
                graded: exercises::graded(&id),
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

/// Check `tool` for `exercise` ("4a".."5c"): prints the verdict (or JSON); exit 0 = passed,
/// 1 = failed, 2 = bad input.
pub fn run(exercise: &str, tool: &Path, json: bool) -> Result<ExitCode> {
    let Some(ex) = find(exercise)? else {
        let ids: Vec<String> = listed()?.into_iter().map(|e| e.id).collect();
        return Err(crate::privilege::usage(format!(
            "no exercise {exercise:?} with a tool check (exercises: {})",
            ids.join(", ")
        )));
    };
    let Some(graded) = ex.graded else {
        let text = ex.text.as_deref().unwrap_or_default().trim_end();
        if json {
            let v = serde_json::json!({ "exercise": ex.id, "title": ex.title, "passed": null, "graded": false, "text": text });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!(
                "lab check {}: {}\n\n{}\n\nNo automatic verdict for this exercise.",
                ex.id, ex.title, text
            );
        }
        return Ok(ExitCode::SUCCESS);
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
    let report = exercises::run(&ex.id, &ex.title, graded, tool, seed())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.passed == Some(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A seed for the workload: LAB_BTCHECK_SEED to reproduce a run, else from the clock.
fn seed() -> u64 {
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

fn print_report(r: &Report) {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |ok: bool, s: &str| {
        if !color {
            s.to_string()
        } else if ok {
            format!("\x1b[32m{s}\x1b[0m")
        } else {
            format!("\x1b[31m{s}\x1b[0m")
        }
    };
    println!(
        "lab check {}: {} ({}, seed {})",
        r.exercise, r.title, r.tool, r.seed
    );
    for e in &r.errors {
        match (e.line, &e.source) {
            (Some(n), Some(src)) => println!(
                "  bpftrace error at line {n}: {}\n      {n:>4} | {}\n      hint: {}",
                e.message,
                src.trim_end(),
                as_typed(&e.hint)
            ),
            _ => println!(
                "  bpftrace error: {}\n      hint: {}",
                e.message,
                as_typed(&e.hint)
            ),
        }
    }
    for c in &r.checks {
        let mark = if c.ok {
            paint(true, "✓")
        } else {
            paint(false, "✗")
        };
        println!("  {mark} {}: {}", c.what, as_typed(&c.detail));
    }
    for n in &r.notes {
        println!("  note: {}", as_typed(n));
    }
    match r.passed {
        Some(true) => println!("{}", paint(true, "PASSED")),
        Some(false) => println!("{}", paint(false, "FAILED")),
        None => println!("not graded automatically"),
    }
}

/// For `lab dev check`: run every reference solution (must pass) and every broken variant (must
/// fail, with the expected explanation). Returns (name, as expected, detail). Needs root.
/// (`lab dev check` runs the same per lab through `reference_run`.)
#[allow(dead_code)]
pub fn dev_check() -> Result<Vec<(String, bool, String)>> {
    dev_check_filtered(|_| true)
}

fn dev_check_filtered(want: impl Fn(&Listed) -> bool) -> Result<Vec<(String, bool, String)>> {
    let dir = std::env::temp_dir().join(format!("lab-btcheck-dev-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let exercises = listed()?;
    let graded = |id: &str| {
        exercises
            .iter()
            .find(|e| e.id == id && e.graded.is_some() && want(e))
    };
    let mut out = Vec::new();
    for (id, src) in solutions()? {
        let Some(ex) = graded(&id) else {
            continue;
        };
        let path = write(&dir, &format!("{id}.bt"), &src)?;
        let r = exercises::run(&ex.id, &ex.title, ex.graded.unwrap(), &path, seed())?;
        let ok = r.passed == Some(true);
        out.push((format!("solution {id}"), ok, summary(&r)));
    }
    for b in broken()? {
        let Some(ex) = graded(&b.exercise) else {
            continue;
        };
        let path = write(&dir, &b.file, &b.source)?;
        let r = exercises::run(&ex.id, &ex.title, ex.graded.unwrap(), &path, seed())?;
        let text = serde_json::to_string(&r)?;
        let ok = r.passed == Some(false) && text.contains(&b.expect);
        out.push((
            format!("broken {} ({})", b.exercise, b.file),
            ok,
            summary(&r),
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

fn write(dir: &Path, name: &str, src: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, src)?;
    Ok(p)
}

fn summary(r: &Report) -> String {
    let failed: Vec<String> = r
        .errors
        .iter()
        .map(|e| format!("bpftrace error: {}", e.message))
        .chain(
            r.checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| format!("{}: {}", c.what, c.detail)),
        )
        .collect();
    if failed.is_empty() {
        "passed".into()
    } else {
        failed.join("; ")
    }
}

/// Metrics labs 4-5 name in their questions (`metric = "btcheck.4a"`, a graded exercise);
/// `text` questions use `btcheck.text` (shown, never graded).
pub fn metric_known(metric: &str) -> bool {
    metric == "btcheck.text"
        || metric
            .strip_prefix("btcheck.")
            .is_some_and(|id| exercises::graded(id).is_some())
}

/// `lab dev check`'s reference run for lab 4 or 5: every reference solution of the lab passes
/// and every broken variant fails as expected. Ok(None) for other labs.
pub fn reference_run(lab: u32) -> Result<Option<String>> {
    if !listed()?.iter().any(|e| e.lab == lab && e.graded.is_some()) {
        return Ok(None);
    }
    crate::privilege::require_root(&format!("lab dev check {lab}"))?;
    let results: Vec<_> = dev_check_filtered(|e| e.lab == lab)?;
    let bad: Vec<String> = results
        .iter()
        .filter(|r| !r.1)
        .map(|r| format!("{}: {}", r.0, r.2))
        .collect();
    anyhow::ensure!(bad.is_empty(), "{}", bad.join("; "));
    Ok(Some(format!(
        "{} reference solutions and broken variants behaved as expected",
        results.len()
    )))
}

/// `lab dev check`: the solution files and the exercise registry agree. Every labs/solutions
/// file names a graded exercise a lab defines, every broken variant has its header, and every
/// registered exercise has a lab question and a reference solution. One line per problem.
pub fn solution_problems() -> Vec<String> {
    let mut out = Vec::new();
    let listed = match listed() {
        Ok(l) => l,
        Err(e) => return vec![format!("{e:#}")],
    };
    let graded = |id: &str| listed.iter().any(|e| e.id == id && e.graded.is_some());
    let sols = solutions().unwrap_or_else(|e| {
        out.push(format!("{e:#}"));
        Vec::new()
    });
    for (id, _) in &sols {
        if !graded(id) {
            out.push(format!(
                "labs/solutions/{id}.bt: no graded exercise {id:?} (a lab question with metric \
                 \"btcheck.{id}\" and params.title, and a row in btcheck/exercises REGISTRY)"
            ));
        }
    }
    match broken() {
        Ok(b) => out.extend(b.iter().filter(|b| !graded(&b.exercise)).map(|b| {
            format!(
                "labs/solutions/broken/{}: names exercise {:?}, which is not a graded exercise",
                b.file, b.exercise
            )
        })),
        Err(e) => out.push(format!("{e:#}")),
    }
    // A labs directory without bpftrace exercises (LAB_LABS_DIR of test labs) needs none.
    let has_exercises = !listed.is_empty() || !sols.is_empty();
    for id in exercises::graded_ids().filter(|_| has_exercises) {
        if !listed.iter().any(|e| e.id == id) {
            out.push(format!(
                "exercise {id} is registered but no lab defines it: give lab {} question {:?} \
                 metric \"btcheck.{id}\" and a params.title",
                id.trim_end_matches(|c: char| c.is_ascii_alphabetic()),
                id.trim_start_matches(|c: char| c.is_ascii_digit())
            ));
        }
        if !sols.iter().any(|(s, _)| s == id) {
            out.push(format!(
                "exercise {id} has no reference solution: add labs/solutions/{id}.bt"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
