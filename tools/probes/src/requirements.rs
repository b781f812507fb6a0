//! The catalog of our tools: category, one-line summary and what each needs from the kernel.
//! `lab tools` prints it; `lab doctor` checks it against this kernel.

/// A tracepoint as (category, name).
pub type Tracepoint = (&'static str, &'static str);

/// Tool categories, in the order of the workshop's "coping with so many tools" hierarchy.
pub const CATEGORIES: &[&str] = &["cpu", "memory", "disks", "filesystems", "networking", "languages", "processes"];

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
