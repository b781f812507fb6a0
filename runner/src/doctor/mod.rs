//! `lab doctor`'s diagnosis: the preflight an instructor runs on every lab VM and a student runs
//! first. Every finding is a real check (files read, programs loaded), with a verdict and a fix;
//! then which labs and tools can run here, and whether this kernel is one the suite is proven on.
use lab_probes::{
    capabilities::Availability,
    requirements::{self, Tracepoint},
};
use serde::Serialize;

mod kernel;
pub mod needs;
mod runnable;
pub mod system;
pub mod tested;
mod userland;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// One checked property of the machine (a row of the table; `checks[]` in the JSON).
#[derive(Debug, Serialize)]
pub struct Finding {
    pub check: String,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

impl Finding {
    /// `fix` is shown only when the verdict is not Ok.
    fn new(check: &str, ok: bool, bad: Verdict, detail: String, fix: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            verdict: if ok { Verdict::Ok } else { bad },
            detail,
            fix: if ok { String::new() } else { fix.into() },
        }
    }
}

/// Whether one lab or tool can run here, and what it lacks.
#[derive(Debug, Serialize)]
pub struct Runnable {
    pub name: String,
    pub runnable: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Parts of a runnable tool this kernel cannot do ("kprobes for kernel-function patterns").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limited: Vec<String>,
}

/// The whole diagnosis, as `lab doctor --json` prints it.
#[derive(Debug, Serialize)]
pub struct Diagnosis {
    pub checks: Vec<Finding>,
    pub labs: Vec<Runnable>,
    pub tools: Vec<Runnable>,
    pub all_labs_runnable: bool,
    /// Stable for scripts: this kernel's major.minor is a row of runner/data/tested-kernels.tsv.
    pub kernel_tested: bool,
    /// ... and this bpftrace's major.minor is on that row.
    pub bpftrace_tested: bool,
}

/// Free space the labs' data files need (lab 1 writes a log and dumps).
const MIN_FREE_BYTES: u64 = 2 << 30;
/// Where labs keep their data files.
pub const LAB_DATA_DIR: &str = "/var/tmp";

/// What the kernel offers, as the findings found it (the runnable lists are derived from it).
struct Kernel {
    release: String,
    /// A kernel new enough, root, and a tracepoint program loaded: BPF works here.
    can_bpf: bool,
    missing_tracepoints: Vec<Tracepoint>,
    kprobe: Availability,
    fentry: Availability,
}

/// Run every check.
pub fn diagnose() -> Diagnosis {
    let mut checks = Vec::new();
    let labs = crate::lab::catalog().unwrap_or_else(|e| {
        checks.push(Finding::new(
            "labs",
            false,
            Verdict::Fail,
            format!("{e:#}"),
            "reinstall lab, or fix the file named (LAB_LABS_DIR)",
        ));
        Vec::new()
    });
    let lab_needs: Vec<needs::Needs> = labs.iter().map(|l| needs::of_tools(&l.tools)).collect();
    let kernel = kernel::check(&mut checks, &lab_needs);
    let userland = userland::check(&mut checks, &kernel.release);
    let labs = runnable::labs(&labs, &lab_needs, &kernel, userland.disk_ok);
    let tools = runnable::tools(&kernel);
    Diagnosis {
        checks,
        all_labs_runnable: labs.iter().all(|l| l.runnable),
        labs,
        tools,
        kernel_tested: userland.tested.kernel_tested,
        bpftrace_tested: userland.tested.bpftrace_tested,
    }
}

fn fmt_tps(tps: &[Tracepoint]) -> String {
    tps.iter()
        .map(|(c, n)| format!("{c}:{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a tool's kernel-function hook is usable here.
fn hook_usable(hook: requirements::Hook, k: &Kernel) -> bool {
    match hook {
        requirements::Hook::Kprobes => k.kprobe.is_usable(),
        requirements::Hook::Fentry => k.fentry.is_usable(),
    }
}
