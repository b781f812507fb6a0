//! syscount: count syscalls (and optionally their latency) by syscall number or by process, in a
//! per-CPU hash map that user space sums and prints (no per-event output).
//! raw_syscalls:sys_exit counts (so failures can be filtered); raw_syscalls:sys_enter is attached
//! only for latency (-L). Field offsets are globals read from tracefs.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
        macros::{map, tracepoint},
        maps::{HashMap, PerCpuHashMap},
        programs::TracePointContext,
    };
    use lab_probes_common::snoop::{SyscallStat, MAX_FILTER_PIDS, SYSCOUNT_MAX_KEYS};
    use lab_probes_ebpf::{
        events::{cgroup_allowed, global, pid_allowed, tid_allowed},
        syscall,
    };

    #[no_mangle]
    static EXIT_ID_OFF: u32 = 8;
    #[no_mangle]
    static EXIT_RET_OFF: u32 = 16;
    /// 1: only tgids in `PIDS`.
    #[no_mangle]
    static FILTER_PIDS: u8 = 0;
    /// Only this thread; 0 = all.
    #[no_mangle]
    static FILTER_TID: u32 = 0;
    /// Only tasks in this cgroup v2 (`-c`, its id); 0 = all.
    #[no_mangle]
    static FILTER_CGROUP: u64 = 0;
    /// 1: only failed syscalls (ret < 0).
    #[no_mangle]
    static FAILED_ONLY: u8 = 0;
    /// Only syscalls returning -ERRNO; 0 = any.
    #[no_mangle]
    static FILTER_ERRNO: u32 = 0;
    /// Only this syscall number; u32::MAX = all.
    #[no_mangle]
    static FILTER_SYSCALL: u32 = u32::MAX;
    /// 1: key by tgid instead of syscall number (-P).
    #[no_mangle]
    static BY_PROCESS: u8 = 0;
    /// 1: add latency from `START` (-L).
    #[no_mangle]
    static LATENCY: u8 = 0;

    #[map]
    static PIDS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_FILTER_PIDS, 0);
    /// Syscall entry time by tid (only with -L).
    #[map]
    static START: HashMap<u32, u64> = HashMap::with_max_entries(10240, 0);
    #[map]
    static COUNTS: PerCpuHashMap<u32, SyscallStat> =
        PerCpuHashMap::with_max_entries(SYSCOUNT_MAX_KEYS, 0);

    #[inline(always)]
    fn wanted(id: u64) -> bool {
        tid_allowed(global(&FILTER_TID), id)
            && cgroup_allowed(global(&FILTER_CGROUP))
            && pid_allowed(global(&FILTER_PIDS) != 0, &PIDS, (id >> 32) as u32)
    }

    #[tracepoint]
    pub fn syscount_enter(_ctx: TracePointContext) -> u32 {
        let id = bpf_get_current_pid_tgid();
        if wanted(id) {
            let now = unsafe { bpf_ktime_get_ns() };
            let _ = START.insert(&(id as u32), &now, 0);
        }
        0
    }

    #[tracepoint]
    pub fn syscount_exit(ctx: TracePointContext) -> u32 {
        let id = bpf_get_current_pid_tgid();
        if !wanted(id) {
            return 0;
        }
        // Take the entry time first, so filtered-out calls do not leave stale entries behind.
        let mut delta = 0;
        if global(&LATENCY) != 0 {
            let tid = id as u32;
            // SAFETY: copied out at once.
            let Some(t0) = (unsafe { START.get(&tid) }).copied() else {
                return 0;
            };
            let _ = START.remove(&tid);
            delta = unsafe { bpf_ktime_get_ns() }.saturating_sub(t0);
        }
        let nr = unsafe { ctx.read_at::<i64>(global(&EXIT_ID_OFF) as usize) }.unwrap_or(-1);
        if nr < 0 {
            return 0;
        }
        let nr = nr as u32;
        let want = global(&FILTER_SYSCALL);
        if want != u32::MAX && nr != want {
            return 0;
        }
        let ret = syscall::ret_at(&ctx, global(&EXIT_RET_OFF));
        if global(&FAILED_ONLY) != 0 && ret >= 0 {
            return 0;
        }
        let errno = global(&FILTER_ERRNO);
        if errno != 0 && ret != -(errno as i64) {
            return 0;
        }
        let key = if global(&BY_PROCESS) != 0 {
            (id >> 32) as u32
        } else {
            nr
        };
        if let Some(v) = COUNTS.get_ptr_mut(&key) {
            // SAFETY: this CPU's slot; nothing else writes it while we run here.
            unsafe {
                (*v).count += 1;
                (*v).total_ns += delta;
            }
        } else {
            let _ = COUNTS.insert(
                &key,
                &SyscallStat {
                    count: 1,
                    total_ns: delta,
                },
                0,
            );
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
