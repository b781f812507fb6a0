//! tcplife's user half: sock:inet_sock_set_state plus the accept exits (for the accepting PID),
//! tcp_sock byte counters from BTF.
use anyhow::Result;
use lab_probes_common::tcp::{
    TcpEvent, TCP_CLOSE_WAIT, TCP_CLOSING, TCP_ESTABLISHED, TCP_FIN_WAIT2, TCP_LAST_ACK,
    TCP_SYN_SENT,
};

use crate::{
    btf::Btf,
    events::{self, Record, Snoop},
    requirements::Tracepoint,
    tcp::{self, Tcp},
    tracefs,
};

pub const TRACEPOINTS: &[Tracepoint] = &[
    tcp::SET_STATE,
    ("syscalls", "sys_exit_accept"),
    ("syscalls", "sys_exit_accept4"),
];

/// The hook, for headers and `-v`.
pub const HOOK: &str = "tracepoint sock:inet_sock_set_state; PID from connect, accept/accept4 exit or close (process context only)";

/// One finished TCP session.
#[derive(Debug, Clone)]
pub struct Session(pub Tcp);

impl Session {
    /// Whether PID/COMM were seen in process context (else 0 / empty: unknown).
    pub fn pid_known(&self) -> bool {
        self.0.state != 0
    }
}

impl Session {
    /// Payload bytes (sent and acknowledged, received): tcp_sock's bytes_acked and
    /// bytes_received count sequence space, so the SYN an active opener sent (acked once the
    /// handshake completes) and each FIN (ours once acknowledged, the peer's once received) are
    /// taken out, as the states the socket went through tell.
    pub fn payload_bytes(&self) -> (u64, u64) {
        let seen = |st: u32| self.0.states & (1 << st) != 0;
        let syn_out = seen(TCP_SYN_SENT) && seen(TCP_ESTABLISHED);
        // Our FIN was acknowledged: FIN_WAIT1 → FIN_WAIT2, or LAST_ACK/CLOSING ended normally.
        let fin_out = seen(TCP_FIN_WAIT2) || seen(TCP_LAST_ACK) || seen(TCP_CLOSING);
        // The peer's FIN arrived: CLOSE_WAIT (passive close), CLOSING, or FIN_WAIT2 → TIME_WAIT.
        let fin_in = seen(TCP_CLOSE_WAIT) || seen(TCP_CLOSING) || seen(TCP_FIN_WAIT2);
        (
            self.0
                .tx_bytes
                .saturating_sub(u64::from(syn_out) + u64::from(fin_out)),
            self.0.rx_bytes.saturating_sub(u64::from(fin_in)),
        )
    }
}

pub type TcpLife = Snoop<Session>;

impl Snoop<Session> {
    pub fn attach() -> Result<Self> {
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let tp = tcp::set_state_offsets(&root)?;
        let ret = tracefs::field_offset(&root, "syscalls", "sys_exit_accept4", "ret")?;
        let btf = Btf::vmlinux()?;
        let names: Vec<&str> = tcp::SOCK_NAMES
            .iter()
            .copied()
            .chain(["tcp_sock", "bytes_acked", "bytes_received"])
            .collect();
        btf.prefetch(&names)?;
        let sock = tcp::sock_offsets(&btf)?;
        let acked = btf.member("tcp_sock", "bytes_acked")?.offset;
        let received = btf.member("tcp_sock", "bytes_received")?.offset;
        let mut bpf = crate::loader::load_with("tcplife", |l| {
            l.override_global("TP", &tp, true)
                .override_global("SOCK", &sock, true)
                .override_global("EXIT_RET_OFF", &ret, true)
                .override_global("BYTES_ACKED_OFF", &acked, true)
                .override_global("BYTES_RECEIVED_OFF", &received, true);
        })?;
        events::attach_tracepoints(&mut bpf, "tcplife_accept", tcp::ACCEPT_EXITS)?;
        events::attach_tracepoint(
            &mut bpf,
            "tcplife_state",
            tcp::SET_STATE.0,
            tcp::SET_STATE.1,
        )?;
        Snoop::new(bpf)
    }
}

impl Record for Session {
    type Raw = TcpEvent;
    const PROBE: &'static str = "tcplife";
    fn from_raw(ev: &TcpEvent) -> Self {
        Session(Tcp::from_event(ev))
    }
}
