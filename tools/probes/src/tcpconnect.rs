//! tcpconnect's user half: attach to sock:inet_sock_set_state, report CLOSE → SYN_SENT.
use anyhow::Result;
use lab_probes_common::tcp::TcpEvent;

use crate::{
    events::{self, Record, Snoop},
    requirements::Tracepoint,
    tcp::{self, Tcp},
};

pub const TRACEPOINTS: &[Tracepoint] = &[tcp::SET_STATE];

/// The hook, for headers and `-v`.
pub const HOOK: &str =
    "tracepoint sock:inet_sock_set_state (CLOSE -> SYN_SENT, in the connecting task)";

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub pids: Option<Vec<u32>>,
    pub uid: Option<u32>,
    pub cgroup: Option<u64>,
}

/// One connect() as traced.
#[derive(Debug, Clone)]
pub struct Connect(pub Tcp);

pub type TcpConnect = Snoop<Connect>;

impl Snoop<Connect> {
    pub fn attach(cfg: &Config) -> Result<Self> {
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let tp = tcp::set_state_offsets(&root)?;
        let filter_pids = u8::from(cfg.pids.is_some());
        let uid = cfg.uid.unwrap_or(u32::MAX);
        let cgroup = cfg.cgroup.unwrap_or(0);
        let mut bpf = crate::loader::load_with("tcpconnect", |l| {
            l.override_global("TP", &tp, true)
                .override_global("FILTER_PIDS", &filter_pids, true)
                .override_global("FILTER_UID", &uid, true)
                .override_global("FILTER_CGROUP", &cgroup, true);
        })?;
        if let Some(pids) = &cfg.pids {
            events::add_pids(&mut bpf, pids)?;
        }
        events::attach_tracepoint(&mut bpf, "tcpconnect", tcp::SET_STATE.0, tcp::SET_STATE.1)?;
        Snoop::new(bpf)
    }
}

impl Record for Connect {
    type Raw = TcpEvent;
    const PROBE: &'static str = "tcpconnect";
    fn from_raw(ev: &TcpEvent) -> Self {
        Connect(Tcp::from_event(ev))
    }
}
