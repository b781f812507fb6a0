//! tcpretrans: TCP retransmissions from tcp:tcp_retransmit_skb (the retransmit timer and fast
//! retransmit run in softirq: the PID is whatever task was interrupted, as in BCC). Tail loss
//! probes (`-l`) need a kprobe on tcp_send_loss_probe (no tracepoint exists): the program below
//! is only loaded where the kernel has kprobes.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel},
        macros::{kprobe, map, tracepoint},
        maps::{PerCpuArray, RingBuf},
        programs::{ProbeContext, TracePointContext},
    };
    use lab_probes_common::tcp::{
        SockOffsets, TcpEvent, TcpTpOffsets, RETRANS_KIND_RETRANS, RETRANS_KIND_TLP,
    };
    use lab_probes_ebpf::{
        events::{emit, global},
        tcp,
    };

    /// tcp_retransmit_skb's offsets; its `state` is in `newstate`.
    #[no_mangle]
    static TP: TcpTpOffsets = TcpTpOffsets::ZERO;
    #[no_mangle]
    static SOCK: SockOffsets = SockOffsets::ZERO;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(512 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

    #[tracepoint]
    pub fn tcpretrans(ctx: TracePointContext) -> u32 {
        let o = global(&TP);
        let s = tcp::tp_sock(&ctx, &o);
        emit(&EVENTS, &LOST, None, |ev: &mut TcpEvent| {
            *ev = TcpEvent::default();
            ev.ts_ns = unsafe { bpf_ktime_get_ns() };
            ev.pid = (bpf_get_current_pid_tgid() >> 32) as u32;
            ev.family = s.family;
            ev.sport = s.sport;
            ev.dport = s.dport;
            ev.state = s.newstate as u16;
            ev.kind = RETRANS_KIND_RETRANS;
            tcp::tp_addrs(&ctx, &o, s.family, ev);
        });
        0
    }

    /// kprobe:tcp_send_loss_probe(struct sock *sk).
    #[kprobe]
    pub fn tcpretrans_tlp(ctx: ProbeContext) -> u32 {
        let Some(sk) = ctx.arg::<u64>(0) else {
            return 0;
        };
        let o = global(&SOCK);
        let Some(family) = tcp::tcp_family(&o, sk) else {
            return 0;
        };
        emit(&EVENTS, &LOST, None, |ev: &mut TcpEvent| {
            *ev = TcpEvent::default();
            ev.ts_ns = unsafe { bpf_ktime_get_ns() };
            ev.pid = (bpf_get_current_pid_tgid() >> 32) as u32;
            tcp::sock_addrs(&o, sk, family, ev);
            // SAFETY: helper reads kernel memory and faults safely.
            let st: u8 = unsafe { bpf_probe_read_kernel((sk + o.skc_state as u64) as *const u8) }
                .unwrap_or(0);
            ev.state = st as u16;
            ev.kind = RETRANS_KIND_TLP;
        });
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
