//! opensnoop: open, openat and openat2 with their path, flags and result.
//! sys_enter_* saves the user pointer to the path and the flags by tid; sys_exit_* (one program,
//! attached to each exit) reads the path and streams the record. Field offsets are globals read
//! from tracefs. Wake-ups are batched (`batched_wakeup`): user space drains on a short timeout.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use core::ffi::c_void;

    use aya_ebpf::{
        helpers::{
            bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
            bpf_ktime_get_ns,
            generated::{bpf_probe_read_user, bpf_probe_read_user_str},
        },
        macros::{map, tracepoint},
        maps::{HashMap, PerCpuArray, RingBuf},
        programs::TracePointContext,
    };
    use lab_probes_common::snoop::{OpenEvent, OpenStart, MAX_FILTER_PIDS, OPEN_PATH_LEN};
    use lab_probes_ebpf::{
        events::{cgroup_allowed, emit, global, pid_allowed, tid_allowed, uid_allowed},
        syscall,
    };

    #[no_mangle]
    static OPEN_FILENAME_OFF: u32 = 16;
    #[no_mangle]
    static OPEN_FLAGS_OFF: u32 = 24;
    #[no_mangle]
    static OPENAT_FILENAME_OFF: u32 = 24;
    #[no_mangle]
    static OPENAT_FLAGS_OFF: u32 = 32;
    #[no_mangle]
    static OPENAT2_FILENAME_OFF: u32 = 24;
    #[no_mangle]
    static OPENAT2_HOW_OFF: u32 = 32;
    #[no_mangle]
    static EXIT_RET_OFF: u32 = 16;
    /// 1: only tgids in `PIDS`.
    #[no_mangle]
    static FILTER_PIDS: u8 = 0;
    /// Only this thread (`-t`); 0 = all.
    #[no_mangle]
    static FILTER_TID: u32 = 0;
    /// Only this uid (`-u`); u32::MAX = all.
    #[no_mangle]
    static FILTER_UID: u32 = u32::MAX;
    /// 1: only failed opens (`-x`).
    #[no_mangle]
    static FAILED_ONLY: u8 = 0;
    /// Only tasks in this cgroup v2 (`-c`, its id); 0 = all.
    #[no_mangle]
    static FILTER_CGROUP: u64 = 0;
    /// Wake the reader once this many bytes wait.
    #[no_mangle]
    static WAKEUP_BYTES: u64 = 64 * 1024;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(2 * 1024 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    #[map]
    static PIDS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_FILTER_PIDS, 0);
    /// Opens between enter and exit, by tid.
    #[map]
    static STARTS: HashMap<u32, OpenStart> = HashMap::with_max_entries(10240, 0);

    #[inline(always)]
    fn wanted(pid_tgid: u64) -> bool {
        tid_allowed(global(&FILTER_TID), pid_tgid)
            && uid_allowed(global(&FILTER_UID))
            && cgroup_allowed(global(&FILTER_CGROUP))
            && pid_allowed(global(&FILTER_PIDS) != 0, &PIDS, (pid_tgid >> 32) as u32)
    }

    /// Save the path pointer and flags of a wanted open until its exit.
    #[inline(always)]
    fn enter(
        ctx: &TracePointContext,
        filename_off: u32,
        flags: impl FnOnce() -> u64,
        syscall: u32,
    ) {
        let id = bpf_get_current_pid_tgid();
        if !wanted(id) {
            return;
        }
        let s = OpenStart {
            filename: syscall::arg_at(ctx, filename_off),
            flags: flags(),
            syscall,
            _pad: 0,
        };
        syscall::save(&STARTS, id, &s);
    }

    #[tracepoint]
    pub fn opensnoop_open(ctx: TracePointContext) -> u32 {
        let flags = || syscall::arg_at(&ctx, global(&OPEN_FLAGS_OFF));
        enter(&ctx, global(&OPEN_FILENAME_OFF), flags, 0);
        0
    }

    #[tracepoint]
    pub fn opensnoop_openat(ctx: TracePointContext) -> u32 {
        let flags = || syscall::arg_at(&ctx, global(&OPENAT_FLAGS_OFF));
        enter(&ctx, global(&OPENAT_FILENAME_OFF), flags, 1);
        0
    }

    #[tracepoint]
    pub fn opensnoop_openat2(ctx: TracePointContext) -> u32 {
        let flags = || {
            let how = syscall::arg_at(&ctx, global(&OPENAT2_HOW_OFF));
            // open_how.flags is its first member.
            let mut fl: u64 = 0;
            if how != 0 {
                // SAFETY: helper reads user memory and faults safely.
                unsafe {
                    bpf_probe_read_user((&mut fl as *mut u64).cast(), 8, how as *const c_void)
                };
            }
            fl
        };
        enter(&ctx, global(&OPENAT2_FILENAME_OFF), flags, 2);
        0
    }

    #[tracepoint]
    pub fn opensnoop_exit(ctx: TracePointContext) -> u32 {
        let id = bpf_get_current_pid_tgid();
        let failed_only = global(&FAILED_ONLY) != 0;
        let Some((s, ret)) = syscall::finish(&ctx, &STARTS, id, global(&EXIT_RET_OFF), failed_only)
        else {
            return 0;
        };
        emit(
            &EVENTS,
            &LOST,
            Some(global(&WAKEUP_BYTES)),
            |ev: &mut OpenEvent| {
                ev.ts_ns = unsafe { bpf_ktime_get_ns() };
                ev.ret = ret;
                ev.flags = s.flags;
                ev.pid = (id >> 32) as u32;
                ev.tid = id as u32;
                ev.uid = bpf_get_current_uid_gid() as u32;
                ev.syscall = s.syscall;
                ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
                // SAFETY: the helper writes at most OPEN_PATH_LEN bytes into `path`.
                let rc = unsafe {
                    bpf_probe_read_user_str(
                        ev.path.as_mut_ptr().cast(),
                        OPEN_PATH_LEN as u32,
                        s.filename as *const c_void,
                    )
                };
                if rc < 0 {
                    ev.path[0] = 0;
                }
            },
        );
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
