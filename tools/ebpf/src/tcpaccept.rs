//! tcpaccept: passive TCP opens as the accepting process sees them. BCC hooks the return of
//! inet_csk_accept (a kretprobe); sock:inet_sock_set_state → ESTABLISHED would run in softirq
//! with whatever task was interrupted as "PID". Here the exits of accept(2) and accept4(2) run in
//! the accepting task: the returned descriptor is followed to its `struct sock` through the
//! task's file table (BTF offsets, see lab_probes_ebpf::tcp::sock_of_fd).
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
        tcp::{SockOffsets, TcpEvent},
    };
    use lab_probes_ebpf::{
        events::{emit, global, pid_allowed},
        syscall, tcp,
    };

    #[no_mangle]
    static SOCK: SockOffsets = SockOffsets::ZERO;
    #[no_mangle]
    static EXIT_RET_OFF: u32 = 16;
    /// 1: only tgids in `PIDS`.
    #[no_mangle]
    static FILTER_PIDS: u8 = 0;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    #[map]
    static PIDS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_FILTER_PIDS, 0);

    /// Attached to syscalls:sys_exit_accept and sys_exit_accept4.
    #[tracepoint]
    pub fn tcpaccept_exit(ctx: TracePointContext) -> u32 {
        let ret = syscall::ret_at(&ctx, global(&EXIT_RET_OFF));
        if ret < 0 {
            return 0;
        }
        let id = bpf_get_current_pid_tgid();
        if !pid_allowed(global(&FILTER_PIDS) != 0, &PIDS, (id >> 32) as u32) {
            return 0;
        }
        let o = global(&SOCK);
        let Some(sk) = tcp::sock_of_fd(&o, ret as u32) else {
            return 0;
        };
        let Some(family) = tcp::tcp_family(&o, sk) else {
            return 0;
        };
        emit(&EVENTS, &LOST, None, |ev: &mut TcpEvent| {
            *ev = TcpEvent::default();
            ev.ts_ns = unsafe { bpf_ktime_get_ns() };
            ev.pid = (id >> 32) as u32;
            ev.uid = bpf_get_current_uid_gid() as u32;
            tcp::sock_addrs(&o, sk, family, ev);
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
