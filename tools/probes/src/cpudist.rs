//! cpudist's probe: histograms of on-CPU time per scheduling (or off-CPU time), from
//! sched_switch, for all tasks or a set of processes, optionally per process or thread.
use std::collections::BTreeMap;

use anyhow::Result;
use aya::Ebpf;

use crate::{
    events::{attach_tracepoint, require_tracepoints},
    hist::{read_keyed, Hist},
    requirements::Tracepoint,
    sched::{self, KeyBy},
};

pub const TRACEPOINTS: &[Tracepoint] = &[("sched", "sched_switch")];

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub millis: bool,
    /// Off-CPU time instead of on-CPU time (BCC's -O).
    pub offcpu: bool,
    pub key_by: KeyBy,
    /// Only these process ids (empty: all).
    pub pids: Vec<u32>,
}

/// An attached cpudist probe; detaches when dropped.
pub struct CpuDist {
    bpf: Ebpf,
}

impl CpuDist {
    /// Times the kernel skipped these programs (another BPF program was running on that CPU):
    /// events missing from the output, reported by the tools at exit.
    pub fn missed(&self) -> u64 {
        crate::progstats::recursion_misses(&self.bpf)
    }

    pub fn attach(o: &Options) -> Result<Self> {
        let root = require_tracepoints(TRACEPOINTS)?;
        let offs = sched::offsets(&root, false, false)?;
        let (millis, mode, filter_on, offcpu) = (
            o.millis as u8,
            o.key_by.mode(),
            !o.pids.is_empty() as u8,
            o.offcpu as u8,
        );
        let mut bpf = crate::loader::load_with("cpudist", |l| {
            l.override_global("SCHED", &offs, true)
                .override_global("MILLIS", &millis, true)
                .override_global("KEY_MODE", &mode, true)
                .override_global("FILTER_ON", &filter_on, true)
                .override_global("OFFCPU", &offcpu, true);
        })?;
        sched::set_filter(&mut bpf, &o.pids)?;
        attach_tracepoint(&mut bpf, "cpudist_switch", "sched", "sched_switch")?;
        Ok(Self { bpf })
    }

    /// Histograms since attach by key id (pid, tid, or 0).
    pub fn read(&self) -> Result<BTreeMap<u64, Hist>> {
        read_keyed(&self.bpf)
    }
}
