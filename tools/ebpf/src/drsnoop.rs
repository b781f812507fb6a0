//! drsnoop: reclaim a task did itself, begin to end: global direct reclaim
//! (vmscan:mm_vmscan_direct_reclaim_begin/end) and memory-cgroup limit reclaim
//! (vmscan:mm_vmscan_memcg_reclaim_begin/end), with the pages reclaimed.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
        macros::{map, tracepoint},
        maps::{HashMap, PerCpuArray, RingBuf},
        programs::TracePointContext,
    };
    use lab_probes_common::mem::{ReclaimEvent, ReclaimStart, RECLAIM_DIRECT, RECLAIM_MEMCG};
    use lab_probes_ebpf::{
        events::{emit, global, tid_allowed},
        syscall,
    };

    /// Only this process (tgid); 0 = all.
    #[no_mangle]
    static FILTER_PID: u32 = 0;
    #[no_mangle]
    static FILTER_TID: u32 = 0;
    /// nr_reclaimed in the *_end tracepoints (from tracefs).
    #[no_mangle]
    static NR_RECLAIMED_OFF: u32 = 8;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    #[map]
    static STARTS: HashMap<u32, ReclaimStart> = HashMap::with_max_entries(10240, 0);

    #[inline(always)]
    fn begin(kind: u32) {
        let id = bpf_get_current_pid_tgid();
        let want = global(&FILTER_PID);
        if (want != 0 && (id >> 32) as u32 != want) || !tid_allowed(global(&FILTER_TID), id) {
            return;
        }
        let s = ReclaimStart {
            ts_ns: unsafe { bpf_ktime_get_ns() },
            kind,
            _pad: 0,
        };
        syscall::save(&STARTS, id, &s);
    }

    #[tracepoint]
    pub fn drsnoop_direct_begin(_ctx: TracePointContext) -> u32 {
        begin(RECLAIM_DIRECT);
        0
    }
    #[tracepoint]
    pub fn drsnoop_memcg_begin(_ctx: TracePointContext) -> u32 {
        begin(RECLAIM_MEMCG);
        0
    }

    #[tracepoint]
    pub fn drsnoop_end(ctx: TracePointContext) -> u32 {
        let id = bpf_get_current_pid_tgid();
        let tid = id as u32;
        let Some(s) = (unsafe { STARTS.get(&tid) }).copied() else {
            return 0;
        };
        let _ = STARTS.remove(&tid);
        let now = unsafe { bpf_ktime_get_ns() };
        let pages = unsafe { ctx.read_at::<u64>(global(&NR_RECLAIMED_OFF) as usize) }.unwrap_or(0);
        emit(&EVENTS, &LOST, None, |ev: &mut ReclaimEvent| {
            ev.end_ns = now;
            ev.delta_ns = now.saturating_sub(s.ts_ns);
            ev.pages = pages;
            ev.pid = (id >> 32) as u32;
            ev.tid = tid;
            ev.kind = s.kind;
            ev._pad = 0;
            ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
        });
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
