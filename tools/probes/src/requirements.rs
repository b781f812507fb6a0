//! The catalog of our tools: category, one-line summary and what each needs from the kernel.
//! `lab tools` prints it; `lab doctor` checks it against this kernel.

/// A tracepoint as (category, name).
pub type Tracepoint = (&'static str, &'static str);

/// Tool categories, in the order of the workshop's "coping with so many tools" hierarchy.
pub const CATEGORIES: &[&str] = &[
    "cpu",
    "memory",
    "disks",
    "filesystems",
    "networking",
    "languages",
    "processes",
    "applications",
    "multi-tools",
];

#[derive(Debug, Clone, Copy)]
pub struct ToolInfo {
    /// Binary name on PATH (BCC's name).
    pub name: &'static str,
    pub category: &'static str,
    pub summary: &'static str,
    /// Every one must exist; any missing one stops the tool with its name.
    pub tracepoints: &'static [Tracepoint],
    /// Needs perf_event sampling (profile).
    pub perf_sampling: bool,
}

pub static TOOLS: &[ToolInfo] = &[
    ToolInfo {
        name: "execsnoop",
        category: "processes",
        summary: "trace new processes via exec() syscalls, with arguments, parent and result",
        tracepoints: crate::execsnoop::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "opensnoop",
        category: "filesystems",
        summary: "trace open() syscalls: which process opened which file, fd or error",
        tracepoints: crate::opensnoop::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "killsnoop",
        category: "processes",
        summary: "trace signals sent with kill()/tkill()/tgkill(): sender, target, signal, result",
        tracepoints: crate::killsnoop::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "syscount",
        category: "cpu",
        summary: "count syscalls by syscall or by process, optionally with time spent in them",
        tracepoints: crate::syscount::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "profile",
        category: "cpu",
        summary: "sample on-CPU stack traces (kernel + user) at a timed interval; flame graphs",
        tracepoints: &[],
        perf_sampling: true,
    },
    ToolInfo {
        name: "offcputime",
        category: "cpu",
        summary: "summarize time threads spend blocked (off CPU) by stack trace",
        tracepoints: &[("sched", "sched_switch")],
        perf_sampling: false,
    },
    ToolInfo {
        name: "biolatency",
        category: "disks",
        summary:
            "summarize block device I/O latency as a histogram (per disk, per flags, queued time)",
        tracepoints: crate::biolatency::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "biosnoop",
        category: "disks",
        summary: "trace block device I/O: process, disk, R/W, sector, bytes and latency per I/O",
        tracepoints: crate::biosnoop::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "bitesize",
        category: "disks",
        summary: "summarize block device I/O size as a histogram per process name",
        tracepoints: crate::bitesize::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "runqlat",
        category: "cpu",
        summary: "summarize run queue (scheduler) latency as a histogram, per process optionally",
        tracepoints: crate::runqlat::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "runqlen",
        category: "cpu",
        summary: "sample run queue length per CPU at 99 Hz as a histogram; run queue occupancy",
        tracepoints: &[],
        perf_sampling: true,
    },
    ToolInfo {
        name: "cpudist",
        category: "cpu",
        summary: "summarize on-CPU (or off-CPU) time per scheduling as a histogram",
        tracepoints: crate::cpudist::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tcpconnect",
        category: "networking",
        summary: "trace active TCP connections (connect()): PID, addresses, port; or count them",
        tracepoints: crate::tcpconnect::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tcpaccept",
        category: "networking",
        summary: "trace passive TCP connections (accept()) with the accepting PID",
        tracepoints: crate::tcpaccept::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tcplife",
        category: "networking",
        summary: "trace TCP sessions at close: PID, addresses, ports, bytes each way, lifetime",
        tracepoints: crate::tcplife::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tcpretrans",
        category: "networking",
        summary: "trace TCP retransmissions: addresses, ports, TCP state (-l: tail loss probes)",
        tracepoints: crate::tcpretrans::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tcpsynbl",
        category: "networking",
        summary: "summarize TCP SYN backlog length as a histogram per backlog limit",
        tracepoints: crate::tcpsynbl::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "funccount",
        category: "multi-tools",
        summary: "count kernel functions (kprobes), tracepoints, user functions (uprobes) or USDT probes by pattern",
        tracepoints: &[],
        perf_sampling: false,
    },
    ToolInfo {
        name: "tplist",
        category: "multi-tools",
        summary: "list tracepoints (-v: their fields) or the USDT probes of a binary, library or PID",
        tracepoints: &[],
        perf_sampling: false,
    },
    ToolInfo {
        name: "dbslower",
        category: "applications",
        summary: "trace MySQL/PostgreSQL queries slower than a threshold (USDT query__start/done)",
        tracepoints: &[],
        perf_sampling: false,
    },
    ToolInfo {
        name: "mysqld_qslower",
        category: "applications",
        summary: "trace a mysqld's queries slower than a threshold (USDT query__start/done)",
        tracepoints: &[],
        perf_sampling: false,
    },
    ToolInfo {
        name: "ext4slower",
        category: "filesystems",
        summary: "trace slow ext4 reads, writes, opens, fsyncs (fentry, kprobe or syscall path)",
        tracepoints: crate::fsslower::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "xfsslower",
        category: "filesystems",
        summary: "trace slow XFS reads, writes, opens, fsyncs (fentry, kprobe or syscall path)",
        tracepoints: crate::fsslower::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "btrfsslower",
        category: "filesystems",
        summary: "trace slow btrfs reads, writes, opens, fsyncs (fentry, kprobe or syscall path)",
        tracepoints: crate::fsslower::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "ext4dist",
        category: "filesystems",
        summary: "summarize ext4 read/write/open/fsync latency as histograms per operation",
        tracepoints: crate::fsslower::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "xfsdist",
        category: "filesystems",
        summary: "summarize XFS read/write/open/fsync latency as histograms per operation",
        tracepoints: crate::fsslower::TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "cachestat",
        category: "memory",
        summary: "page cache hits, misses, dirties and hit ratio per interval (needs kprobes)",
        tracepoints: &[],
        perf_sampling: false,
    },
    ToolInfo {
        name: "bashreadline",
        category: "languages",
        summary: "print the commands typed into every running bash (uretprobe on readline)",
        tracepoints: &[],
        perf_sampling: false,
    },
    ToolInfo {
        name: "oomkill",
        category: "memory",
        summary: "trace OOM kills: triggering and killed process, pages, load average",
        tracepoints: crate::mem::OOM_TRACEPOINTS,
        perf_sampling: false,
    },
    ToolInfo {
        name: "drsnoop",
        category: "memory",
        summary: "trace direct and memcg reclaim: process, latency, pages reclaimed",
        tracepoints: crate::mem::DRSNOOP_TRACEPOINTS,
        perf_sampling: false,
    },
];

/// Tracepoints the runner itself uses for ground truth, beyond the tools'.
/// (Labs 1-2's checkers and labs 4-5's exercise probes; `lab doctor` checks them with the rest.)
pub static RUNNER_TRACEPOINTS: &[Tracepoint] = &[
    ("sched", "sched_process_exec"),
    ("sched", "sched_process_fork"),
    ("sched", "sched_process_exit"),
    ("syscalls", "sys_enter_write"),
    ("syscalls", "sys_enter_fsync"),
    ("syscalls", "sys_enter_unlinkat"),
    ("syscalls", "sys_enter_openat"),
    ("syscalls", "sys_enter_close"),
];

/// Every tracepoint any tool or the runner needs, deduplicated, sorted.
pub fn all_tracepoints() -> Vec<Tracepoint> {
    let mut v: Vec<Tracepoint> = TOOLS
        .iter()
        .flat_map(|t| t.tracepoints.iter().copied())
        .chain(RUNNER_TRACEPOINTS.iter().copied())
        .collect();
    v.sort();
    v.dedup();
    v
}

pub fn tool(name: &str) -> Option<&'static ToolInfo> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Kernel hooks beyond tracepoints, uprobes and perf_event that a tool needs where it has no
/// fallback (`lab doctor` probes them for real).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Kprobes,
    Fentry,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Kprobes => "kprobes",
            Hook::Fentry => "fentry/fexit",
        }
    }
}

/// (tool, hook, the part of the tool that needs it: "" = the whole tool). `lab doctor` lists a
/// tool whose whole needs a missing hook as unable to run, and a partial need as a limitation.
pub static KERNEL_HOOKS: &[(&str, Hook, &str)] = &[
    (
        "funccount",
        Hook::Kprobes,
        "kernel-function patterns (t:, p: and u: patterns work without)",
    ),
    // Page-cache hits have no tracepoint: kprobes or nothing (it says so and exits 2).
    ("cachestat", Hook::Kprobes, ""),
    ("tcpretrans", Hook::Kprobes, "-l (tail loss probes)"),
];

/// The hooks `tool` needs, with the part that needs each.
pub fn hooks_of(tool: &str) -> impl Iterator<Item = (Hook, &'static str)> + '_ {
    KERNEL_HOOKS
        .iter()
        .filter(move |(t, _, _)| *t == tool)
        .map(|(_, h, part)| (*h, *part))
}
