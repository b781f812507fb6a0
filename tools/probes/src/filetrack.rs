//! User halves of the probes behind `lab check` for labs 4-5 (kernel halves: tools/ebpf/src/
//! unlinksnoop.rs, forksnoop.rs, fdleak.rs, rwbytes.rs). Each attaches on `attach`, detaches when
//! dropped, and reports what it traced so far. Field offsets come from tracefs at attach time.
use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aya::{
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
    Ebpf,
};
use lab_probes_common::filetrack::{
    FdKey, ForkEvent, UnlinkEvent, FD_CLOSES, FD_OPENS, RW_BLOCK, RW_READ, RW_WRITE, SYS_RMDIR,
    SYS_UNLINK,
};

use crate::{events, requirements::Tracepoint, tracefs};

/// One deletion seen by [`UnlinkSnoop`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlink {
    pub tgid: u32,
    /// "unlink", "unlinkat" or "rmdir".
    pub syscall: &'static str,
    pub path: String,
}

/// unlink()/unlinkat()/rmdir() calls of one process (or all, with tgid 0).
pub struct UnlinkSnoop {
    _bpf: Ebpf,
    ring: RingBuf<MapData>,
    seen: Vec<Unlink>,
}

impl UnlinkSnoop {
    pub const TRACEPOINTS: &'static [Tracepoint] = &[
        ("syscalls", "sys_enter_unlink"),
        ("syscalls", "sys_enter_unlinkat"),
        ("syscalls", "sys_enter_rmdir"),
    ];

    pub fn attach(tgid: u32) -> Result<Self> {
        let root = events::require_tracepoints(Self::TRACEPOINTS)?;
        let off = |tp: &str| tracefs::field_offset(&root, "syscalls", tp, "pathname");
        let (unlink, unlinkat, rmdir) = (
            off("sys_enter_unlink")?,
            off("sys_enter_unlinkat")?,
            off("sys_enter_rmdir")?,
        );
        let mut bpf = crate::load_with("unlinksnoop", |l| {
            l.override_global("TARGET_TGID", &tgid, true);
            l.override_global("UNLINK_PATH_OFF", &unlink, true);
            l.override_global("UNLINKAT_PATH_OFF", &unlinkat, true);
            l.override_global("RMDIR_PATH_OFF", &rmdir, true);
        })?;
        for (prog, tp) in [
            ("unlinksnoop_unlink", "sys_enter_unlink"),
            ("unlinksnoop_unlinkat", "sys_enter_unlinkat"),
            ("unlinksnoop_rmdir", "sys_enter_rmdir"),
        ] {
            events::attach_tracepoint(&mut bpf, prog, "syscalls", tp)?;
        }
        let ring = events::take_ring(&mut bpf)?;
        Ok(Self {
            _bpf: bpf,
            ring,
            seen: Vec::new(),
        })
    }

    /// Every deletion traced since attach.
    pub fn deletions(&mut self) -> &[Unlink] {
        let seen = &mut self.seen;
        let _ = events::drain(&mut self.ring, |rec| {
            if let Some(ev) = events::decode::<UnlinkEvent>(rec) {
                let syscall = match ev.syscall {
                    SYS_UNLINK => "unlink",
                    SYS_RMDIR => "rmdir",
                    _ => "unlinkat",
                };
                seen.push(Unlink {
                    tgid: ev.tgid,
                    syscall,
                    path: events::cstr(&ev.path),
                });
            }
            Ok::<(), ()>(())
        });
        &self.seen
    }
}

/// New tasks forked by one process (or by any, with tgid 0).
pub struct ForkSnoop {
    _bpf: Ebpf,
    ring: RingBuf<MapData>,
    seen: Vec<ForkEvent>,
}

impl ForkSnoop {
    pub const TRACEPOINTS: &'static [Tracepoint] = &[("sched", "sched_process_fork")];

    pub fn attach(parent_tgid: u32) -> Result<Self> {
        let root = events::require_tracepoints(Self::TRACEPOINTS)?;
        let child = tracefs::field_offset(&root, "sched", "sched_process_fork", "child_pid")?;
        let mut bpf = crate::load_with("forksnoop", |l| {
            l.override_global("TARGET_TGID", &parent_tgid, true);
            l.override_global("CHILD_PID_OFF", &child, true);
        })?;
        events::attach_tracepoint(&mut bpf, "forksnoop", "sched", "sched_process_fork")?;
        let ring = events::take_ring(&mut bpf)?;
        Ok(Self {
            _bpf: bpf,
            ring,
            seen: Vec::new(),
        })
    }

    /// (parent tgid, child pid) of every fork traced since attach.
    pub fn forks(&mut self) -> Vec<(u32, u32)> {
        let seen = &mut self.seen;
        let _ = events::drain(&mut self.ring, |rec| {
            if let Some(ev) = events::decode::<ForkEvent>(rec) {
                seen.push(ev);
            }
            Ok::<(), ()>(())
        });
        self.seen
            .iter()
            .map(|e| (e.parent_tgid, e.child_pid))
            .collect()
    }
}

/// Descriptors a process opened while traced and has not closed.
pub struct FdLeak {
    bpf: Ebpf,
}

impl FdLeak {
    /// Syscalls whose return value is a new descriptor.
    pub const OPENERS: &'static [&'static str] = &[
        "sys_exit_open",
        "sys_exit_openat",
        "sys_exit_openat2",
        "sys_exit_dup",
        "sys_exit_dup2",
        "sys_exit_dup3",
    ];

    pub fn attach(tgid: u32) -> Result<Self> {
        let (root, _) = tracefs::mount_if_missing()?;
        let ret = tracefs::field_offset(&root, "syscalls", "sys_exit_openat", "ret")?;
        let fd = tracefs::field_offset(&root, "syscalls", "sys_enter_close", "fd")?;
        let mut bpf = crate::load_with("fdleak", |l| {
            l.override_global("TARGET_TGID", &tgid, true);
            l.override_global("EXIT_RET_OFF", &ret, true);
            l.override_global("CLOSE_FD_OFF", &fd, true);
        })?;
        load_prog(&mut bpf, "fdleak_open_exit")?;
        for tp in Self::OPENERS {
            // openat2 and friends are optional: older kernels lack some.
            if tracefs::tracepoint_exists(&root, "syscalls", tp) {
                attach_loaded(&mut bpf, "fdleak_open_exit", "syscalls", tp)?;
            }
        }
        events::attach_tracepoint(&mut bpf, "fdleak_close", "syscalls", "sys_enter_close")?;
        Ok(Self { bpf })
    }

    /// Descriptors still open, by tgid (sorted).
    pub fn open_fds(&self) -> Result<BTreeMap<u32, Vec<u32>>> {
        let map: HashMap<_, FdKey, u8> =
            HashMap::try_from(self.bpf.map("OPEN_FDS").context("map OPEN_FDS")?)?;
        let mut out: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for k in map.keys() {
            let k = k?;
            out.entry(k.tgid).or_default().push(k.fd);
        }
        out.values_mut().for_each(|v| v.sort_unstable());
        Ok(out)
    }

    /// (descriptors opened, descriptors closed that were opened while traced).
    pub fn totals(&self) -> Result<(u64, u64)> {
        let arr: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.bpf.map("COUNTS").context("map COUNTS")?)?;
        Ok((
            arr.get(&FD_OPENS, 0)?.iter().sum(),
            arr.get(&FD_CLOSES, 0)?.iter().sum(),
        ))
    }
}

/// Bytes by logical (read/write-family syscalls) and physical (block requests issued) I/O.
pub struct RwBytes {
    bpf: Ebpf,
}

/// Totals from [`RwBytes`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoBytes {
    pub read: u64,
    pub write: u64,
    pub block: u64,
}

impl RwBytes {
    pub const READS: &'static [&'static str] = &[
        "sys_exit_read",
        "sys_exit_pread64",
        "sys_exit_readv",
        "sys_exit_preadv",
    ];
    pub const WRITES: &'static [&'static str] = &[
        "sys_exit_write",
        "sys_exit_pwrite64",
        "sys_exit_writev",
        "sys_exit_pwritev",
    ];

    pub fn attach() -> Result<Self> {
        let root = events::require_tracepoints(&[
            ("block", "block_rq_issue"),
            ("syscalls", "sys_exit_read"),
        ])?;
        let ret = tracefs::field_offset(&root, "syscalls", "sys_exit_read", "ret")?;
        let bytes = tracefs::field_offset(&root, "block", "block_rq_issue", "bytes")?;
        let mut bpf = crate::load_with("rwbytes", |l| {
            l.override_global("EXIT_RET_OFF", &ret, true);
            l.override_global("ISSUE_BYTES_OFF", &bytes, true);
        })?;
        for (prog, tps) in [
            ("rwbytes_read", Self::READS),
            ("rwbytes_write", Self::WRITES),
        ] {
            load_prog(&mut bpf, prog)?;
            for tp in tps {
                if tracefs::tracepoint_exists(&root, "syscalls", tp) {
                    attach_loaded(&mut bpf, prog, "syscalls", tp)?;
                }
            }
        }
        events::attach_tracepoint(&mut bpf, "rwbytes_block", "block", "block_rq_issue")?;
        Ok(Self { bpf })
    }

    pub fn totals(&self) -> Result<IoBytes> {
        let arr: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.bpf.map("BYTES").context("map BYTES")?)?;
        let sum = |slot| -> Result<u64> { Ok(arr.get(&slot, 0)?.iter().sum()) };
        Ok(IoBytes {
            read: sum(RW_READ)?,
            write: sum(RW_WRITE)?,
            block: sum(RW_BLOCK)?,
        })
    }
}

fn load_prog(bpf: &mut Ebpf, prog: &str) -> Result<()> {
    let p: &mut aya::programs::TracePoint = bpf
        .program_mut(prog)
        .with_context(|| format!("program {prog} missing from object"))?
        .try_into()?;
    p.load()
        .with_context(|| format!("verifier rejected {prog}"))
}

/// Attach an already loaded program to one more tracepoint.
fn attach_loaded(bpf: &mut Ebpf, prog: &str, category: &str, name: &str) -> Result<()> {
    let p: &mut aya::programs::TracePoint = bpf
        .program_mut(prog)
        .with_context(|| format!("program {prog} missing from object"))?
        .try_into()?;
    p.attach(category, name)
        .with_context(|| format!("attaching {prog} to {category}:{name}"))?;
    Ok(())
}
