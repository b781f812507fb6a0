//! 4d: procsnoop, new processes including workers that fork without exec. A forked "master"
//! with a seeded name forks a seeded number of workers; each worker PID must appear.
use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result};
use lab_probes::filetrack::ForkSnoop;

use super::{check, settle, Check, Exercise, Trial};
use crate::exercises::{
    output::{has_number, Output},
    student_tool::Tool,
    workload::{self, Gated, Rng},
};

pub struct ProcSnoop;

struct Run {
    forker: Option<Gated>,
    comm: String,
    master: i32,
    workers: Vec<u32>,
}

impl Exercise for ProcSnoop {
    fn prepare(&self, rng: &mut Rng, _dir: &Path) -> Result<Box<dyn Trial>> {
        let comm = rng
            .pick(&["pgpool", "gunicornd", "prefork-srv", "mpm-master"])
            .to_string();
        let workers = rng.range(3, 6) as u32;
        let forker = workload::forker(&comm, workers, 400)?;
        Ok(Box::new(Run {
            master: forker.pid,
            forker: Some(forker),
            comm,
            workers: Vec::new(),
        }))
    }
}

impl Trial for Run {
    fn drive(&mut self, _t: &mut Tool, _rng: &mut Rng, _dir: &Path, _since: u64) -> Result<()> {
        let child = self.forker.as_mut().context("forker")?;
        let mut snoop = ForkSnoop::attach(child.pid as u32).context("runner's fork probe")?;
        child.go();
        child.wait(Duration::from_secs(5));
        settle();
        self.workers = snoop.forks().into_iter().map(|(_, c)| c).collect();
        Ok(())
    }

    fn after_stop(&mut self) -> Result<()> {
        self.forker = None;
        Ok(())
    }

    fn judge(&self, out: &Output, _notes: &mut Vec<String>) -> Vec<Check> {
        judge_forked(self.master, &self.workers, &self.comm, out)
    }
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
