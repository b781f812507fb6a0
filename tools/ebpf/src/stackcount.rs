//! stackcount: at every hit of the probed functions, tracepoints or USDT probes, count the
//! (process, kernel stack, user stack, comm) it happened in. The process is always kept (user
//! frames are symbolized per process); user space merges processes unless -P.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_smp_processor_id},
        macros::{kprobe, map, tracepoint, uprobe},
        maps::{HashMap, PerCpuArray, StackTrace},
        programs::{tracing::StackIdContext, ProbeContext, TracePointContext},
    };
    use lab_probes_common::profile::{
        errors, StackKey, DEFAULT_STACK_STORAGE, MAX_KEYS, STACK_KERNEL, STACK_USER,
    };
    use lab_probes_ebpf::{count, events::global, stacks};

    /// Only this process (tgid) when non-zero (-p).
    #[no_mangle]
    static TARGET_TGID: u32 = 0;
    /// Only this CPU when not u32::MAX (-c).
    #[no_mangle]
    static TARGET_CPU: u32 = u32::MAX;
    /// STACK_USER | STACK_KERNEL (-U / -K narrow it).
    #[no_mangle]
    static STACK_KINDS: u8 = STACK_USER | STACK_KERNEL;

    #[map]
    static STACKS: StackTrace = StackTrace::with_max_entries(DEFAULT_STACK_STORAGE, 0);
    /// Shared by the CPUs (atomic adds): a per-CPU hash of MAX_KEYS took ~10 ms to create.
    #[map]
    static COUNTS: HashMap<StackKey, u64> = HashMap::with_max_entries(MAX_KEYS, 0);
    /// Slots: lab_probes_common::profile::errors.
    #[map]
    static ERRORS: PerCpuArray<u64> = PerCpuArray::with_max_entries(errors::SLOTS, 0);

    #[inline(always)]
    fn hit<C: StackIdContext>(ctx: &C) -> u32 {
        let id = bpf_get_current_pid_tgid();
        let tgid = (id >> 32) as u32;
        let want = global(&TARGET_TGID);
        if want != 0 && tgid != want {
            return 0;
        }
        let cpu = global(&TARGET_CPU);
        // SAFETY: helper without arguments.
        if cpu != u32::MAX && unsafe { bpf_get_smp_processor_id() } != cpu {
            return 0;
        }
        let kinds = global(&STACK_KINDS);
        let key = StackKey {
            pid: 0,
            tgid,
            kstack: stacks::id_counted(
                ctx,
                &STACKS,
                kinds,
                STACK_KERNEL,
                &ERRORS,
                errors::KSTACK_MISSED,
            ),
            ustack: stacks::id_counted(
                ctx,
                &STACKS,
                kinds,
                STACK_USER,
                &ERRORS,
                errors::USTACK_MISSED,
            ),
            comm: bpf_get_current_comm().unwrap_or([0; 16]),
        };
        if !count::add_shared(&COUNTS, &key, 1) {
            count::add_array(&ERRORS, errors::COUNTS_FULL, 1);
        }
        0
    }

    #[kprobe]
    pub fn stackcount_kprobe(ctx: ProbeContext) -> u32 {
        hit(&ctx)
    }

    #[uprobe]
    pub fn stackcount_uprobe(ctx: ProbeContext) -> u32 {
        hit(&ctx)
    }

    #[tracepoint]
    pub fn stackcount_tp(ctx: TracePointContext) -> u32 {
        hit(&ctx)
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
