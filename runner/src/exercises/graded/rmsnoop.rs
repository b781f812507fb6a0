//! 4c: rmsnoop, the files being deleted. A forked process deletes seeded files with unlink(2)
//! and unlinkat(2); the runner traces its deletions and looks for each name in the output.
use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result};
use lab_probes::filetrack::UnlinkSnoop;

use super::{check, settle, Check, Exercise, Trial};
use crate::exercises::{
    output::Output,
    student_tool::Tool,
    workload::{self, Gated, Rng},
};

pub struct RmSnoop;

struct Run {
    deleter: Option<Gated>,
    files: usize,
    names: Vec<(String, &'static str)>,
}

impl Exercise for RmSnoop {
    fn prepare(&self, rng: &mut Rng, dir: &Path) -> Result<Box<dyn Trial>> {
        let plan = workload::delete_plan(rng, dir);
        let deleter = workload::deleter(&plan, dir)?;
        Ok(Box::new(Run {
            deleter: Some(deleter),
            files: plan.files.len(),
            names: Vec::new(),
        }))
    }
}

impl Trial for Run {
    fn drive(&mut self, _t: &mut Tool, _rng: &mut Rng, _dir: &Path, _since: u64) -> Result<()> {
        let child = self.deleter.as_mut().context("deleter")?;
        let mut snoop = UnlinkSnoop::attach(child.pid as u32).context("runner's unlink probe")?;
        child.go();
        child.wait(Duration::from_millis(200 + 60 * self.files as u64));
        settle();
        self.names = snoop
            .deletions()
            .iter()
            .map(|d| {
                (
                    d.path.rsplit('/').next().unwrap_or(&d.path).to_string(),
                    d.syscall,
                )
            })
            .collect();
        Ok(())
    }

    fn after_stop(&mut self) -> Result<()> {
        self.deleter = None;
        Ok(())
    }

    fn judge(&self, out: &Output, notes: &mut Vec<String>) -> Vec<Check> {
        judge_deleted(&self.names, out, notes)
    }
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
