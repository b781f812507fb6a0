//! What the multi-tools (trace, argdist, stackcount, funclatency, funcslower) share: exit codes
//! (2 when this kernel lacks the hook), one-line spec errors, `-v` program listings.
use std::process::ExitCode;

use anyhow::Result;
use lab_probes::{
    probespec::{target::Unsupported, SpecError},
    probevm::{disasm, Hook, Program},
};

pub mod stackprint;
mod traceout;
pub use traceout::{TraceOut, TraceView};

/// Run a multi-tool's body like [`crate::run`]; a kernel without the needed hook exits 2.
pub fn run_exit(name: &str, body: impl FnOnce() -> Result<()>) -> ExitCode {
    let mut unsupported = false;
    let code = crate::run(name, || {
        body().inspect_err(|e| unsupported = e.downcast_ref::<Unsupported>().is_some())
    });
    if unsupported {
        ExitCode::from(2)
    } else {
        code
    }
}

/// Turn a spec error into its one line naming the spec and the column; name the spec in
/// other errors.
pub fn in_spec(e: anyhow::Error, spec: &str) -> anyhow::Error {
    if let Some(se) = e.downcast_ref::<SpecError>() {
        return anyhow::anyhow!(se.in_spec(spec));
    }
    if e.downcast_ref::<Unsupported>().is_some() {
        return e;
    }
    e.context(format!("probe '{spec}'"))
}

/// Where a probe attaches, in words.
pub fn hook_text(h: &Hook) -> String {
    match h {
        Hook::Kprobe { func, offset: 0 } => format!("kprobe {func}"),
        Hook::Kprobe { func, offset } => format!("kprobe {func}+{offset:#x}"),
        Hook::Kretprobe { func } => format!("kretprobe {func}"),
        Hook::Uprobe { path, offset } => format!("uprobe {}:{offset:#x}", path.display()),
        Hook::Uretprobe { path, offset } => format!("uretprobe {}:{offset:#x}", path.display()),
        Hook::Tracepoint { category, name } => format!("tracepoint {category}:{name}"),
        Hook::Usdt(p) => format!(
            "USDT probe {} in {} at {:#x}",
            p.short_name(),
            p.path.display(),
            p.locations.first().map_or(0, |l| l.file_offset)
        ),
    }
}

/// `-v`: the probe's hook and its program, as BCC prints the C it generated.
pub fn print_program(spec: &str, hook: &Hook, p: &Program) {
    println!(
        "probe '{spec}': {}{}",
        hook_text(hook),
        if p.need_entry { " (+ entry probe)" } else { "" }
    );
    for (n, i) in p.insns.iter().enumerate() {
        println!("  {n:3}: {}", disasm(i));
    }
}
