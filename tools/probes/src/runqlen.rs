//! runqlen's probe: run queue length sampled at 99 Hz on every CPU (perf_event cpu-clock),
//! read as rq->nr_running through offsets found in the kernel's BTF. See
//! tools/ebpf/src/runqlen.rs for why this and not cfs_rq.nr_running or tracepoint counting.
use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aya::{
    programs::{
        perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
        PerfEvent,
    },
    util::online_cpus,
    Ebpf,
};
use lab_probes_common::sched::{key_mode, RqOffsets};

use crate::{
    btf::Btf,
    hist::{read_keyed, Hist},
};

/// BCC's sampling rate: 99 Hz avoids lockstep with 100 Hz timers.
pub const FREQUENCY_HZ: u64 = 99;

/// The path task->se.cfs_rq->rq->nr_running as offsets, from this kernel's BTF.
pub fn rq_offsets(btf: &Btf) -> Result<RqOffsets> {
    btf.prefetch(&[
        "task_struct",
        "se",
        "sched_entity",
        "cfs_rq",
        "rq",
        "nr_running",
        "cfs",
    ])?;
    let se = btf.member("task_struct", "se")?;
    let cfs_rq = btf.member("sched_entity", "cfs_rq").context(
        "runqlen follows task->se.cfs_rq to the run queue; this kernel's sched_entity has no cfs_rq (built without CONFIG_FAIR_GROUP_SCHED?)",
    )?;
    let nr = btf.member("rq", "nr_running")?;
    // With group scheduling each cfs_rq points at its rq; without it the one cfs_rq is rq->cfs.
    let (has_rq, cfs_rq_rq, rq_cfs) = match btf.member("cfs_rq", "rq") {
        Ok(m) => (1, m.offset, 0),
        Err(_) => (0, 0, btf.member("rq", "cfs")?.offset),
    };
    Ok(RqOffsets {
        task_cfs_rq: se.offset + cfs_rq.offset,
        has_cfs_rq_rq: has_rq,
        cfs_rq_rq,
        rq_cfs,
        rq_nr_running: nr.offset,
        _pad: 0,
    })
}

/// An attached runqlen sampler; detaches when dropped.
pub struct RunqLen {
    bpf: Ebpf,
    cpus: Vec<u32>,
}

impl RunqLen {
    /// Times the kernel skipped these programs (another BPF program was running on that CPU):
    /// events missing from the output, reported by the tools at exit.
    pub fn missed(&self) -> u64 {
        crate::progstats::recursion_misses(&self.bpf)
    }

    /// Sample every online CPU; `per_cpu` keys the histograms by CPU (BCC's -C).
    pub fn attach(per_cpu: bool) -> Result<Self> {
        let offs = rq_offsets(&Btf::vmlinux()?)?;
        let mode = if per_cpu {
            key_mode::CPU
        } else {
            key_mode::NONE
        };
        let mut bpf = crate::loader::load_with("runqlen", |l| {
            l.override_global("RQ", &offs, true)
                .override_global("KEY_MODE", &mode, true);
        })?;
        let cpus = online_cpus().map_err(|(path, e)| anyhow::anyhow!("reading {path}: {e}"))?;
        let prog: &mut PerfEvent = bpf
            .program_mut("runqlen")
            .context("program runqlen missing from object")?
            .try_into()?;
        prog.load().context("verifier rejected runqlen")?;
        for &cpu in &cpus {
            prog.attach(
                PerfEventConfig::Software(SoftwareEvent::CpuClock),
                PerfEventScope::AllProcessesOneCpu { cpu },
                SamplePolicy::Frequency(FREQUENCY_HZ),
                false,
            )
            .with_context(|| format!("attaching the cpu-clock perf event on CPU {cpu}"))?;
        }
        Ok(Self { bpf, cpus })
    }

    /// The CPUs sampled.
    pub fn cpus(&self) -> &[u32] {
        &self.cpus
    }

    /// Linear histograms (slot = queued tasks) since attach, by CPU (or 0 when not per CPU).
    pub fn read(&self) -> Result<BTreeMap<u64, Hist>> {
        read_keyed(&self.bpf)
    }
}

/// Share of samples with at least one task waiting (BCC's runqlen -O "runqocc").
pub fn occupancy(h: &Hist) -> f64 {
    let total = h.total();
    if total == 0 {
        return 0.0;
    }
    (total - h.get(0)) as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_resolve_on_this_kernel() {
        let Ok(btf) = Btf::vmlinux() else { return };
        let o = rq_offsets(&btf).unwrap();
        assert!(o.task_cfs_rq > 0 && o.rq_nr_running < 4096);
    }

    #[test]
    fn occupancy_counts_nonzero_slots() {
        assert_eq!(occupancy(&Hist::from_slots(vec![3, 1, 0])), 0.25);
        assert_eq!(occupancy(&Hist::default()), 0.0);
    }
}
