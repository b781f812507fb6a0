//! The kernel's findings: root, version, BTF, tracefs, every tracepoint a tool or lab needs, the
//! probe kinds (loaded for real), and a tracepoint program loaded and attached.
use std::path::Path;

use lab_probes::{
    capabilities::{self, Availability},
    requirements::{self, Tracepoint},
    tracefs,
};

use super::{fmt_tps, needs::Needs, system, Finding, Kernel, Verdict};

/// Ring buffers and BTF-based loading need 5.8.
pub const MIN_KERNEL: (u32, u32) = (5, 8);

pub(super) fn check(out: &mut Vec<Finding>, lab_needs: &[Needs]) -> Kernel {
    let root = crate::privilege::is_root();
    out.push(Finding::new(
        "running as root",
        root,
        Verdict::Fail,
        if root {
            "yes".into()
        } else {
            // SAFETY: geteuid has no preconditions.
            format!("no (euid {})", unsafe { libc::geteuid() })
        },
        "re-run it as root (e.g. sudo lab doctor)",
    ));
    let release = system::kernel_release();
    let kernel_ok = system::parse_kernel_version(&release).is_some_and(|v| v >= MIN_KERNEL);
    out.push(Finding::new(
        "kernel version",
        kernel_ok,
        Verdict::Fail,
        release.clone(),
        format!("boot a kernel >= {}.{}", MIN_KERNEL.0, MIN_KERNEL.1),
    ));
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    out.push(Finding::new(
        "kernel BTF",
        btf,
        Verdict::Warn,
        if btf { "/sys/kernel/btf/vmlinux" } else { "missing /sys/kernel/btf/vmlinux" }.into(),
        "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (bpftrace struct access and fentry need it)",
    ));
    let missing_tracepoints = tracepoints(out, root, lab_needs);
    let (kprobe, fentry) = probe_kinds(out, root);
    let smoke_ok = smoke(out, root);
    Kernel {
        release,
        can_bpf: root && smoke_ok && kernel_ok,
        missing_tracepoints,
        kprobe,
        fentry,
    }
}

/// tracefs (mounted when missing, as root), then every tracepoint wanted; returns the missing.
fn tracepoints(out: &mut Vec<Finding>, root: bool, lab_needs: &[Needs]) -> Vec<Tracepoint> {
    let tracefs_root = tracefs_finding(out, root);
    // Each tracepoint any tool, lab or the runner needs; a lab's come from its `tools`.
    let mut wanted: Vec<Tracepoint> = requirements::all_tracepoints();
    wanted.extend(lab_needs.iter().flat_map(|n| n.tracepoints.iter().copied()));
    wanted.sort();
    wanted.dedup();
    let missing: Vec<Tracepoint> = match &tracefs_root {
        Some(r) => wanted
            .iter()
            .copied()
            .filter(|(c, n)| !tracefs::tracepoint_exists(r, c, n))
            .collect(),
        None => wanted.clone(),
    };
    out.push(Finding::new(
        "tracepoints",
        missing.is_empty(),
        Verdict::Fail,
        if missing.is_empty() {
            format!("all {} present", wanted.len())
        } else {
            format!(
                "{} of {} missing: {}",
                missing.len(),
                wanted.len(),
                fmt_tps(&missing)
            )
        },
        "the tools and labs that use these cannot run; see the lists below",
    ));
    missing
}

/// Where tracefs is, mounting it when missing and root.
fn tracefs_finding(out: &mut Vec<Finding>, root: bool) -> Option<std::path::PathBuf> {
    let (found, detail, fix) = match tracefs::root() {
        Some(p) => (
            Some(p.clone()),
            format!("mounted at {}", p.display()),
            String::new(),
        ),
        None if root => match tracefs::mount_if_missing() {
            Ok((p, _)) => {
                let detail = format!("was not mounted; mounted it at {}", p.display());
                (Some(p), detail, String::new())
            }
            Err(e) => (
                None,
                format!("{e:#}"),
                format!("mount -t tracefs tracefs {}", tracefs::TRACEFS),
            ),
        },
        None => (
            None,
            "not mounted".into(),
            "run lab doctor as root, e.g. with sudo (it mounts tracefs)".into(),
        ),
    };
    out.push(Finding::new(
        "tracefs",
        found.is_some(),
        Verdict::Fail,
        detail,
        fix,
    ));
    found
}

/// kprobes, fentry and raw tracepoints, each loaded for real (root only); returns the first two.
fn probe_kinds(out: &mut Vec<Finding>, root: bool) -> (Availability, Availability) {
    let (kprobe, fentry, raw_tp) = if root {
        (
            capabilities::kprobe(),
            capabilities::fentry(),
            capabilities::raw_tracepoint(),
        )
    } else {
        let why = Availability::Untested("not root".into());
        (why.clone(), why.clone(), why)
    };
    out.push(availability(
        "kprobes",
        &kprobe,
        "tools fall back to tracepoints; kprobe-only tools will say they cannot run",
    ));
    out.push(availability(
        "fentry/fexit",
        &fentry,
        "tools use tracepoints instead; nothing in the labs needs fentry",
    ));
    out.push(availability("raw tracepoints", &raw_tp, "biolatency/biosnoop complete through the classic tracepoint, which the kernel skips while another BPF program runs on that CPU (the tools report such skips)"));
    (kprobe, fentry)
}

/// A real tracepoint program loads and attaches.
fn smoke(out: &mut Vec<Finding>, root: bool) -> bool {
    let smoke = if root {
        lab_probes::execcount::ExecCount::attach()
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
    } else {
        Err("not root".into())
    };
    out.push(Finding::new(
        "BPF tracepoint program",
        smoke.is_ok(),
        Verdict::Fail,
        match &smoke {
            Ok(()) => "loaded and attached sched:sched_process_exec".into(),
            Err(e) => e.clone(),
        },
        "run as root on a kernel with CONFIG_BPF_EVENTS; rebuild with provision/setup.sh if the objects are missing",
    ));
    smoke.is_ok()
}

fn availability(name: &str, a: &Availability, consequence: &str) -> Finding {
    let (verdict, detail) = match a {
        Availability::Usable => (
            Verdict::Ok,
            "usable (loaded and attached a test program)".to_string(),
        ),
        Availability::CompiledOut(why) => {
            (Verdict::Warn, format!("unavailable, compiled out: {why}"))
        }
        Availability::Refused(why) => (Verdict::Warn, format!("refused by the kernel: {why}")),
        Availability::Untested(why) => (Verdict::Warn, format!("not tested: {why}")),
    };
    Finding {
        check: name.into(),
        verdict,
        detail,
        fix: if a.is_usable() {
            String::new()
        } else {
            consequence.into()
        },
    }
}
