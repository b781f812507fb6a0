//! What the TCP tools' user halves share: tracepoint offsets from tracefs, the fd → sock path
//! from BTF, and decoding a `TcpEvent` into addresses and ports.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
};

use anyhow::Result;
use lab_probes_common::tcp::{SockOffsets, TcpEvent, TcpTpOffsets, AF_INET6};

use crate::{btf::Btf, events, tracefs};

/// The tracepoint behind tcpconnect and tcplife.
pub const SET_STATE: (&str, &str) = ("sock", "inet_sock_set_state");

/// Offsets of sock:inet_sock_set_state's fields.
pub fn set_state_offsets(root: &Path) -> Result<TcpTpOffsets> {
    let f = |name: &str| tracefs::field_offset(root, SET_STATE.0, SET_STATE.1, name);
    Ok(TcpTpOffsets {
        skaddr: f("skaddr")?,
        oldstate: f("oldstate")?,
        newstate: f("newstate")?,
        sport: f("sport")?,
        dport: f("dport")?,
        family: f("family")?,
        protocol: f("protocol")?,
        saddr: f("saddr")?,
        daddr: f("daddr")?,
        saddr_v6: f("saddr_v6")?,
        daddr_v6: f("daddr_v6")?,
        _pad: 0,
    })
}

/// Every BTF name `sock_offsets` looks up: prefetched in one pass over the string section (one
/// pass per unknown name would cost tens of ms at start).
pub const SOCK_NAMES: &[&str] = &[
    "task_struct",
    "files",
    "files_struct",
    "fdt",
    "fdtable",
    "max_fds",
    "fd",
    "file",
    "private_data",
    "socket",
    "sk",
    "sock_common",
    "sock",
    "__sk_common",
    "skc_family",
    "skc_num",
    "skc_dport",
    "skc_rcv_saddr",
    "skc_daddr",
    "skc_v6_rcv_saddr",
    "skc_v6_daddr",
    "skc_state",
    "sk_protocol",
    "sk_type",
];

/// Offsets from the current task to the sock behind a descriptor, and inside that sock.
pub fn sock_offsets(btf: &Btf) -> Result<SockOffsets> {
    btf.prefetch(SOCK_NAMES)?;
    let common = |m: &str| btf.member("sock_common", m).map(|m| m.offset);
    // struct sock begins with `struct sock_common __sk_common`.
    let in_sock = btf.member("sock", "__sk_common")?.offset;
    Ok(SockOffsets {
        task_files: btf.member("task_struct", "files")?.offset,
        files_fdt: btf.member("files_struct", "fdt")?.offset,
        fdt_max_fds: btf.member("fdtable", "max_fds")?.offset,
        fdt_fd: btf.member("fdtable", "fd")?.offset,
        file_private_data: btf.member("file", "private_data")?.offset,
        socket_sk: btf.member("socket", "sk")?.offset,
        skc_family: in_sock + common("skc_family")?,
        skc_num: in_sock + common("skc_num")?,
        skc_dport: in_sock + common("skc_dport")?,
        skc_rcv_saddr: in_sock + common("skc_rcv_saddr")?,
        skc_daddr: in_sock + common("skc_daddr")?,
        skc_v6_rcv_saddr: in_sock + common("skc_v6_rcv_saddr")?,
        skc_v6_daddr: in_sock + common("skc_v6_daddr")?,
        sk_protocol: btf.member("sock", "sk_protocol")?.offset,
        sk_type: btf.member("sock", "sk_type")?.offset,
        skc_state: in_sock + common("skc_state")?,
    })
}

/// The accept syscalls' exits (both report the new descriptor as `ret`).
pub const ACCEPT_EXITS: &[(&str, &str)] = &[
    ("syscalls", "sys_exit_accept"),
    ("syscalls", "sys_exit_accept4"),
];

/// One TCP event, decoded.
#[derive(Debug, Clone)]
pub struct Tcp {
    pub ts_ns: u64,
    pub pid: u32,
    pub uid: u32,
    pub comm: String,
    pub local: IpAddr,
    pub lport: u16,
    pub remote: IpAddr,
    pub rport: u16,
    pub span_ns: u64,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    /// tcpretrans: TCP state; tcplife: 1 when the PID was seen in process context.
    pub state: u16,
    pub kind: u16,
    /// tcplife: bit `1 << state` for every state the socket went through.
    pub states: u32,
}

impl Tcp {
    /// 4 or 6, BCC's IP column.
    pub fn ip_version(&self) -> u8 {
        if self.local.is_ipv6() {
            6
        } else {
            4
        }
    }

    pub fn from_event(ev: &TcpEvent) -> Self {
        let addr = |a: &[u8; 16]| -> IpAddr {
            if ev.family == AF_INET6 {
                IpAddr::V6(Ipv6Addr::from(*a))
            } else {
                IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
            }
        };
        Tcp {
            ts_ns: ev.ts_ns,
            pid: ev.pid,
            uid: ev.uid,
            comm: events::cstr(&ev.comm),
            local: addr(&ev.saddr),
            lport: ev.sport,
            remote: addr(&ev.daddr),
            rport: ev.dport,
            span_ns: ev.span_ns,
            tx_bytes: ev.tx_bytes,
            rx_bytes: ev.rx_bytes,
            state: ev.state,
            kind: ev.kind,
            states: ev.states,
        }
    }
}

/// Name of a kernel TCP state, as BCC prints it.
pub fn state_name(state: u16) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}
