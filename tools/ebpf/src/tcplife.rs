//! tcplife: one record per TCP session when it closes, with its lifetime and bytes.
//!
//! sock:inet_sock_set_state drives it: the first state below FIN_WAIT1 (SYN_SENT, SYN_RECV,
//! ESTABLISHED) records the birth time by sock address; TCP_CLOSE emits the session with
//! tcp_sock.bytes_acked / bytes_received (BTF offsets). The PID is the hard part: most of these
//! transitions run in softirq, where "current" is whichever task was interrupted (BCC's tcplife
//! prints those). Here the PID and comm are taken only in process context: at connect
//! (CLOSE → SYN_SENT runs in the connecting task), at accept(2)/accept4(2) exit (the returned
//! descriptor followed to its sock), and, for a session neither of those saw, at close(2)'s
//! ESTABLISHED → FIN_WAIT1 or CLOSE_WAIT → LAST_ACK.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{
            bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel,
        },
        macros::{map, tracepoint},
        maps::{HashMap, PerCpuArray, RingBuf},
        programs::TracePointContext,
    };
    use lab_probes_common::tcp::{
        SockBirth, SockOffsets, TcpEvent, TcpTpOffsets, IPPROTO_TCP, TCP_CLOSE, TCP_FIN_WAIT1,
        TCP_LAST_ACK, TCP_SYN_SENT,
    };
    use lab_probes_ebpf::{
        events::{emit, global},
        syscall, tcp,
    };

    #[no_mangle]
    static TP: TcpTpOffsets = TcpTpOffsets::ZERO;
    #[no_mangle]
    static SOCK: SockOffsets = SockOffsets::ZERO;
    #[no_mangle]
    static EXIT_RET_OFF: u32 = 16;
    /// tcp_sock.bytes_acked and tcp_sock.bytes_received (from BTF).
    #[no_mangle]
    static BYTES_ACKED_OFF: u32 = 0;
    #[no_mangle]
    static BYTES_RECEIVED_OFF: u32 = 0;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(512 * 1024, 0);
    /// Reader wake-ups are batched (`batched_wakeup`, as opensnoop): one per 64 KiB of events
    /// instead of one per event; the user half drains every 50 ms anyway. Waking the reader per
    /// event was most of the cost a busy tracee paid (lab-bench's cost-per-event tables).
    const WAKEUP_BYTES: u64 = 64 * 1024;
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    /// Sessions being followed, by `struct sock` address.
    #[map]
    static BIRTHS: HashMap<u64, SockBirth> = HashMap::with_max_entries(65536, 0);

    const BPF_NOEXIST: u64 = 1;

    #[inline(always)]
    fn take_task(b: &mut SockBirth) {
        b.pid = (bpf_get_current_pid_tgid() >> 32) as u32;
        b.comm = bpf_get_current_comm().unwrap_or([0; 16]);
        b.known = 1;
    }

    #[tracepoint]
    pub fn tcplife_state(ctx: TracePointContext) -> u32 {
        let o = global(&TP);
        let s = tcp::tp_sock(&ctx, &o);
        if s.protocol != IPPROTO_TCP {
            return 0;
        }
        if s.newstate < TCP_FIN_WAIT1 {
            let mut b = SockBirth {
                ts_ns: unsafe { bpf_ktime_get_ns() },
                states: 1 << (s.newstate & 31),
                ..SockBirth::default()
            };
            if s.newstate == TCP_SYN_SENT {
                take_task(&mut b);
            }
            if BIRTHS.insert(&s.sk, &b, BPF_NOEXIST).is_ok() {
                return 0;
            }
        }
        if s.newstate != TCP_CLOSE {
            if let Some(b) = BIRTHS.get_ptr_mut(&s.sk) {
                // SAFETY: map value pointer, valid during this program.
                let b = unsafe { &mut *b };
                b.states |= 1 << (s.newstate & 31);
                if b.known == 0 && (s.newstate == TCP_FIN_WAIT1 || s.newstate == TCP_LAST_ACK) {
                    take_task(b);
                }
            }
            return 0;
        }
        // SAFETY: copied out at once.
        let Some(b) = (unsafe { BIRTHS.get(&s.sk) }).copied() else {
            return 0;
        };
        let _ = BIRTHS.remove(&s.sk);
        let now = unsafe { bpf_ktime_get_ns() };
        emit(&EVENTS, &LOST, Some(WAKEUP_BYTES), |ev: &mut TcpEvent| {
            *ev = TcpEvent::default();
            ev.ts_ns = now;
            ev.span_ns = now - b.ts_ns;
            // SAFETY: helper reads kernel memory and faults safely.
            unsafe {
                let acked = (s.sk + global(&BYTES_ACKED_OFF) as u64) as *const u64;
                let recv = (s.sk + global(&BYTES_RECEIVED_OFF) as u64) as *const u64;
                ev.tx_bytes = bpf_probe_read_kernel(acked).unwrap_or(0);
                ev.rx_bytes = bpf_probe_read_kernel(recv).unwrap_or(0);
            }
            ev.pid = b.pid;
            ev.comm = b.comm;
            ev.state = b.known as u16;
            ev.states = b.states | 1 << (s.oldstate & 31);
            ev.family = s.family;
            ev.sport = s.sport;
            ev.dport = s.dport;
            tcp::tp_addrs(&ctx, &o, s.family, ev);
        });
        0
    }

    /// Attached to syscalls:sys_exit_accept and sys_exit_accept4: the accepting task owns the
    /// passive session.
    #[tracepoint]
    pub fn tcplife_accept(ctx: TracePointContext) -> u32 {
        let ret = syscall::ret_at(&ctx, global(&EXIT_RET_OFF));
        if ret < 0 {
            return 0;
        }
        let o = global(&SOCK);
        let Some(sk) = tcp::sock_of_fd(&o, ret as u32) else {
            return 0;
        };
        if let Some(b) = BIRTHS.get_ptr_mut(&sk) {
            // SAFETY: as above.
            take_task(unsafe { &mut *b });
        }
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
