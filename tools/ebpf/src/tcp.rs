//! Pieces the TCP tools share (tcpconnect, tcpaccept, tcplife, tcpretrans, tcpsynbl): decoding a
//! TCP tracepoint record through offsets read from tracefs, and resolving a file descriptor of
//! the current task to its `struct sock` through offsets read from BTF.
use aya_ebpf::{
    helpers::{bpf_get_current_task, bpf_probe_read_kernel},
    programs::TracePointContext,
};
use lab_probes_common::tcp::{SockOffsets, TcpEvent, TcpTpOffsets, AF_INET, AF_INET6};

/// The fields of a TCP tracepoint record the tools use.
#[derive(Clone, Copy)]
pub struct TpSock {
    pub sk: u64,
    pub oldstate: u32,
    pub newstate: u32,
    pub sport: u16,
    pub dport: u16,
    pub family: u16,
    pub protocol: u16,
}

/// Read the socket, states, ports, family and protocol of a record (ports in host order).
#[inline(always)]
pub fn tp_sock(ctx: &TracePointContext, o: &TcpTpOffsets) -> TpSock {
    // SAFETY: bounded reads from the tracepoint record; faults return Err.
    unsafe {
        TpSock {
            sk: ctx.read_at::<u64>(o.skaddr as usize).unwrap_or(0),
            oldstate: ctx.read_at::<i32>(o.oldstate as usize).unwrap_or(0) as u32,
            newstate: ctx.read_at::<i32>(o.newstate as usize).unwrap_or(0) as u32,
            sport: ctx.read_at::<u16>(o.sport as usize).unwrap_or(0),
            dport: ctx.read_at::<u16>(o.dport as usize).unwrap_or(0),
            family: ctx.read_at::<u16>(o.family as usize).unwrap_or(0),
            protocol: ctx.read_at::<u16>(o.protocol as usize).unwrap_or(0),
        }
    }
}

/// Copy the record's addresses (IPv4: saddr/daddr, IPv6: saddr_v6/daddr_v6) into `ev`.
#[inline(always)]
pub fn tp_addrs(ctx: &TracePointContext, o: &TcpTpOffsets, family: u16, ev: &mut TcpEvent) {
    // SAFETY: as above.
    unsafe {
        if family == AF_INET6 {
            ev.saddr = ctx
                .read_at::<[u8; 16]>(o.saddr_v6 as usize)
                .unwrap_or([0; 16]);
            ev.daddr = ctx
                .read_at::<[u8; 16]>(o.daddr_v6 as usize)
                .unwrap_or([0; 16]);
        } else {
            ev.saddr = [0; 16];
            ev.daddr = [0; 16];
            let s = ctx.read_at::<[u8; 4]>(o.saddr as usize).unwrap_or([0; 4]);
            let d = ctx.read_at::<[u8; 4]>(o.daddr as usize).unwrap_or([0; 4]);
            ev.saddr[..4].copy_from_slice(&s);
            ev.daddr[..4].copy_from_slice(&d);
        }
    }
}

#[inline(always)]
unsafe fn read<T>(addr: u64) -> Option<T> {
    if addr == 0 {
        return None;
    }
    bpf_probe_read_kernel(addr as *const T).ok()
}

/// The `struct sock` behind descriptor `fd` of the current task (task → files → fdt → fd[fd] →
/// file → private_data: struct socket → sk). Only call it on descriptors known to be sockets
/// (accept's result): for other files private_data is something else.
#[inline(always)]
pub fn sock_of_fd(o: &SockOffsets, fd: u32) -> Option<u64> {
    // SAFETY: every pointer is read with bpf_probe_read_kernel, which faults safely.
    unsafe {
        let task = bpf_get_current_task();
        let files: u64 = read(task + o.task_files as u64)?;
        let fdt: u64 = read(files + o.files_fdt as u64)?;
        let max: u32 = read(fdt + o.fdt_max_fds as u64)?;
        if fd >= max {
            return None;
        }
        let fds: u64 = read(fdt + o.fdt_fd as u64)?;
        let file: u64 = read(fds + 8 * fd as u64)?;
        let socket: u64 = read(file + o.file_private_data as u64)?;
        read(socket + o.socket_sk as u64)
    }
}

/// Whether `sk` is a TCP socket (SOCK_STREAM, IPPROTO_TCP, IPv4 or IPv6); its family.
#[inline(always)]
pub fn tcp_family(o: &SockOffsets, sk: u64) -> Option<u16> {
    // SAFETY: as above.
    unsafe {
        let family: u16 = read(sk + o.skc_family as u64)?;
        let proto: u16 = read(sk + o.sk_protocol as u64)?;
        let ty: u16 = read(sk + o.sk_type as u64)?;
        (proto == 6 && ty == 1 && (family == AF_INET || family == AF_INET6)).then_some(family)
    }
}

/// Fill ports and addresses of `ev` from `sk`'s sock_common: local port `skc_num` (host order),
/// remote port `skc_dport` (network order), and the local/remote addresses.
#[inline(always)]
pub fn sock_addrs(o: &SockOffsets, sk: u64, family: u16, ev: &mut TcpEvent) {
    // SAFETY: as above.
    unsafe {
        ev.family = family;
        ev.sport = read::<u16>(sk + o.skc_num as u64).unwrap_or(0);
        ev.dport = u16::from_be(read::<u16>(sk + o.skc_dport as u64).unwrap_or(0));
        ev.saddr = [0; 16];
        ev.daddr = [0; 16];
        if family == AF_INET6 {
            ev.saddr = read(sk + o.skc_v6_rcv_saddr as u64).unwrap_or([0; 16]);
            ev.daddr = read(sk + o.skc_v6_daddr as u64).unwrap_or([0; 16]);
        } else {
            let s: [u8; 4] = read(sk + o.skc_rcv_saddr as u64).unwrap_or([0; 4]);
            let d: [u8; 4] = read(sk + o.skc_daddr as u64).unwrap_or([0; 4]);
            ev.saddr[..4].copy_from_slice(&s);
            ev.daddr[..4].copy_from_slice(&d);
        }
    }
}
