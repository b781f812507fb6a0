//! profile and offcputime: counts (samples, or off-CPU ns) keyed by thread and stack ids.

use crate::TASK_COMM_LEN;

/// Key of the `COUNTS` map. Each stack field is a `STACKS` map id (>= 0) or the negative errno
/// of `bpf_get_stackid`: -EFAULT means "no stack of that kind here" (user stack of a kernel
/// thread, kernel stack of a sample taken in user mode), anything else means the id was lost
/// (-ENOMEM: storage full; -EEXIST: hash collision). [`NOT_COLLECTED`] when not asked for.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackKey {
    /// Thread id (the kernel's pid).
    pub pid: u32,
    /// Process id (the kernel's tgid).
    pub tgid: u32,
    pub kstack: i32,
    pub ustack: i32,
    pub comm: [u8; TASK_COMM_LEN],
}

/// Stack field value when that kind of stack was not requested (-U / -K).
pub const NOT_COLLECTED: i32 = i32::MIN;
/// errno for "no stack of this kind in this context".
pub const EFAULT: i32 = 14;

/// Which stacks to record (`STACK_KINDS` global).
pub const STACK_USER: u8 = 1;
pub const STACK_KERNEL: u8 = 2;

/// Capacity of `COUNTS` (distinct thread+stack pairs); beyond it samples are counted as lost.
pub const MAX_KEYS: u32 = 10240;
/// Default capacity of the `STACKS` map (BCC's --stack-storage-size default).
pub const DEFAULT_STACK_STORAGE: u32 = 16384;

/// Slots of the per-CPU `ERRORS` array.
pub mod errors {
    /// Samples not counted because `COUNTS` was full.
    pub const COUNTS_FULL: u32 = 0;
    /// Kernel stacks that could not be stored (shown as "[Missed Kernel Stack]").
    pub const KSTACK_MISSED: u32 = 1;
    /// User stacks that could not be stored.
    pub const USTACK_MISSED: u32 = 2;
    /// offcputime: switch-outs not tracked because the `START` map was full.
    pub const START_FULL: u32 = 3;
    pub const SLOTS: u32 = 4;
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for StackKey {}
