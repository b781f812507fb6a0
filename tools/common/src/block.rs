//! Block I/O probes (biolatency, biosnoop, bitesize): in-flight request state and events.
//! The block tracepoints carry no request pointer, so a request is identified by (dev, sector),
//! the pair every block tracepoint has. Limitation: two requests in flight at once for the same
//! start sector (e.g. a page-cache flush racing an O_DIRECT write of the same range) share one
//! entry, and one of them is not reported.

use crate::TASK_COMM_LEN;

/// Where a block tracepoint keeps the fields the probes read, from its tracefs `format` file
/// (set as a global at load time, so the probes follow layout changes between kernels).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BlockTpOffsets {
    pub dev: u32,
    pub sector: u32,
    pub nr_sector: u32,
    pub rwbs: u32,
}

impl BlockTpOffsets {
    /// The placeholder a probe's global holds until the loader sets it.
    pub const ZERO: Self = Self {
        dev: 0,
        sector: 0,
        nr_sector: 0,
        rwbs: 0,
    };
}

/// Where `struct request` and the structs it points to keep what the block tracepoints print,
/// from this kernel's BTF. Lets block_rq_complete run as a raw tracepoint, which the kernel
/// skips only when that same program is already running on the CPU; a classic tracepoint is
/// skipped whenever any tracing program is (completions arrive in interrupts, on top of the
/// issue program: under a disk flood that lost 2-3 of 40 completions in 1 run in 7).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RqLayout {
    /// request.q, or request.rq_disk when `via_queue` is 0 (kernels before 5.16).
    pub rq_q: u32,
    pub via_queue: u32,
    /// request_queue.disk.
    pub q_disk: u32,
    /// gendisk.major and gendisk.first_minor (ints): the tracepoints' dev is MKDEV of them.
    pub disk_major: u32,
    pub disk_first_minor: u32,
    /// request.__sector (u64) and request.cmd_flags (u32).
    pub rq_sector: u32,
    pub rq_cmd_flags: u32,
    pub _pad: u32,
}

impl RqLayout {
    /// The placeholder the probes' global holds until the loader sets it.
    pub const ZERO: Self = Self {
        rq_q: 0,
        via_queue: 0,
        q_disk: 0,
        disk_major: 0,
        disk_first_minor: 0,
        rq_sector: 0,
        rq_cmd_flags: 0,
        _pad: 0,
    };
}

/// Identifies an in-flight request.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ReqKey {
    pub dev: u32,
    pub _pad: u32,
    pub sector: u64,
}

/// What is known about an in-flight request before it completes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ReqStart {
    /// When the driver was handed the request (block_rq_issue), 0 until then.
    pub issue_ns: u64,
    /// When it entered the I/O scheduler (block_rq_insert), 0 when never seen.
    pub insert_ns: u64,
    /// Process that submitted it (block_io_start / insert), 0 when unknown.
    pub pid: u32,
    pub bytes: u32,
    pub comm: [u8; TASK_COMM_LEN],
    /// The issue tracepoint's rwbs (a raw completion has no rwbs string to read).
    pub rwbs: [u8; RWBS_LEN],
}

/// biolatency's in-flight entry: start time and the rwbs seen at issue (for -F).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LatStart {
    pub ts_ns: u64,
    pub rwbs: [u8; RWBS_LEN],
}

/// One completed request (biosnoop), sent through the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BioEvent {
    /// Completion time, CLOCK_MONOTONIC ns.
    pub ts_ns: u64,
    /// Issue to completion (device time).
    pub lat_ns: u64,
    /// Insert to issue (OS queued time), 0 when the insert was not seen.
    pub queued_ns: u64,
    pub sector: u64,
    pub pid: u32,
    pub dev: u32,
    pub bytes: u32,
    pub _pad: u32,
    pub comm: [u8; TASK_COMM_LEN],
    /// The tracepoint's rwbs string ("W", "WS", "R", "FWFS", ...), NUL-padded.
    pub rwbs: [u8; RWBS_LEN],
}

/// Bytes of rwbs kept (the kernel's RWBS_LEN is 8 or 10; the flags that matter fit in 8).
pub const RWBS_LEN: usize = 8;

/// Capacity of the in-flight request map (LRU: a lost completion cannot pin it full).
pub const MAX_INFLIGHT: u32 = 16384;

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for BlockTpOffsets {}
    unsafe impl aya::Pod for ReqKey {}
    unsafe impl aya::Pod for ReqStart {}
    unsafe impl aya::Pod for RqLayout {}
    unsafe impl aya::Pod for LatStart {}
    unsafe impl aya::Pod for BioEvent {}
}
