//! execsnoop's user half: attach the exec probes, decode records. Used by the `execsnoop` tool and
//! by the runner (ground truth: which programs ran, with which arguments).
use anyhow::{Context as _, Result};
use lab_probes_common::snoop::{ExecEvent, EXEC_MAX_ARGS_CAP};

use crate::{
    btf::Btf,
    events::{self, Record, Snoop},
    requirements::Tracepoint,
    tracefs,
};

/// Tracepoints the probe attaches to; all must exist.
pub const TRACEPOINTS: &[Tracepoint] = &[
    ("syscalls", "sys_enter_execve"),
    ("syscalls", "sys_exit_execve"),
    ("sched", "sched_process_fork"),
];

#[derive(Debug, Clone)]
pub struct Config {
    /// argv entries to copy after argv[0] (BCC's --max-args, default 20; at most 60).
    pub max_args: u32,
    /// Only execs by this uid.
    pub uid: Option<u32>,
    /// Only execs by children of this tgid (BCC's -P; the parent as the kernel has it now).
    pub ppid: Option<u32>,
    /// Only tasks in this cgroup v2 (its id, see `events::cgroup_id`).
    pub cgroup: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_args: 20,
            uid: None,
            ppid: None,
            cgroup: None,
        }
    }
}

/// One exec as the tool prints it.
#[derive(Debug, Clone)]
pub struct Exec {
    /// CLOCK_MONOTONIC ns at sys_enter_execve.
    pub ts_ns: u64,
    pub pid: u32,
    /// Parent tgid; read from /proc when the parent forked before the probe attached (0 if gone).
    pub ppid: u32,
    pub uid: u32,
    /// 0 on success, -errno on failure.
    pub retval: i64,
    /// Comm after the exec (the old one if it failed).
    pub comm: String,
    /// The filename passed to execve, then argv[1..].
    pub args: Vec<String>,
    /// More argv entries existed than were copied.
    pub truncated: bool,
}

/// An attached execsnoop probe; detaches when dropped. `lost` counts records dropped because
/// the ring buffer or the in-flight table was full.
pub type ExecSnoop = Snoop<Exec>;

impl Snoop<Exec> {
    pub fn attach(cfg: &Config) -> Result<Self> {
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let filename = tracefs::field_offset(&root, "syscalls", "sys_enter_execve", "filename")?;
        let argv = tracefs::field_offset(&root, "syscalls", "sys_enter_execve", "argv")?;
        let ret = tracefs::field_offset(&root, "syscalls", "sys_exit_execve", "ret")?;
        let child = tracefs::field_offset(&root, "sched", "sched_process_fork", "child_pid")?;
        let max_args = cfg.max_args.min(EXEC_MAX_ARGS_CAP);
        let uid = cfg.uid.unwrap_or(u32::MAX);
        let ppid = cfg.ppid.unwrap_or(0);
        let cgroup = cfg.cgroup.unwrap_or(0);
        // -P follows current->real_parent->tgid: find those offsets only when asked (BTF read).
        let (real_parent, tgid) = match cfg.ppid {
            Some(_) => {
                let btf = Btf::vmlinux().context("-P reads the parent from kernel BTF")?;
                btf.prefetch(&["task_struct", "real_parent", "tgid"])?;
                let rp = btf.member("task_struct", "real_parent")?.offset;
                (rp, btf.member("task_struct", "tgid")?.offset)
            }
            None => (0, 0),
        };
        let mut bpf = crate::loader::load_with("execsnoop", |l| {
            l.override_global("ENTER_FILENAME_OFF", &filename, true)
                .override_global("ENTER_ARGV_OFF", &argv, true)
                .override_global("EXIT_RET_OFF", &ret, true)
                .override_global("FORK_CHILD_PID_OFF", &child, true)
                .override_global("MAX_ARGS", &max_args, true)
                .override_global("FILTER_UID", &uid, true)
                .override_global("FILTER_PPID", &ppid, true)
                .override_global("TASK_REAL_PARENT_OFF", &real_parent, true)
                .override_global("TASK_TGID_OFF", &tgid, true)
                .override_global("FILTER_CGROUP", &cgroup, true);
        })?;
        // Fork first, so parents of processes started from now on are known.
        events::attach_tracepoint(&mut bpf, "execsnoop_fork", "sched", "sched_process_fork")?;
        events::attach_tracepoint(&mut bpf, "execsnoop_exit", "syscalls", "sys_exit_execve")?;
        events::attach_tracepoint(&mut bpf, "execsnoop_enter", "syscalls", "sys_enter_execve")?;
        Snoop::new(bpf)
    }
}

impl Record for Exec {
    type Raw = ExecEvent;
    const PROBE: &'static str = "execsnoop";
    fn from_raw(ev: &ExecEvent) -> Self {
        let used = (ev.args_size as usize).min(ev.args.len());
        let args: Vec<String> = ev.args[..used]
            .split(|&b| b == 0)
            .take(ev.args_count as usize)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        let ppid = if ev.ppid != 0 {
            ev.ppid
        } else {
            ppid_from_proc(ev.pid).unwrap_or(0)
        };
        Exec {
            ts_ns: ev.ts_ns,
            pid: ev.pid,
            ppid,
            uid: ev.uid,
            retval: ev.retval,
            comm: events::cstr(&ev.comm),
            args,
            truncated: ev.truncated != 0,
        }
    }
}

/// PPid from /proc/PID/status (for processes forked before the probe attached).
pub fn ppid_from_proc(pid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}
