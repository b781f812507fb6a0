//! tcpconnect: active TCP opens, from sock:inet_sock_set_state CLOSE → SYN_SENT. tcp_v4_connect
//! and tcp_v6_connect make that transition in the connecting task (so PID, UID and cgroup are the
//! caller's) after the source address was chosen; the local port is chosen just after it, so it
//! is not reported (BCC's default output has no LPORT either). Field offsets come from tracefs.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{
            bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
            bpf_ktime_get_ns,
        },
        macros::{map, tracepoint},
        maps::{HashMap, PerCpuArray, RingBuf},
        programs::TracePointContext,
    };
    use lab_probes_common::{
        snoop::MAX_FILTER_PIDS,
        tcp::{TcpEvent, TcpTpOffsets, IPPROTO_TCP, TCP_CLOSE, TCP_SYN_SENT},
    };
    use lab_probes_ebpf::{
        events::{cgroup_allowed, emit, global, pid_allowed, uid_allowed},
        tcp,
    };

    #[no_mangle]
    static TP: TcpTpOffsets = TcpTpOffsets::ZERO;
    /// 1: only tgids in `PIDS`.
    #[no_mangle]
    static FILTER_PIDS: u8 = 0;
    /// Only this uid (`-u`); u32::MAX = all.
    #[no_mangle]
    static FILTER_UID: u32 = u32::MAX;
    /// Only tasks in this cgroup v2 (`--cgroup`, its id); 0 = all.
    #[no_mangle]
    static FILTER_CGROUP: u64 = 0;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
    /// Reader wake-ups are batched (`batched_wakeup`, as opensnoop): one per 64 KiB of events
    /// instead of one per event; the user half drains every 50 ms anyway. Waking the reader per
    /// event was most of the cost a busy tracee paid (lab-bench's cost-per-event tables).
    const WAKEUP_BYTES: u64 = 64 * 1024;
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    #[map]
    static PIDS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_FILTER_PIDS, 0);

    #[tracepoint]
    pub fn tcpconnect(ctx: TracePointContext) -> u32 {
        let o = global(&TP);
        let s = tcp::tp_sock(&ctx, &o);
        if s.protocol != IPPROTO_TCP || s.oldstate != TCP_CLOSE || s.newstate != TCP_SYN_SENT {
            return 0;
        }
        let id = bpf_get_current_pid_tgid();
        if !(uid_allowed(global(&FILTER_UID))
            && cgroup_allowed(global(&FILTER_CGROUP))
            && pid_allowed(global(&FILTER_PIDS) != 0, &PIDS, (id >> 32) as u32))
        {
            return 0;
        }
        emit(&EVENTS, &LOST, Some(WAKEUP_BYTES), |ev: &mut TcpEvent| {
            *ev = TcpEvent::default();
            ev.ts_ns = unsafe { bpf_ktime_get_ns() };
            ev.pid = (id >> 32) as u32;
            ev.uid = bpf_get_current_uid_gid() as u32;
            ev.family = s.family;
            ev.sport = s.sport;
            ev.dport = s.dport;
            tcp::tp_addrs(&ctx, &o, s.family, ev);
            ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
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
