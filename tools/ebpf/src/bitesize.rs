//! bitesize: block I/O size histogram (Kbytes) per submitting process name.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
#[allow(dead_code)]
#[path = "block_tp.rs"]
mod block_tp;

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::bpf_get_current_comm,
        macros::{map, tracepoint},
        maps::{LruHashMap, PerCpuHashMap},
        programs::TracePointContext,
    };
    use lab_probes_common::{
        block::{BlockTpOffsets, ReqKey, ReqStart, MAX_INFLIGHT},
        hist::{log2_slot, CommHistKey, MAX_HIST_ENTRIES},
    };
    use lab_probes_ebpf::count;

    use crate::block_tp::{attribute_new, bytes, offsets, req_key};

    #[no_mangle]
    static IO_START_TP: BlockTpOffsets = BlockTpOffsets::ZERO;
    #[no_mangle]
    static ISSUE_TP: BlockTpOffsets = BlockTpOffsets::ZERO;

    /// Submitter of each request not yet issued.
    #[map]
    static START: LruHashMap<ReqKey, ReqStart> = LruHashMap::with_max_entries(MAX_INFLIGHT, 0);

    #[map]
    static HIST: PerCpuHashMap<CommHistKey, u64> =
        PerCpuHashMap::with_max_entries(MAX_HIST_ENTRIES, 0);

    /// Attribute the request to its submitter: with an I/O scheduler the issue often runs
    /// in a kworker, which is not who asked for the I/O.
    #[tracepoint]
    pub fn bitesize_io_start(ctx: TracePointContext) -> u32 {
        if let Some(key) = req_key(&ctx, &offsets(&IO_START_TP)) {
            attribute_new(&START, &key);
        }
        0
    }

    #[tracepoint]
    pub fn bitesize_issue(ctx: TracePointContext) -> u32 {
        let off = offsets(&ISSUE_TP);
        let Some(key) = req_key(&ctx, &off) else {
            return 0;
        };
        let comm = match unsafe { START.get(&key) } {
            Some(s) if s.pid != 0 => s.comm,
            _ => bpf_get_current_comm().unwrap_or([0; 16]),
        };
        let _ = START.remove(&key);
        let kbytes = (bytes(&ctx, &off) / 1024) as u64;
        count::add_hash(
            &HIST,
            &CommHistKey {
                comm,
                slot: log2_slot(kbytes),
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
