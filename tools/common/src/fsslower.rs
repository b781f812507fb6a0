//! fsslower / fsdist (ext4slower, xfsslower, btrfsslower, ext4dist, xfsdist): one kernel object
//! times a file system's read, write, open and fsync, through whichever hook the kernel allows
//! (fentry/fexit, kprobes, or syscall tracepoints), and either streams slow operations or keeps
//! a latency histogram per operation.

use crate::TASK_COMM_LEN;

/// Operation codes (BCC's T column: R W O S; the histogram key of fsdist).
pub const OP_READ: u32 = 0;
pub const OP_WRITE: u32 = 1;
pub const OP_OPEN: u32 = 2;
pub const OP_FSYNC: u32 = 3;
pub const OP_COUNT: u32 = 4;

/// Bytes of the file's name (its dentry's, no directory) copied per event.
pub const FS_NAME_LEN: usize = 64;

/// `MODE`: stream one event per slow operation (fsslower), or count latencies (fsdist).
pub const MODE_EVENTS: u8 = 0;
pub const MODE_HIST: u8 = 1;

/// Kernel struct member offsets, from the kernel's BTF at load time.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FsOffsets {
    /// kiocb.ki_filp, kiocb.ki_pos (fentry/kprobe read/write).
    pub kiocb_filp: u32,
    pub kiocb_pos: u32,
    /// task_struct.files, files_struct.fdt, fdtable.max_fds, fdtable.fd (syscall path).
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdt_max_fds: u32,
    pub fdt_fd: u32,
    /// file.f_inode, inode.i_sb, super_block.s_magic (syscall path's fs filter).
    pub file_inode: u32,
    pub inode_sb: u32,
    pub sb_magic: u32,
    /// file.f_pos (syscall read/write offset), file.f_path + path.dentry, dentry.d_name + qstr.name.
    pub file_pos: u32,
    pub file_dentry: u32,
    pub dentry_name: u32,
}

/// One operation in flight, keyed by tid.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FsStart {
    pub ts_ns: u64,
    /// struct file * (0 for an open traced at syscall level: known only at exit).
    pub file: u64,
    /// Byte offset at entry (read/write).
    pub offset: i64,
    pub op: u32,
    pub _pad: u32,
}

/// One operation slower than the threshold.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FsEvent {
    /// When it ended (bpf_ktime_get_ns).
    pub end_ns: u64,
    pub delta_ns: u64,
    /// Bytes read or written (the return value); 0 for open and fsync.
    pub size: i64,
    pub offset: i64,
    pub pid: u32,
    pub op: u32,
    pub comm: [u8; TASK_COMM_LEN],
    pub name: [u8; FS_NAME_LEN],
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for FsOffsets {}
    unsafe impl aya::Pod for FsStart {}
    unsafe impl aya::Pod for FsEvent {}
}
