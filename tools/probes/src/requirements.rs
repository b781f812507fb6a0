//! The catalog of our tools: category, one-line summary, what each needs from the kernel, its
//! test, its kill -9 trial and whether lab-bench compares it. The one list of tools: `lab tools`
//! prints it, `lab doctor` checks it against this kernel, the payload ships it, the trials and
//! lab-bench take their tools from it, and tests/it/catalog.rs checks that every tool has its
//! binary, man page, example, test and README row (CONTRIBUTING.md, "Add a tool").

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
    /// The tests/it module that tests it (`cargo test -p lab-tests --test it -- MODULE`).
    pub test: &'static str,
    /// Its command line in the kill -9 trials (tests/trials.rs), or None where it cannot attach
    /// on the development host (the entry says why).
    pub trial: Option<&'static str>,
    /// Compared with its peers (libbpf-tools, bpftrace) by lab-bench.
    pub bench: bool,
    /// Needs perf_event sampling (profile).
    pub perf_sampling: bool,
}

pub static TOOLS: &[ToolInfo] = &[
    ToolInfo {
        name: "execsnoop",
        category: "processes",
        summary: "trace new processes via exec() syscalls, with arguments, parent and result",
        tracepoints: crate::execsnoop::TRACEPOINTS,
        test: "tools_snoop",
        trial: Some("execsnoop"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "opensnoop",
        category: "filesystems",
        summary: "trace open() syscalls: which process opened which file, fd or error",
        tracepoints: crate::opensnoop::TRACEPOINTS,
        test: "tools_snoop",
        trial: Some("opensnoop"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "killsnoop",
        category: "processes",
        summary: "trace signals sent with kill()/tkill()/tgkill(): sender, target, signal, result",
        tracepoints: crate::killsnoop::TRACEPOINTS,
        test: "tools_snoop",
        trial: Some("killsnoop"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "syscount",
        category: "cpu",
        summary: "count syscalls by syscall or by process, optionally with time spent in them",
        tracepoints: crate::syscount::TRACEPOINTS,
        test: "tools_snoop",
        trial: Some("syscount"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "profile",
        category: "cpu",
        summary: "sample on-CPU stack traces (kernel + user) at a timed interval; flame graphs",
        tracepoints: &[],
        test: "tools_stack",
        trial: Some("profile"),
        bench: true,
        perf_sampling: true,
    },
    ToolInfo {
        name: "offcputime",
        category: "cpu",
        summary: "summarize time threads spend blocked (off CPU) by stack trace",
        tracepoints: &[("sched", "sched_switch")],
        test: "tools_stack",
        trial: Some("offcputime"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "biolatency",
        category: "disks",
        summary:
            "summarize block device I/O latency as a histogram (per disk, per flags, queued time)",
        tracepoints: crate::biolatency::TRACEPOINTS,
        test: "tools_hist",
        trial: Some("biolatency"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "biosnoop",
        category: "disks",
        summary: "trace block device I/O: process, disk, R/W, sector, bytes and latency per I/O",
        tracepoints: crate::biosnoop::TRACEPOINTS,
        test: "tools_hist",
        trial: Some("biosnoop"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "bitesize",
        category: "disks",
        summary: "summarize block device I/O size as a histogram per process name",
        tracepoints: crate::bitesize::TRACEPOINTS,
        test: "tools_hist",
        trial: Some("bitesize"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "runqlat",
        category: "cpu",
        summary: "summarize run queue (scheduler) latency as a histogram, per process optionally",
        tracepoints: crate::runqlat::TRACEPOINTS,
        test: "tools_hist",
        trial: Some("runqlat"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "runqlen",
        category: "cpu",
        summary: "sample run queue length per CPU at 99 Hz as a histogram; run queue occupancy",
        tracepoints: &[],
        test: "tools_hist",
        trial: Some("runqlen"),
        bench: true,
        perf_sampling: true,
    },
    ToolInfo {
        name: "cpudist",
        category: "cpu",
        summary: "summarize on-CPU (or off-CPU) time per scheduling as a histogram",
        tracepoints: crate::cpudist::TRACEPOINTS,
        test: "tools_hist",
        trial: Some("cpudist"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tcpconnect",
        category: "networking",
        summary: "trace active TCP connections (connect()): PID, addresses, port; or count them",
        tracepoints: crate::tcpconnect::TRACEPOINTS,
        test: "tools_net",
        trial: Some("tcpconnect"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tcpaccept",
        category: "networking",
        summary: "trace passive TCP connections (accept()) with the accepting PID",
        tracepoints: crate::tcpaccept::TRACEPOINTS,
        test: "tools_net",
        trial: Some("tcpaccept"),
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tcplife",
        category: "networking",
        summary: "trace TCP sessions at close: PID, addresses, ports, bytes each way, lifetime",
        tracepoints: crate::tcplife::TRACEPOINTS,
        test: "tools_net",
        trial: Some("tcplife"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tcpretrans",
        category: "networking",
        summary: "trace TCP retransmissions: addresses, ports, TCP state (-l: tail loss probes)",
        tracepoints: crate::tcpretrans::TRACEPOINTS,
        test: "tools_net",
        trial: Some("tcpretrans"),
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tcpsynbl",
        category: "networking",
        summary: "summarize TCP SYN backlog length as a histogram per backlog limit",
        tracepoints: crate::tcpsynbl::TRACEPOINTS,
        test: "tools_net",
        trial: Some("tcpsynbl"),
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "funccount",
        category: "multi-tools",
        summary: "count kernel functions (kprobes), tracepoints, user functions (uprobes) or USDT probes by pattern",
        tracepoints: &[],
        test: "tools_func",
        trial: Some("funccount t:syscalls:sys_enter_open*"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "tplist",
        category: "multi-tools",
        summary: "list tracepoints (-v: their fields) or the USDT probes of a binary, library or PID",
        tracepoints: &[],
        test: "tools_usdt",
        // No kill -9 trial: it attaches no BPF program.
        trial: None,
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "dbslower",
        category: "applications",
        summary: "trace MySQL/PostgreSQL queries slower than a threshold (USDT query__start/done)",
        tracepoints: &[],
        test: "tools_usdt",
        // No kill -9 trial: it needs a process with USDT query probes to attach to.
        trial: None,
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "mysqld_qslower",
        category: "applications",
        summary: "trace a mysqld's queries slower than a threshold (USDT query__start/done)",
        tracepoints: &[],
        test: "tools_usdt",
        // No kill -9 trial: it needs a mysqld (a process with its USDT probes) to attach to.
        trial: None,
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "ext4slower",
        category: "filesystems",
        summary: "trace slow ext4 reads, writes, opens, fsyncs (fentry, kprobe or syscall path)",
        tracepoints: crate::fsslower::TRACEPOINTS,
        test: "tools_fs",
        trial: Some("ext4slower 0"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "xfsslower",
        category: "filesystems",
        summary: "trace slow XFS reads, writes, opens, fsyncs (fentry, kprobe or syscall path)",
        tracepoints: crate::fsslower::TRACEPOINTS,
        test: "tools_fs",
        // No kill -9 trial: it needs an XFS file system mounted.
        trial: None,
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "btrfsslower",
        category: "filesystems",
        summary: "trace slow btrfs reads, writes, opens, fsyncs (fentry, kprobe or syscall path)",
        tracepoints: crate::fsslower::TRACEPOINTS,
        test: "tools_fs",
        // No kill -9 trial: it needs a btrfs file system mounted.
        trial: None,
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "ext4dist",
        category: "filesystems",
        summary: "summarize ext4 read/write/open/fsync latency as histograms per operation",
        tracepoints: crate::fsslower::TRACEPOINTS,
        test: "tools_fs",
        trial: Some("ext4dist"),
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "xfsdist",
        category: "filesystems",
        summary: "summarize XFS read/write/open/fsync latency as histograms per operation",
        tracepoints: crate::fsslower::TRACEPOINTS,
        test: "tools_fs",
        // No kill -9 trial: it needs an XFS file system mounted.
        trial: None,
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "cachestat",
        category: "memory",
        summary: "page cache hits, misses, dirties and hit ratio per interval (needs kprobes)",
        tracepoints: &[],
        test: "tools_mem",
        // No kill -9 trial: it needs kprobes, which the dev host lacks.
        trial: None,
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "bashreadline",
        category: "languages",
        summary: "print the commands typed into every running bash (uretprobe on readline)",
        tracepoints: &[],
        test: "tools_func",
        trial: Some("bashreadline"),
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "oomkill",
        category: "memory",
        summary: "trace OOM kills: triggering and killed process, pages, load average",
        tracepoints: crate::mem::OOM_TRACEPOINTS,
        test: "tools_mem",
        trial: Some("oomkill"),
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "drsnoop",
        category: "memory",
        summary: "trace direct and memcg reclaim: process, latency, pages reclaimed",
        tracepoints: crate::mem::DRSNOOP_TRACEPOINTS,
        test: "tools_mem",
        trial: Some("drsnoop"),
        bench: false,
        perf_sampling: false,
    },
    ToolInfo {
        name: "trace",
        category: "multi-tools",
        summary: "print a message at kernel/user functions, tracepoints, USDT probes: filters, printf formats, stacks",
        tracepoints: &[],
        test: "tools_multi",
        trial: Some("trace t:syscalls:sys_enter_openat"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "argdist",
        category: "multi-tools",
        summary: "histograms (-H) and counts (-C) of function arguments, return values, latencies, fields",
        tracepoints: &[],
        test: "tools_multi",
        trial: Some("argdist -C t:syscalls:sys_enter_openat():int:args->flags"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "stackcount",
        category: "multi-tools",
        summary: "count the stacks leading to functions, tracepoints or USDT probes; folded, flame graphs",
        tracepoints: &[],
        test: "tools_multi",
        trial: Some("stackcount t:syscalls:sys_enter_openat"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "funclatency",
        category: "multi-tools",
        summary: "time kernel or user functions: latency histograms per interval, function or process",
        tracepoints: &[],
        test: "tools_multi",
        trial: Some("funclatency c:getpid"),
        bench: true,
        perf_sampling: false,
    },
    ToolInfo {
        name: "funcslower",
        category: "multi-tools",
        summary: "print kernel or user function calls slower than a threshold, with args, return value, stacks",
        tracepoints: &[],
        test: "tools_multi",
        trial: Some("funcslower -u 1 c:getpid"),
        bench: true,
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
    (
        "trace",
        Hook::Kprobes,
        "kernel-function probes p::/r:: (t:, LIB:FUNC and u: work without)",
    ),
    (
        "argdist",
        Hook::Kprobes,
        "kernel-function probes p::/r:: (t:, LIB:FUNC and u: work without)",
    ),
    (
        "stackcount",
        Hook::Kprobes,
        "kernel-function patterns (t:, LIB:FUNC and u: work without)",
    ),
    (
        "funclatency",
        Hook::Kprobes,
        "kernel functions (LIB:FUNC user functions work without)",
    ),
    (
        "funcslower",
        Hook::Kprobes,
        "kernel functions (LIB:FUNC user functions work without)",
    ),
];

/// The hooks `tool` needs, with the part that needs each.
pub fn hooks_of(tool: &str) -> impl Iterator<Item = (Hook, &'static str)> + '_ {
    KERNEL_HOOKS
        .iter()
        .filter(move |(t, _, _)| *t == tool)
        .map(|(_, h, part)| (*h, *part))
}
