//! Plumbing every event-streaming probe shares: checking and attaching tracepoints, taking the
//! ring buffer, decoding its records, and reading the lost-event counter.
//!
//! Kernel-side convention (see tools/ebpf/src/lib.rs `events`): a probe streams records through a
//! `RingBuf` map named `EVENTS` and counts failed `reserve`s in slot 0 of a `PerCpuArray<u64>`
//! named `LOST`.
use std::{
    marker::PhantomData,
    os::fd::{AsFd, BorrowedFd},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};
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
    attach_tracepoints(bpf, prog, &[(category, name)])
}

/// Load program `prog` once and attach it to each tracepoint in `tps` (one exit handler shared by
/// several syscalls).
pub fn attach_tracepoints(bpf: &mut Ebpf, prog: &str, tps: &[(&str, &str)]) -> Result<()> {
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

/// A syscall traced at enter and exit: the program for its sys_enter_<name>, and <name>.
pub type SyscallPair<'a> = (&'a str, &'a str);

/// Attach the shared `exit_prog` to sys_exit_<name> and each enter program to sys_enter_<name>,
/// for every pair of `required` and for those of `optional` this kernel has. Exits first: an
/// enter is only recorded once its exit is being watched.
pub fn attach_syscall_pairs(
    bpf: &mut Ebpf,
    root: &Path,
    exit_prog: &str,
    required: &[SyscallPair],
    optional: &[SyscallPair],
) -> Result<()> {
    let has = |tp: &str| tracefs::tracepoint_exists(root, "syscalls", tp);
    let optional = optional
        .iter()
        .filter(|(_, name)| has(&format!("sys_enter_{name}")) && has(&format!("sys_exit_{name}")));
    let pairs: Vec<(&str, &str)> = required.iter().chain(optional).copied().collect();
    let exits: Vec<String> = pairs.iter().map(|(_, n)| format!("sys_exit_{n}")).collect();
    let exits: Vec<(&str, &str)> = exits.iter().map(|e| ("syscalls", e.as_str())).collect();
    attach_tracepoints(bpf, exit_prog, &exits)?;
    for (prog, name) in pairs {
        attach_tracepoint(bpf, prog, "syscalls", &format!("sys_enter_{name}"))?;
    }
    Ok(())
}

/// Offsets of `fields` in syscalls:sys_enter_<call>, or zeros when this kernel lacks the call
/// (`attach_syscall_pairs` then leaves its enter program unattached).
pub fn enter_offsets<const N: usize>(
    root: &Path,
    call: &str,
    fields: [&str; N],
) -> Result<[u32; N]> {
    let tp = format!("sys_enter_{call}");
    let mut out = [0; N];
    if tracefs::tracepoint_exists(root, "syscalls", &tp) {
        for (o, field) in out.iter_mut().zip(fields) {
            *o = tracefs::field_offset(root, "syscalls", &tp, field)?;
        }
    }
    Ok(out)
}

/// A record type streamed by an event probe, and how it becomes what tools print.
pub trait Record: Sized {
    /// The `#[repr(C)]` ring buffer record (lab_probes_common).
    type Raw: Pod;
    /// The probe's name, for errors.
    const PROBE: &'static str;
    fn from_raw(raw: &Self::Raw) -> Self;
}

/// An attached event probe streaming `R`s through its `EVENTS` ring buffer; detaches when
/// dropped. Each snoop module adds its own `attach` (e.g. `OpenSnoop = Snoop<Open>`).
pub struct Snoop<R> {
    bpf: Ebpf,
    ring: RingBuf<MapData>,
    _record: PhantomData<fn() -> R>,
}

impl<R: Record> Snoop<R> {
    /// Wrap a loaded and attached probe (takes its ring buffer).
    pub fn new(mut bpf: Ebpf) -> Result<Self> {
        let ring = take_ring(&mut bpf)?;
        Ok(Self {
            bpf,
            ring,
            _record: PhantomData,
        })
    }

    /// Add processes to the PID filter (probes with a `PIDS` map, attached with a PID set).
    pub fn add_pids(&mut self, pids: &[u32]) -> Result<()> {
        add_pids(&mut self.bpf, pids)
    }

    /// Readable when a batch of records is waiting (wake-ups may be batched: drain on a timer too).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }

    /// Call `f` on each waiting record; returns how many there were.
    pub fn drain(&mut self, mut f: impl FnMut(R) -> Result<()>) -> Result<usize> {
        drain(&mut self.ring, |bytes| {
            let raw: R::Raw =
                decode(bytes).with_context(|| format!("short {} record", R::PROBE))?;
            f(R::from_raw(&raw))
        })
    }

    /// Records dropped because the ring buffer (or an in-flight table) was full.
    pub fn lost(&self) -> Result<u64> {
        lost(&self.bpf)
    }
}

/// A probe that streams records through a ring buffer: what an event tool's loop needs
/// (lab_tools::snoop::run). Each probe with `fd`, `drain` and `lost` gets it from
/// `event_source!`; the names differ from those methods' so the two never clash.
pub trait EventSource {
    type Event;
    /// Readable when a batch of records is waiting.
    fn ready_fd(&self) -> BorrowedFd<'_>;
    /// Call `f` on each waiting record; how many there were.
    fn drain_into(&mut self, f: &mut dyn FnMut(Self::Event) -> Result<()>) -> Result<usize>;
    /// Records dropped because the ring buffer was full.
    fn lost_events(&self) -> Result<u64>;
}

/// `EventSource` for a probe type `$t` whose `fd`, `drain` and `lost` stream `$e`s.
macro_rules! event_source {
    ($t:ty => $e:ty) => {
        impl $crate::events::EventSource for $t {
            type Event = $e;
            fn ready_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.fd()
            }
            fn drain_into(
                &mut self,
                f: &mut dyn FnMut($e) -> anyhow::Result<()>,
            ) -> anyhow::Result<usize> {
                self.drain(|e| f(e))
            }
            fn lost_events(&self) -> anyhow::Result<u64> {
                self.lost()
            }
        }
    };
}
pub(crate) use event_source;

impl<R: Record> EventSource for Snoop<R> {
    type Event = R;
    fn ready_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
    fn drain_into(&mut self, f: &mut dyn FnMut(R) -> Result<()>) -> Result<usize> {
        self.drain(f)
    }
    fn lost_events(&self) -> Result<u64> {
        self.lost()
    }
}

/// cgroupfs' magic number (statfs f_type) on cgroup v2.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The cgroup id of cgroup v2 directory `path` (`-c PATH`): its inode number, which is what
/// `bpf_get_current_cgroup_id()` returns for tasks inside it. Errors say what `path` is instead.
pub fn cgroup_id(path: &Path) -> Result<u64> {
    use std::os::{linux::fs::MetadataExt as _, unix::ffi::OsStrExt as _};
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        bail!("not a directory (want a cgroup v2 directory, e.g. under /sys/fs/cgroup)");
    }
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: zeroed out struct filled by statfs; valid NUL-terminated path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error()).context("statfs");
    }
    if st.f_type as i64 != CGROUP2_SUPER_MAGIC {
        bail!("not a cgroup v2 directory (`findmnt -t cgroup2` shows where cgroup v2 is mounted)");
    }
    Ok(meta.st_ino())
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
