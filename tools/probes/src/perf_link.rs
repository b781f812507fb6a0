//! Attach a loaded program to a perf event (a tracepoint, or a uprobe with a reference
//! counter) with a BPF cookie (kernel 5.15+), two things aya 0.14's `attach` cannot do:
//! - a cookie tells the places one program is attached to apart (funccount: a tracepoint
//!   program does not see a valid `common_type`, the kernel leaves the record's header unset;
//!   USDT: which probe location fired, so which argument specs to read);
//! - a uprobe's reference counter offset (`ref_ctr_offset`, kernel 4.20+) makes the kernel
//!   raise a USDT probe's semaphore in every process that maps the file while the probe is
//!   attached, and lower it on detach: probes guarded by a semaphore then fire.
//!
//! The same steps as aya: a perf event, then BPF_LINK_CREATE with attach type BPF_PERF_EVENT,
//! plus the cookie. Dropping the fds detaches.
use std::{
    ffi::CString,
    os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd},
    path::Path,
};

use anyhow::{bail, Context as _, Result};

const PERF_TYPE_TRACEPOINT: u32 = 2;
/// PERF_ATTR_SIZE_VER5: every field we set is in it; known to kernels since 4.17.
const PERF_ATTR_SIZE: u32 = 112;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PERF_EVENT: u32 = 41;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
/// The uprobe PMU's config bits for the reference counter offset (its format file says
/// `config:32-63` on every kernel that has it).
const REF_CTR_SHIFT: u32 = 32;
const UPROBE_PMU: &str = "/sys/bus/event_source/devices/uprobe";

/// An attached program: its perf event and the BPF link.
pub struct CookieLink {
    _link: OwnedFd,
    _perf: OwnedFd,
}

/// struct perf_event_attr: type @0, size @4, config @8, sample_period @16, wakeup_events @48,
/// config1 @56, config2 @64.
fn perf_attr(ty: u32, config: u64, config1: u64, config2: u64) -> [u8; PERF_ATTR_SIZE as usize] {
    let mut attr = [0u8; PERF_ATTR_SIZE as usize];
    attr[0..4].copy_from_slice(&ty.to_ne_bytes());
    attr[4..8].copy_from_slice(&PERF_ATTR_SIZE.to_ne_bytes());
    attr[8..16].copy_from_slice(&config.to_ne_bytes());
    attr[48..52].copy_from_slice(&1u32.to_ne_bytes());
    attr[56..64].copy_from_slice(&config1.to_ne_bytes());
    attr[64..72].copy_from_slice(&config2.to_ne_bytes());
    attr
}

fn perf_event_open(attr: &[u8], pid: i32, cpu: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: attr is a valid, fully initialized perf_event_attr of the size it declares.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            pid,
            cpu,
            -1i32,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attach `prog` (a loaded tracepoint program) to tracepoint `tracepoint_id` with `cookie`.
pub fn attach_tracepoint(
    prog: BorrowedFd<'_>,
    tracepoint_id: u64,
    cookie: u64,
) -> Result<CookieLink> {
    let attr = perf_attr(PERF_TYPE_TRACEPOINT, tracepoint_id, 0, 0);
    // pid -1 / cpu 0 as aya does: a tracepoint's BPF programs run on every CPU.
    let perf = perf_event_open(&attr, -1, 0).context("perf_event_open (tracepoint)")?;
    link(prog, perf, cookie)
}

/// Whether this kernel's uprobes take a reference counter offset (4.20+).
pub fn uprobe_ref_ctr_supported() -> bool {
    Path::new(UPROBE_PMU).join("format/ref_ctr_offset").exists()
}

/// Attach `prog` (a loaded uprobe program) at `offset` in `path` with `cookie`; `ref_ctr`
/// (the semaphore's file offset, 0: none) is raised while attached; `pid` limits it to one
/// process.
pub fn attach_uprobe(
    prog: BorrowedFd<'_>,
    path: &Path,
    offset: u64,
    ref_ctr: u64,
    pid: Option<u32>,
    cookie: u64,
) -> Result<CookieLink> {
    let ty: u32 = std::fs::read_to_string(Path::new(UPROBE_PMU).join("type"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .context("this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe)")?;
    if ref_ctr != 0 && !uprobe_ref_ctr_supported() {
        bail!("the probe has a semaphore and this kernel's uprobes cannot raise it (4.20+ needed)");
    }
    let cpath = CString::new(path.as_os_str().as_encoded_bytes())?;
    let attr = perf_attr(ty, ref_ctr << REF_CTR_SHIFT, cpath.as_ptr() as u64, offset);
    // One process: that pid on any CPU; every process: pid -1 on CPU 0, as libbpf does.
    let (pid, cpu) = match pid {
        Some(p) => (p as i32, -1),
        None => (-1, 0),
    };
    let perf = perf_event_open(&attr, pid, cpu).with_context(|| {
        format!(
            "perf_event_open (uprobe at {offset:#x} in {})",
            path.display()
        )
    })?;
    link(prog, perf, cookie)
}

fn link(prog: BorrowedFd<'_>, perf: OwnedFd, cookie: u64) -> Result<CookieLink> {
    // union bpf_attr, link_create: prog_fd @0, target_fd @4, attach_type @8, flags @12,
    // perf_event.bpf_cookie @16; the rest must be zero.
    let mut battr = [0u8; 64];
    battr[0..4].copy_from_slice(&(prog.as_raw_fd() as u32).to_ne_bytes());
    battr[4..8].copy_from_slice(&(perf.as_raw_fd() as u32).to_ne_bytes());
    battr[8..12].copy_from_slice(&BPF_PERF_EVENT.to_ne_bytes());
    battr[16..24].copy_from_slice(&cookie.to_ne_bytes());
    // SAFETY: bpf(2) with a zero-padded attr buffer of the length passed.
    let link = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_LINK_CREATE,
            battr.as_ptr(),
            battr.len() as u32,
        )
    };
    if link < 0 {
        return Err(std::io::Error::last_os_error())
            .context("BPF_LINK_CREATE with a cookie (needs kernel 5.15+)");
    }
    Ok(CookieLink {
        // SAFETY: a new fd we own.
        _link: unsafe { OwnedFd::from_raw_fd(link as i32) },
        _perf: perf,
    })
}
