//! rwbytes: bytes moved by read/write-family syscalls (logical I/O) and bytes of block requests
//! issued to devices (physical I/O), summed per CPU. The runner's ground truth for lab 5a.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        macros::{map, tracepoint},
        maps::PerCpuArray,
        programs::TracePointContext,
    };
    use lab_probes_common::filetrack::{RW_BLOCK, RW_READ, RW_SLOTS, RW_WRITE};
    use lab_probes_ebpf::{count, events::global};

    /// Offset of `ret` in sys_exit_* and of `bytes` in block_rq_issue (from tracefs).
    #[no_mangle]
    static EXIT_RET_OFF: u32 = 16;
    #[no_mangle]
    static ISSUE_BYTES_OFF: u32 = 28;

    #[map]
    static BYTES: PerCpuArray<u64> = PerCpuArray::with_max_entries(RW_SLOTS, 0);

    #[inline(always)]
    fn add_ret(ctx: &TracePointContext, slot: u32) -> u32 {
        if let Ok(ret) = unsafe { ctx.read_at::<i64>(global(&EXIT_RET_OFF) as usize) } {
            if ret > 0 {
                count::add_array(&BYTES, slot, ret as u64);
            }
        }
        0
    }

    #[tracepoint]
    pub fn rwbytes_read(ctx: TracePointContext) -> u32 {
        add_ret(&ctx, RW_READ)
    }

    #[tracepoint]
    pub fn rwbytes_write(ctx: TracePointContext) -> u32 {
        add_ret(&ctx, RW_WRITE)
    }

    #[tracepoint]
    pub fn rwbytes_block(ctx: TracePointContext) -> u32 {
        if let Ok(bytes) = unsafe { ctx.read_at::<u32>(global(&ISSUE_BYTES_OFF) as usize) } {
            count::add_array(&BYTES, RW_BLOCK, bytes as u64);
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
