//! Records of the TCP tools (tcpconnect, tcpaccept, tcplife, tcpretrans, tcpsynbl).

use crate::TASK_COMM_LEN;

/// Kernel TCP states (include/net/tcp_states.h), as sock:inet_sock_set_state reports them.
pub const TCP_ESTABLISHED: u32 = 1;
pub const TCP_SYN_SENT: u32 = 2;
pub const TCP_SYN_RECV: u32 = 3;
pub const TCP_FIN_WAIT1: u32 = 4;
pub const TCP_FIN_WAIT2: u32 = 5;
pub const TCP_TIME_WAIT: u32 = 6;
pub const TCP_CLOSE: u32 = 7;
pub const TCP_CLOSE_WAIT: u32 = 8;
pub const TCP_LAST_ACK: u32 = 9;
pub const TCP_LISTEN: u32 = 10;
pub const TCP_CLOSING: u32 = 11;

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_TCP: u16 = 6;

/// `TcpEvent::kind` of tcpretrans: a retransmission or a tail loss probe (`-l`).
pub const RETRANS_KIND_RETRANS: u16 = 0;
pub const RETRANS_KIND_TLP: u16 = 1;

/// One TCP event: a connect (tcpconnect), an accept (tcpaccept), a whole session (tcplife) or a
/// retransmission (tcpretrans). Addresses are in network order: IPv4 uses the first 4 bytes.
/// Ports are in host order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpEvent {
    pub ts_ns: u64,
    /// tcplife: the session's lifetime.
    pub span_ns: u64,
    /// tcplife: tcp_sock.bytes_acked (bytes sent and acknowledged).
    pub tx_bytes: u64,
    /// tcplife: tcp_sock.bytes_received.
    pub rx_bytes: u64,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub pid: u32,
    pub uid: u32,
    /// Local port.
    pub sport: u16,
    /// Remote port.
    pub dport: u16,
    /// AF_INET or AF_INET6.
    pub family: u16,
    /// tcpretrans: the socket's TCP state; tcplife: 1 when `pid`/`comm` were seen in process
    /// context (connect, accept, close), 0 when unknown.
    pub state: u16,
    /// tcpretrans: RETRANS_KIND_*.
    pub kind: u16,
    pub _pad: u16,
    /// tcplife: bit `1 << state` for every state the socket was seen in (SYN/FIN accounting).
    pub states: u32,
    pub comm: [u8; TASK_COMM_LEN],
}

/// tcplife: a socket being followed from its first state change to TCP_CLOSE, keyed by its
/// `struct sock` address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SockBirth {
    pub ts_ns: u64,
    pub pid: u32,
    /// 1 once `pid`/`comm` come from process context.
    pub known: u32,
    /// Bit `1 << state` for every state seen.
    pub states: u32,
    pub _pad: u32,
    pub comm: [u8; TASK_COMM_LEN],
}

/// Offsets (from BTF at load time) that lead from a file descriptor of the current task to its
/// `struct sock` and that sock's addresses: task_struct → files → fdt → fd[] → file →
/// private_data (struct socket) → sk.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SockOffsets {
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdt_max_fds: u32,
    pub fdt_fd: u32,
    pub file_private_data: u32,
    pub socket_sk: u32,
    pub skc_family: u32,
    pub skc_num: u32,
    pub skc_dport: u32,
    pub skc_rcv_saddr: u32,
    pub skc_daddr: u32,
    pub skc_v6_rcv_saddr: u32,
    pub skc_v6_daddr: u32,
    pub sk_protocol: u32,
    pub sk_type: u32,
    pub skc_state: u32,
}

impl SockOffsets {
    /// Placeholder for the kernel half's global (the user half always sets it).
    pub const ZERO: Self = Self {
        task_files: 0,
        files_fdt: 0,
        fdt_max_fds: 0,
        fdt_fd: 0,
        file_private_data: 0,
        socket_sk: 0,
        skc_family: 0,
        skc_num: 0,
        skc_dport: 0,
        skc_rcv_saddr: 0,
        skc_daddr: 0,
        skc_v6_rcv_saddr: 0,
        skc_v6_daddr: 0,
        sk_protocol: 0,
        sk_type: 0,
        skc_state: 0,
    };
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for TcpEvent {}
    unsafe impl aya::Pod for SockBirth {}
    unsafe impl aya::Pod for SockOffsets {}
}

/// Field offsets of sock:inet_sock_set_state (and, for tcpretrans, tcp:tcp_retransmit_skb, whose
/// `state` goes in `newstate`), from tracefs at load time. Unused fields are 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpTpOffsets {
    pub skaddr: u32,
    pub oldstate: u32,
    pub newstate: u32,
    pub sport: u32,
    pub dport: u32,
    pub family: u32,
    pub protocol: u32,
    pub saddr: u32,
    pub daddr: u32,
    pub saddr_v6: u32,
    pub daddr_v6: u32,
    pub _pad: u32,
}

impl TcpTpOffsets {
    /// Placeholder for the kernel half's global (the user half always sets it).
    pub const ZERO: Self = Self {
        skaddr: 0,
        oldstate: 0,
        newstate: 0,
        sport: 0,
        dport: 0,
        family: 0,
        protocol: 0,
        saddr: 0,
        daddr: 0,
        saddr_v6: 0,
        daddr_v6: 0,
        _pad: 0,
    };
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for TcpTpOffsets {}
