//! Records of the snoop probes (execsnoop, opensnoop, killsnoop) and syscount's map types.
//! Each ring-buffer record is one `#[repr(C)]` struct, 8-byte aligned (ring buffer requirement).

use crate::TASK_COMM_LEN;

/// Capacity of the PID-set filter map `PIDS` (`-p PID`, the runner's PID sets).
pub const MAX_FILTER_PIDS: u32 = 1024;

/// execsnoop: bytes for the NUL-separated filename + arguments of one exec.
pub const EXEC_ARGS_BYTES: usize = 4096;
/// execsnoop: longest single argument copied (BCC's ARGSIZE).
pub const EXEC_ARG_MAX: usize = 128;
/// execsnoop: hard cap on `--max-args` (bounded loop in the kernel half).
pub const EXEC_MAX_ARGS_CAP: u32 = 60;

/// One exec, emitted at `sys_exit_execve` (so it carries the result and the new comm).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecEvent {
    pub ts_ns: u64,
    pub retval: i64,
    pub pid: u32,
    /// 0 when the parent is unknown (forked before the probe attached); user space fills it.
    pub ppid: u32,
    pub uid: u32,
    /// Number of NUL-terminated strings in `args` (the filename first, then argv[1..]).
    pub args_count: u32,
    /// Bytes of `args` in use.
    pub args_size: u32,
    /// 1 when argv had more entries than were copied (print "...").
    pub truncated: u32,
    pub comm: [u8; TASK_COMM_LEN],
    pub args: [u8; EXEC_ARGS_BYTES],
}

/// opensnoop: path bytes copied per open (BCC's NAME_MAX + NUL).
pub const OPEN_PATH_LEN: usize = 256;

/// One open/openat/openat2, emitted at syscall exit.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenEvent {
    pub ts_ns: u64,
    /// fd on success, -errno on failure.
    pub ret: i64,
    pub flags: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    /// Which syscall: 0 open, 1 openat, 2 openat2.
    pub syscall: u32,
    pub comm: [u8; TASK_COMM_LEN],
    pub path: [u8; OPEN_PATH_LEN],
}

/// An open in flight (sys_enter_* to sys_exit_*), keyed by tid.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenStart {
    pub filename: u64,
    pub flags: u64,
    pub syscall: u32,
    pub _pad: u32,
}

/// One kill/tkill/tgkill, emitted at syscall exit.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KillEvent {
    pub ts_ns: u64,
    pub ret: i64,
    pub pid: u32,
    /// Target as passed: the pid of kill, the tid of tkill/tgkill.
    pub tpid: i32,
    pub sig: u32,
    /// 0 kill, 1 tkill, 2 tgkill.
    pub syscall: u32,
    pub comm: [u8; TASK_COMM_LEN],
}

/// A kill in flight, keyed by tid.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KillStart {
    pub tpid: i32,
    pub sig: u32,
    pub syscall: u32,
    pub _pad: u32,
}

/// syscount: value of `COUNTS` (per CPU), keyed by syscall number or by tgid (`-P`).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SyscallStat {
    pub count: u64,
    /// Sum of latencies in ns (only with `-L`).
    pub total_ns: u64,
}

/// syscount: capacity of `COUNTS`.
pub const SYSCOUNT_MAX_KEYS: u32 = 10240;

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for ExecEvent {}
    unsafe impl aya::Pod for OpenEvent {}
    unsafe impl aya::Pod for OpenStart {}
    unsafe impl aya::Pod for KillEvent {}
    unsafe impl aya::Pod for KillStart {}
    unsafe impl aya::Pod for SyscallStat {}
}
