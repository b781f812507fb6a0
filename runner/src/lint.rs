//! `lab dev check`'s cross-checks of a parsed lab: its id against its file name, its templates
//! rendered with several seeds, its workloads against `lab-workload list`, its tools against the
//! catalog, its checker and every question's metric against what the checkers measure.
use std::{collections::BTreeSet, path::PathBuf};

use crate::{
    checkers, exercises,
    lab::{render::Context, Lab},
    session::spawn,
};

/// Seeds every lab is rendered with (a template may fail only for some values).
const SEEDS: &[u64] = &[1, 2, 3, 42, 999_999];

/// Every problem with one parsed lab, as "file:line: what".
pub fn lab_problems(l: &Lab, workloads: &Result<BTreeSet<String>, String>) -> Vec<String> {
    let mut out = Vec::new();
    let file_number = std::path::Path::new(&l.source)
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u32>().ok());
    if file_number.is_some_and(|n| n != l.id) {
        out.push(format!(
            "{}:1: id {} does not match the file name's number",
            l.source, l.id
        ));
    }
    for seed in SEEDS {
        let dir = PathBuf::from(format!("/var/lib/lab/author/sessions/lab-{:02}", l.id));
        let ctx = match Context::for_seed(l, *seed, &dir, "author") {
            Ok(c) => c,
            Err(e) => {
                out.push(format!("seed {seed}: {e:#}"));
                break;
            }
        };
        let mut errs = Vec::new();
        let mut try_ = |r: anyhow::Result<String>| {
            if let Err(e) = r {
                errs.push(format!("{e:#} (seed {seed})"));
            }
        };
        try_(ctx.body(l));
        for i in 0..l.hints.len() {
            try_(ctx.hint(l, i));
        }
        for q in &l.questions {
            try_(ctx.render_at(l, q.line, &format!("question {} prompt", q.id), &q.prompt));
            if let Some(r) = &q.reference {
                try_(ctx.render_at(l, q.line, &format!("question {} reference", q.id), r));
            }
        }
        for s in l.prepare.iter().chain(&l.workloads) {
            try_(ctx.args(l, s).map(|a| a.join(" ")));
        }
        for w in &l.workloads {
            try_(ctx.comm(l, w));
        }
        let stop = !errs.is_empty();
        out.extend(errs);
        if stop {
            break; // the same template fails for every seed; say it once
        }
    }
    match workloads {
        Ok(known) => {
            for s in l.prepare.iter().chain(&l.workloads) {
                if !known.contains(&s.run) {
                    out.push(format!(
                        "{}:{}: {}: lab-workload has no subcommand {:?} (it has: {})",
                        l.source,
                        s.line,
                        s.name,
                        s.run,
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        Err(e) if !l.prepare.is_empty() || !l.workloads.is_empty() => {
            out.push(format!("{}: cannot check workloads: {e}", l.source))
        }
        Err(_) => {}
    }
    for t in &l.tools {
        if !crate::toolbox::exists(t) {
            out.push(format!(
                "{}: tool {t:?} is neither one of our tools, a starter .bt, nor on PATH",
                l.source
            ));
        }
    }
    out.extend(checker_problems(l));
    for q in &l.questions {
        if !metric_known(l, &q.metric) {
            out.push(format!(
                "{}:{}: question {}: the checker does not know metric {:?}",
                l.source, q.line, q.id, q.metric
            ));
        }
    }
    out
}

/// The subcommands `lab-workload list` prints.
pub fn workload_subcommands() -> Result<BTreeSet<String>, String> {
    let bin = spawn::workload_binary().map_err(|e| e.to_string())?;
    let out = duct::cmd(&bin, ["list"])
        .stderr_null()
        .read()
        .map_err(|e| format!("{} list: {e}", bin.display()))?;
    Ok(out.lines().map(str::to_string).collect())
}

/// Whether `metric` is measured for `l`: by its checker, or for a lab without one (its questions
/// are bpftrace exercises) by the exercises' registry.
fn metric_known(l: &Lab, metric: &str) -> bool {
    match l.checker {
        Some(_) => checkers::metric_known(l, metric),
        None => exercises::metric_known(metric),
    }
}

/// A checker the lab names that this runner lacks, or gradable questions with no checker.
fn checker_problems(l: &Lab) -> Vec<String> {
    match l.checker.as_deref() {
        Some(name) if checkers::by_name(name).is_none() => vec![format!(
            "{}: checker {name:?} is not one this runner has ({})",
            l.source,
            checkers::names().collect::<Vec<_>>().join(", ")
        )],
        None => l
            .questions
            .iter()
            .filter(|q| q.gradable())
            .map(|q| {
                format!(
                    "{}:{}: question {} is graded by a checker, but the lab names none (checker = \"...\": {})",
                    l.source,
                    q.line,
                    q.id,
                    checkers::names().collect::<Vec<_>>().join(", ")
                )
            })
            .collect(),
        Some(_) => Vec::new(),
    }
}
