//! 5b: file descriptor leaks by process. A forked process with a seeded name opens a seeded
//! number of files and closes all but a seeded few; the tool's count for its PID must match what
//! the runner traced.
use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result};
use lab_probes::filetrack;

use super::{check, Check, Exercise, Trial};
use crate::exercises::{
    output::{has_number, numbers, Output},
    student_tool::Tool,
    workload::{self, Gated, Rng},
};

pub struct FdLeak;

struct Run {
    /// Stays alive (holding its leaked descriptors) until the tool has printed its maps.
    leaker: Option<Gated>,
    comm: String,
    pid: i32,
    leaked: usize,
    opened: u64,
}

impl Exercise for FdLeak {
    fn prepare(&self, rng: &mut Rng, dir: &Path) -> Result<Box<dyn Trial>> {
        let comm = rng
            .pick(&["connpoold", "indexer", "feedsync", "mailq"])
            .to_string();
        let leaked = rng.range(3, 9) as usize;
        let opens = leaked + rng.range(6, 16) as usize;
        let file = dir.join("config.ini");
        std::fs::write(&file, b"[lab]\n")?;
        let leaker = workload::leaker(&comm, rng, opens, leaked, &file)?;
        Ok(Box::new(Run {
            pid: leaker.pid,
            leaker: Some(leaker),
            comm,
            leaked: 0,
            opened: 0,
        }))
    }
}

impl Trial for Run {
    fn drive(&mut self, _t: &mut Tool, _rng: &mut Rng, _dir: &Path, _since: u64) -> Result<()> {
        let child = self.leaker.as_mut().context("leaker")?;
        let probe = filetrack::FdLeak::attach(child.pid as u32).context("runner's fd probe")?;
        child.go();
        // It never exits by itself: its opens and closes (10 ms apart, at most 24) take
        // under 0.3 s; then it holds the leaked ones.
        std::thread::sleep(Duration::from_millis(900));
        let (opened, _) = probe.totals()?;
        self.opened = opened;
        self.leaked = probe
            .open_fds()?
            .get(&(child.pid as u32))
            .map_or(0, Vec::len);
        Ok(())
    }

    fn after_stop(&mut self) -> Result<()> {
        self.leaker = None;
        Ok(())
    }

    fn judge(&self, out: &Output, _notes: &mut Vec<String>) -> Vec<Check> {
        judge_leaks(self.pid, &self.comm, self.leaked, self.opened, out)
    }
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
