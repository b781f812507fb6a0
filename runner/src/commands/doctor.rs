//! `lab doctor`: the preflight an instructor runs on every lab VM and a student runs first.
//! Every row is a real check (files read, programs loaded), with a verdict and a fix.
use std::{path::Path, process::ExitCode};

use lab_probes::{
    capabilities::{self, Availability},
    requirements::{self, Tracepoint},
    tracefs,
};
use serde::Serialize;

pub mod needs;
pub mod tested;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the result as JSON (for provisioning scripts)
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Row {
    check: String,
    verdict: Verdict,
    detail: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    fix: String,
}

#[derive(Debug, Serialize)]
struct Runnable {
    name: String,
    runnable: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    missing: Vec<String>,
    /// Parts of a runnable tool this kernel cannot do ("kprobes for kernel-function patterns").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    limited: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    checks: Vec<Row>,
    labs: Vec<Runnable>,
    tools: Vec<Runnable>,
    all_labs_runnable: bool,
    /// Stable for scripts: this kernel's major.minor is a row of runner/data/tested-kernels.tsv.
    kernel_tested: bool,
    /// ... and this bpftrace's major.minor is on that row.
    bpftrace_tested: bool,
}

/// Free space the labs' data files need (lab 1 writes a log and dumps).
const MIN_FREE_BYTES: u64 = 2 << 30;
/// Where labs keep their data files.
pub const LAB_DATA_DIR: &str = "/var/tmp";
/// Ring buffers and BTF-based loading need 5.8.
const MIN_KERNEL: (u32, u32) = (5, 8);

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = diagnose();
    let json = serde_json::to_string_pretty(&report)?;
    if crate::privilege::is_root() {
        crate::report::save_doctor(&json);
    }
    if args.json {
        println!("{json}");
    } else {
        print_report(&report);
    }
    Ok(if report.all_labs_runnable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn diagnose() -> Report {
    let mut rows = Vec::new();
    let root = crate::privilege::is_root();
    rows.push(Row {
        check: "running as root".into(),
        verdict: if root { Verdict::Ok } else { Verdict::Fail },
        detail: if root {
            "yes".into()
        } else {
            format!("no (euid {})", unsafe { libc::geteuid() })
        },
        fix: if root {
            String::new()
        } else {
            "re-run it as root (e.g. sudo lab doctor)".into()
        },
    });

    let release = kernel_release();
    let version = parse_kernel_version(&release);
    let kernel_ok = version.is_some_and(|v| v >= MIN_KERNEL);
    rows.push(Row {
        check: "kernel version".into(),
        verdict: if kernel_ok {
            Verdict::Ok
        } else {
            Verdict::Fail
        },
        detail: release.clone(),
        fix: if kernel_ok {
            String::new()
        } else {
            format!("boot a kernel >= {}.{}", MIN_KERNEL.0, MIN_KERNEL.1)
        },
    });

    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    rows.push(Row {
        check: "kernel BTF".into(),
        verdict: if btf { Verdict::Ok } else { Verdict::Warn },
        detail: if btf { "/sys/kernel/btf/vmlinux".into() } else { "missing /sys/kernel/btf/vmlinux".into() },
        fix: if btf { String::new() } else { "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (bpftrace struct access and fentry need it)".into() },
    });

    // tracefs: mount when missing (needs root), and say so.
    let tracefs_root = match tracefs::root() {
        Some(p) => {
            rows.push(Row {
                check: "tracefs".into(),
                verdict: Verdict::Ok,
                detail: format!("mounted at {}", p.display()),
                fix: String::new(),
            });
            Some(p)
        }
        None if root => match tracefs::mount_if_missing() {
            Ok((p, _)) => {
                rows.push(Row {
                    check: "tracefs".into(),
                    verdict: Verdict::Ok,
                    detail: format!("was not mounted; mounted it at {}", p.display()),
                    fix: String::new(),
                });
                Some(p)
            }
            Err(e) => {
                rows.push(Row {
                    check: "tracefs".into(),
                    verdict: Verdict::Fail,
                    detail: format!("{e:#}"),
                    fix: format!("mount -t tracefs tracefs {}", tracefs::TRACEFS),
                });
                None
            }
        },
        None => {
            rows.push(Row {
                check: "tracefs".into(),
                verdict: Verdict::Fail,
                detail: "not mounted".into(),
                fix: "run lab doctor as root, e.g. with sudo (it mounts tracefs)".into(),
            });
            None
        }
    };

    // Each tracepoint any tool, lab or the runner needs.
    let mut wanted: Vec<Tracepoint> = requirements::all_tracepoints();
    // Each lab's needs come from its `tools` and the tools catalog (doctor::needs).
    let lab_list = match crate::lab::catalog() {
        Ok(labs) => labs,
        Err(e) => {
            rows.push(Row {
                check: "labs".into(),
                verdict: Verdict::Fail,
                detail: format!("{e:#}"),
                fix: "reinstall lab, or fix the file named (LAB_LABS_DIR)".into(),
            });
            Vec::new()
        }
    };
    let lab_needs: Vec<needs::Needs> = lab_list.iter().map(|l| needs::of_tools(&l.tools)).collect();
    wanted.extend(lab_needs.iter().flat_map(|n| n.tracepoints.iter().copied()));
    wanted.sort();
    wanted.dedup();
    let missing_tp: Vec<Tracepoint> = match &tracefs_root {
        Some(r) => wanted
            .iter()
            .copied()
            .filter(|(c, n)| !tracefs::tracepoint_exists(r, c, n))
            .collect(),
        None => wanted.clone(),
    };
    rows.push(Row {
        check: "tracepoints".into(),
        verdict: if missing_tp.is_empty() {
            Verdict::Ok
        } else {
            Verdict::Fail
        },
        detail: if missing_tp.is_empty() {
            format!("all {} present", wanted.len())
        } else {
            format!(
                "{} of {} missing: {}",
                missing_tp.len(),
                wanted.len(),
                fmt_tps(&missing_tp)
            )
        },
        fix: if missing_tp.is_empty() {
            String::new()
        } else {
            "the tools and labs that use these cannot run; see the lists below".into()
        },
    });

    // Probe program kinds for real (needs root to load anything at all).
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
    rows.push(availability_row(
        "kprobes",
        &kprobe,
        "tools fall back to tracepoints; kprobe-only tools will say they cannot run",
    ));
    rows.push(availability_row(
        "fentry/fexit",
        &fentry,
        "tools use tracepoints instead; nothing in the labs needs fentry",
    ));
    rows.push(availability_row("raw tracepoints", &raw_tp, "biolatency/biosnoop complete through the classic tracepoint, which the kernel skips while another BPF program runs on that CPU (the tools report such skips)"));

    // Smoke: a real tracepoint program loads and attaches.
    let smoke = if root {
        match lab_probes::execcount::ExecCount::attach() {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("{e:#}")),
        }
    } else {
        Err("not root".into())
    };
    rows.push(Row {
        check: "BPF tracepoint program".into(),
        verdict: if smoke.is_ok() { Verdict::Ok } else { Verdict::Fail },
        detail: match &smoke { Ok(()) => "loaded and attached sched:sched_process_exec".into(), Err(e) => e.clone() },
        fix: if smoke.is_ok() { String::new() } else { "run as root on a kernel with CONFIG_BPF_EVENTS; rebuild with provision/setup.sh if the objects are missing".into() },
    });

    let bpftrace = command_version("bpftrace", &["--version"]);
    rows.push(Row {
        check: "bpftrace".into(),
        verdict: if bpftrace.is_some() {
            Verdict::Ok
        } else {
            Verdict::Fail
        },
        detail: bpftrace
            .clone()
            .unwrap_or_else(|| "not found on PATH".into()),
        fix: if bpftrace.is_some() {
            String::new()
        } else {
            "apt-get install bpftrace (or run provision/setup.sh)".into()
        },
    });
    // Outside the tested kernels is a warning: the labs may well work, we just have not seen it.
    let tested = tested::compare(&tested::rows(tested::TSV), &release, bpftrace.as_deref());
    rows.push(Row {
        check: "tested kernels".into(),
        verdict: if tested.kernel_tested && tested.bpftrace_tested {
            Verdict::Ok
        } else {
            Verdict::Warn
        },
        detail: tested.detail.clone(),
        fix: String::new(),
    });
    let sysstat = which("iostat").is_some() && which("mpstat").is_some();
    rows.push(Row {
        check: "sysstat (iostat, mpstat)".into(),
        verdict: if sysstat { Verdict::Ok } else { Verdict::Fail },
        detail: if sysstat {
            command_version("iostat", &["-V"]).unwrap_or_else(|| "present".into())
        } else {
            "not found on PATH".into()
        },
        fix: if sysstat {
            String::new()
        } else {
            "apt-get install sysstat".into()
        },
    });

    let free = free_bytes(Path::new(LAB_DATA_DIR));
    let disk_ok = free.is_some_and(|f| f >= MIN_FREE_BYTES);
    rows.push(Row {
        check: "free disk for labs".into(),
        verdict: if disk_ok { Verdict::Ok } else { Verdict::Fail },
        detail: match free {
            Some(f) => format!(
                "{:.1} GiB free in {LAB_DATA_DIR}",
                f as f64 / (1u64 << 30) as f64
            ),
            None => format!("cannot stat {LAB_DATA_DIR}"),
        },
        fix: if disk_ok {
            String::new()
        } else {
            format!(
                "free at least {} GiB in {LAB_DATA_DIR}",
                MIN_FREE_BYTES >> 30
            )
        },
    });

    let can_bpf = root && smoke.is_ok() && kernel_ok;
    let tp_ok = |tps: &[Tracepoint]| -> Vec<String> {
        tps.iter()
            .filter(|t| missing_tp.contains(t))
            .map(|(c, n)| format!("tracepoint {c}:{n}"))
            .collect()
    };
    let labs: Vec<Runnable> = lab_list
        .iter()
        .zip(&lab_needs)
        .map(|(l, n)| {
            let mut missing = tp_ok(&n.tracepoints);
            for c in &n.commands {
                if which(c).is_none() {
                    missing.push(format!("command {c}"));
                }
            }
            if !can_bpf {
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
        .collect();
    let tools: Vec<Runnable> = requirements::TOOLS
        .iter()
        .map(|t| {
            let mut missing = tp_ok(t.tracepoints);
            if !can_bpf {
                missing.push("loading BPF programs".into());
            }
            let mut limited = Vec::new();
            for (hook, part) in requirements::hooks_of(t.name) {
                let usable = match hook {
                    requirements::Hook::Kprobes => kprobe.is_usable(),
                    requirements::Hook::Fentry => fentry.is_usable(),
                };
                match (usable, part) {
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
        .collect();
    let all_labs_runnable = labs.iter().all(|l| l.runnable);
    Report {
        checks: rows,
        labs,
        tools,
        all_labs_runnable,
        kernel_tested: tested.kernel_tested,
        bpftrace_tested: tested.bpftrace_tested,
    }
}

fn availability_row(name: &str, a: &Availability, consequence: &str) -> Row {
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
    Row {
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

fn fmt_tps(tps: &[Tracepoint]) -> String {
    tps.iter()
        .map(|(c, n)| format!("{c}:{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_report(r: &Report) {
    let color = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    let mark = |v: Verdict| -> String {
        let (s, c) = match v {
            Verdict::Ok => ("ok", "32"),
            Verdict::Warn => ("WARN", "33"),
            Verdict::Fail => ("FAIL", "31"),
        };
        if color {
            format!("\x1b[{c}m{s:<4}\x1b[0m")
        } else {
            format!("{s:<4}")
        }
    };
    let w = r.checks.iter().map(|c| c.check.len()).max().unwrap_or(10);
    println!("{:<w$}  {:<4}  DETAIL", "CHECK", "");
    for c in &r.checks {
        println!("{:<w$}  {}  {}", c.check, mark(c.verdict), c.detail);
        if !c.fix.is_empty() {
            println!("{:<w$}        fix: {}", "", c.fix);
        }
    }
    println!();
    for (title, items) in [("Labs", &r.labs), ("Tools", &r.tools)] {
        if items.is_empty() {
            continue;
        }
        let ok: Vec<_> = items
            .iter()
            .filter(|i| i.runnable)
            .map(|i| i.name.as_str())
            .collect();
        println!(
            "{title} that can run here: {}",
            if ok.is_empty() {
                "none".to_string()
            } else {
                ok.join(", ")
            }
        );
        for i in items.iter().filter(|i| !i.runnable) {
            println!("  cannot run {}: needs {}", i.name, i.missing.join(", "));
        }
        for i in items.iter().filter(|i| i.runnable && !i.limited.is_empty()) {
            println!("  {} in part: needs {}", i.name, i.limited.join(", "));
        }
    }
    println!(
        "{}",
        if r.all_labs_runnable {
            "Verdict: every lab can run on this machine."
        } else {
            "Verdict: some labs cannot run here (see above)."
        }
    );
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Path of `cmd` on PATH (plus the sbin dirs sudo users may lack).
pub fn which(cmd: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file());
    found
}

fn command_version(cmd: &str, args: &[&str]) -> Option<String> {
    let path = which(cmd)?;
    let out = std::process::Command::new(path).args(args).output().ok()?;
    let text = String::from_utf8_lossy(if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .to_string();
    text.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

/// Bytes available to unprivileged writers on the file system holding `dir` (statvfs).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some(s.f_bavail as u64 * s.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_kernel_version("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(parse_kernel_version("garbage"), None);
        assert!((5, 4) < MIN_KERNEL && (6, 1) >= MIN_KERNEL);
    }
}
