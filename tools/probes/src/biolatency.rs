//! biolatency's probe: block I/O latency histograms (issue, or insert with `queued`, to
//! completion), optionally per disk or per rwbs flags, optionally for one disk only.
use std::collections::BTreeMap;

use anyhow::Result;
use aya::Ebpf;

use crate::{
    block::{attach_complete, dev_by_name, disk_name, rq_layout, rwbs_flags_desc, tp_offsets},
    events::{attach_tracepoint, require_tracepoints},
    hist::{read_keyed, Hist},
    requirements::Tracepoint,
};

/// How the histograms are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyBy {
    #[default]
    All,
    /// One per disk (BCC's -D).
    Disk,
    /// One per rwbs flags combination (-F).
    Flags,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Milliseconds instead of microseconds.
    pub millis: bool,
    pub key_by: KeyBy,
    /// Include OS queued time (from block_rq_insert), BCC's -Q.
    pub queued: bool,
    /// Only this disk ("vda").
    pub disk: Option<String>,
}

pub const TRACEPOINTS: &[Tracepoint] =
    &[("block", "block_rq_issue"), ("block", "block_rq_complete")];
pub const QUEUED_TRACEPOINT: Tracepoint = ("block", "block_rq_insert");

/// An attached biolatency probe; detaches when dropped.
pub struct BioLatency {
    bpf: Ebpf,
    key_by: KeyBy,
}

impl BioLatency {
    /// Times the kernel skipped these programs (another BPF program was running on that CPU):
    /// events missing from the output, reported by the tools at exit.
    pub fn missed(&self) -> u64 {
        crate::progstats::recursion_misses(&self.bpf)
    }

    pub fn attach(o: &Options) -> Result<Self> {
        let mut tps = TRACEPOINTS.to_vec();
        if o.queued {
            tps.push(QUEUED_TRACEPOINT);
        }
        let root = require_tracepoints(&tps)?;
        let issue = tp_offsets(&root, "block_rq_issue")?;
        let complete = tp_offsets(&root, "block_rq_complete")?;
        let insert = if o.queued {
            tp_offsets(&root, "block_rq_insert")?
        } else {
            Default::default()
        };
        let dev = o.disk.as_deref().map(dev_by_name).transpose()?.unwrap_or(0);
        let millis = o.millis as u8;
        let key_by: u8 = match o.key_by {
            KeyBy::All => 0,
            KeyBy::Disk => 1,
            KeyBy::Flags => 2,
        };
        let queued = o.queued as u8;
        let layout = rq_layout();
        let rq = layout.as_ref().copied().unwrap_or_default();
        let mut bpf = crate::loader::load_with("biolatency", |l| {
            l.override_global("RQ_LAYOUT", &rq, true)
                .override_global("ISSUE_TP", &issue, true)
                .override_global("COMPLETE_TP", &complete, true)
                .override_global("INSERT_TP", &insert, true)
                .override_global("DEV_FILTER", &dev, true)
                .override_global("MILLIS", &millis, true)
                .override_global("KEY_BY", &key_by, true)
                .override_global("QUEUED", &queued, true);
        })?;
        // Completion first, so no request is started that we cannot finish.
        attach_complete(
            &mut bpf,
            &layout,
            "biolatency_complete_raw",
            "biolatency_complete",
        )?;
        if o.queued {
            attach_tracepoint(&mut bpf, "biolatency_insert", "block", "block_rq_insert")?;
        }
        attach_tracepoint(&mut bpf, "biolatency_issue", "block", "block_rq_issue")?;
        Ok(Self {
            bpf,
            key_by: o.key_by,
        })
    }

    /// Histograms since attach, by key id (dev_t, rwbs bytes, or 0).
    pub fn read(&self) -> Result<BTreeMap<u64, Hist>> {
        read_keyed(&self.bpf)
    }

    /// BCC's section name for a key id: the disk name (-D) or the flags (-F).
    pub fn section_name(&self, id: u64) -> String {
        match self.key_by {
            KeyBy::Disk => disk_name(id as u32),
            KeyBy::Flags => rwbs_flags_desc(&crate::events::cstr(&id.to_ne_bytes())),
            KeyBy::All => String::new(),
        }
    }
}
