//! runqlen: run queue length, sampled on every CPU by a perf_event timer (99 Hz).
//!
//! Why rq->nr_running through BTF offsets: the obvious field, cfs_rq.nr_running, was renamed
//! (nr_queued, 6.14) and only counts one cgroup's fair tasks. Counting enqueues ourselves from
//! sched tracepoints cannot know what was queued before we attached and double-counts wakeups
//! of tasks that are already queued. rq->nr_running is the scheduler's own count of every
//! runnable task on the CPU; user space finds its offsets (and the path to it from the current
//! task) in /sys/kernel/btf/vmlinux, so a rename fails loudly at load, never silently.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{
            bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_smp_processor_id,
            bpf_probe_read_kernel,
        },
        macros::{map, perf_event},
        maps::PerCpuHashMap,
        programs::PerfEventContext,
    };
    use lab_probes_common::{
        hist::{HistKey, MAX_HIST_ENTRIES},
        sched::{key_mode, RqOffsets},
    };
    use lab_probes_ebpf::count;

    #[no_mangle]
    static RQ: RqOffsets = RqOffsets {
        task_cfs_rq: 0,
        has_cfs_rq_rq: 0,
        cfs_rq_rq: 0,
        rq_cfs: 0,
        rq_nr_running: 0,
        _pad: 0,
    };
    #[no_mangle]
    static KEY_MODE: u8 = 0;

    /// Linear histogram: slot = queued tasks (not counting the one running).
    #[map]
    static HIST: PerCpuHashMap<HistKey, u64> = PerCpuHashMap::with_max_entries(MAX_HIST_ENTRIES, 0);

    #[perf_event]
    pub fn runqlen(_ctx: PerfEventContext) -> u32 {
        let o = unsafe { core::ptr::read_volatile(&RQ) };
        let Some(nr) = (unsafe { nr_running(&o) }) else {
            return 0;
        };
        // The running task is counted in nr_running; the idle task (pid 0) is not.
        let pid = bpf_get_current_pid_tgid() as u32;
        let len = if pid != 0 && nr > 0 { nr - 1 } else { nr };
        let cpu = unsafe { bpf_get_smp_processor_id() };
        let id = if unsafe { core::ptr::read_volatile(&KEY_MODE) } == key_mode::CPU {
            cpu as u64
        } else {
            0
        };
        count::add_hash(
            &HIST,
            &HistKey {
                id,
                slot: len as u64,
            },
            1,
        );
        0
    }

    /// rq->nr_running of this CPU, reached from the current task.
    #[inline(always)]
    unsafe fn nr_running(o: &RqOffsets) -> Option<u32> {
        let task = bpf_get_current_task() as usize;
        if task == 0 {
            return None;
        }
        let cfs_rq: usize =
            bpf_probe_read_kernel((task + o.task_cfs_rq as usize) as *const usize).ok()?;
        if cfs_rq == 0 {
            return None;
        }
        let rq: usize = if o.has_cfs_rq_rq != 0 {
            bpf_probe_read_kernel((cfs_rq + o.cfs_rq_rq as usize) as *const usize).ok()?
        } else {
            cfs_rq - o.rq_cfs as usize
        };
        bpf_probe_read_kernel((rq + o.rq_nr_running as usize) as *const u32).ok()
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
