//! execsnoop: every execve with its arguments, result, parent and new comm.
//! Arguments are copied at `syscalls:sys_enter_execve` (the caller's memory is gone after a
//! successful exec) into `EXECS` by tgid; `sys_exit_execve` adds the result and the new comm and
//! streams the record. Parents come from `sched:sched_process_fork` (current = the parent), so no
//! kernel struct layout is needed to print them; only the `-P` filter follows
//! current->real_parent, at offsets from kernel BTF. Field offsets arrive as globals read from
//! tracefs.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use core::ffi::c_void;

    use aya_ebpf::{
        helpers::{
            bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task,
            bpf_get_current_uid_gid, bpf_ktime_get_ns, bpf_probe_read_kernel as read_kernel,
            generated::{bpf_probe_read_kernel, bpf_probe_read_user, bpf_probe_read_user_str},
        },
        macros::{map, tracepoint},
        maps::{HashMap, LruHashMap, PerCpuArray, RingBuf},
        programs::TracePointContext,
    };
    use lab_probes_common::snoop::{ExecEvent, EXEC_ARGS_BYTES, EXEC_ARG_MAX, EXEC_MAX_ARGS_CAP};
    use lab_probes_ebpf::{
        events::{cgroup_allowed, global, reserve, uid_allowed},
        syscall,
    };

    #[no_mangle]
    static ENTER_FILENAME_OFF: u32 = 16;
    #[no_mangle]
    static ENTER_ARGV_OFF: u32 = 24;
    #[no_mangle]
    static EXIT_RET_OFF: u32 = 16;
    #[no_mangle]
    static FORK_CHILD_PID_OFF: u32 = 20;
    /// argv entries copied after argv[0] (BCC's --max-args).
    #[no_mangle]
    static MAX_ARGS: u32 = 20;
    /// Only this uid (`-u`); u32::MAX = everyone.
    #[no_mangle]
    static FILTER_UID: u32 = u32::MAX;
    /// Only children of this tgid (`-P`); 0 = all. The parent is read from the task as BCC
    /// does (current->real_parent->tgid), at offsets the user half takes from kernel BTF.
    #[no_mangle]
    static FILTER_PPID: u32 = 0;
    #[no_mangle]
    static TASK_REAL_PARENT_OFF: u32 = 0;
    #[no_mangle]
    static TASK_TGID_OFF: u32 = 0;
    /// Only tasks in this cgroup v2 (`-c`, its id); 0 = all.
    #[no_mangle]
    static FILTER_CGROUP: u64 = 0;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(2 * 1024 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    /// Where an event is built (too big for the 512-byte BPF stack).
    #[map]
    static SCRATCH: PerCpuArray<ExecEvent> = PerCpuArray::with_max_entries(1, 0);
    /// Execs between enter and exit, by tgid.
    #[map]
    static EXECS: HashMap<u32, ExecEvent> = HashMap::with_max_entries(1024, 0);
    /// Parent tgid of each process forked while attached.
    #[map]
    static PARENTS: LruHashMap<u32, u32> = LruHashMap::with_max_entries(32768, 0);

    #[tracepoint]
    pub fn execsnoop_fork(ctx: TracePointContext) -> u32 {
        let Ok(child) = (unsafe { ctx.read_at::<i32>(global(&FORK_CHILD_PID_OFF) as usize) })
        else {
            return 0;
        };
        let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
        let _ = PARENTS.insert(&(child as u32), &parent, 0);
        0
    }

    /// Tgid of the current task's parent (0 when unreadable).
    #[inline(always)]
    fn parent_tgid() -> u32 {
        let task = unsafe { bpf_get_current_task() } as usize;
        if task == 0 {
            return 0;
        }
        // SAFETY: kernel reads through the helper, which faults safely.
        let Ok(parent) = (unsafe {
            read_kernel((task + global(&TASK_REAL_PARENT_OFF) as usize) as *const usize)
        }) else {
            return 0;
        };
        if parent == 0 {
            return 0;
        }
        unsafe { read_kernel((parent + global(&TASK_TGID_OFF) as usize) as *const i32) }
            .map_or(0, |t| t as u32)
    }

    #[inline(always)]
    fn wanted() -> bool {
        let ppid = global(&FILTER_PPID);
        uid_allowed(global(&FILTER_UID))
            && cgroup_allowed(global(&FILTER_CGROUP))
            && (ppid == 0 || parent_tgid() == ppid)
    }

    #[tracepoint]
    pub fn execsnoop_enter(ctx: TracePointContext) -> u32 {
        if !wanted() {
            return 0;
        }
        let uid = bpf_get_current_uid_gid() as u32;
        let Some(ev) = SCRATCH.get_ptr_mut(0) else {
            return 0;
        };
        // SAFETY: per-CPU scratch slot, used only by this program run.
        let ev = unsafe { &mut *ev };
        let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
        ev.ts_ns = unsafe { bpf_ktime_get_ns() };
        ev.retval = 0;
        ev.pid = tgid;
        // SAFETY: map lookup; the value is copied out at once.
        ev.ppid = unsafe { PARENTS.get(&tgid) }.copied().unwrap_or(0);
        ev.uid = uid;
        ev.args_count = 0;
        ev.args_size = 0;
        ev.truncated = 0;
        ev.comm = [0; 16];

        let filename: u64 =
            unsafe { ctx.read_at(global(&ENTER_FILENAME_OFF) as usize) }.unwrap_or(0);
        let argv: u64 = unsafe { ctx.read_at(global(&ENTER_ARGV_OFF) as usize) }.unwrap_or(0);
        let buf = ev.args.as_mut_ptr();
        let mut off = copy_str(buf, 0, filename);
        if off > 0 {
            ev.args_count = 1;
        }
        let max_args = global(&MAX_ARGS);
        // argv[0] is usually the same as the filename; BCC prints the filename instead of it.
        for i in 1..=EXEC_MAX_ARGS_CAP {
            if i > max_args {
                if next_arg(argv, i) != 0 {
                    ev.truncated = 1;
                }
                break;
            }
            let p = next_arg(argv, i);
            if p == 0 {
                break;
            }
            if off > EXEC_ARGS_BYTES - EXEC_ARG_MAX {
                ev.truncated = 1;
                break;
            }
            let n = copy_str(buf, off, p);
            if n == 0 {
                break;
            }
            off += n;
            ev.args_count += 1;
        }
        ev.args_size = off as u32;
        if EXECS.insert(&tgid, ev, 0).is_err() {
            lab_probes_ebpf::count::add_array(&LOST, 0, 1);
        }
        0
    }

    /// argv[i] (a user pointer), or 0 at the end / on a fault.
    #[inline(always)]
    fn next_arg(argv: u64, i: u32) -> u64 {
        if argv == 0 {
            return 0;
        }
        let mut p: u64 = 0;
        let src = (argv + 8 * i as u64) as *const c_void;
        // SAFETY: helper reads user memory and faults safely.
        let rc = unsafe { bpf_probe_read_user((&mut p as *mut u64).cast(), 8, src) };
        if rc < 0 {
            0
        } else {
            p
        }
    }

    /// Copy the user string at `src` to `buf[off..]` (NUL included); returns bytes written or 0.
    #[inline(always)]
    fn copy_str(buf: *mut u8, off: usize, src: u64) -> usize {
        if src == 0 || off > EXEC_ARGS_BYTES - EXEC_ARG_MAX {
            return 0;
        }
        // Mask so the verifier sees the write inside the buffer whatever it knows about `off`.
        let off = off & (EXEC_ARGS_BYTES - 1);
        if off > EXEC_ARGS_BYTES - EXEC_ARG_MAX {
            return 0;
        }
        // SAFETY: off + EXEC_ARG_MAX <= EXEC_ARGS_BYTES, checked above.
        let rc = unsafe {
            bpf_probe_read_user_str(
                buf.add(off).cast(),
                EXEC_ARG_MAX as u32,
                src as *const c_void,
            )
        };
        if rc <= 0 {
            0
        } else {
            (rc as usize) & (EXEC_ARG_MAX * 2 - 1)
        }
    }

    #[tracepoint]
    pub fn execsnoop_exit(ctx: TracePointContext) -> u32 {
        let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
        let Some(stored) = EXECS.get_ptr(&tgid) else {
            return 0;
        };
        let ret = syscall::ret_at(&ctx, global(&EXIT_RET_OFF));
        if let Some(mut entry) = reserve::<ExecEvent>(&EVENTS, &LOST) {
            let dst = entry.as_mut_ptr();
            // SAFETY: copies one ExecEvent from the map value into the reserved record.
            let rc = unsafe {
                bpf_probe_read_kernel(
                    dst.cast(),
                    core::mem::size_of::<ExecEvent>() as u32,
                    stored.cast(),
                )
            };
            if rc < 0 {
                entry.discard(0);
            } else {
                // SAFETY: the record was fully initialised by the copy above.
                let ev = unsafe { &mut *dst };
                ev.retval = ret;
                ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
                entry.submit(0);
            }
        }
        let _ = EXECS.remove(&tgid);
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
