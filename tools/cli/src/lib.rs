//! Shared runtime of the tool binaries (src/bin/<tool>.rs). A tool's `main` looks like:
//!
//! ```ignore
//! use lab_tools::{args::IntervalCount, help, runtime::{Runtime, Schedule, Wake}};
//!
//! const EXAMPLES: &str = "\
//!     runqlat            # summarize run queue latency until Ctrl-C
//!     runqlat 1 10       # print 1 second summaries, 10 times";
//!
//! #[derive(clap::Parser)]
//! #[command(name = "runqlat", about = "Summarize run queue (scheduler) latency as a histogram")]
//! struct Args {
//!     #[arg(short = 'T', long)]
//!     timestamp: bool,
//!     #[command(flatten)]
//!     ic: IntervalCount,                    // BCC's [interval] [count]
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let args: Args = help::parse(EXAMPLES); // --help with examples, hidden --man, exit 2 on bad flags
//!     lab_tools::run("runqlat", || {
//!         // lab_probes::events::require_tracepoints(..) fails naming the missing probe;
//!         // attach via your lab_probes::<tool> module here.
//!         let mut rt = Runtime::new(args.ic.schedule())?; // SIGINT/SIGTERM end the loop
//!         println!("Tracing run queue latency... Hit Ctrl-C to end.");
//!         loop {
//!             match rt.wait(&[])? {                  // pass ring buffer fds to wake on events
//!                 Wake::Ready => {}
//!                 Wake::Tick { last } => { /* print interval output */ if last { break } }
//!                 Wake::Stop(_) => { /* print final summary */ break }
//!             }
//!         }
//!         Ok(())
//!     })
//! }
//! ```
//!
//! Event tools hand their probe (a `lab_probes::events::EventSource`) and a printer of one
//! record to [`snoop::run`], which waits, drains into an [`output::Out`] (buffered, flushed per
//! batch) and reports lost records at exit. Timestamps: [`timefmt`].
//! Errors: [`run`] prints `tool: cause` and exits 1; a closed stdout pipe ends the tool quietly.

pub mod args;
pub mod dbtool;
pub mod fstool;
pub mod help;
pub mod histtool;
pub mod multitool;
pub mod output;
pub mod runtime;
pub mod snoop;
pub mod stack_report;
pub mod tcpfmt;
pub mod timefmt;

use std::process::ExitCode;

/// Run a tool's body: `Ok` exits 0; an error prints `name: error: cause chain` on stderr and exits
/// 1 (a missing tracepoint names the probe); a closed stdout (`tool | head`) exits 0 silently.
/// Without the privilege to trace it says so in one line and exits 1 before the body runs.
pub fn run(name: &str, body: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    // Tools load their probes from this one thread before starting any other: safe to skip
    // aya's kernel BTF parse (see lab_probes::loader::skip_kernel_btf_parse).
    lab_probes::loader::skip_kernel_btf_parse();
    // Before anything reads tracefs or BTF: without privilege those fail with messages about
    // mounts and files that hide the real problem.
    if !may_load_bpf() {
        eprintln!("{name}: needs root (CAP_BPF and CAP_PERFMON): run it with sudo");
        return ExitCode::FAILURE;
    }
    run_loading_nothing(name, body)
}

/// [`run`] for a tool that loads no BPF program (tplist reads ELF notes and tracefs): no
/// privilege check, so what it can read without root it lists.
pub fn run_loading_nothing(name: &str, body: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether this process may load and attach BPF tracing programs: CAP_SYS_ADMIN, or CAP_BPF
/// with CAP_PERFMON (Linux 5.8+), in its effective set (/proc/self/status `CapEff`).
pub fn may_load_bpf() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let Some(eff) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
    else {
        // No /proc to ask: let the kernel answer instead.
        return true;
    };
    let has = |cap: u32| eff & (1 << cap) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}
