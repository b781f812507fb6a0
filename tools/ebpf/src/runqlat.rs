//! runqlat: run queue (scheduler) latency histogram: time from becoming runnable (wakeup, or
//! preemption while still runnable) to running on a CPU.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
#[allow(dead_code)]
#[path = "sched_tp.rs"]
mod sched_tp;

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::bpf_ktime_get_ns,
        macros::{map, tracepoint},
        maps::{LruHashMap, PerCpuHashMap},
        programs::TracePointContext,
    };
    use lab_probes_common::{
        hist::{log2_slot, HistKey, MAX_HIST_ENTRIES},
        sched::{TaskStart, MAX_TASKS},
    };
    use lab_probes_ebpf::count;

    use crate::sched_tp::*;

    /// When each runnable-but-waiting task was enqueued.
    #[map]
    static START: LruHashMap<u32, TaskStart> = LruHashMap::with_max_entries(MAX_TASKS, 0);

    #[map]
    static HIST: PerCpuHashMap<HistKey, u64> = PerCpuHashMap::with_max_entries(MAX_HIST_ENTRIES, 0);

    #[inline(always)]
    fn enqueue(tid: u32, mut tgid: u32) {
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
            &TaskStart {
                ts_ns: ts,
                tgid,
                _pad: 0,
            },
            0,
        );
    }

    #[tracepoint]
    pub fn runqlat_wakeup(ctx: TracePointContext) -> u32 {
        enqueue(read_u32(&ctx, offsets().wakeup_pid), 0);
        0
    }

    #[tracepoint]
    pub fn runqlat_wakeup_new(ctx: TracePointContext) -> u32 {
        enqueue(read_u32(&ctx, offsets().wakeup_new_pid), 0);
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
            enqueue(prev, cur_tgid);
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
        let mut delta = now.saturating_sub(s.ts_ns);
        delta /= if flag(&MILLIS) != 0 { 1_000_000 } else { 1_000 };
        let tgid = if s.tgid != 0 { s.tgid } else { tgid_of(next) };
        count::add_hash(
            &HIST,
            &HistKey {
                id: key_id(tgid, next),
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
