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
pub fn run(name: &str, body: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    // Tools load their probes from this one thread before starting any other: safe to skip
    // aya's kernel BTF parse (see lab_probes::loader::skip_kernel_btf_parse).
    lab_probes::loader::skip_kernel_btf_parse();
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
