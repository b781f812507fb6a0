//! killsnoop: kill, tkill and tgkill with sender, target, signal and result.
//! sys_enter_* saves (target, signal) by tid; one sys_exit_* program streams the record.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
        macros::{map, tracepoint},
        maps::{HashMap, PerCpuArray, RingBuf},
        programs::TracePointContext,
    };
    use lab_probes_common::snoop::{KillEvent, KillStart, MAX_FILTER_PIDS};
    use lab_probes_ebpf::{
        events::{emit, global, pid_allowed},
        syscall,
    };

    #[no_mangle]
    static KILL_PID_OFF: u32 = 16;
    #[no_mangle]
    static KILL_SIG_OFF: u32 = 24;
    #[no_mangle]
    static TKILL_PID_OFF: u32 = 16;
    #[no_mangle]
    static TKILL_SIG_OFF: u32 = 24;
    #[no_mangle]
    static TGKILL_PID_OFF: u32 = 24;
    #[no_mangle]
    static TGKILL_SIG_OFF: u32 = 32;
    #[no_mangle]
    static EXIT_RET_OFF: u32 = 16;
    /// 1: only senders whose tgid is in `PIDS`.
    #[no_mangle]
    static FILTER_PIDS: u8 = 0;
    /// Only this signal (`-s`); 0 = all.
    #[no_mangle]
    static FILTER_SIG: u32 = 0;
    /// 1: only failed calls (`-x`).
    #[no_mangle]
    static FAILED_ONLY: u8 = 0;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    #[map]
    static PIDS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_FILTER_PIDS, 0);
    #[map]
    static STARTS: HashMap<u32, KillStart> = HashMap::with_max_entries(10240, 0);

    #[inline(always)]
    fn start(ctx: &TracePointContext, pid_off: u32, sig_off: u32, syscall: u32) {
        let id = bpf_get_current_pid_tgid();
        if !pid_allowed(global(&FILTER_PIDS) != 0, &PIDS, (id >> 32) as u32) {
            return;
        }
        // The values are ints in 8-byte argument slots.
        let tpid = syscall::arg_at(ctx, pid_off) as i32;
        let sig = syscall::arg_at(ctx, sig_off) as u32;
        let want = global(&FILTER_SIG);
        if want != 0 && sig != want {
            return;
        }
        let s = KillStart {
            tpid,
            sig,
            syscall,
            _pad: 0,
        };
        syscall::save(&STARTS, id, &s);
    }

    #[tracepoint]
    pub fn killsnoop_kill(ctx: TracePointContext) -> u32 {
        start(&ctx, global(&KILL_PID_OFF), global(&KILL_SIG_OFF), 0);
        0
    }

    #[tracepoint]
    pub fn killsnoop_tkill(ctx: TracePointContext) -> u32 {
        start(&ctx, global(&TKILL_PID_OFF), global(&TKILL_SIG_OFF), 1);
        0
    }

    #[tracepoint]
    pub fn killsnoop_tgkill(ctx: TracePointContext) -> u32 {
        start(&ctx, global(&TGKILL_PID_OFF), global(&TGKILL_SIG_OFF), 2);
        0
    }

    #[tracepoint]
    pub fn killsnoop_exit(ctx: TracePointContext) -> u32 {
        let id = bpf_get_current_pid_tgid();
        let failed_only = global(&FAILED_ONLY) != 0;
        let Some((s, ret)) = syscall::finish(&ctx, &STARTS, id, global(&EXIT_RET_OFF), failed_only)
        else {
            return 0;
        };
        emit(&EVENTS, &LOST, None, |ev: &mut KillEvent| {
            ev.ts_ns = unsafe { bpf_ktime_get_ns() };
            ev.ret = ret;
            ev.pid = (id >> 32) as u32;
            ev.tpid = s.tpid;
            ev.sig = s.sig;
            ev.syscall = s.syscall;
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
