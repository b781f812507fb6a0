//! The multi-tools in the bench: what each is started with for its ready-time and RSS row
//! (probes this machine can attach: a syscall tracepoint, libc's getenv), bpftrace's equivalent
//! one-liners, and the command lines of the per-event cost tables of trace and funclatency on a
//! uprobe (the bench's call loop, eventcost.rs), against bpftrace (and libbpf-tools'
//! funclatency where it runs).
use std::time::Duration;

use crate::{eventcost::Workload, suites::Suite};

/// The multi-tools measured.
pub const TOOLS: &[&str] = &[
    "trace",
    "argdist",
    "stackcount",
    "funclatency",
    "funcslower",
];

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

/// bpftrace's ready line: BEGIN runs once every probe is attached.
const READY: &str = "BEGIN { printf(\"Tracing... Hit Ctrl-C to end.\\n\"); } ";

/// The command line of `tool` in `suite` for the start rows.
pub fn argv(tool: &str, suite: &Suite) -> Option<Vec<String>> {
    let bt = |prog: String| {
        Some(vec![
            "bpftrace".into(),
            "-e".into(),
            format!("{READY}{prog}"),
        ])
    };
    let ours = |args: &[&str]| match suite {
        Suite::Ours(dir) => {
            let p = dir.join(tool);
            p.is_file().then(|| {
                std::iter::once(p.display().to_string())
                    .chain(args.iter().map(|a| a.to_string()))
                    .collect()
            })
        }
        _ => None,
    };
    let openat = "tracepoint:syscalls:sys_enter_openat";
    match (tool, suite) {
        ("trace", Suite::Bpftrace) => bt(format!("{openat} {{ printf(\"%s\\n\", str(args->filename)); }}")),
        ("argdist", Suite::Bpftrace) => {
            bt(format!("{openat} {{ @[str(args->filename)] = count(); }} interval:s:1 {{ print(@); clear(@); }}"))
        }
        ("stackcount", Suite::Bpftrace) => bt(format!("{openat} {{ @[kstack, ustack] = count(); }}")),
        ("funclatency", Suite::Bpftrace) => bt(latency_bt(&format!("{LIBC}:getenv"), "")),
        ("funcslower", Suite::Bpftrace) => bt(slow_bt(&format!("{LIBC}:getenv"))),
        ("funclatency", Suite::LibbpfTools) => {
            crate::suites::libbpf_tool("funclatency").map(|p| vec![p.display().to_string(), format!("{LIBC}:getenv")])
        }
        ("trace", _) => ours(&["t:syscalls:sys_enter_openat \"%s\", args->filename"]),
        ("argdist", _) => ours(&["-i", "1", "-C", "t:syscalls:sys_enter_openat():char*:args->filename"]),
        ("stackcount", _) => ours(&["t:syscalls:sys_enter_openat"]),
        ("funclatency", _) => ours(&["c:getenv"]),
        ("funcslower", _) => ours(&["c:getenv"]),
        _ => None,
    }
}

/// What to take off the time to the first line to get the ready time: argdist, as BCC's,
/// prints nothing until its first interval (-i 1) ends, one second after it is attached.
pub fn ready_offset(tool: &str, suite: &Suite) -> Duration {
    match (tool, suite) {
        ("argdist", Suite::Ours(_)) => Duration::from_secs(1),
        _ => Duration::ZERO,
    }
}

/// bpftrace timing `func` (uprobe + uretprobe) into a histogram, `filter` on the pid.
fn latency_bt(func: &str, filter: &str) -> String {
    format!(
        "uprobe:{func} {filter} {{ @s[tid] = nsecs; }} \
         uretprobe:{func} /@s[tid]/ {{ @ns = hist(nsecs - @s[tid]); delete(@s[tid]); }}"
    )
}

fn slow_bt(func: &str) -> String {
    format!(
        "uprobe:{func} {{ @s[tid] = nsecs; }} \
         uretprobe:{func} /@s[tid] && nsecs - @s[tid] > 1000000/ {{ printf(\"%s %d %d\\n\", comm, pid, nsecs - @s[tid]); }} \
         uretprobe:{func} {{ delete(@s[tid]); }}"
    )
}

/// trace on the call loop's function: one line per call, the loop's marker in each.
pub fn trace_cost(suite: &Suite, wl: &Workload) -> Option<Vec<String>> {
    let func = format!("{}:{}", wl.exe().display(), crate::eventcost::CALL_FN);
    let marker = wl.marker();
    match suite {
        Suite::Ours(dir) => Some(vec![
            dir.join("trace").display().to_string(),
            format!("{func} \"{marker} %d\", arg1"),
        ]),
        Suite::Bpftrace => Some(vec![
            "bpftrace".into(),
            "-e".into(),
            format!("{READY}uprobe:{func} {{ printf(\"{marker} %d\\n\", arg0); }}"),
        ]),
        Suite::LibbpfTools => None,
    }
}

/// funclatency on the call loop's function: a histogram, the calls counted in it.
pub fn funclatency_cost(suite: &Suite, wl: &Workload) -> Option<Vec<String>> {
    let func = format!("{}:{}", wl.exe().display(), crate::eventcost::CALL_FN);
    match suite {
        Suite::Ours(dir) => Some(vec![dir.join("funclatency").display().to_string(), func]),
        Suite::Bpftrace => Some(vec![
            "bpftrace".into(),
            "-e".into(),
            format!("{READY}{}", latency_bt(&func, "")),
        ]),
        Suite::LibbpfTools => {
            crate::suites::libbpf_tool("funclatency").map(|p| vec![p.display().to_string(), func])
        }
    }
}

/// Calls a funclatency-style output counted: its `count: N` (ours, libbpf-tools), else the sum
/// of bpftrace's histogram rows.
pub fn hist_calls(_wl: &Workload, text: &str) -> u64 {
    if let Some(n) = text.lines().rev().find_map(|l| {
        l.rsplit_once("count: ")
            .and_then(|(_, n)| n.trim().parse().ok())
    }) {
        return n;
    }
    // bpftrace's "[lo, hi)   N |@@@|", BCC's "lo -> hi : N |***|".
    text.lines()
        .filter(|l| l.starts_with('[') || l.contains("->"))
        .filter_map(|l| {
            l.split('|')
                .next()?
                .split([' ', ':'])
                .rfind(|w| !w.is_empty())?
                .parse::<u64>()
                .ok()
        })
        .sum()
}
