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
pub static RUNNER_TRACEPOINTS: &[Tracepoint] = &[("sched", "sched_process_exec")];

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
