//! biosnoop: one event per completed block I/O, with the submitting process, size and latency.
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
        maps::{LruHashMap, PerCpuArray, RingBuf},
        programs::TracePointContext,
    };
    use lab_probes_common::block::{BioEvent, BlockTpOffsets, ReqKey, ReqStart, MAX_INFLIGHT};
    use lab_probes_ebpf::count;

    use crate::block_tp::{attribute_new, bytes, entry, offsets, req_key, rwbs, set_current};

    #[no_mangle]
    static IO_START_TP: BlockTpOffsets = BlockTpOffsets::ZERO;
    #[no_mangle]
    static INSERT_TP: BlockTpOffsets = BlockTpOffsets::ZERO;
    #[no_mangle]
    static ISSUE_TP: BlockTpOffsets = BlockTpOffsets::ZERO;
    #[no_mangle]
    static COMPLETE_TP: BlockTpOffsets = BlockTpOffsets::ZERO;

    #[map]
    static START: LruHashMap<ReqKey, ReqStart> = LruHashMap::with_max_entries(MAX_INFLIGHT, 0);

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

    /// Slot 0: events dropped because the ring buffer was full. Slot 1: requests whose
    /// in-flight entry could not be stored. Slot 2: completions with no entry (issued before
    /// we attached, or lost).
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(3, 0);

    /// block_io_start (6.5+): the request is created in the submitter's context.
    #[tracepoint]
    pub fn biosnoop_io_start(ctx: TracePointContext) -> u32 {
        if let Some(key) = req_key(&ctx, &offsets(&IO_START_TP)) {
            attribute_new(&START, &key);
        }
        0
    }

    #[tracepoint]
    pub fn biosnoop_insert(ctx: TracePointContext) -> u32 {
        let Some(key) = req_key(&ctx, &offsets(&INSERT_TP)) else {
            return 0;
        };
        let Some(s) = entry(&START, &key) else {
            return 0;
        };
        // SAFETY: map value pointer, valid for this program run.
        let s = unsafe { &mut *s };
        s.insert_ns = unsafe { bpf_ktime_get_ns() };
        if s.pid == 0 {
            set_current(s);
        }
        0
    }

    #[tracepoint]
    pub fn biosnoop_issue(ctx: TracePointContext) -> u32 {
        let off = offsets(&ISSUE_TP);
        let Some(key) = req_key(&ctx, &off) else {
            return 0;
        };
        let Some(s) = entry(&START, &key) else {
            count::add_array(&LOST, 1, 1);
            return 0;
        };
        let s = unsafe { &mut *s };
        s.issue_ns = unsafe { bpf_ktime_get_ns() };
        s.bytes = bytes(&ctx, &off);
        s.rwbs = rwbs(&ctx, &off);
        if s.pid == 0 {
            set_current(s);
        }
        0
    }

    complete_programs!(
        biosnoop_complete,
        biosnoop_complete_raw,
        &COMPLETE_TP,
        finish
    );

    #[inline(always)]
    fn finish(key: &ReqKey) {
        let Some(s) = (unsafe { START.get(key) }) else {
            count::add_array(&LOST, 2, 1);
            return;
        };
        let s = *s;
        let _ = START.remove(key);
        if s.issue_ns == 0 {
            count::add_array(&LOST, 2, 1);
            return;
        }
        let now = unsafe { bpf_ktime_get_ns() };
        let ev = BioEvent {
            ts_ns: now,
            lat_ns: now.saturating_sub(s.issue_ns),
            queued_ns: if s.insert_ns != 0 {
                s.issue_ns.saturating_sub(s.insert_ns)
            } else {
                0
            },
            sector: key.sector,
            pid: s.pid,
            dev: key.dev,
            bytes: s.bytes,
            _pad: 0,
            comm: s.comm,
            rwbs: s.rwbs,
        };
        if EVENTS.output::<BioEvent>(&ev, 0).is_err() {
            count::add_array(&LOST, 0, 1);
        }
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
