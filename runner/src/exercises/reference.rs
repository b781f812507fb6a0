//! `lab dev check` for the bpftrace exercises: the reference solutions pass, the broken variants
//! fail with their explanation, and the solution files and the exercise registry agree.
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{broken, graded, listed, seed, solutions, Listed, Outcome};

/// `lab dev check`'s reference run for lab 4 or 5: every reference solution of the lab passes
/// and every broken variant fails as expected. Ok(None) for other labs.
pub fn reference_run(lab: u32) -> Result<Option<String>> {
    if !listed()?.iter().any(|e| e.lab == lab && e.graded.is_some()) {
        return Ok(None);
    }
    crate::privilege::require_root(&format!("lab dev check {lab}"))?;
    let results: Vec<_> = run_solutions(|e| e.lab == lab)?;
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
                 \"exercise.{id}\" and params.title, and a row in exercises/graded.rs REGISTRY)"
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
    for id in graded::graded_ids().filter(|_| has_exercises) {
        if !listed.iter().any(|e| e.id == id) {
            out.push(format!(
                "exercise {id} is registered but no lab defines it: give lab {} question {:?} \
                 metric \"exercise.{id}\" and a params.title",
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

/// Run every reference solution (must pass) and every broken variant (must fail, with the
/// expected explanation) of the exercises `want` picks. Returns (name, as expected, detail).
/// Needs root.
fn run_solutions(want: impl Fn(&Listed) -> bool) -> Result<Vec<(String, bool, String)>> {
    let dir = std::env::temp_dir().join(format!("lab-exercise-dev-{}", std::process::id()));
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
        let r = graded::run(&ex.id, &ex.title, ex.graded.unwrap(), &path, seed())?;
        let ok = r.passed == Some(true);
        out.push((format!("solution {id}"), ok, summary(&r)));
    }
    for b in broken()? {
        let Some(ex) = graded(&b.exercise) else {
            continue;
        };
        let path = write(&dir, &b.file, &b.source)?;
        let r = graded::run(&ex.id, &ex.title, ex.graded.unwrap(), &path, seed())?;
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

fn summary(r: &Outcome) -> String {
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
