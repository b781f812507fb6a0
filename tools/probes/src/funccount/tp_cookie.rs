//! Attach a loaded tracepoint program with a BPF cookie (kernel 5.15+), which aya 0.14's
//! `TracePoint::attach` cannot pass. funccount needs it to tell tracepoints apart in one program:
//! a BPF tracepoint program does not see a valid `common_type` (the kernel leaves the record's
//! header unset, or overwrites it with a pt_regs pointer for syscall tracepoints).
//!
//! The same two steps as aya: a perf event for the tracepoint id, then BPF_LINK_CREATE with
//! attach type BPF_PERF_EVENT, plus the cookie. Dropping the fds detaches.
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd};

use anyhow::{Context as _, Result};

const PERF_TYPE_TRACEPOINT: u32 = 2;
/// PERF_ATTR_SIZE_VER5: every field we set is in it; known to kernels since 4.17.
const PERF_ATTR_SIZE: u32 = 112;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PERF_EVENT: u32 = 41;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// An attached tracepoint: its perf event and the BPF link.
pub struct CookieLink {
    _link: OwnedFd,
    _perf: OwnedFd,
}

pub fn attach(prog: BorrowedFd<'_>, tracepoint_id: u64, cookie: u64) -> Result<CookieLink> {
    // struct perf_event_attr: type @0, size @4, config @8, sample_period @16, wakeup_events @48.
    let mut attr = [0u8; PERF_ATTR_SIZE as usize];
    attr[0..4].copy_from_slice(&PERF_TYPE_TRACEPOINT.to_ne_bytes());
    attr[4..8].copy_from_slice(&PERF_ATTR_SIZE.to_ne_bytes());
    attr[8..16].copy_from_slice(&tracepoint_id.to_ne_bytes());
    attr[48..52].copy_from_slice(&1u32.to_ne_bytes());
    // SAFETY: attr is a valid, fully initialized perf_event_attr of the size it declares;
    // pid -1 / cpu 0 as aya does: a tracepoint's BPF programs run on every CPU.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            -1i32,
            0i32,
            -1i32,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("perf_event_open (tracepoint)");
    }
    // SAFETY: a new fd we own.
    let perf = unsafe { OwnedFd::from_raw_fd(fd as i32) };
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
