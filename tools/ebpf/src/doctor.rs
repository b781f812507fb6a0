//! `lab doctor`'s capability probes: empty programs that exist only to be loaded and attached,
//! so doctor reports what this kernel really allows (kprobes can be compiled out, fentry refused, raw tracepoints
//! allowed or not).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        macros::{fentry, kprobe, raw_tracepoint},
        programs::{FEntryContext, ProbeContext, RawTracePointContext},
    };

    #[kprobe]
    pub fn doctor_kprobe(_ctx: ProbeContext) -> u32 {
        0
    }

    #[raw_tracepoint(tracepoint = "sched_switch")]
    pub fn doctor_raw_tp(_ctx: RawTracePointContext) -> u32 {
        0
    }

    #[fentry(function = "vfs_read")]
    pub fn doctor_fentry(_ctx: FEntryContext) -> u32 {
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
