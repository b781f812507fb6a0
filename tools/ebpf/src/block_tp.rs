//! Reading the block tracepoints (shared by biolatency, biosnoop and bitesize; included with
//! `#[path]`). Field offsets come from tracefs through globals, never from compiled-in structs.
use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid},
    maps::LruHashMap,
    programs::TracePointContext,
};
use lab_probes_common::block::{BlockTpOffsets, ReqKey, ReqStart, RWBS_LEN};

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
