//! Scheduler probes (runqlat, cpudist, runqlen): state kept between sched tracepoints.

/// A task's pending timestamp: when it became runnable (runqlat) or went on/off CPU (cpudist),
/// with its process id when known at that moment (0 otherwise).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskStart {
    pub ts_ns: u64,
    pub tgid: u32,
    pub _pad: u32,
}

/// How a scheduler histogram is keyed.
pub mod key_mode {
    /// One histogram for everything.
    pub const NONE: u8 = 0;
    /// Per process (tgid): BCC's -P.
    pub const PID: u8 = 1;
    /// Per thread: BCC's -L.
    pub const TID: u8 = 2;
    /// Per CPU: runqlen -C.
    pub const CPU: u8 = 3;
}

/// Capacity of per-task maps (tasks pending, tid -> tgid, pid filter).
pub const MAX_TASKS: u32 = 32768;

/// Offsets of the sched tracepoint fields the probes read, from tracefs, plus the mask of
/// `prev_state` bits that mean "not runnable" (from sched_switch's print fmt).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SchedOffsets {
    pub switch_prev_pid: u32,
    pub switch_prev_state: u32,
    pub switch_next_pid: u32,
    /// Size in bytes of prev_state (8 on current kernels, `long`).
    pub switch_prev_state_size: u32,
    pub wakeup_pid: u32,
    pub wakeup_new_pid: u32,
    pub newtask_pid: u32,
    pub newtask_clone_flags: u32,
    /// prev_state & sleep_mask == 0 means the task was preempted while runnable.
    pub sleep_mask: u64,
}

/// Offsets into kernel structs (from /sys/kernel/btf/vmlinux) that runqlen follows from the
/// current task to its CPU's run queue: task->se.cfs_rq->rq->nr_running.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RqOffsets {
    /// offsetof(task_struct, se) + offsetof(sched_entity, cfs_rq).
    pub task_cfs_rq: u32,
    /// 1: read cfs_rq->rq at `cfs_rq_rq`; 0: the cfs_rq is embedded in the rq at `rq_cfs`
    /// (kernels without CONFIG_FAIR_GROUP_SCHED), so rq = cfs_rq - rq_cfs.
    pub has_cfs_rq_rq: u32,
    pub cfs_rq_rq: u32,
    pub rq_cfs: u32,
    pub rq_nr_running: u32,
    pub _pad: u32,
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for TaskStart {}
    unsafe impl aya::Pod for SchedOffsets {}
    unsafe impl aya::Pod for RqOffsets {}
}
