//! unlinksnoop: every unlink()/unlinkat()/rmdir() with the path as passed, for one process or all.
//! The runner's ground truth for lab 4c (which files a workload deleted).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use core::ffi::c_void;

    use aya_ebpf::{
        helpers::{bpf_get_current_pid_tgid, generated::bpf_probe_read_user_str},
        macros::{map, tracepoint},
        maps::{PerCpuArray, RingBuf},
        programs::TracePointContext,
    };
    use lab_probes_common::filetrack::{
        UnlinkEvent, PATH_MAX_COPIED, SYS_RMDIR, SYS_UNLINK, SYS_UNLINKAT,
    };
    use lab_probes_ebpf::events::{global, reserve};

    /// Only this process (tgid); 0 = every process.
    #[no_mangle]
    static TARGET_TGID: u32 = 0;
    /// Offset of `pathname` in each tracepoint (from tracefs).
    #[no_mangle]
    static UNLINK_PATH_OFF: u32 = 16;
    #[no_mangle]
    static UNLINKAT_PATH_OFF: u32 = 24;
    #[no_mangle]
    static RMDIR_PATH_OFF: u32 = 16;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

    #[tracepoint]
    pub fn unlinksnoop_unlink(ctx: TracePointContext) -> u32 {
        emit(&ctx, global(&UNLINK_PATH_OFF), SYS_UNLINK)
    }

    #[tracepoint]
    pub fn unlinksnoop_unlinkat(ctx: TracePointContext) -> u32 {
        emit(&ctx, global(&UNLINKAT_PATH_OFF), SYS_UNLINKAT)
    }

    #[tracepoint]
    pub fn unlinksnoop_rmdir(ctx: TracePointContext) -> u32 {
        emit(&ctx, global(&RMDIR_PATH_OFF), SYS_RMDIR)
    }

    #[inline(always)]
    fn emit(ctx: &TracePointContext, path_off: u32, syscall: u32) -> u32 {
        let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
        let target = global(&TARGET_TGID);
        if target != 0 && tgid != target {
            return 0;
        }
        let path: u64 = unsafe { ctx.read_at(path_off as usize) }.unwrap_or(0);
        let Some(mut entry) = reserve::<UnlinkEvent>(&EVENTS, &LOST) else {
            return 0;
        };
        // SAFETY: the reserved record is written field by field before submit.
        let ev = unsafe { &mut *entry.as_mut_ptr() };
        ev.tgid = tgid;
        ev.syscall = syscall;
        ev.path[0] = 0;
        if path != 0 {
            // SAFETY: the helper faults safely on a bad user pointer.
            unsafe {
                bpf_probe_read_user_str(
                    ev.path.as_mut_ptr().cast(),
                    PATH_MAX_COPIED as u32,
                    path as *const c_void,
                )
            };
        }
        entry.submit(0);
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
