//! Memory tools: cachestat (page-cache counters), oomkill (OOM kills), drsnoop (reclaim
//! latency). Shared `#[repr(C)]` records and slots.

use crate::TASK_COMM_LEN;

/// cachestat's per-CPU counter slots: calls of the page-cache functions it hooks.
pub const CS_ACCESSED: u32 = 0;
pub const CS_BUFFER_DIRTY: u32 = 1;
pub const CS_ADDED: u32 = 2;
pub const CS_DIRTIED: u32 = 3;
pub const CS_SLOTS: u32 = 4;

/// oomkill: task_struct/oom_control offsets for the kprobe path (from BTF).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OomOffsets {
    pub oc_chosen: u32,
    pub oc_totalpages: u32,
    pub task_tgid: u32,
    pub task_comm: u32,
}

/// One OOM kill.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OomEvent {
    /// The task whose allocation triggered it (current at the kill).
    pub trigger_pid: u32,
    pub victim_pid: u32,
    /// kprobe path: oom_control.totalpages (BCC's figure); tracepoint path: the victim's
    /// total_vm in kB where the tracepoint has it (6.8+).
    pub pages: u64,
    /// 0: `pages` unknown (6.1's oom:mark_victim has only the pid).
    pub has_pages: u32,
    pub _pad: u32,
    pub trigger_comm: [u8; TASK_COMM_LEN],
    pub victim_comm: [u8; TASK_COMM_LEN],
}

/// drsnoop: which reclaim.
pub const RECLAIM_DIRECT: u32 = 0;
pub const RECLAIM_MEMCG: u32 = 1;

/// One reclaim by a task, begin to end.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ReclaimEvent {
    pub end_ns: u64,
    pub delta_ns: u64,
    pub pages: u64,
    pub pid: u32,
    pub tid: u32,
    pub kind: u32,
    pub _pad: u32,
    pub comm: [u8; TASK_COMM_LEN],
}

/// A reclaim in flight, by tid.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ReclaimStart {
    pub ts_ns: u64,
    pub kind: u32,
    pub _pad: u32,
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for OomOffsets {}
    unsafe impl aya::Pod for OomEvent {}
    unsafe impl aya::Pod for ReclaimEvent {}
    unsafe impl aya::Pod for ReclaimStart {}
}
