//! opensnoop's user half: attach the open/openat/openat2 probes, decode records. Used by the
//! `opensnoop` tool and by the runner (ground truth: which files a PID set opened).
use anyhow::Result;
use lab_probes_common::snoop::OpenEvent;

use crate::{
    events::{self, Record, Snoop},
    requirements::Tracepoint,
    tracefs,
};

/// Tracepoints that must exist. open(2) and openat2(2) are traced too where the kernel has them
/// (open does not exist on arm64; openat2 arrived in 5.6).
pub const TRACEPOINTS: &[Tracepoint] = &[
    ("syscalls", "sys_enter_openat"),
    ("syscalls", "sys_exit_openat"),
];
/// (enter program, syscall) pairs traced when the kernel has them.
const OPTIONAL: &[events::SyscallPair] =
    &[("opensnoop_open", "open"), ("opensnoop_openat2", "openat2")];

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Only these processes (tgids); None = all. More can be added with `add_pids`.
    pub pids: Option<Vec<u32>>,
    /// Only this thread.
    pub tid: Option<u32>,
    pub uid: Option<u32>,
    /// Only failed opens.
    pub failed_only: bool,
    /// Only tasks in this cgroup v2 (its id, see `events::cgroup_id`).
    pub cgroup: Option<u64>,
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
pub type OpenSnoop = Snoop<Open>;

impl Snoop<Open> {
    pub fn attach(cfg: &Config) -> Result<Self> {
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let [open_filename, open_flags] =
            events::enter_offsets(&root, "open", ["filename", "flags"])?;
        let [openat_filename, openat_flags] =
            events::enter_offsets(&root, "openat", ["filename", "flags"])?;
        let [openat2_filename, openat2_how] =
            events::enter_offsets(&root, "openat2", ["filename", "how"])?;
        let ret = tracefs::field_offset(&root, "syscalls", "sys_exit_openat", "ret")?;
        let filter_pids = u8::from(cfg.pids.is_some());
        let tid = cfg.tid.unwrap_or(0);
        let uid = cfg.uid.unwrap_or(u32::MAX);
        let failed = u8::from(cfg.failed_only);
        let cgroup = cfg.cgroup.unwrap_or(0);
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
                .override_global("FAILED_ONLY", &failed, true)
                .override_global("FILTER_CGROUP", &cgroup, true);
        })?;
        if let Some(pids) = &cfg.pids {
            events::add_pids(&mut bpf, pids)?;
        }
        let required = [("opensnoop_openat", "openat")];
        events::attach_syscall_pairs(&mut bpf, &root, "opensnoop_exit", &required, OPTIONAL)?;
        Snoop::new(bpf)
    }
}

impl Record for Open {
    type Raw = OpenEvent;
    const PROBE: &'static str = "opensnoop";
    fn from_raw(ev: &OpenEvent) -> Self {
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
}
