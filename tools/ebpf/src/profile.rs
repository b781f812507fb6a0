//! profile: sample on-CPU stacks with a CPU-clock perf event on every CPU and count them by
//! (thread, kernel stack id, user stack id, comm). User space walks `STACKS` and symbolizes.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid},
        macros::{map, perf_event},
        maps::{HashMap, PerCpuArray, StackTrace},
        programs::PerfEventContext,
    };
    use lab_probes_common::profile::{
        errors, StackKey, DEFAULT_STACK_STORAGE, MAX_KEYS, STACK_KERNEL, STACK_USER,
    };
    use lab_probes_ebpf::{count, events::global, stacks};

    /// Only this process (tgid) when non-zero (-p).
    #[no_mangle]
    static TARGET_TGID: u32 = 0;
    /// Only this thread when non-zero (-L).
    #[no_mangle]
    static TARGET_TID: u32 = 0;
    /// STACK_USER | STACK_KERNEL (-U / -K narrow it).
    #[no_mangle]
    static STACK_KINDS: u8 = STACK_USER | STACK_KERNEL;
    /// 1: also count the idle task (-I).
    #[no_mangle]
    static INCLUDE_IDLE: u8 = 0;

    /// Stack id -> instruction pointers; sized by --stack-storage-size at load time.
    #[map]
    static STACKS: StackTrace = StackTrace::with_max_entries(DEFAULT_STACK_STORAGE, 0);

    #[map]
    static COUNTS: HashMap<StackKey, u64> = HashMap::with_max_entries(MAX_KEYS, 0);

    /// Slots: lab_probes_common::profile::errors.
    #[map]
    static ERRORS: PerCpuArray<u64> = PerCpuArray::with_max_entries(errors::SLOTS, 0);

    #[perf_event]
    pub fn profile(ctx: PerfEventContext) -> u32 {
        let id = bpf_get_current_pid_tgid();
        let (tgid, pid) = ((id >> 32) as u32, id as u32);
        if pid == 0 && global(&INCLUDE_IDLE) == 0 {
            return 0;
        }
        let want = global(&TARGET_TGID);
        if want != 0 && tgid != want {
            return 0;
        }
        let want = global(&TARGET_TID);
        if want != 0 && pid != want {
            return 0;
        }
        let kinds = global(&STACK_KINDS);
        let kstack = stacks::id_counted(
            &ctx,
            &STACKS,
            kinds,
            STACK_KERNEL,
            &ERRORS,
            errors::KSTACK_MISSED,
        );
        let ustack = stacks::id_counted(
            &ctx,
            &STACKS,
            kinds,
            STACK_USER,
            &ERRORS,
            errors::USTACK_MISSED,
        );
        let key = StackKey {
            pid,
            tgid,
            kstack,
            ustack,
            comm: bpf_get_current_comm().unwrap_or([0; 16]),
        };
        if !count::add_shared(&COUNTS, &key, 1) {
            count::add_array(&ERRORS, errors::COUNTS_FULL, 1);
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
