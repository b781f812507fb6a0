//! tcpsynbl: SYN backlog length when a connection completes its handshake, as a log2 histogram
//! per backlog limit. BCC's tcpsynbl hooks tcp_v4/v6_syn_recv_sock and reads the listener's
//! sk_ack_backlog / sk_max_ack_backlog there. Without kprobes: that function creates the child
//! socket by cloning the listener (sk_clone_lock copies the whole sock) and then moves it
//! LISTEN → SYN_RECV, which fires sock:inet_sock_set_state on the child in the same call. At that
//! moment the child's copies of the two fields still hold the listener's values, read here
//! through BTF offsets.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::bpf_probe_read_kernel,
        macros::{map, tracepoint},
        maps::PerCpuHashMap,
        programs::TracePointContext,
    };
    use lab_probes_common::{
        hist::{log2_slot, HistKey, MAX_HIST_ENTRIES},
        tcp::{TcpTpOffsets, IPPROTO_TCP, TCP_LISTEN, TCP_SYN_RECV},
    };
    use lab_probes_ebpf::{count, events::global, tcp};

    #[no_mangle]
    static TP: TcpTpOffsets = TcpTpOffsets::ZERO;
    /// sock.sk_ack_backlog and sock.sk_max_ack_backlog (from BTF).
    #[no_mangle]
    static ACK_BACKLOG_OFF: u32 = 0;
    #[no_mangle]
    static MAX_ACK_BACKLOG_OFF: u32 = 0;

    /// (backlog limit, log2 slot of the backlog) → count.
    #[map]
    static HIST: PerCpuHashMap<HistKey, u64> = PerCpuHashMap::with_max_entries(MAX_HIST_ENTRIES, 0);

    #[tracepoint]
    pub fn tcpsynbl(ctx: TracePointContext) -> u32 {
        let o = global(&TP);
        let s = tcp::tp_sock(&ctx, &o);
        if s.protocol != IPPROTO_TCP || s.oldstate != TCP_LISTEN || s.newstate != TCP_SYN_RECV {
            return 0;
        }
        // SAFETY: helper reads kernel memory and faults safely.
        let (len, max) = unsafe {
            (
                bpf_probe_read_kernel((s.sk + global(&ACK_BACKLOG_OFF) as u64) as *const u32),
                bpf_probe_read_kernel((s.sk + global(&MAX_ACK_BACKLOG_OFF) as u64) as *const u32),
            )
        };
        let (Ok(len), Ok(max)) = (len, max) else {
            return 0;
        };
        let key = HistKey {
            id: max as u64,
            slot: log2_slot(len as u64),
        };
        count::add_hash(&HIST, &key, 1);
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
