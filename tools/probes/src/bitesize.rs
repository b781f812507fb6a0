//! bitesize's probe: histogram of block I/O sizes (Kbytes, log2) per submitting process name.
use std::collections::BTreeMap;

use anyhow::Result;
use aya::Ebpf;

use crate::{
    block::{dev_by_name, tp_offsets},
    events::{attach_tracepoint, require_tracepoints},
    hist::{read_by_comm, Hist},
    requirements::Tracepoint,
    tracefs,
};

pub const TRACEPOINTS: &[Tracepoint] = &[("block", "block_rq_issue")];
/// Where the submitter is recorded on 6.5+ kernels; without it, the comm at issue is used (BCC's).
pub const IO_START: Tracepoint = ("block", "block_io_start");

/// An attached bitesize probe; detaches when dropped.
pub struct BiteSize {
    bpf: Ebpf,
}

impl BiteSize {
    /// Times the kernel skipped these programs (another BPF program was running on that CPU):
    /// events missing from the output, reported by the tools at exit.
    pub fn missed(&self) -> u64 {
        crate::progstats::recursion_misses(&self.bpf)
    }

    /// Trace every disk, or only `disk` ("vda").
    pub fn attach(disk: Option<&str>) -> Result<Self> {
        let root = require_tracepoints(TRACEPOINTS)?;
        let has_io_start = tracefs::tracepoint_exists(&root, IO_START.0, IO_START.1);
        let issue = tp_offsets(&root, "block_rq_issue")?;
        let io_start = if has_io_start {
            tp_offsets(&root, "block_io_start")?
        } else {
            Default::default()
        };
        let dev = disk.map(dev_by_name).transpose()?.unwrap_or(0);
        let mut bpf = crate::loader::load_with("bitesize", |l| {
            l.override_global("ISSUE_TP", &issue, true)
                .override_global("IO_START_TP", &io_start, true)
                .override_global("DEV_FILTER", &dev, true);
        })?;
        attach_tracepoint(&mut bpf, "bitesize_issue", "block", "block_rq_issue")?;
        if has_io_start {
            attach_tracepoint(&mut bpf, "bitesize_io_start", "block", "block_io_start")?;
        }
        Ok(Self { bpf })
    }

    /// Size histograms (Kbytes) since attach, by process name.
    pub fn read(&self) -> Result<BTreeMap<String, Hist>> {
        read_by_comm(&self.bpf)
    }
}
