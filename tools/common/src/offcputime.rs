//! offcputime: off-CPU time by thread and stack, from `sched:sched_switch`.

pub use crate::profile::{
    errors, StackKey, DEFAULT_STACK_STORAGE, MAX_KEYS, NOT_COLLECTED, STACK_KERNEL, STACK_USER,
};
use crate::TASK_COMM_LEN;

/// A thread that left the CPU: when, and the stacks it blocked in (recorded while it was still
/// current, so both are its own). Consumed when it is switched back in.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OffStart {
    pub ts_ns: u64,
    pub tgid: u32,
    pub kstack: i32,
    pub ustack: i32,
    pub _pad: u32,
    pub comm: [u8; TASK_COMM_LEN],
}

/// Which threads to trace (`THREADS` global): BCC's -u / -k.
pub const THREADS_ALL: u8 = 0;
pub const THREADS_USER: u8 = 1;
pub const THREADS_KERNEL: u8 = 2;

/// Capacity of `START` (threads off CPU at once).
pub const MAX_THREADS: u32 = 32768;

#[cfg(feature = "user")]
unsafe impl aya::Pod for OffStart {}
