//! stackcount: count the stacks that lead to kernel functions, tracepoints, user functions or
//! USDT probes (BCC's patterns, output and folded format; --flamegraph writes an SVG).
use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Result;
use inferno::flamegraph::color::BasicPalette;
use lab_probes::stackcount::{Config, StackCount};
use lab_tools::{
    args, help, multitool,
    multitool::stackprint::{self, Shown},
    output,
    runtime::Intervals,
    stack_report::{self, FlameStyle},
    timefmt,
};

const EXAMPLES: &str = "
    stackcount submit_bio         # count kernel stack traces for submit_bio
    stackcount -d ip_output       # include a user/kernel stack delimiter
    stackcount -s ip_output       # show symbol offsets
    stackcount -sv ip_output      # show offsets and raw addresses (verbose)
    stackcount 'tcp_send*'        # count stacks for funcs matching tcp_send*
    stackcount -r '^tcp_send.*'   # same as above, using regular expressions
    stackcount -Ti 5 ip_output    # output every 5 seconds, with timestamps
    stackcount -p 185 ip_output   # count ip_output stacks for PID 185 only
    stackcount -c 1 put_prev_entity   # count put_prev_entity stacks for CPU 1 only
    stackcount -p 185 c:malloc    # count stacks for malloc in PID 185
    stackcount t:sched:sched_fork # count stacks for sched_fork tracepoint
    stackcount -p 185 u:node:*    # count stacks for all USDT probes in node
    stackcount -K t:sched:sched_switch   # kernel stacks only
    stackcount -U t:sched:sched_switch   # user stacks only
    stackcount -P -f -D 10 c:malloc --flamegraph malloc.svg  # folded, and a flame graph";

/// Count events and their stack traces
#[derive(clap::Parser, Debug)]
#[command(
    name = "stackcount",
    about = "Count events and their stack traces",
    long_about = "Count events and their stack traces. PATTERN is FUNC or p::FUNC (kernel \
functions, kprobes), LIB:FUNC or p:LIB:FUNC (user functions, uprobes), t:CATEGORY:EVENT \
(tracepoints) or u:LIB:PROBE (USDT probes), with * wildcards (-r: a regular expression).",
    version
)]
struct Args {
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// trace this CPU only
    #[arg(short = 'c', long = "cpu", value_name = "CPU")]
    cpu: Option<u32>,
    /// summary interval, seconds
    #[arg(short = 'i', long = "interval", value_name = "INTERVAL", value_parser = args::seconds)]
    interval: Option<Duration>,
    /// total duration of trace, seconds
    #[arg(short = 'D', long = "duration", value_name = "DURATION", value_parser = args::seconds)]
    duration: Option<Duration>,
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// use regular expressions. Default is "*" wildcards only.
    #[arg(short = 'r', long = "regexp")]
    regexp: bool,
    /// show address offsets
    #[arg(short = 's', long = "offset")]
    offset: bool,
    /// display stacks separately for each process
    #[arg(short = 'P', long = "perpid")]
    perpid: bool,
    /// kernel stack only
    #[arg(
        short = 'K',
        long = "kernel-stacks-only",
        conflicts_with = "user_stacks_only"
    )]
    kernel_stacks_only: bool,
    /// user stack only
    #[arg(short = 'U', long = "user-stacks-only")]
    user_stacks_only: bool,
    /// show raw addresses
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// insert delimiter between kernel/user stacks
    #[arg(short = 'd', long = "delimited")]
    delimited: bool,
    /// output folded format
    #[arg(short = 'f', long = "folded")]
    folded: bool,
    /// say which hooks were attached (stderr)
    #[arg(long = "debug")]
    debug: bool,
    /// also write a flame graph of the stacks to this SVG file (at the end)
    #[arg(long = "flamegraph", value_name = "FILE")]
    flamegraph: Option<PathBuf>,
    /// search expression for events
    #[arg(value_name = "pattern")]
    pattern: String,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    multitool::run_exit("stackcount", || run(&args))
}

fn run(args: &Args) -> Result<()> {
    if let Some(p) = args.pid {
        lab_tools::histtool::check_pid("-p", p)?;
    }
    let cfg = Config {
        pid: args.pid,
        cpu: args.cpu,
        kernel: !args.user_stacks_only,
        user: !args.kernel_stacks_only,
        regex: args.regexp,
    };
    let mut sc = StackCount::attach(&args.pattern, &cfg)?;
    if args.debug {
        eprintln!("stackcount: attached {}", sc.path);
    }
    let every = Intervals::new(args.interval, args.duration)?;
    let mut out = output::stdout();
    if !args.folded {
        writeln!(
            out,
            "Tracing {} functions for \"{}\"... Hit Ctrl-C to end.",
            sc.matched, args.pattern
        )?;
        out.flush()?;
    }
    let shown = Shown {
        per_process: args.perpid || args.pid.is_some(),
        comm_line: args.perpid && args.pid.is_none(),
        offset: args.offset,
        address: args.verbose,
        delimited: args.delimited && !args.kernel_stacks_only && !args.user_stacks_only,
    };
    let mut all_folded = Vec::new();
    every.run(|_| {
        if !args.folded {
            writeln!(out)?;
        }
        if args.timestamp {
            writeln!(out, "{:<8}", timefmt::hms())?;
        }
        let stacks = stackprint::prepare(sc.take()?, &shown);
        if args.folded {
            for line in stackprint::folded(&stacks, &shown) {
                writeln!(out, "{line}")?;
                all_folded.push(line);
            }
        } else {
            stackprint::print(&mut out, &stacks, &shown)?;
            all_folded.extend(stackprint::folded(&stacks, &shown));
        }
        out.flush()?;
        Ok(())
    })?;
    if !args.folded {
        writeln!(out, "Detaching...")?;
        out.flush()?;
    }
    if let Some(path) = &args.flamegraph {
        let style = FlameStyle {
            title: "Stack Count",
            count_name: "calls",
            palette: BasicPalette::Hot,
        };
        stack_report::flame_graph_of_lines(path, &all_folded, &style)?;
        eprintln!("stackcount: wrote flame graph to {}", path.display());
    }
    let e = sc.errors()?;
    if e.missed_stacks() > 0 {
        eprintln!(
            "stackcount: {} stacks could not be stored (stack storage full)",
            e.missed_stacks()
        );
    }
    output::report_lost("stackcount", e.lost());
    Ok(())
}
