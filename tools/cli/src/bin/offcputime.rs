//! offcputime: summarize off-CPU time by stack trace, BCC-compatible.
use std::process::ExitCode;

use anyhow::Result;
use inferno::flamegraph::color::BasicPalette;
use lab_probes::offcputime::{OffCpuOptions, OffCpuTime, Threads};
use lab_tools::{
    args, help,
    stack_report::{self, Ending, FlameStyle, Spaces, View},
};

const EXAMPLES: &str = "    offcputime             # trace off-CPU stack time until Ctrl-C
    offcputime 5           # trace for 5 seconds only
    offcputime -f 5        # 5 seconds, and output in folded format
    offcputime -m 1000     # trace only events that last more than 1000 usec
    offcputime -M 10000    # trace only events that last less than 10000 usec
    offcputime -p 185      # only trace threads for PID 185
    offcputime -t 188      # only trace thread 188
    offcputime -u          # only trace user threads (no kernel)
    offcputime -k          # only trace kernel threads (no user)
    offcputime -U          # only show user space stacks (no kernel)
    offcputime -K          # only show kernel space stacks (no user)
    offcputime -p 185 -f 10 --flamegraph off.svg   # also write an off-CPU flame graph";

/// Summarize off-CPU time by stack trace
#[derive(clap::Parser, Debug)]
#[command(
    name = "offcputime",
    about = "Summarize off-CPU time by stack trace",
    version
)]
struct Args {
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid,
          conflicts_with_all = ["tid", "user_threads_only", "kernel_threads_only"])]
    pid: Option<u32>,
    /// trace this TID only
    #[arg(short = 't', long = "tid", value_name = "TID", value_parser = args::pid,
          conflicts_with_all = ["user_threads_only", "kernel_threads_only"])]
    tid: Option<u32>,
    /// user threads only (no kernel threads)
    #[arg(
        short = 'u',
        long = "user-threads-only",
        conflicts_with = "kernel_threads_only"
    )]
    user_threads_only: bool,
    /// kernel threads only (no user threads)
    #[arg(short = 'k', long = "kernel-threads-only")]
    kernel_threads_only: bool,
    #[command(flatten)]
    spaces: Spaces,
    /// insert delimiter between kernel/user stacks
    #[arg(short = 'd', long = "delimited")]
    delimited: bool,
    /// output folded format
    #[arg(short = 'f', long = "folded")]
    folded: bool,
    /// the number of unique stack traces that can be stored and displayed
    #[arg(long = "stack-storage-size", value_name = "STACK_STORAGE_SIZE", default_value_t = 16384,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    stack_storage_size: u32,
    /// the amount of time in microseconds over which we store traces
    #[arg(
        short = 'm',
        long = "min-block-time",
        value_name = "MIN_BLOCK_TIME",
        default_value_t = 1
    )]
    min_block_time: u64,
    /// the amount of time in microseconds under which we store traces
    #[arg(short = 'M', long = "max-block-time", value_name = "MAX_BLOCK_TIME", default_value_t = u64::MAX,
          hide_default_value = true)]
    max_block_time: u64,
    #[command(flatten)]
    ending: Ending,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("offcputime", || offcputime(&args))
}

fn offcputime(args: &Args) -> Result<()> {
    anyhow::ensure!(
        args.min_block_time <= args.max_block_time,
        "-m {} is above -M {}: no block time can match",
        args.min_block_time,
        args.max_block_time
    );
    stack_report::check_ids(&[("-p", args.pid), ("-t", args.tid)])?;
    let opts = OffCpuOptions {
        tgid: args.pid,
        tid: args.tid,
        threads: if args.user_threads_only {
            Threads::User
        } else if args.kernel_threads_only {
            Threads::Kernel
        } else {
            Threads::All
        },
        user_stacks: args.spaces.user(),
        kernel_stacks: args.spaces.kernel(),
        min_us: args.min_block_time,
        max_us: args.max_block_time,
        stack_storage: args.stack_storage_size,
    };
    let tracer = OffCpuTime::attach(&opts)?;
    let view = View {
        spaces: &args.spaces,
        delimited: args.delimited,
        folded: args.folded,
        ending: &args.ending,
    };
    view.wait(&header(args))?;

    let raw = tracer.stacks()?;
    let errors = tracer.errors()?;
    drop(tracer);
    let mut stacks = stack_report::prepare(raw, false, false);
    // Kept in ns for precision; BCC reports microseconds.
    for s in &mut stacks {
        s.value /= 1000;
    }
    stacks.retain(|s| s.value > 0);
    let style = FlameStyle {
        title: "Off-CPU time (offcputime)",
        count_name: "us",
        palette: BasicPalette::Io,
    };
    view.finish("offcputime", &stacks, &errors, style)
}

/// BCC's first line, e.g. "Tracing off-CPU time (us) of all threads by user + kernel stack for 5 secs."
fn header(args: &Args) -> String {
    let who = if let Some(p) = args.pid {
        format!("PID {p}")
    } else if let Some(t) = args.tid {
        format!("TID {t}")
    } else if args.user_threads_only {
        "user threads".to_owned()
    } else if args.kernel_threads_only {
        "kernel threads".to_owned()
    } else {
        "all threads".to_owned()
    };
    format!(
        "Tracing off-CPU time (us) of {who} by {} stack{}",
        args.spaces.shown(),
        args.ending.until()
    )
}
