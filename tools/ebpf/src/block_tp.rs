//! Reading the block tracepoints (shared by biolatency, biosnoop and bitesize; included with
//! `#[path]`). Field offsets come from tracefs through globals, never from compiled-in structs.
use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_probe_read_kernel},
    maps::LruHashMap,
    programs::{RawTracePointContext, TracePointContext},
};
use lab_probes_common::block::{BlockTpOffsets, ReqKey, ReqStart, RqLayout, RWBS_LEN};

/// struct request layout for the raw block_rq_complete (set by the loader from BTF).
#[no_mangle]
static RQ_LAYOUT: RqLayout = RqLayout::ZERO;

/// REQ_OP_DRV_IN / REQ_OP_DRV_OUT (stable since 4.11): passthrough requests, whose sector the
/// tracepoints print as 0.
const REQ_OP_DRV_IN: u32 = 34;
const REQ_OP_DRV_OUT: u32 = 35;

/// Only this dev_t (kernel encoding, major << 20 | minor); 0 traces every disk.
#[no_mangle]
static DEV_FILTER: u32 = 0;

#[inline(always)]
pub fn offsets(global: &'static BlockTpOffsets) -> BlockTpOffsets {
    // SAFETY: globals are plain data, set by the loader before the program runs.
    unsafe { core::ptr::read_volatile(global) }
}

/// The request's (dev, sector), or None when the disk is filtered out.
#[inline(always)]
pub fn req_key(ctx: &TracePointContext, off: &BlockTpOffsets) -> Option<ReqKey> {
    // SAFETY: offsets come from this kernel's format file for this tracepoint.
    let dev: u32 = unsafe { ctx.read_at(off.dev as usize) }.ok()?;
    let filter = unsafe { core::ptr::read_volatile(&DEV_FILTER) };
    if filter != 0 && dev != filter {
        return None;
    }
    let sector: u64 = unsafe { ctx.read_at(off.sector as usize) }.ok()?;
    Some(ReqKey {
        dev,
        _pad: 0,
        sector,
    })
}

/// The (dev, sector) the block tracepoints would print for the `struct request *` that is a raw
/// tracepoint's first argument, or None when the disk is filtered out or unreadable.
#[inline(always)]
pub fn raw_req_key(ctx: &RawTracePointContext) -> Option<ReqKey> {
    // SAFETY: plain data global set at load time.
    let l = unsafe { core::ptr::read_volatile(&RQ_LAYOUT) };
    let rq: u64 = ctx.arg(0);
    // SAFETY: bpf_probe_read_kernel checks every address; a bad offset reads an error, not memory.
    unsafe {
        let read_ptr = |at: u64| bpf_probe_read_kernel(at as *const u64).ok();
        let mut disk = read_ptr(rq + l.rq_q as u64)?;
        if l.via_queue != 0 {
            disk = read_ptr(disk + l.q_disk as u64)?;
        }
        let dev = if disk == 0 {
            0
        } else {
            let major: u32 =
                bpf_probe_read_kernel((disk + l.disk_major as u64) as *const u32).ok()?;
            let minor: u32 =
                bpf_probe_read_kernel((disk + l.disk_first_minor as u64) as *const u32).ok()?;
            (major << 20) | (minor & 0xfffff)
        };
        let filter = core::ptr::read_volatile(&DEV_FILTER);
        if filter != 0 && dev != filter {
            return None;
        }
        let pos: u64 = bpf_probe_read_kernel((rq + l.rq_sector as u64) as *const u64).ok()?;
        let flags: u32 = bpf_probe_read_kernel((rq + l.rq_cmd_flags as u64) as *const u32).ok()?;
        let op = flags & 0xff;
        let sector = if op == REQ_OP_DRV_IN || op == REQ_OP_DRV_OUT || pos == u64::MAX {
            0
        } else {
            pos
        };
        Some(ReqKey {
            dev,
            _pad: 0,
            sector,
        })
    }
}

#[inline(always)]
pub fn bytes(ctx: &TracePointContext, off: &BlockTpOffsets) -> u32 {
    let n: u32 = unsafe { ctx.read_at(off.nr_sector as usize) }.unwrap_or(0);
    n.wrapping_mul(512)
}

#[inline(always)]
pub fn rwbs(ctx: &TracePointContext, off: &BlockTpOffsets) -> [u8; RWBS_LEN] {
    unsafe { ctx.read_at(off.rwbs as usize) }.unwrap_or([0; RWBS_LEN])
}

/// The in-flight entry for `key`, created empty when absent.
#[inline(always)]
pub fn entry(map: &LruHashMap<ReqKey, ReqStart>, key: &ReqKey) -> Option<*mut ReqStart> {
    if let Some(p) = map.get_ptr_mut(key) {
        return Some(p);
    }
    map.insert(key, &ReqStart::default(), 0).ok()?;
    map.get_ptr_mut(key)
}

/// Record the current task as the request's submitter (a new request starts here).
#[inline(always)]
pub fn attribute_new(map: &LruHashMap<ReqKey, ReqStart>, key: &ReqKey) {
    let mut s = ReqStart::default();
    set_current(&mut s);
    let _ = map.insert(key, &s, 0);
}

/// Fill in the submitter from the current task.
#[inline(always)]
pub fn set_current(s: &mut ReqStart) {
    s.pid = (bpf_get_current_pid_tgid() >> 32) as u32;
    s.comm = bpf_get_current_comm().unwrap_or([0; 16]);
}

/// The two entry points of a block_rq_complete handler `$finish(&ReqKey)`: `$classic` on the
/// classic tracepoint (fields at the `$offsets` global) and `$raw` on the raw one (RQ_LAYOUT).
/// The loader attaches one of them (lab_probes::block::attach_complete).
#[allow(unused_macros)] // bitesize has no completion
macro_rules! complete_programs {
    ($classic:ident, $raw:ident, $offsets:expr, $finish:ident) => {
        /// Completion as a classic tracepoint (kernels whose BTF lacks the request layout).
        #[aya_ebpf::macros::tracepoint]
        pub fn $classic(ctx: aya_ebpf::programs::TracePointContext) -> u32 {
            if let Some(key) = crate::block_tp::req_key(&ctx, &crate::block_tp::offsets($offsets)) {
                $finish(&key);
            }
            0
        }

        /// Completion as a raw tracepoint: see RqLayout for why.
        #[aya_ebpf::macros::raw_tracepoint(tracepoint = "block_rq_complete")]
        pub fn $raw(ctx: aya_ebpf::programs::RawTracePointContext) -> u32 {
            if let Some(key) = crate::block_tp::raw_req_key(&ctx) {
                $finish(&key);
            }
            0
        }
    };
}
