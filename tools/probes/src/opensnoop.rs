//! opensnoop's user half: attach the open/openat/openat2 probes, decode records. Used by the
//! `opensnoop` tool and by the runner (ground truth: which files a PID set opened).
use std::os::fd::{AsFd, BorrowedFd};

use anyhow::{Context as _, Result};
use aya::{
    maps::{MapData, RingBuf},
    Ebpf,
};
use lab_probes_common::snoop::OpenEvent;

use crate::{events, requirements::Tracepoint, tracefs};

/// Tracepoints that must exist. open(2) and openat2(2) are traced too where the kernel has them
/// (open does not exist on arm64; openat2 arrived in 5.6).
pub const TRACEPOINTS: &[Tracepoint] = &[
    ("syscalls", "sys_enter_openat"),
    ("syscalls", "sys_exit_openat"),
];
const OPTIONAL: &[(&str, &str, &str)] = &[
    ("opensnoop_open", "sys_enter_open", "sys_exit_open"),
    ("opensnoop_openat2", "sys_enter_openat2", "sys_exit_openat2"),
];

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Only these processes (tgids); None = all. More can be added with `add_pids`.
    pub pids: Option<Vec<u32>>,
    /// Only this thread.
    pub tid: Option<u32>,
    pub uid: Option<u32>,
    /// Only failed opens.
    pub failed_only: bool,
}

/// Which syscall opened the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenCall {
    Open,
    Openat,
    Openat2,
}

#[derive(Debug, Clone)]
pub struct Open {
    pub ts_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub comm: String,
    /// fd on success, -errno on failure.
    pub ret: i64,
    pub flags: u64,
    pub call: OpenCall,
    pub path: String,
}

impl Open {
    /// BCC's FD and ERR columns: (fd, 0) on success, (-1, errno) on failure.
    pub fn fd_err(&self) -> (i64, i64) {
        if self.ret < 0 {
            (-1, -self.ret)
        } else {
            (self.ret, 0)
        }
    }
}

/// An attached opensnoop probe; detaches when dropped.
pub struct OpenSnoop {
    bpf: Ebpf,
    ring: RingBuf<MapData>,
}

impl OpenSnoop {
    pub fn attach(cfg: &Config) -> Result<Self> {
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let off = |tp: &str, field: &str| tracefs::field_offset(&root, "syscalls", tp, field);
        let has = |tp: &str| tracefs::tracepoint_exists(&root, "syscalls", tp);
        let openat_filename = off("sys_enter_openat", "filename")?;
        let openat_flags = off("sys_enter_openat", "flags")?;
        let ret = off("sys_exit_openat", "ret")?;
        let (open_filename, open_flags) = if has("sys_enter_open") {
            (
                off("sys_enter_open", "filename")?,
                off("sys_enter_open", "flags")?,
            )
        } else {
            (0, 0)
        };
        let (openat2_filename, openat2_how) = if has("sys_enter_openat2") {
            (
                off("sys_enter_openat2", "filename")?,
                off("sys_enter_openat2", "how")?,
            )
        } else {
            (0, 0)
        };
        let filter_pids = u8::from(cfg.pids.is_some());
        let tid = cfg.tid.unwrap_or(0);
        let uid = cfg.uid.unwrap_or(u32::MAX);
        let failed = u8::from(cfg.failed_only);
        let mut bpf = crate::loader::load_with("opensnoop", |l| {
            l.override_global("OPEN_FILENAME_OFF", &open_filename, true)
                .override_global("OPEN_FLAGS_OFF", &open_flags, true)
                .override_global("OPENAT_FILENAME_OFF", &openat_filename, true)
                .override_global("OPENAT_FLAGS_OFF", &openat_flags, true)
                .override_global("OPENAT2_FILENAME_OFF", &openat2_filename, true)
                .override_global("OPENAT2_HOW_OFF", &openat2_how, true)
                .override_global("EXIT_RET_OFF", &ret, true)
                .override_global("FILTER_PIDS", &filter_pids, true)
                .override_global("FILTER_TID", &tid, true)
                .override_global("FILTER_UID", &uid, true)
                .override_global("FAILED_ONLY", &failed, true);
        })?;
        if let Some(pids) = &cfg.pids {
            events::add_pids(&mut bpf, pids)?;
        }
        // Exits first: an enter is only recorded once its exit is being watched.
        let mut exits = vec![("syscalls", "sys_exit_openat")];
        let mut enters = vec![("opensnoop_openat", "sys_enter_openat")];
        for (prog, enter, exit) in OPTIONAL {
            if has(enter) && has(exit) {
                exits.push(("syscalls", exit));
                enters.push((prog, enter));
            }
        }
        events::attach_tracepoints(&mut bpf, "opensnoop_exit", &exits)?;
        for (prog, enter) in enters {
            events::attach_tracepoint(&mut bpf, prog, "syscalls", enter)?;
        }
        let ring = events::take_ring(&mut bpf)?;
        Ok(Self { bpf, ring })
    }

    /// Add processes to the PID filter (only when attached with `pids: Some(..)`).
    pub fn add_pids(&mut self, pids: &[u32]) -> Result<()> {
        events::add_pids(&mut self.bpf, pids)
    }

    /// Readable when a batch of records is waiting (wake-ups are batched: drain on a timer too).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }

    /// Call `f` on each waiting open; returns how many there were.
    pub fn drain(&mut self, mut f: impl FnMut(Open) -> Result<()>) -> Result<usize> {
        events::drain(&mut self.ring, |bytes| {
            let ev: OpenEvent = events::decode(bytes).context("short opensnoop record")?;
            f(decode(&ev))
        })
    }

    pub fn lost(&self) -> Result<u64> {
        events::lost(&self.bpf)
    }
}

fn decode(ev: &OpenEvent) -> Open {
    Open {
        ts_ns: ev.ts_ns,
        pid: ev.pid,
        tid: ev.tid,
        uid: ev.uid,
        comm: events::cstr(&ev.comm),
        ret: ev.ret,
        flags: ev.flags,
        call: match ev.syscall {
            0 => OpenCall::Open,
            2 => OpenCall::Openat2,
            _ => OpenCall::Openat,
        },
        path: events::cstr(&ev.path),
    }
}
