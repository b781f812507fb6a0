//! fdleak: descriptors one process opens (open/openat/openat2/dup*) and has not closed yet.
//! The runner's ground truth for lab 5b. Entries are added at syscall exit (the fd is the return
//! value) and removed at close() entry; what is left at the end was leaked during tracing.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::bpf_get_current_pid_tgid,
        macros::{map, tracepoint},
        maps::{HashMap, PerCpuArray},
        programs::TracePointContext,
    };
    use lab_probes_common::filetrack::{FdKey, FD_CLOSES, FD_OPENS, MAX_TRACKED_FDS};
    use lab_probes_ebpf::{count, events::global};

    /// The traced process (tgid); 0 = every process.
    #[no_mangle]
    static TARGET_TGID: u32 = 0;
    /// Offset of `ret` in sys_exit_* and of `fd` in sys_enter_close (from tracefs).
    #[no_mangle]
    static EXIT_RET_OFF: u32 = 16;
    #[no_mangle]
    static CLOSE_FD_OFF: u32 = 16;

    /// Open descriptors of traced processes: value is unused (1).
    #[map]
    static OPEN_FDS: HashMap<FdKey, u8> = HashMap::with_max_entries(MAX_TRACKED_FDS, 0);
    #[map]
    static COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

    #[inline(always)]
    fn traced() -> Option<u32> {
        let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
        let target = global(&TARGET_TGID);
        if target != 0 && tgid != target {
            None
        } else {
            Some(tgid)
        }
    }

    #[tracepoint]
    pub fn fdleak_open_exit(ctx: TracePointContext) -> u32 {
        let Some(tgid) = traced() else { return 0 };
        let Ok(ret) = (unsafe { ctx.read_at::<i64>(global(&EXIT_RET_OFF) as usize) }) else {
            return 0;
        };
        if ret < 0 {
            return 0;
        }
        let _ = OPEN_FDS.insert(
            &FdKey {
                tgid,
                fd: ret as u32,
            },
            &1,
            0,
        );
        count::add_array(&COUNTS, FD_OPENS, 1);
        0
    }

    #[tracepoint]
    pub fn fdleak_close(ctx: TracePointContext) -> u32 {
        let Some(tgid) = traced() else { return 0 };
        let Ok(fd) = (unsafe { ctx.read_at::<u64>(global(&CLOSE_FD_OFF) as usize) }) else {
            return 0;
        };
        if OPEN_FDS
            .remove(&FdKey {
                tgid,
                fd: fd as u32,
            })
            .is_ok()
        {
            count::add_array(&COUNTS, FD_CLOSES, 1);
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
