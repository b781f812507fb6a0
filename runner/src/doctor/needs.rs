//! What each lab needs from this machine, derived from its front matter's `tools = [...]` and
//! the tools catalog (lab_probes::requirements): a tool of ours needs its tracepoints; a
//! starter bpftrace tool (tools/bpftrace/NAME.bt) needs `bpftrace`; anything else is a command
//! that must be on PATH. Adding a lab or a tool needs no edit here.
use lab_probes::requirements::{self, Tracepoint};

/// A lab's needs beyond loading BPF programs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Sorted, deduplicated.
    pub tracepoints: Vec<Tracepoint>,
    /// Programs on PATH, in the order the lab names them, deduplicated.
    pub commands: Vec<String>,
}

/// The union of the needs of `tools` (a lab's `tools` list).
pub fn of_tools(tools: &[String]) -> Needs {
    let mut n = Needs::default();
    let mut command = |c: &str| {
        if !n.commands.iter().any(|x| x == c) {
            n.commands.push(c.to_string());
        }
    };
    let mut tps = Vec::new();
    for t in tools {
        match requirements::tool(t) {
            Some(info) => tps.extend(info.tracepoints.iter().copied()),
            None if crate::toolbox::is_starter(t) => command("bpftrace"),
            None => command(t),
        }
    }
    tps.sort();
    tps.dedup();
    n.tracepoints = tps;
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_labs_needs_are_the_union_of_its_tools_catalog_needs() {
        for lab in crate::lab::catalog().unwrap() {
            let n = of_tools(&lab.tools);
            let mut want: Vec<Tracepoint> = lab
                .tools
                .iter()
                .filter_map(|t| requirements::tool(t))
                .flat_map(|t| t.tracepoints.iter().copied())
                .collect();
            want.sort();
            want.dedup();
            assert_eq!(n.tracepoints, want, "lab {}", lab.id);
            // Every tool not in the catalog is a command (a starter .bt: bpftrace), and only those.
            let mut cmds: Vec<&str> = Vec::new();
            for t in lab.tools.iter().filter(|t| requirements::tool(t).is_none()) {
                let c = if crate::toolbox::is_starter(t) {
                    "bpftrace"
                } else {
                    t.as_str()
                };
                if !cmds.contains(&c) {
                    cmds.push(c);
                }
            }
            assert_eq!(n.commands, cmds, "lab {}", lab.id);
        }
    }

    #[test]
    fn tools_map_to_tracepoints_starters_to_bpftrace_the_rest_to_commands() {
        let n = of_tools(&names(&[
            "biolatency",
            "vfsstat",
            "iostat",
            "execsnoop",
            "iostat",
        ]));
        let bio = requirements::tool("biolatency").unwrap().tracepoints;
        assert!(!bio.is_empty());
        assert!(bio.iter().all(|t| n.tracepoints.contains(t)));
        let exec = requirements::tool("execsnoop").unwrap().tracepoints;
        assert!(exec.iter().all(|t| n.tracepoints.contains(t)));
        assert_eq!(n.commands, ["bpftrace", "iostat"]);
        assert_eq!(of_tools(&[]), Needs::default());
    }
}
