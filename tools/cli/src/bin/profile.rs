//! profile: sample stack traces on every CPU at a timed interval, BCC-compatible.
use std::process::ExitCode;

use anyhow::Result;
use inferno::flamegraph::color::BasicPalette;
use lab_probes::profile::{Profile, ProfileOptions, Sampling};
use lab_tools::{
    args, help,
    stack_report::{self, Ending, FlameStyle, Spaces, View},
};

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
    #[command(flatten)]
    spaces: Spaces,
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
    #[command(flatten)]
    ending: Ending,
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
    stack_report::check_ids(&[("-p", args.pid), ("-L", args.tid)])?;
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
        user_stacks: args.spaces.user(),
        kernel_stacks: args.spaces.kernel(),
        include_idle: args.include_idle,
        stack_storage: args.stack_storage_size,
        cpu: args.cpu,
    };
    let prof = Profile::attach(&opts)?;
    let view = View {
        spaces: &args.spaces,
        delimited: args.delimited,
        folded: args.folded,
        ending: &args.ending,
    };
    view.wait(&header(args, sampling))?;

    let stacks = stack_report::prepare(prof.stacks()?, args.tid.is_none(), args.annotations);
    let errors = prof.errors()?;
    drop(prof); // detach before the (slower) printing
    let style = FlameStyle {
        title: "CPU profile (profile)",
        count_name: "samples",
        palette: BasicPalette::Hot,
    };
    view.finish("profile", &stacks, &errors, style)
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
    let cpu = args.cpu.map(|c| format!(" on CPU#{c}")).unwrap_or_default();
    format!(
        "Sampling at {rate} of {who} by {} stack{cpu}{}",
        args.spaces.shown(),
        args.ending.until()
    )
}
