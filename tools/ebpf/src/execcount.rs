//! Smoke probe: count `sched:sched_process_exec` by the comm the task has after exec.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::bpf_get_current_comm,
        macros::{map, tracepoint},
        maps::{PerCpuArray, PerCpuHashMap},
        programs::TracePointContext,
    };
    use lab_probes_common::execcount::{CommKey, MAX_COMMS};
    use lab_probes_ebpf::count;

    #[map]
    static EXEC_COUNTS: PerCpuHashMap<CommKey, u64> = PerCpuHashMap::with_max_entries(MAX_COMMS, 0);

    /// Slot 0: execs not counted because the map was full.
    #[map]
    static DROPPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

    #[tracepoint]
    pub fn execcount(_ctx: TracePointContext) -> u32 {
        // At sched_process_exec the task already carries the new program's comm.
        let Ok(comm) = bpf_get_current_comm() else {
            return 0;
        };
        if !count::add_hash(&EXEC_COUNTS, &CommKey { comm }, 1) {
            count::add_array(&DROPPED, 0, 1);
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
