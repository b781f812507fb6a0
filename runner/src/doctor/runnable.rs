//! Which labs and tools can run here, from what the findings found.
use lab_probes::requirements::{self, Tracepoint};

use super::{hook_usable, needs::Needs, Kernel, Runnable};
use crate::lab::Lab;

/// The tracepoints of `tps` this kernel lacks, as "tracepoint c:n".
fn missing_of(tps: &[Tracepoint], k: &Kernel) -> Vec<String> {
    tps.iter()
        .filter(|t| k.missing_tracepoints.contains(t))
        .map(|(c, n)| format!("tracepoint {c}:{n}"))
        .collect()
}

pub(super) fn labs(labs: &[Lab], needs: &[Needs], k: &Kernel, disk_ok: bool) -> Vec<Runnable> {
    labs.iter()
        .zip(needs)
        .map(|(l, n)| {
            let mut missing = missing_of(&n.tracepoints, k);
            for c in &n.commands {
                if crate::toolbox::which(c).is_none() {
                    missing.push(format!("command {c}"));
                }
            }
            if !k.can_bpf {
                missing.push("loading BPF programs (see rows above)".into());
            }
            // Labs that trace disks make disk I/O of their own, in LAB_DATA_DIR.
            let disks = l
                .tools
                .iter()
                .any(|t| requirements::tool(t).is_some_and(|t| t.category == "disks"));
            if !disk_ok && disks {
                missing.push("free disk".into());
            }
            Runnable {
                name: format!("lab {} ({})", l.id, l.title),
                runnable: missing.is_empty(),
                missing,
                limited: Vec::new(),
            }
        })
        .collect()
}

pub(super) fn tools(k: &Kernel) -> Vec<Runnable> {
    requirements::TOOLS
        .iter()
        .map(|t| {
            let mut missing = missing_of(t.tracepoints, k);
            if !k.can_bpf {
                missing.push("loading BPF programs".into());
            }
            let mut limited = Vec::new();
            for (hook, part) in requirements::hooks_of(t.name) {
                match (hook_usable(hook, k), part) {
                    (true, _) => {}
                    (false, "") => missing.push(hook.name().into()),
                    (false, part) => limited.push(format!("{} for {part}", hook.name())),
                }
            }
            Runnable {
                name: t.name.into(),
                runnable: missing.is_empty(),
                missing,
                limited,
            }
        })
        .collect()
}
