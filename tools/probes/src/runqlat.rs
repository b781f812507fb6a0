//! runqlat's probe: run queue latency histograms (wakeup or preemption to running), for all
//! tasks or a set of processes, optionally per process, per thread or per PID namespace.
use std::collections::BTreeMap;

use anyhow::{ensure, Context as _, Result};
use aya::{programs::RawTracePoint, Ebpf};
use lab_probes_common::hist::HistKey;

use crate::{
    btf::Btf,
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
    /// Key by PID namespace inum instead (BCC's --pidnss); `key_by` must then be `All`.
    pub pidns: bool,
    /// Also keep nanosecond log-linear histograms (`read_fine`) for precise quantiles.
    pub fine: bool,
}

/// Byte offsets of the task fields the --pidnss wakeup programs read, from the kernel's BTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidNsOffsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_nsproxy: u32,
    pub nsproxy_pid_ns: u32,
    /// offsetof(pid_namespace, ns) + offsetof(ns_common, inum).
    pub pid_ns_inum: u32,
}

/// The path BCC's runqlat --pidnss reads: task->nsproxy->pid_ns_for_children->ns.inum (and the
/// task's pid and tgid). Struct names along the way are taken from the members' types.
pub fn pidns_offsets(btf: &Btf) -> Result<PidNsOffsets> {
    btf.prefetch(&[
        "task_struct",
        "pid",
        "tgid",
        "nsproxy",
        "pid_ns_for_children",
        "pid_namespace",
        "ns",
        "ns_common",
        "inum",
    ])?;
    let step = |outer: &str, member: &str, pointer: bool| -> Result<(u32, String)> {
        let m = btf.member(outer, member)?;
        let (inner, is_ptr) = btf
            .struct_name(m.type_id)
            .with_context(|| format!("kernel BTF: {outer}.{member} is not a struct"))?;
        ensure!(
            is_ptr == pointer,
            "kernel BTF: {outer}.{member} is {}a pointer",
            if is_ptr { "" } else { "not " }
        );
        Ok((m.offset, inner))
    };
    let path = || -> Result<PidNsOffsets> {
        let (task_nsproxy, nsproxy) = step("task_struct", "nsproxy", true)?;
        let (nsproxy_pid_ns, pid_ns) = step(&nsproxy, "pid_ns_for_children", true)?;
        let (ns, ns_common) = step(&pid_ns, "ns", false)?;
        Ok(PidNsOffsets {
            task_pid: btf.member("task_struct", "pid")?.offset,
            task_tgid: btf.member("task_struct", "tgid")?.offset,
            task_nsproxy,
            nsproxy_pid_ns,
            pid_ns_inum: ns + btf.member(&ns_common, "inum")?.offset,
        })
    };
    path().context("runqlat --pidnss follows task->nsproxy->pid_ns_for_children->ns.inum")
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
        ensure!(
            !o.pidns || o.key_by == KeyBy::All,
            "per-PID-namespace histograms cannot also be keyed by {:?}",
            o.key_by
        );
        // With pidns the wakeup programs read the tgid from the task itself.
        let need_tgid = !o.pidns && (!o.pids.is_empty() || o.key_by == KeyBy::Pid);
        let mut tps = TRACEPOINTS.to_vec();
        if need_tgid {
            tps.push(NEWTASK);
        }
        let root = require_tracepoints(&tps)?;
        let offs = sched::offsets(&root, true, need_tgid)?;
        let pidns = if o.pidns {
            Some(pidns_offsets(&Btf::vmlinux()?)?)
        } else {
            None
        };
        let (millis, mode, filter_on) = (o.millis as u8, o.key_by.mode(), !o.pids.is_empty() as u8);
        let fine = o.fine as u8;
        let mut bpf = crate::loader::load_with("runqlat", |l| {
            l.override_global("SCHED", &offs, true)
                .override_global("MILLIS", &millis, true)
                .override_global("KEY_MODE", &mode, true)
                .override_global("FILTER_ON", &filter_on, true)
                .override_global("FINE", &fine, true);
            if let Some(p) = &pidns {
                l.override_global("PIDNS", &1u8, true)
                    .override_global("TASK_PID", &p.task_pid, true)
                    .override_global("TASK_TGID", &p.task_tgid, true)
                    .override_global("TASK_NSPROXY", &p.task_nsproxy, true)
                    .override_global("NSPROXY_PID_NS", &p.nsproxy_pid_ns, true)
                    .override_global("PID_NS_INUM", &p.pid_ns_inum, true);
            }
        })?;
        sched::set_filter(&mut bpf, &o.pids)?;
        if need_tgid {
            sched::seed_tgids(&mut bpf)?;
            attach_tracepoint(&mut bpf, "runqlat_newtask", "task", "task_newtask")?;
        }
        attach_tracepoint(&mut bpf, "runqlat_switch", "sched", "sched_switch")?;
        if o.pidns {
            attach_wakeups_raw(&mut bpf)?;
        } else {
            attach_tracepoint(&mut bpf, "runqlat_wakeup", "sched", "sched_wakeup")?;
            attach_tracepoint(&mut bpf, "runqlat_wakeup_new", "sched", "sched_wakeup_new")?;
        }
        Ok(Self { bpf })
    }

    /// Histograms since attach by key id (pid, tid, PID namespace inum, or 0).
    pub fn read(&self) -> Result<BTreeMap<u64, Hist>> {
        read_keyed(&self.bpf)
    }

    /// With `Options::fine`: nanosecond histograms in log-linear slots
    /// (lab_probes_common::hist::fine_slot) since attach, by the same key ids as `read`.
    pub fn read_fine(&self) -> Result<BTreeMap<u64, Hist>> {
        crate::hist::read_map::<HistKey, u64>(&self.bpf, "FINE_HIST", |k| (k.id, k.slot as usize))
    }
}

/// One program, `runqlat_wakeup_task`, on both wakeup raw tracepoints (arg 0 is the task).
fn attach_wakeups_raw(bpf: &mut Ebpf) -> Result<()> {
    let prog = "runqlat_wakeup_task";
    let p: &mut RawTracePoint = bpf
        .program_mut(prog)
        .with_context(|| format!("program {prog} missing from object"))?
        .try_into()?;
    p.load()
        .with_context(|| format!("verifier rejected {prog}"))?;
    for tp in ["sched_wakeup", "sched_wakeup_new"] {
        p.attach(tp)
            .with_context(|| format!("attaching {prog} to raw tracepoint {tp}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidns_path_resolves_on_this_kernel() {
        let Ok(btf) = Btf::vmlinux() else { return };
        let o = pidns_offsets(&btf).unwrap();
        assert_eq!(o.task_tgid, o.task_pid + 4);
        assert!(o.task_nsproxy > 0 && o.pid_ns_inum < 4096 && o.nsproxy_pid_ns < 256);
    }
}
