//! forksnoop: every new process or thread (sched:sched_process_fork), optionally only those one
//! process forks. The runner's ground truth for lab 4d (workers that fork without exec).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::bpf_get_current_pid_tgid,
        macros::{map, tracepoint},
        maps::{PerCpuArray, RingBuf},
        programs::TracePointContext,
    };
    use lab_probes_common::filetrack::ForkEvent;
    use lab_probes_ebpf::events::{global, reserve};

    /// Only children of this process (tgid); 0 = every fork.
    #[no_mangle]
    static TARGET_TGID: u32 = 0;
    #[no_mangle]
    static CHILD_PID_OFF: u32 = 20;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

    #[tracepoint]
    pub fn forksnoop(ctx: TracePointContext) -> u32 {
        // The tracepoint fires in the parent's context.
        let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
        let target = global(&TARGET_TGID);
        if target != 0 && parent != target {
            return 0;
        }
        let Ok(child) = (unsafe { ctx.read_at::<i32>(global(&CHILD_PID_OFF) as usize) }) else {
            return 0;
        };
        if let Some(mut entry) = reserve::<ForkEvent>(&EVENTS, &LOST) {
            entry.write(ForkEvent {
                parent_tgid: parent,
                child_pid: child as u32,
            });
            entry.submit(0);
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
