//! biolatency: block I/O latency histogram, issue (or insert with -Q) to completion.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
#[allow(dead_code)]
#[macro_use]
#[path = "block_tp.rs"]
mod block_tp;

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::bpf_ktime_get_ns,
        macros::{map, tracepoint},
        maps::{LruHashMap, PerCpuHashMap},
        programs::TracePointContext,
    };
    use lab_probes_common::{
        block::{BlockTpOffsets, LatStart, ReqKey, MAX_INFLIGHT},
        hist::{log2_slot, HistKey, MAX_HIST_ENTRIES},
    };
    use lab_probes_ebpf::count;

    use crate::block_tp::{offsets, req_key, rwbs};

    #[no_mangle]
    static INSERT_TP: BlockTpOffsets = BlockTpOffsets::ZERO;
    #[no_mangle]
    static ISSUE_TP: BlockTpOffsets = BlockTpOffsets::ZERO;
    #[no_mangle]
    static COMPLETE_TP: BlockTpOffsets = BlockTpOffsets::ZERO;
    /// 1: milliseconds, 0: microseconds.
    #[no_mangle]
    static MILLIS: u8 = 0;
    /// 0: one histogram, 1: per disk (dev_t), 2: per rwbs flags.
    #[no_mangle]
    static KEY_BY: u8 = 0;
    /// 1 when block_rq_insert is attached too (-Q): issue must not restart the clock.
    #[no_mangle]
    static QUEUED: u8 = 0;

    /// Start time (and rwbs) of each in-flight request.
    #[map]
    static START: LruHashMap<ReqKey, LatStart> = LruHashMap::with_max_entries(MAX_INFLIGHT, 0);

    #[map]
    static HIST: PerCpuHashMap<HistKey, u64> = PerCpuHashMap::with_max_entries(MAX_HIST_ENTRIES, 0);

    const BPF_NOEXIST: u64 = 1;

    #[tracepoint]
    pub fn biolatency_insert(ctx: TracePointContext) -> u32 {
        start(&ctx, &offsets(&INSERT_TP), 0);
        0
    }

    #[tracepoint]
    pub fn biolatency_issue(ctx: TracePointContext) -> u32 {
        let queued = unsafe { core::ptr::read_volatile(&QUEUED) } != 0;
        // With -Q the clock started at insert; requests that bypass the scheduler start here.
        start(
            &ctx,
            &offsets(&ISSUE_TP),
            if queued { BPF_NOEXIST } else { 0 },
        );
        0
    }

    #[inline(always)]
    fn start(ctx: &TracePointContext, off: &BlockTpOffsets, flags: u64) {
        let Some(key) = req_key(ctx, off) else { return };
        let s = LatStart {
            ts_ns: unsafe { bpf_ktime_get_ns() },
            rwbs: rwbs(ctx, off),
        };
        let _ = START.insert(&key, &s, flags);
    }

    complete_programs!(
        biolatency_complete,
        biolatency_complete_raw,
        &COMPLETE_TP,
        finish
    );

    #[inline(always)]
    fn finish(key: &ReqKey) {
        let Some(&s) = (unsafe { START.get(key) }) else {
            return;
        };
        let _ = START.remove(key);
        let now = unsafe { bpf_ktime_get_ns() };
        let mut delta = now.saturating_sub(s.ts_ns);
        delta /= if unsafe { core::ptr::read_volatile(&MILLIS) } != 0 {
            1_000_000
        } else {
            1_000
        };
        let id = match unsafe { core::ptr::read_volatile(&KEY_BY) } {
            1 => key.dev as u64,
            2 => u64::from_ne_bytes(s.rwbs),
            _ => 0,
        };
        count::add_hash(
            &HIST,
            &HistKey {
                id,
                slot: log2_slot(delta),
            },
            1,
        );
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
