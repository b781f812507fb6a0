//! How many times the kernel skipped our programs. A kprobe/tracepoint BPF program does not run
//! when another BPF tracing program is already running on that CPU (the kernel's recursion guard,
//! e.g. an I/O completion interrupt arriving while any BPF program runs); the kernel counts
//! these per program (bpf_prog_info.recursion_misses, 5.12+). Tools report the total so a
//! missed event is never silent. aya 0.14 does not expose the field, hence the raw syscall.
use std::os::fd::{AsFd, AsRawFd};

use aya::Ebpf;

const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
/// Byte offset of `recursion_misses` in `struct bpf_prog_info` (stable UAPI layout).
const RECURSION_MISSES_OFFSET: usize = 208;

#[repr(C)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// Sum of the kernel's recursion misses over every loaded program of `bpf` (0 where the
/// kernel does not report them).
pub fn recursion_misses(bpf: &Ebpf) -> u64 {
    bpf.programs()
        .filter_map(|(_, p)| p.fd().ok().map(|fd| misses_of(fd.as_fd().as_raw_fd())))
        .sum()
}

fn misses_of(fd: i32) -> u64 {
    let mut info = [0u64; 32];
    let mut attr = InfoAttr {
        bpf_fd: fd as u32,
        info_len: std::mem::size_of_val(&info) as u32,
        info: info.as_mut_ptr() as u64,
    };
    // SAFETY: attr and info are valid for the kernel to read and write for the call's duration.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET_INFO_BY_FD,
            &mut attr as *mut InfoAttr,
            std::mem::size_of::<InfoAttr>(),
        )
    };
    if rc != 0 || (attr.info_len as usize) < RECURSION_MISSES_OFFSET + 8 {
        return 0;
    }
    info[RECURSION_MISSES_OFFSET / 8]
}
