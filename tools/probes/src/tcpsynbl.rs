//! tcpsynbl's user half: SYN backlog histograms per backlog limit, from the LISTEN → SYN_RECV
//! transition of each new child socket (see tools/ebpf/src/tcpsynbl.rs for why that works
//! without kprobes).
use std::collections::BTreeMap;

use anyhow::Result;
use aya::Ebpf;

use crate::{btf::Btf, events, hist::Hist, requirements::Tracepoint, tcp};

pub const TRACEPOINTS: &[Tracepoint] = &[tcp::SET_STATE];

/// The hook, for headers and `-v`.
pub const HOOK: &str = "tracepoint sock:inet_sock_set_state (LISTEN -> SYN_RECV of the child, which holds a copy of the listener's backlog fields)";

pub struct TcpSynbl {
    bpf: Ebpf,
}

impl TcpSynbl {
    pub fn attach() -> Result<Self> {
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let tp = tcp::set_state_offsets(&root)?;
        let btf = Btf::vmlinux()?;
        btf.prefetch(&["sock", "sk_ack_backlog", "sk_max_ack_backlog"])?;
        let len = btf.member("sock", "sk_ack_backlog")?.offset;
        let max = btf.member("sock", "sk_max_ack_backlog")?.offset;
        let mut bpf = crate::loader::load_with("tcpsynbl", |l| {
            l.override_global("TP", &tp, true)
                .override_global("ACK_BACKLOG_OFF", &len, true)
                .override_global("MAX_ACK_BACKLOG_OFF", &max, true);
        })?;
        events::attach_tracepoint(&mut bpf, "tcpsynbl", tcp::SET_STATE.0, tcp::SET_STATE.1)?;
        Ok(Self { bpf })
    }

    /// Log2 histograms of the backlog length, by backlog limit, since attach.
    pub fn read(&self) -> Result<BTreeMap<u64, Hist>> {
        crate::hist::read_keyed(&self.bpf)
    }
}
