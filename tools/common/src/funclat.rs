//! funclatency and funcslower: what a function's entry saves for its return, the histogram key,
//! and funcslower's event.
use crate::TASK_COMM_LEN;

/// Saved at function entry, by thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Entry {
    pub ts_ns: u64,
    /// Which function: the kprobe's address, or the uprobe's attach cookie.
    pub func: u64,
    pub args: [u64; 6],
}

/// Key of an entry in flight: the thread and the function, so nested calls of different traced
/// functions (lab_mid calling lab_leaf) each keep their own start; a function recursing into
/// itself is timed from its innermost call (BCC's funclatency without -l).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StartKey {
    pub tid: u32,
    pub _pad: u32,
    pub func: u64,
}

/// funclatency's histogram key: function (0 unless per function), process (0 unless per
/// process), log2 slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LatKey {
    pub func: u64,
    pub tgid: u32,
    pub slot: u32,
}

/// One call slower than the threshold (funcslower).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SlowCall {
    pub start_ns: u64,
    pub duration_ns: u64,
    pub retval: u64,
    pub func: u64,
    pub args: [u64; 6],
    pub tgid: u32,
    pub pid: u32,
    pub kstack: i32,
    pub ustack: i32,
    pub comm: [u8; TASK_COMM_LEN],
}

/// `MODE`: histogram (funclatency) or events (funcslower).
pub const MODE_HIST: u8 = 0;
pub const MODE_EVENTS: u8 = 1;

/// Slots of the per-CPU `AVG` array: total nanoseconds (in the histogram's unit) and calls.
pub const AVG_TOTAL: u32 = 0;
pub const AVG_COUNT: u32 = 1;

/// Threads with a call in flight at once.
pub const MAX_THREADS: u32 = 10240;
/// Distinct (function, process, slot) keys.
pub const MAX_HIST_KEYS: u32 = 10240;

#[cfg(feature = "user")]
unsafe impl aya::Pod for Entry {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for LatKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for StartKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for SlowCall {}
