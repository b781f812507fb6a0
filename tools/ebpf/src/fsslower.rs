//! fsslower / fsdist: latency of one file system's read, write, open and fsync.
//!
//! Three ways in, chosen by the user half in this order:
//! - fentry/fexit on the file system's file operations (ext4_file_read_iter, ...);
//! - kprobe/kretprobe on the same functions;
//! - syscall tracepoints (read/readv/pread64/preadv/preadv2 and their writes, fsync/fdatasync,
//!   open/openat/openat2/creat/open_by_handle_at) where the kernel has neither: the fd is
//!   resolved to its struct file through the current task's file table (offsets from BTF), and
//!   only files whose superblock magic is the file system's are kept. That path times the whole
//!   syscall and cannot see I/O that does not go through these syscalls (io_uring, AIO, mmap
//!   page faults and msync, splice/sendfile/copy_file_range); the user half's header says so.
//!
//! The tracer's own process is never traced (`SELF_PID`): `ext4slower 0 > file.txt` on ext4
//! would otherwise report its own writes, each of which makes another line to write.
//!
//! Every path saves an `FsStart` by tid at entry and finishes at return: either one `FsEvent`
//! for an operation at least `MIN_NS` long (MODE_EVENTS), or a count in the log2 histogram of
//! its operation (MODE_HIST).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{
            bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns,
            bpf_probe_read_kernel, generated::bpf_probe_read_kernel_str,
        },
        macros::{fentry, fexit, kprobe, kretprobe, map, tracepoint},
        maps::{HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
        programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext, TracePointContext},
    };
    use lab_probes_common::{
        fsslower::{
            FsEvent, FsOffsets, FsStart, FS_NAME_LEN, MODE_HIST, OP_FSYNC, OP_OPEN, OP_READ,
            OP_WRITE,
        },
        hist::{log2_slot, HistKey, MAX_HIST_ENTRIES},
    };
    use lab_probes_ebpf::{
        count,
        events::{emit, global},
        syscall,
    };

    #[no_mangle]
    static OFFS: FsOffsets = FsOffsets {
        kiocb_filp: 0,
        kiocb_pos: 0,
        task_files: 0,
        files_fdt: 0,
        fdt_max_fds: 0,
        fdt_fd: 0,
        file_inode: 0,
        inode_sb: 0,
        sb_magic: 0,
        file_pos: 0,
        file_dentry: 0,
        dentry_name: 0,
    };
    /// Superblock magic of the traced file system (syscall path only).
    #[no_mangle]
    static FS_MAGIC: u64 = 0;
    /// Only this process (tgid); 0 = all.
    #[no_mangle]
    static FILTER_PID: u32 = 0;
    /// The tracer's own process (tgid), never traced.
    #[no_mangle]
    static SELF_PID: u32 = 0;
    /// Shortest operation reported (MODE_EVENTS).
    #[no_mangle]
    static MIN_NS: u64 = 0;
    /// MODE_EVENTS or MODE_HIST.
    #[no_mangle]
    static MODE: u8 = 0;
    /// Histogram unit: 1 = milliseconds, 0 = microseconds.
    #[no_mangle]
    static HIST_MS: u8 = 0;
    /// Syscall tracepoint field offsets (from tracefs): fd, pos (pread64/pwrite64), ret.
    #[no_mangle]
    static SYS_FD_OFF: u32 = 16;
    #[no_mangle]
    static SYS_POS_OFF: u32 = 32;
    #[no_mangle]
    static SYS_RET_OFF: u32 = 16;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(1024 * 1024, 0);
    /// Reader wake-ups are batched (`batched_wakeup`, as opensnoop): one per 64 KiB of events
    /// instead of one per event; the user half drains every 50 ms anyway. Waking the reader per
    /// event was most of the cost a busy tracee paid (lab-bench's cost-per-event tables).
    const WAKEUP_BYTES: u64 = 64 * 1024;
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    #[map]
    static STARTS: HashMap<u32, FsStart> = HashMap::with_max_entries(10240, 0);
    /// Latency histogram, keyed by (operation, log2 slot).
    #[map]
    static HIST: PerCpuHashMap<HistKey, u64> = PerCpuHashMap::with_max_entries(MAX_HIST_ENTRIES, 0);

    #[inline(always)]
    fn offs() -> FsOffsets {
        // SAFETY: reading a static; volatile so the load-time value is used.
        unsafe { core::ptr::read_volatile(&OFFS) }
    }

    /// The current thread's id when its process is traced.
    #[inline(always)]
    fn traced() -> Option<u64> {
        let id = bpf_get_current_pid_tgid();
        let tgid = (id >> 32) as u32;
        let want = global(&FILTER_PID);
        (tgid != global(&SELF_PID) && (want == 0 || tgid == want)).then_some(id)
    }

    #[inline(always)]
    fn read<T>(addr: u64) -> Option<T> {
        if addr == 0 {
            return None;
        }
        // SAFETY: the helper faults safely on a bad kernel address.
        unsafe { bpf_probe_read_kernel(addr as *const T) }.ok()
    }

    #[inline(always)]
    fn start(id: u64, op: u32, file: u64, offset: i64) {
        let s = FsStart {
            // SAFETY: helper without arguments.
            ts_ns: unsafe { bpf_ktime_get_ns() },
            file,
            offset,
            op,
            _pad: 0,
        };
        syscall::save(&STARTS, id, &s);
    }

    /// The operation of the current thread ended with `ret`: report or count it.
    #[inline(always)]
    fn finish(id: u64, ret: i64, file_at_exit: Option<u64>) {
        let tid = id as u32;
        // SAFETY: copied out at once.
        let Some(s) = (unsafe { STARTS.get(&tid) }).copied() else {
            return;
        };
        let _ = STARTS.remove(&tid);
        let file = match file_at_exit {
            Some(f) => f,
            None => s.file,
        };
        if file == 0 {
            return;
        }
        // SAFETY: helper without arguments.
        let now = unsafe { bpf_ktime_get_ns() };
        let delta = now.saturating_sub(s.ts_ns);
        if global(&MODE) == MODE_HIST {
            let v = if global(&HIST_MS) != 0 {
                delta / 1_000_000
            } else {
                delta / 1000
            };
            let key = HistKey {
                id: s.op as u64,
                slot: log2_slot(v),
            };
            count::add_hash(&HIST, &key, 1);
            return;
        }
        if delta < global(&MIN_NS) {
            return;
        }
        let o = offs();
        emit(&EVENTS, &LOST, Some(WAKEUP_BYTES), |ev: &mut FsEvent| {
            ev.end_ns = now;
            ev.delta_ns = delta;
            ev.size = if s.op == OP_READ || s.op == OP_WRITE {
                ret
            } else {
                0
            };
            ev.offset = s.offset;
            ev.pid = (id >> 32) as u32;
            ev.op = s.op;
            ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
            ev.name[0] = 0;
            let dentry: u64 = read(file + o.file_dentry as u64).unwrap_or(0);
            let name: u64 = read(dentry + o.dentry_name as u64).unwrap_or(0);
            if name != 0 {
                // SAFETY: the helper writes at most FS_NAME_LEN bytes into `name`.
                unsafe {
                    bpf_probe_read_kernel_str(
                        ev.name.as_mut_ptr().cast(),
                        FS_NAME_LEN as u32,
                        name as *const _,
                    )
                };
            }
        });
    }

    // ----------------------------------------------------------------------------------------
    // fentry/fexit and kprobe/kretprobe: the file system's own functions.

    /// read_iter/write_iter(struct kiocb *iocb, struct iov_iter *): the file and the position.
    #[inline(always)]
    fn start_iter(kiocb: u64, op: u32) {
        let Some(id) = traced() else { return };
        let o = offs();
        let file: u64 = read(kiocb + o.kiocb_filp as u64).unwrap_or(0);
        let pos: i64 = read(kiocb + o.kiocb_pos as u64).unwrap_or(0);
        start(id, op, file, pos);
    }

    #[inline(always)]
    fn start_file(file: u64, op: u32) {
        let Some(id) = traced() else { return };
        start(id, op, file, 0);
    }

    #[inline(always)]
    fn finish_current(ret: i64) {
        finish(bpf_get_current_pid_tgid(), ret, None);
    }

    #[fentry]
    pub fn fss_fentry_read(ctx: FEntryContext) -> u32 {
        start_iter(ctx.arg(0), OP_READ);
        0
    }
    #[fentry]
    pub fn fss_fentry_write(ctx: FEntryContext) -> u32 {
        start_iter(ctx.arg(0), OP_WRITE);
        0
    }
    /// open(struct inode *, struct file *).
    #[fentry]
    pub fn fss_fentry_open(ctx: FEntryContext) -> u32 {
        start_file(ctx.arg(1), OP_OPEN);
        0
    }
    /// fsync(struct file *, loff_t start, loff_t end, int datasync).
    #[fentry]
    pub fn fss_fentry_fsync(ctx: FEntryContext) -> u32 {
        start_file(ctx.arg(0), OP_FSYNC);
        0
    }
    // fexit's return value follows the arguments in its context.
    #[fexit]
    pub fn fss_fexit_read(ctx: FExitContext) -> u32 {
        finish_current(ctx.arg::<i64>(2));
        0
    }
    #[fexit]
    pub fn fss_fexit_write(ctx: FExitContext) -> u32 {
        finish_current(ctx.arg::<i64>(2));
        0
    }
    #[fexit]
    pub fn fss_fexit_open(ctx: FExitContext) -> u32 {
        finish_current(ctx.arg::<i64>(2));
        0
    }
    #[fexit]
    pub fn fss_fexit_fsync(ctx: FExitContext) -> u32 {
        finish_current(ctx.arg::<i64>(4));
        0
    }

    #[kprobe]
    pub fn fss_kprobe_read(ctx: ProbeContext) -> u32 {
        start_iter(ctx.arg::<u64>(0).unwrap_or(0), OP_READ);
        0
    }
    #[kprobe]
    pub fn fss_kprobe_write(ctx: ProbeContext) -> u32 {
        start_iter(ctx.arg::<u64>(0).unwrap_or(0), OP_WRITE);
        0
    }
    #[kprobe]
    pub fn fss_kprobe_open(ctx: ProbeContext) -> u32 {
        start_file(ctx.arg::<u64>(1).unwrap_or(0), OP_OPEN);
        0
    }
    #[kprobe]
    pub fn fss_kprobe_fsync(ctx: ProbeContext) -> u32 {
        start_file(ctx.arg::<u64>(0).unwrap_or(0), OP_FSYNC);
        0
    }
    /// One return probe for all four functions (the start saved which operation it was).
    #[kretprobe]
    pub fn fss_kretprobe(ctx: RetProbeContext) -> u32 {
        finish_current(ctx.ret::<i64>());
        0
    }

    // ----------------------------------------------------------------------------------------
    // Syscall tracepoints: fd -> struct file through the current task's file table.

    /// current->files->fdt->fd[fd], or None past max_fds.
    #[inline(always)]
    fn fd_file(fd: u64) -> Option<u64> {
        let o = offs();
        // SAFETY: helper without arguments.
        let task = unsafe { bpf_get_current_task() };
        let files: u64 = read(task + o.task_files as u64)?;
        let fdt: u64 = read(files + o.files_fdt as u64)?;
        let max: u32 = read(fdt + o.fdt_max_fds as u64)?;
        if fd >= max as u64 {
            return None;
        }
        let arr: u64 = read(fdt + o.fdt_fd as u64)?;
        read(arr + fd * 8)
    }

    /// The file behind `fd` when it lives on the traced file system.
    #[inline(always)]
    fn fs_file(fd: u64) -> Option<u64> {
        let o = offs();
        let file = fd_file(fd)?;
        let inode: u64 = read(file + o.file_inode as u64)?;
        let sb: u64 = read(inode + o.inode_sb as u64)?;
        let magic: u64 = read(sb + o.sb_magic as u64)?;
        (magic == global(&FS_MAGIC)).then_some(file)
    }

    #[inline(always)]
    fn sys_start(ctx: &TracePointContext, op: u32, pos_arg: bool) {
        let Some(id) = traced() else { return };
        let fd = syscall::arg_at(ctx, global(&SYS_FD_OFF));
        let Some(file) = fs_file(fd) else { return };
        let pos = if pos_arg {
            syscall::arg_at(ctx, global(&SYS_POS_OFF)) as i64
        } else {
            -1
        };
        let offset = if op == OP_FSYNC {
            0 // as the fentry/kprobe paths: fsync has no position
        } else if pos != -1 {
            pos
        } else {
            // read/write/readv/writev, and preadv2/pwritev2 at offset -1: the file position.
            read(file + offs().file_pos as u64).unwrap_or(0)
        };
        start(id, op, file, offset);
    }

    #[tracepoint]
    pub fn fss_sys_read(ctx: TracePointContext) -> u32 {
        sys_start(&ctx, OP_READ, false);
        0
    }
    #[tracepoint]
    pub fn fss_sys_write(ctx: TracePointContext) -> u32 {
        sys_start(&ctx, OP_WRITE, false);
        0
    }
    /// pread64/pwrite64/preadv/pwritev/preadv2/pwritev2: the position is an argument (the
    /// vector calls' pos_l holds all 64 bits on x86_64; -1 means the file position).
    #[tracepoint]
    pub fn fss_sys_pread(ctx: TracePointContext) -> u32 {
        sys_start(&ctx, OP_READ, true);
        0
    }
    #[tracepoint]
    pub fn fss_sys_pwrite(ctx: TracePointContext) -> u32 {
        sys_start(&ctx, OP_WRITE, true);
        0
    }
    #[tracepoint]
    pub fn fss_sys_fsync(ctx: TracePointContext) -> u32 {
        sys_start(&ctx, OP_FSYNC, false);
        0
    }
    /// open/openat/openat2/creat/open_by_handle_at: the file exists only at exit (the
    /// returned fd); checked there.
    #[tracepoint]
    pub fn fss_sys_open(_ctx: TracePointContext) -> u32 {
        let Some(id) = traced() else { return 0 };
        start(id, OP_OPEN, 0, 0);
        0
    }
    #[tracepoint]
    pub fn fss_sys_exit(ctx: TracePointContext) -> u32 {
        let id = bpf_get_current_pid_tgid();
        let ret = syscall::ret_at(&ctx, global(&SYS_RET_OFF));
        let tid = id as u32;
        // SAFETY: copied out at once.
        let Some(s) = (unsafe { STARTS.get(&tid) }).copied() else {
            return 0;
        };
        if s.op == OP_OPEN {
            let file = if ret >= 0 { fs_file(ret as u64) } else { None };
            if file.is_none() {
                let _ = STARTS.remove(&tid);
                return 0;
            }
            finish(id, ret, file);
        } else {
            finish(id, ret, None);
        }
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
