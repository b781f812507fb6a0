//! funccount: count hits per traced function or tracepoint in a per-CPU hash map (no per-event
//! output). One program per hook kind, each attached to every matching function; the key tells
//! the functions apart without one program per function:
//! - tracepoints and uprobes: the attach cookie (the probe's index, set at attach time, 5.15+;
//!   a tracepoint program cannot use the record's `common_type`: BPF sees it unset);
//! - kprobes: `bpf_get_func_ip` (the probed function's address, kernel 5.15+).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{
            bpf_get_current_pid_tgid,
            generated::{bpf_get_attach_cookie, bpf_get_func_ip},
        },
        macros::{kprobe, map, tracepoint, uprobe},
        maps::PerCpuHashMap,
        programs::{ProbeContext, TracePointContext},
        EbpfContext,
    };
    use lab_probes_common::funccount::FUNCCOUNT_MAX_KEYS;
    use lab_probes_ebpf::{count, events::global};

    /// Only this process (tgid, `-p`); 0 = all.
    #[no_mangle]
    static FILTER_PID: u32 = 0;

    #[map]
    static COUNTS: PerCpuHashMap<u64, u64> = PerCpuHashMap::with_max_entries(FUNCCOUNT_MAX_KEYS, 0);

    #[inline(always)]
    fn wanted() -> bool {
        let want = global(&FILTER_PID);
        want == 0 || (bpf_get_current_pid_tgid() >> 32) as u32 == want
    }

    #[tracepoint]
    pub fn funccount_tp(ctx: TracePointContext) -> u32 {
        if wanted() {
            // SAFETY: helper on our own context.
            let idx = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
            count::add_hash(&COUNTS, &idx, 1);
        }
        0
    }

    #[uprobe]
    pub fn funccount_uprobe(ctx: ProbeContext) -> u32 {
        if wanted() {
            // SAFETY: helper on our own context.
            let idx = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
            count::add_hash(&COUNTS, &idx, 1);
        }
        0
    }

    #[kprobe]
    pub fn funccount_kprobe(ctx: ProbeContext) -> u32 {
        if wanted() {
            // SAFETY: helper on our own context.
            let ip = unsafe { bpf_get_func_ip(ctx.as_ptr()) };
            count::add_hash(&COUNTS, &ip, 1);
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
