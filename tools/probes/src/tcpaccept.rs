//! tcpaccept's user half: attach to the exits of accept(2)/accept4(2), whose descriptor the
//! kernel half follows to its sock (offsets from BTF).
use anyhow::Result;
use lab_probes_common::tcp::TcpEvent;

use crate::{
    btf::Btf,
    events::{self, Record, Snoop},
    requirements::Tracepoint,
    tcp::{self, Tcp},
    tracefs,
};

pub const TRACEPOINTS: &[Tracepoint] = tcp::ACCEPT_EXITS;

/// The hook, for headers and `-v`.
pub const HOOK: &str =
    "tracepoints syscalls:sys_exit_accept/accept4 (fd -> sock via BTF, in the accepting task)";

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub pids: Option<Vec<u32>>,
}

/// One accepted TCP connection.
#[derive(Debug, Clone)]
pub struct Accept(pub Tcp);

pub type TcpAccept = Snoop<Accept>;

impl Snoop<Accept> {
    pub fn attach(cfg: &Config) -> Result<Self> {
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let ret = tracefs::field_offset(&root, "syscalls", "sys_exit_accept4", "ret")?;
        let sock = tcp::sock_offsets(&Btf::vmlinux()?)?;
        let filter_pids = u8::from(cfg.pids.is_some());
        let mut bpf = crate::loader::load_with("tcpaccept", |l| {
            l.override_global("SOCK", &sock, true)
                .override_global("EXIT_RET_OFF", &ret, true)
                .override_global("FILTER_PIDS", &filter_pids, true);
        })?;
        if let Some(pids) = &cfg.pids {
            events::add_pids(&mut bpf, pids)?;
        }
        events::attach_tracepoints(&mut bpf, "tcpaccept_exit", TRACEPOINTS)?;
        Snoop::new(bpf)
    }
}

impl Record for Accept {
    type Raw = TcpEvent;
    const PROBE: &'static str = "tcpaccept";
    fn from_raw(ev: &TcpEvent) -> Self {
        Accept(Tcp::from_event(ev))
    }
}
