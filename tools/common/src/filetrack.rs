//! Probes that follow files and processes for `lab check` (labs 4-5): deletions (unlinksnoop),
//! forks (forksnoop), descriptors left open (fdleak) and logical vs physical bytes (rwbytes).

/// Longest path copied from a deleting syscall (longer ones are cut, still NUL-terminated).
pub const PATH_MAX_COPIED: usize = 256;

/// Which syscall deleted the file.
pub const SYS_UNLINK: u32 = 1;
pub const SYS_UNLINKAT: u32 = 2;
pub const SYS_RMDIR: u32 = 3;

/// One unlink()/unlinkat()/rmdir() call, at syscall entry.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UnlinkEvent {
    pub tgid: u32,
    /// SYS_UNLINK, SYS_UNLINKAT or SYS_RMDIR.
    pub syscall: u32,
    /// The path argument as the caller passed it (relative to its dirfd for unlinkat).
    pub path: [u8; PATH_MAX_COPIED],
}

/// One fork/clone of a new process or thread (sched:sched_process_fork).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ForkEvent {
    /// tgid of the forking process.
    pub parent_tgid: u32,
    /// The new task's id (its pid; equal to its tgid unless it is a thread).
    pub child_pid: u32,
}

/// A descriptor of a traced process, key of fdleak's open-descriptor map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FdKey {
    pub tgid: u32,
    pub fd: u32,
}

/// Capacity of fdleak's open-descriptor map.
pub const MAX_TRACKED_FDS: u32 = 65536;

/// Slots of fdleak's per-CPU counters.
pub const FD_OPENS: u32 = 0;
pub const FD_CLOSES: u32 = 1;

/// Slots of rwbytes' per-CPU byte counters.
pub const RW_READ: u32 = 0;
pub const RW_WRITE: u32 = 1;
pub const RW_BLOCK: u32 = 2;
pub const RW_SLOTS: u32 = 3;

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for UnlinkEvent {}
    unsafe impl aya::Pod for ForkEvent {}
    unsafe impl aya::Pod for FdKey {}
}
