//! profile: sample stack traces on every CPU at a timed interval, BCC-compatible.
use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use inferno::flamegraph::color::BasicPalette;
use lab_probes::{
    profile::{Profile, ProfileOptions, Sampling},
    stacks::StackFormat,
};
use lab_tools::{
    args, help, output,
    runtime::{Runtime, Schedule, Wake},
};

#[path = "../stack_report.rs"]
mod stack_report;

const EXAMPLES: &str = "    profile             # profile stack traces at 49 Hertz until Ctrl-C
    profile -F 99       # profile stack traces at 99 Hertz
    profile -c 1000000  # profile stack traces every 1 in a million ns of CPU time
    profile 5           # profile at 49 Hertz for 5 seconds only
    profile -f 5        # output in folded format for flame graphs
    profile -p 185      # only profile process with PID 185
    profile -L 185      # only profile thread with TID 185
    profile -U          # only show user space stacks (no kernel)
    profile -K          # only show kernel space stacks (no user)
    profile -F 99 10 --flamegraph out.svg   # also write a flame graph SVG";

/// Profile CPU stack traces at a timed interval
#[derive(clap::Parser, Debug)]
#[command(
    name = "profile",
    about = "Profile CPU stack traces at a timed interval",
    version
)]
struct Args {
    /// profile this process only (PID)
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid, conflicts_with = "tid")]
    pid: Option<u32>,
    /// profile this thread only (TID)
    #[arg(short = 'L', long = "tid", value_name = "TID", value_parser = args::pid)]
    tid: Option<u32>,
    /// show stacks from user space only (no kernel space stacks)
    #[arg(
        short = 'U',
        long = "user-stacks-only",
        conflicts_with = "kernel_stacks_only"
    )]
    user_stacks_only: bool,
    /// show stacks from kernel space only (no user space stacks)
    #[arg(short = 'K', long = "kernel-stacks-only")]
    kernel_stacks_only: bool,
    /// sample frequency, Hertz
    #[arg(short = 'F', long = "frequency", value_name = "FREQUENCY", conflicts_with = "count",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    frequency: Option<u64>,
    /// sample period, number of events (ns of CPU time for the cpu-clock event)
    #[arg(short = 'c', long = "count", value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// insert delimiter between kernel/user stacks
    #[arg(short = 'd', long = "delimited")]
    delimited: bool,
    /// add _[k] annotations to kernel frames
    #[arg(short = 'a', long = "annotations")]
    annotations: bool,
    /// include CPU idle stacks
    #[arg(short = 'I', long = "include-idle")]
    include_idle: bool,
    /// output folded format, one line per stack (for flame graphs)
    #[arg(short = 'f', long = "folded")]
    folded: bool,
    /// the number of unique stack traces that can be stored and displayed
    #[arg(long = "stack-storage-size", value_name = "STACK_STORAGE_SIZE", default_value_t = 16384,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    stack_storage_size: u32,
    /// cpu number to run profile on
    #[arg(short = 'C', long = "cpu", value_name = "CPU")]
    cpu: Option<u32>,
    /// also write a flame graph of the stacks to this SVG file
    #[arg(long = "flamegraph", value_name = "FILE")]
    flamegraph: Option<PathBuf>,
    /// duration of trace, in seconds
    #[arg(value_name = "duration", value_parser = args::seconds)]
    duration: Option<std::time::Duration>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("profile", || profile(&args))
}

fn profile(args: &Args) -> Result<()> {
    let sampling = match (args.frequency, args.count) {
        (_, Some(c)) => Sampling::Period(c),
        (f, None) => Sampling::Frequency(f.unwrap_or(49)),
    };
    for (flag, id) in [("-p", args.pid), ("-L", args.tid)] {
        if let Some(id) = id {
            anyhow::ensure!(
                std::path::Path::new(&format!("/proc/{id}")).exists(),
                "{flag} {id}: no such process"
            );
        }
    }
    if let Some(cpu) = args.cpu {
        let online =
            aya::util::online_cpus().map_err(|(p, e)| anyhow::anyhow!("reading {p}: {e}"))?;
        anyhow::ensure!(
            online.contains(&cpu),
            "-C {cpu}: no such online CPU (online: {online:?})"
        );
    }
    let opts = ProfileOptions {
        sampling,
        tgid: args.pid,
        tid: args.tid,
        user_stacks: !args.kernel_stacks_only,
        kernel_stacks: !args.user_stacks_only,
        include_idle: args.include_idle,
        stack_storage: args.stack_storage_size,
        cpu: args.cpu,
    };
    let prof = Profile::attach(&opts)?;
    let mut rt = Runtime::new(Schedule {
        duration: args.duration,
        ..Default::default()
    })?;
    if !args.folded {
        println!("{}", header(args, sampling));
    }
    while !matches!(rt.sleep()?, Wake::Stop(_)) {}

    let stacks = stack_report::prepare(prof.stacks()?, args.tid.is_none(), args.annotations);
    let errors = prof.errors()?;
    drop(prof); // detach before the (slower) printing
    let fmt = StackFormat {
        folded: args.folded,
        delimited: args.delimited && !args.user_stacks_only && !args.kernel_stacks_only,
    };
    let mut out = output::stdout();
    stack_report::print(&mut out, &stacks, fmt)?;
    if let Some(path) = &args.flamegraph {
        stack_report::flame_graph(
            path,
            &stacks,
            "CPU profile (profile)",
            "samples",
            BasicPalette::Hot,
        )?;
        eprintln!("profile: wrote flame graph to {}", path.display());
    }
    stack_report::report_errors("profile", &errors);
    Ok(())
}

/// BCC's first line, e.g. "Sampling at 49 Hertz of all threads by user + kernel stack for 5 secs."
fn header(args: &Args, sampling: Sampling) -> String {
    let rate = match sampling {
        Sampling::Frequency(f) => format!("{f} Hertz"),
        Sampling::Period(c) => format!("every {c} events"),
    };
    let who = match (args.pid, args.tid) {
        (Some(p), _) => format!("PID {p}"),
        (_, Some(t)) => format!("TID {t}"),
        _ => "all threads".to_owned(),
    };
    let stacks = if args.user_stacks_only {
        "user"
    } else if args.kernel_stacks_only {
        "kernel"
    } else {
        "user + kernel"
    };
    let cpu = args.cpu.map(|c| format!(" on CPU#{c}")).unwrap_or_default();
    let end = match args.duration {
        Some(d) => format!(" for {} secs.", d.as_secs()),
        None => "... Hit Ctrl-C to end.".to_owned(),
    };
    format!("Sampling at {rate} of {who} by {stacks} stack{cpu}{end}")
}
