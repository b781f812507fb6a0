//! 5a: the ratio of logical file system I/O to physical block I/O. A seeded file is written
//! and reread from the page cache; the runner counts syscall bytes and block bytes over the
//! tool's window and accepts a ratio within a factor of 2 of that.
use std::path::Path;

use anyhow::{Context as _, Result};
use lab_probes::filetrack::RwBytes;

use super::{check, settle, Check, Exercise, Trial};
use crate::exercises::{
    output::{numbers, Output},
    student_tool::Tool,
    workload::{self, Rng},
};

pub struct IoRatio;

/// Bytes as (least, most) the tool can have seen: its probes attach somewhere between spawn
/// and ready, and detach somewhere between Ctrl-C and exit; on a busy machine (writeback
/// bursts) those edges matter.
struct Run {
    rw: Option<RwBytes>,
    at_spawn: lab_probes::filetrack::IoBytes,
    at_ready: lab_probes::filetrack::IoBytes,
    logical: (u64, u64),
    physical: (u64, u64),
}

impl Exercise for IoRatio {
    fn prepare(&self, _rng: &mut Rng, _dir: &Path) -> Result<Box<dyn Trial>> {
        let rw = RwBytes::attach().context("runner's logical/physical I/O probe")?;
        Ok(Box::new(Run {
            rw: Some(rw),
            at_spawn: Default::default(),
            at_ready: Default::default(),
            logical: (0, 0),
            physical: (0, 0),
        }))
    }
}

impl Run {
    fn rw(&self) -> Result<&RwBytes> {
        self.rw
            .as_ref()
            .context("runner's logical/physical I/O probe")
    }
}

impl Trial for Run {
    fn spawned(&mut self) -> Result<()> {
        self.at_spawn = self.rw()?.totals()?;
        Ok(())
    }

    fn drive(&mut self, _t: &mut Tool, rng: &mut Rng, dir: &Path, _since: u64) -> Result<()> {
        self.at_ready = self.rw()?.totals()?;
        let mib = rng.range(12, 24) as usize;
        let rereads = rng.range(4, 9) as usize;
        workload::cached_rereads(dir, mib, rereads)?;
        settle();
        Ok(())
    }

    /// Least: from ready to the Ctrl-C (the same window as the tool's).
    fn before_stop(&mut self, _since: u64) -> Result<()> {
        let (b, s) = (self.rw()?.totals()?, self.at_ready);
        self.logical.0 = (b.read + b.write).saturating_sub(s.read + s.write);
        self.physical.0 = b.block.saturating_sub(s.block);
        Ok(())
    }

    /// Most: from spawn to exit.
    fn after_stop(&mut self) -> Result<()> {
        let (b, s) = (self.rw()?.totals()?, self.at_spawn);
        self.logical.1 = (b.read + b.write).saturating_sub(s.read + s.write);
        self.physical.1 = b.block.saturating_sub(s.block);
        self.rw = None;
        Ok(())
    }

    fn judge(&self, out: &Output, _notes: &mut Vec<String>) -> Vec<Check> {
        judge_ratio(self.logical, self.physical, out)
    }
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
