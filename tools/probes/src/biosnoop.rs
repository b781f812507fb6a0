//! biosnoop's probe: one record per completed block I/O with the process that submitted it
//! (attributed at block_io_start, or insert/issue where that tracepoint is missing).
use std::os::fd::{AsFd, BorrowedFd};

use anyhow::{Context as _, Result};
use aya::{
    maps::{MapData, RingBuf},
    Ebpf,
};
use lab_probes_common::block::BioEvent;

use crate::{
    block::{attach_complete, dev_by_name, disk_name, rq_layout, rwbs_str, tp_offsets},
    events::{self, attach_tracepoint, require_tracepoints},
    requirements::Tracepoint,
    tracefs,
};

pub const TRACEPOINTS: &[Tracepoint] =
    &[("block", "block_rq_issue"), ("block", "block_rq_complete")];
/// Attribution point on 6.5+ kernels (optional: insert/issue take over without it).
pub const IO_START: Tracepoint = ("block", "block_io_start");
pub const INSERT: Tracepoint = ("block", "block_rq_insert");

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also measure OS queued time (block_rq_insert to issue), BCC's -Q.
    pub queued: bool,
    /// Only this disk ("vda").
    pub disk: Option<String>,
}

/// One completed I/O.
#[derive(Debug, Clone, PartialEq)]
pub struct Bio {
    /// Completion time, CLOCK_MONOTONIC ns.
    pub ts_ns: u64,
    pub lat_ns: u64,
    pub queued_ns: u64,
    pub pid: u32,
    pub comm: String,
    pub dev: u32,
    pub sector: u64,
    pub bytes: u32,
    pub rwbs: String,
}

impl Bio {
    pub fn disk(&self) -> String {
        disk_name(self.dev)
    }
}

/// An attached biosnoop probe; detaches when dropped.
pub struct BioSnoop {
    bpf: Ebpf,
    ring: RingBuf<MapData>,
}

impl BioSnoop {
    /// Times the kernel skipped these programs (another BPF program was running on that CPU):
    /// events missing from the output, reported by the tools at exit.
    pub fn missed(&self) -> u64 {
        crate::progstats::recursion_misses(&self.bpf)
    }

    pub fn attach(o: &Options) -> Result<Self> {
        let mut tps = TRACEPOINTS.to_vec();
        if o.queued {
            tps.push(INSERT);
        }
        let root = require_tracepoints(&tps)?;
        let has_io_start = tracefs::tracepoint_exists(&root, IO_START.0, IO_START.1);
        let has_insert = tracefs::tracepoint_exists(&root, INSERT.0, INSERT.1);
        let issue = tp_offsets(&root, "block_rq_issue")?;
        let complete = tp_offsets(&root, "block_rq_complete")?;
        let io_start = if has_io_start {
            tp_offsets(&root, "block_io_start")?
        } else {
            Default::default()
        };
        let insert = if has_insert {
            tp_offsets(&root, "block_rq_insert")?
        } else {
            Default::default()
        };
        let dev = o.disk.as_deref().map(dev_by_name).transpose()?.unwrap_or(0);
        let layout = rq_layout();
        let rq = layout.as_ref().copied().unwrap_or_default();
        let mut bpf = crate::loader::load_with("biosnoop", |l| {
            l.override_global("RQ_LAYOUT", &rq, true)
                .override_global("ISSUE_TP", &issue, true)
                .override_global("COMPLETE_TP", &complete, true)
                .override_global("IO_START_TP", &io_start, true)
                .override_global("INSERT_TP", &insert, true)
                .override_global("DEV_FILTER", &dev, true);
        })?;
        attach_complete(
            &mut bpf,
            &layout,
            "biosnoop_complete_raw",
            "biosnoop_complete",
        )?;
        attach_tracepoint(&mut bpf, "biosnoop_issue", "block", "block_rq_issue")?;
        // Queued time needs insert; older kernels without block_io_start also attribute there.
        if has_insert && (o.queued || !has_io_start) {
            attach_tracepoint(&mut bpf, "biosnoop_insert", "block", "block_rq_insert")?;
        }
        if has_io_start {
            attach_tracepoint(&mut bpf, "biosnoop_io_start", "block", "block_io_start")?;
        }
        let ring = events::take_ring(&mut bpf)?;
        Ok(Self { bpf, ring })
    }

    /// Ring buffer fd, to poll for new records.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }

    /// Hand every record now in the ring buffer to `f`.
    pub fn drain<E>(&mut self, mut f: impl FnMut(Bio) -> Result<(), E>) -> Result<usize, E> {
        events::drain(&mut self.ring, |b| match events::decode::<BioEvent>(b) {
            Some(e) => f(Bio {
                ts_ns: e.ts_ns,
                lat_ns: e.lat_ns,
                queued_ns: e.queued_ns,
                pid: e.pid,
                comm: events::cstr(&e.comm),
                dev: e.dev,
                sector: e.sector,
                bytes: e.bytes,
                rwbs: rwbs_str(&e.rwbs),
            }),
            None => Ok(()),
        })
    }

    /// Records dropped because the ring buffer was full.
    pub fn lost(&self) -> Result<u64> {
        events::lost(&self.bpf)
    }

    /// (requests whose in-flight entry could not be stored, completions with no entry):
    /// diagnostics; the second also counts I/O issued before the probe attached.
    pub fn misses(&self) -> Result<(u64, u64)> {
        let arr: aya::maps::PerCpuArray<_, u64> =
            aya::maps::PerCpuArray::try_from(self.bpf.map(events::LOST_MAP).context("map LOST")?)?;
        Ok((arr.get(&1, 0)?.iter().sum(), arr.get(&2, 0)?.iter().sum()))
    }
}

crate::events::event_source!(BioSnoop => Bio);
