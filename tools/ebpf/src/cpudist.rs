//! cpudist: histogram of on-CPU time per scheduling (or off-CPU time with -O), from
//! sched_switch alone: one task leaves the CPU, the next one arrives.
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

    /// 1: off-CPU time (-O), 0: on-CPU time.
    #[no_mangle]
    static OFFCPU: u8 = 0;

    /// When each task arrived on (or, with -O, left) its CPU.
    #[map]
    static START: LruHashMap<u32, TaskStart> = LruHashMap::with_max_entries(MAX_TASKS, 0);

    #[map]
    static HIST: PerCpuHashMap<HistKey, u64> = PerCpuHashMap::with_max_entries(MAX_HIST_ENTRIES, 0);

    #[inline(always)]
    fn record(start_ns: u64, now: u64, tgid: u32, tid: u32) {
        let mut delta = now.saturating_sub(start_ns);
        delta /= if flag(&MILLIS) != 0 { 1_000_000 } else { 1_000 };
        count::add_hash(
            &HIST,
            &HistKey {
                id: key_id(tgid, tid),
                slot: log2_slot(delta),
            },
            1,
        );
    }

    #[tracepoint]
    pub fn cpudist_switch(ctx: TracePointContext) -> u32 {
        let o = offsets();
        let prev = read_u32(&ctx, o.switch_prev_pid);
        let next = read_u32(&ctx, o.switch_next_pid);
        // The tracepoint runs in prev's context, so prev's process is the current one.
        let cur_tgid = current_tgid();
        let now = unsafe { bpf_ktime_get_ns() };
        if flag(&OFFCPU) != 0 {
            if prev != 0 && allowed(cur_tgid) {
                let _ = START.insert(
                    &prev,
                    &TaskStart {
                        ts_ns: now,
                        tgid: cur_tgid,
                        _pad: 0,
                    },
                    0,
                );
            }
            if next != 0 {
                if let Some(s) = unsafe { START.get(&next) } {
                    let s = *s;
                    let _ = START.remove(&next);
                    record(s.ts_ns, now, s.tgid, next);
                }
            }
        } else {
            if prev != 0 {
                if let Some(s) = unsafe { START.get(&prev) } {
                    let s = *s;
                    let _ = START.remove(&prev);
                    if allowed(cur_tgid) {
                        record(s.ts_ns, now, cur_tgid, prev);
                    }
                }
            }
            if next != 0 {
                let _ = START.insert(
                    &next,
                    &TaskStart {
                        ts_ns: now,
                        tgid: 0,
                        _pad: 0,
                    },
                    0,
                );
            }
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
