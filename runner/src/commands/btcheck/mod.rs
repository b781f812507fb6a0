//! `lab check 4a --tool FILE.bt` and friends: labs 4-5, where students write bpftrace tools.
//! The checker runs the tool under bpftrace (as root, with a timeout), drives a seeded workload
//! with known behaviour while tracing the same events with lab's own probes, and judges the
//! tool by what it printed. Exercise 5c is an open problem with no automatic verdict.
use std::{
    io::IsTerminal as _,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Result;

mod errors;
mod exercises;
pub mod output;
mod solutions;
mod sys;
pub mod tool;
mod workload;

pub use exercises::{Report, EXERCISES};
pub use solutions::{solution, BROKEN};

/// Check `tool` for `exercise` ("4a".."5c"): prints the verdict (or JSON); exit 0 = passed,
/// 1 = failed, 2 = bad input.
pub fn run(exercise: &str, tool: &Path, json: bool) -> Result<ExitCode> {
    let Some(ex) = exercises::find(exercise) else {
        let ids: Vec<&str> = EXERCISES.iter().map(|e| e.id).collect();
        return Err(crate::privilege::usage(format!(
            "no exercise {exercise:?} with a tool check (exercises: {})",
            ids.join(", ")
        )));
    };
    if ex.kind == exercises::Kind::Open {
        if json {
            let v = serde_json::json!({ "exercise": ex.id, "title": ex.title, "passed": null, "graded": false, "text": exercises::OPEN_PROBLEM });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!(
                "lab check {}: {}\n\n{}\n\nNo automatic verdict for this exercise.",
                ex.id,
                ex.title,
                exercises::OPEN_PROBLEM
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
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
    let report = exercises::run(ex, tool, seed())?;
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
                e.hint
            ),
            _ => println!("  bpftrace error: {}\n      hint: {}", e.message, e.hint),
        }
    }
    for c in &r.checks {
        let mark = if c.ok {
            paint(true, "✓")
        } else {
            paint(false, "✗")
        };
        println!("  {mark} {}: {}", c.what, c.detail);
    }
    for n in &r.notes {
        println!("  note: {n}");
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

fn dev_check_filtered(want: impl Fn(&str) -> bool) -> Result<Vec<(String, bool, String)>> {
    let dir = std::env::temp_dir().join(format!("lab-btcheck-dev-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::new();
    for ex in EXERCISES
        .iter()
        .filter(|e| e.kind != exercises::Kind::Open && want(e.id))
    {
        let Some(src) = solution(ex.id) else { continue };
        let path = write(&dir, &format!("{}.bt", ex.id), src)?;
        let r = exercises::run(ex, &path, seed())?;
        let ok = r.passed == Some(true);
        out.push((format!("solution {}", ex.id), ok, summary(&r)));
    }
    for b in BROKEN.iter().filter(|b| want(b.exercise)) {
        let Some(ex) = exercises::find(b.exercise) else {
            continue;
        };
        let path = write(&dir, b.file, b.source)?;
        let r = exercises::run(ex, &path, seed())?;
        let text = serde_json::to_string(&r)?;
        let ok = r.passed == Some(false) && text.contains(b.expect);
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

/// Metrics labs 4-5 name in their questions (`metric = "btcheck.4a"`); `text` questions use
/// `btcheck.text` (shown, never graded).
pub fn metric_known(metric: &str) -> bool {
    metric == "btcheck.text"
        || metric
            .strip_prefix("btcheck.")
            .is_some_and(|id| exercises::find(id).is_some())
}

/// `lab dev check`'s reference run for lab 4 or 5: every reference solution of the lab passes
/// and every broken variant fails as expected. Ok(None) for other labs.
pub fn reference_run(lab: u32) -> Result<Option<String>> {
    if !matches!(lab, 4 | 5) {
        return Ok(None);
    }
    crate::privilege::require_root(&format!("lab dev check {lab}"))?;
    let prefix = lab.to_string();
    let results: Vec<_> = dev_check_filtered(|ex| ex.starts_with(&prefix))?;
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
