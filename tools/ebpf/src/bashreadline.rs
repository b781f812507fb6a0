//! bashreadline: every line bash's readline returns, from a uretprobe (on
//! readline_internal_teardown when present, else readline; the user half chooses).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_probe_read_user_str_bytes},
        macros::{map, uretprobe},
        maps::{PerCpuArray, RingBuf},
        programs::RetProbeContext,
    };
    use lab_probes_common::funccount::ReadlineEvent;
    use lab_probes_ebpf::events::emit;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

    #[uretprobe]
    pub fn bashreadline(ctx: RetProbeContext) -> u32 {
        let line = ctx.ret::<*const u8>();
        // readline returns NULL at EOF: nothing was typed.
        if line.is_null() {
            return 0;
        }
        let comm = bpf_get_current_comm().unwrap_or([0; 16]);
        let pid = (bpf_get_current_pid_tgid() >> 32) as u32;
        emit::<ReadlineEvent>(&EVENTS, &LOST, None, |e| {
            e.pid = pid;
            e._pad = 0;
            e.comm = comm;
            // SAFETY: a user pointer read with the checked helper; on failure the line is empty.
            if unsafe { bpf_probe_read_user_str_bytes(line, &mut e.line) }.is_err() {
                e.line[0] = 0;
            }
        });
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
