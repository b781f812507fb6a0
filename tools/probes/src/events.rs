//! Plumbing every event-streaming probe shares: checking and attaching tracepoints, taking the
//! ring buffer, decoding its records, and reading the lost-event counter.
//!
//! Kernel-side convention (see tools/ebpf/src/lib.rs `events`): a probe streams records through a
//! `RingBuf` map named `EVENTS` and counts failed `reserve`s in slot 0 of a `PerCpuArray<u64>`
//! named `LOST`.
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use aya::{
    maps::{MapData, PerCpuArray, RingBuf},
    programs::TracePoint,
    Ebpf, Pod,
};

use crate::{requirements::Tracepoint, tracefs};

/// Name of the ring buffer map of every event probe.
pub const EVENTS_MAP: &str = "EVENTS";
/// Name of the per-CPU lost-event counter of every event probe.
pub const LOST_MAP: &str = "LOST";

/// A tracepoint this kernel does not have. Tools print it and exit non-zero instead of running
/// silently empty.
#[derive(Debug, Clone)]
pub struct MissingTracepoint {
    pub category: String,
    pub name: String,
}

impl std::fmt::Display for MissingTracepoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tracepoint {}:{} does not exist on this kernel (no events/{}/{}/format in tracefs)",
            self.category, self.name, self.category, self.name
        )
    }
}
impl std::error::Error for MissingTracepoint {}

/// Mount tracefs when needed and check every tracepoint exists; the error names the first
/// missing one. Returns the tracefs root for `tracefs::field_offset`.
pub fn require_tracepoints(tps: &[Tracepoint]) -> Result<PathBuf> {
    let (root, _) = tracefs::mount_if_missing()?;
    for (category, name) in tps {
        if !tracefs::tracepoint_exists(&root, category, name) {
            return Err(MissingTracepoint {
                category: (*category).into(),
                name: (*name).into(),
            }
            .into());
        }
    }
    Ok(root)
}

/// Load (verify) program `prog` of `bpf` and attach it to `category:name`.
pub fn attach_tracepoint(bpf: &mut Ebpf, prog: &str, category: &str, name: &str) -> Result<()> {
    let p: &mut TracePoint = bpf
        .program_mut(prog)
        .with_context(|| format!("program {prog} missing from object"))?
        .try_into()
        .with_context(|| format!("program {prog} is not a tracepoint program"))?;
    p.load()
        .with_context(|| format!("verifier rejected {prog}"))?;
    p.attach(category, name)
        .with_context(|| format!("attaching {prog} to {category}:{name}"))?;
    Ok(())
}

/// Load program `prog` once and attach it to each tracepoint in `tps` (one exit handler shared by
/// several syscalls).
pub fn attach_tracepoints(bpf: &mut Ebpf, prog: &str, tps: &[Tracepoint]) -> Result<()> {
    let p: &mut TracePoint = bpf
        .program_mut(prog)
        .with_context(|| format!("program {prog} missing from object"))?
        .try_into()
        .with_context(|| format!("program {prog} is not a tracepoint program"))?;
    p.load()
        .with_context(|| format!("verifier rejected {prog}"))?;
    for (category, name) in tps {
        p.attach(category, name)
            .with_context(|| format!("attaching {prog} to {category}:{name}"))?;
    }
    Ok(())
}

/// Put `pids` into the PID-set filter map `PIDS` (the probe's `FILTER_PIDS` global turns it on).
pub fn add_pids(bpf: &mut Ebpf, pids: &[u32]) -> Result<()> {
    let mut map: aya::maps::HashMap<_, u32, u8> = aya::maps::HashMap::try_from(
        bpf.map_mut("PIDS")
            .context("map PIDS missing from object")?,
    )?;
    for pid in pids {
        map.insert(pid, 1, 0)
            .with_context(|| format!("adding pid {pid} to the filter"))?;
    }
    Ok(())
}

/// Take the `EVENTS` ring buffer out of `bpf` (owned, so it can be polled while `bpf` is used).
pub fn take_ring(bpf: &mut Ebpf) -> Result<RingBuf<MapData>> {
    let map = bpf
        .take_map(EVENTS_MAP)
        .with_context(|| format!("map {EVENTS_MAP} missing from object"))?;
    RingBuf::try_from(map).with_context(|| format!("map {EVENTS_MAP} is not a ring buffer"))
}

/// Events dropped because the ring buffer was full (sum over CPUs of `LOST[0]`).
pub fn lost(bpf: &Ebpf) -> Result<u64> {
    let arr: PerCpuArray<_, u64> = PerCpuArray::try_from(
        bpf.map(LOST_MAP)
            .with_context(|| format!("map {LOST_MAP} missing from object"))?,
    )?;
    Ok(arr.get(&0, 0)?.iter().sum())
}

/// Decode one ring buffer record as `T` (records are 8-byte aligned but copy anyway: cheap and
/// independent of the mapping's alignment). None when the record is too short.
pub fn decode<T: Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: T is Pod (any bit pattern valid) and the length was checked.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Drain every record now in `ring`, calling `f` on each; returns how many there were.
pub fn drain<E>(
    ring: &mut RingBuf<MapData>,
    mut f: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<usize, E> {
    let mut n = 0;
    while let Some(item) = ring.next() {
        n += 1;
        f(&item)?;
    }
    Ok(n)
}

/// A NUL-terminated byte buffer (comm, path, arg) as a string, lossily.
pub fn cstr(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// CLOCK_MONOTONIC now, in ns: the clock of `bpf_ktime_get_ns`, to turn event times into
/// seconds since the tool started.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
