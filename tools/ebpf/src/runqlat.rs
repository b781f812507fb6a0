//! runqlat: run queue (scheduler) latency histogram: time from becoming runnable (wakeup, or
//! preemption while still runnable) to running on a CPU.
//!
//! Per PID namespace (--pidnss) the key is the waiting task's
//! task->nsproxy->pid_ns_for_children->ns.inum (BCC's path). The classic sched_wakeup
//! tracepoints carry only the pid, so in that mode the wakeups are taken as raw tracepoints
//! (whose argument is the task) and the pointer chain is followed with offsets user space found
//! in the kernel's BTF.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
#[allow(dead_code)]
#[path = "sched_tp.rs"]
mod sched_tp;

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{bpf_get_current_task, bpf_ktime_get_ns, bpf_probe_read_kernel},
        macros::{map, raw_tracepoint, tracepoint},
        maps::{HashMap, LruHashMap},
        programs::{RawTracePointContext, TracePointContext},
    };
    use lab_probes_common::{
        hist::{fine_slot, log2_slot, HistKey, MAX_HIST_ENTRIES},
        sched::MAX_TASKS,
    };
    use lab_probes_ebpf::count;

    use crate::sched_tp::*;

    /// 1: key histograms by PID namespace inum (--pidnss).
    #[no_mangle]
    static PIDNS: u8 = 0;
    /// 1: also count every wait in FINE_HIST, in nanoseconds and log-linear slots (the lab
    /// checker's precise quantiles; the printed histogram stays BCC's log2 rows).
    #[no_mangle]
    static FINE: u8 = 0;
    /// Byte offsets from the kernel's BTF, set with PIDNS: task_struct.pid, task_struct.tgid,
    /// task_struct.nsproxy, nsproxy.pid_ns_for_children, pid_namespace.ns + ns_common.inum.
    #[no_mangle]
    static TASK_PID: u32 = 0;
    #[no_mangle]
    static TASK_TGID: u32 = 0;
    #[no_mangle]
    static TASK_NSPROXY: u32 = 0;
    #[no_mangle]
    static NSPROXY_PID_NS: u32 = 0;
    #[no_mangle]
    static PID_NS_INUM: u32 = 0;

    /// A waiting task: since when, its process (0 when unknown) and PID namespace (with PIDNS).
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Pending {
        ts_ns: u64,
        tgid: u32,
        pidns: u32,
    }

    /// When each runnable-but-waiting task was enqueued.
    #[map]
    static START: LruHashMap<u32, Pending> = LruHashMap::with_max_entries(MAX_TASKS, 0);

    /// Both histograms are shared by the CPUs (atomic adds): as per-CPU hashes they took
    /// 6-14 ms each to create, most of runqlat's start-up.
    #[map]
    static HIST: HashMap<HistKey, u64> = HashMap::with_max_entries(MAX_HIST_ENTRIES, 0);

    #[map]
    static FINE_HIST: HashMap<HistKey, u64> = HashMap::with_max_entries(MAX_HIST_ENTRIES, 0);

    #[inline(always)]
    fn global(g: &'static u32) -> usize {
        // SAFETY: plain data set by the loader.
        unsafe { core::ptr::read_volatile(g) as usize }
    }

    /// task->nsproxy->pid_ns_for_children->ns.inum; None for an exiting task (no nsproxy).
    #[inline(always)]
    fn pidns_of(task: usize) -> Option<u32> {
        // SAFETY: bpf_probe_read_kernel checks the addresses; a bad one is an Err.
        unsafe {
            let nsproxy: usize =
                bpf_probe_read_kernel((task + global(&TASK_NSPROXY)) as *const usize).ok()?;
            if nsproxy == 0 {
                return None;
            }
            let ns: usize =
                bpf_probe_read_kernel((nsproxy + global(&NSPROXY_PID_NS)) as *const usize).ok()?;
            if ns == 0 {
                return None;
            }
            bpf_probe_read_kernel((ns + global(&PID_NS_INUM)) as *const u32).ok()
        }
    }

    #[inline(always)]
    fn enqueue(tid: u32, mut tgid: u32, pidns: u32) {
        if tid == 0 {
            return;
        }
        if tgid == 0 && need_tgid() {
            tgid = tgid_of(tid);
        }
        if !allowed(tgid) {
            return;
        }
        let ts = unsafe { bpf_ktime_get_ns() };
        let _ = START.insert(
            &tid,
            &Pending {
                ts_ns: ts,
                tgid,
                pidns,
            },
            0,
        );
    }

    #[tracepoint]
    pub fn runqlat_wakeup(ctx: TracePointContext) -> u32 {
        enqueue(read_u32(&ctx, offsets().wakeup_pid), 0, 0);
        0
    }

    #[tracepoint]
    pub fn runqlat_wakeup_new(ctx: TracePointContext) -> u32 {
        enqueue(read_u32(&ctx, offsets().wakeup_new_pid), 0, 0);
        0
    }

    /// sched_wakeup and sched_wakeup_new as raw tracepoints (--pidnss): arg 0 is the woken task.
    #[raw_tracepoint]
    pub fn runqlat_wakeup_task(ctx: RawTracePointContext) -> u32 {
        let task = ctx.arg::<*const u8>(0) as usize;
        if task == 0 {
            return 0;
        }
        // SAFETY: as in pidns_of.
        let (tid, tgid) = unsafe {
            (
                bpf_probe_read_kernel((task + global(&TASK_PID)) as *const u32).unwrap_or(0),
                bpf_probe_read_kernel((task + global(&TASK_TGID)) as *const u32).unwrap_or(0),
            )
        };
        if let Some(ns) = pidns_of(task) {
            enqueue(tid, tgid, ns);
        }
        0
    }

    #[tracepoint]
    pub fn runqlat_newtask(ctx: TracePointContext) -> u32 {
        on_newtask(&ctx);
        0
    }

    #[tracepoint]
    pub fn runqlat_switch(ctx: TracePointContext) -> u32 {
        let o = offsets();
        let prev = read_u32(&ctx, o.switch_prev_pid);
        let next = read_u32(&ctx, o.switch_next_pid);
        // The tracepoint runs in prev's context, so prev's process is the current one.
        let cur_tgid = current_tgid();
        if need_tgid() && prev != 0 {
            let _ = TGIDS.insert(&prev, &cur_tgid, 0);
        }
        // Preempted while runnable: it waits in the run queue from now.
        if prev_state(&ctx, &o) & o.sleep_mask == 0 {
            if flag(&PIDNS) == 0 {
                enqueue(prev, cur_tgid, 0);
            } else if let Some(ns) = pidns_of(unsafe { bpf_get_current_task() } as usize) {
                enqueue(prev, cur_tgid, ns);
            }
        }
        if next == 0 {
            return 0;
        }
        let Some(s) = (unsafe { START.get(&next) }) else {
            return 0;
        };
        let s = *s;
        let _ = START.remove(&next);
        let now = unsafe { bpf_ktime_get_ns() };
        let ns = now.saturating_sub(s.ts_ns);
        let delta = ns / if flag(&MILLIS) != 0 { 1_000_000 } else { 1_000 };
        let id = if flag(&PIDNS) != 0 {
            s.pidns as u64
        } else {
            key_id(if s.tgid != 0 { s.tgid } else { tgid_of(next) }, next)
        };
        if flag(&FINE) != 0 {
            let slot = fine_slot(ns);
            count::add_shared(&FINE_HIST, &HistKey { id, slot }, 1);
        }
        count::add_shared(
            &HIST,
            &HistKey {
                id,
                slot: log2_slot(delta),
            },
            1,
        );
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
