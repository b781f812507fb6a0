//! runqlat's probe: run queue latency histograms (wakeup or preemption to running), for all
//! tasks or a set of processes, optionally per process or per thread.
use std::collections::BTreeMap;

use anyhow::Result;
use aya::Ebpf;

use crate::{
    events::{attach_tracepoint, require_tracepoints},
    hist::{read_keyed, Hist},
    requirements::Tracepoint,
    sched::{self, KeyBy},
};

pub const TRACEPOINTS: &[Tracepoint] = &[
    ("sched", "sched_wakeup"),
    ("sched", "sched_wakeup_new"),
    ("sched", "sched_switch"),
];
/// Attached only with a pid filter or per-process histograms, to know new tasks' processes.
pub const NEWTASK: Tracepoint = ("task", "task_newtask");

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub millis: bool,
    pub key_by: KeyBy,
    /// Only these process ids (empty: all).
    pub pids: Vec<u32>,
}

/// An attached runqlat probe; detaches when dropped.
pub struct RunqLat {
    bpf: Ebpf,
}

impl RunqLat {
    /// Times the kernel skipped these programs (another BPF program was running on that CPU):
    /// events missing from the output, reported by the tools at exit.
    pub fn missed(&self) -> u64 {
        crate::progstats::recursion_misses(&self.bpf)
    }

    pub fn attach(o: &Options) -> Result<Self> {
        let need_tgid = !o.pids.is_empty() || o.key_by == KeyBy::Pid;
        let mut tps = TRACEPOINTS.to_vec();
        if need_tgid {
            tps.push(NEWTASK);
        }
        let root = require_tracepoints(&tps)?;
        let offs = sched::offsets(&root, true, need_tgid)?;
        let (millis, mode, filter_on) = (o.millis as u8, o.key_by.mode(), !o.pids.is_empty() as u8);
        let mut bpf = crate::loader::load_with("runqlat", |l| {
            l.override_global("SCHED", &offs, true)
                .override_global("MILLIS", &millis, true)
                .override_global("KEY_MODE", &mode, true)
                .override_global("FILTER_ON", &filter_on, true);
        })?;
        sched::set_filter(&mut bpf, &o.pids)?;
        if need_tgid {
            sched::seed_tgids(&mut bpf)?;
            attach_tracepoint(&mut bpf, "runqlat_newtask", "task", "task_newtask")?;
        }
        attach_tracepoint(&mut bpf, "runqlat_switch", "sched", "sched_switch")?;
        attach_tracepoint(&mut bpf, "runqlat_wakeup", "sched", "sched_wakeup")?;
        attach_tracepoint(&mut bpf, "runqlat_wakeup_new", "sched", "sched_wakeup_new")?;
        Ok(Self { bpf })
    }

    /// Histograms since attach by key id (pid, tid, or 0).
    pub fn read(&self) -> Result<BTreeMap<u64, Hist>> {
        read_keyed(&self.bpf)
    }
}
