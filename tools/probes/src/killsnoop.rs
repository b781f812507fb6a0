//! killsnoop's user half: attach the kill/tkill/tgkill probes, decode records. Used by the
//! `killsnoop` tool and by the runner (ground truth: who signalled whom).
use anyhow::Result;
use lab_probes_common::snoop::KillEvent;

use crate::{
    events::{self, Record, Snoop},
    requirements::Tracepoint,
    tracefs,
};

/// kill(2) is required; tkill/tgkill are traced when present.
pub const TRACEPOINTS: &[Tracepoint] = &[
    ("syscalls", "sys_enter_kill"),
    ("syscalls", "sys_exit_kill"),
];
/// (enter program, syscall) pairs traced when the kernel has them.
const OPTIONAL: &[events::SyscallPair] =
    &[("killsnoop_tkill", "tkill"), ("killsnoop_tgkill", "tgkill")];

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Only signals sent by these processes (tgids); None = all.
    pub pids: Option<Vec<u32>>,
    /// Only this signal number.
    pub signal: Option<u32>,
    /// Only failed calls.
    pub failed_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillCall {
    Kill,
    Tkill,
    Tgkill,
}

#[derive(Debug, Clone)]
pub struct Kill {
    pub ts_ns: u64,
    /// Sender tgid.
    pub pid: u32,
    pub comm: String,
    /// Target as passed (pid for kill, which may be 0/-1/-pgid; tid for tkill/tgkill).
    pub tpid: i32,
    pub sig: u32,
    /// 0 or -errno.
    pub ret: i64,
    pub call: KillCall,
}

/// An attached killsnoop probe; detaches when dropped.
pub type KillSnoop = Snoop<Kill>;

impl Record for Kill {
    type Raw = KillEvent;
    const PROBE: &'static str = "killsnoop";
    fn from_raw(ev: &KillEvent) -> Self {
        Kill {
            ts_ns: ev.ts_ns,
            pid: ev.pid,
            comm: events::cstr(&ev.comm),
            tpid: ev.tpid,
            sig: ev.sig,
            ret: ev.ret,
            call: match ev.syscall {
                1 => KillCall::Tkill,
                2 => KillCall::Tgkill,
                _ => KillCall::Kill,
            },
        }
    }
}

impl Snoop<Kill> {
    pub fn attach(cfg: &Config) -> Result<Self> {
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let [kill_pid, kill_sig] = events::enter_offsets(&root, "kill", ["pid", "sig"])?;
        let [tkill_pid, tkill_sig] = events::enter_offsets(&root, "tkill", ["pid", "sig"])?;
        let [tgkill_pid, tgkill_sig] = events::enter_offsets(&root, "tgkill", ["pid", "sig"])?;
        let ret = tracefs::field_offset(&root, "syscalls", "sys_exit_kill", "ret")?;
        let filter_pids = u8::from(cfg.pids.is_some());
        let sig = cfg.signal.unwrap_or(0);
        let failed = u8::from(cfg.failed_only);
        let mut bpf = crate::loader::load_with("killsnoop", |l| {
            l.override_global("KILL_PID_OFF", &kill_pid, true)
                .override_global("KILL_SIG_OFF", &kill_sig, true)
                .override_global("TKILL_PID_OFF", &tkill_pid, true)
                .override_global("TKILL_SIG_OFF", &tkill_sig, true)
                .override_global("TGKILL_PID_OFF", &tgkill_pid, true)
                .override_global("TGKILL_SIG_OFF", &tgkill_sig, true)
                .override_global("EXIT_RET_OFF", &ret, true)
                .override_global("FILTER_PIDS", &filter_pids, true)
                .override_global("FILTER_SIG", &sig, true)
                .override_global("FAILED_ONLY", &failed, true);
        })?;
        if let Some(pids) = &cfg.pids {
            events::add_pids(&mut bpf, pids)?;
        }
        let required = [("killsnoop_kill", "kill")];
        events::attach_syscall_pairs(&mut bpf, &root, "killsnoop_exit", &required, OPTIONAL)?;
        Snoop::new(bpf)
    }
}

/// Signal number from a name or number: "9", "KILL", "SIGKILL", "sigterm".
pub fn parse_signal(s: &str) -> Option<u32> {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v as u32)
}

/// Name of a signal number without the SIG prefix, if it has one.
pub fn signal_name(sig: u32) -> Option<&'static str> {
    SIGNALS
        .iter()
        .find(|(_, v)| *v as u32 == sig)
        .map(|(n, _)| *n)
}

const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("SIGTERM"), Some(15));
        assert_eq!(parse_signal("usr1"), Some(libc::SIGUSR1 as u32));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(signal_name(15), Some("TERM"));
    }
}
