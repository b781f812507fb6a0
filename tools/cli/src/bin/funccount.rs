//! funccount: count kernel functions, tracepoints or user functions matching a pattern,
//! BCC-compatible (pattern syntax, FUNC/COUNT table, -i/-d/-p/-T/-r).
use std::{io::Write, process::ExitCode};

use anyhow::Result;
use lab_probes::funccount::{Config, FuncCount, MAX_PROBES};
use lab_tools::{args, help, multitool, output, runtime::Intervals, timefmt};

const EXAMPLES: &str = "
    funccount 'vfs_*'                    # count kernel functions starting with \"vfs\"
    funccount 'tcp_send*'                # count kernel functions starting with \"tcp_send\"
    funccount -r '^vfs.*'                # same as 'vfs_*', as a regular expression
    funccount -Ti 5 'vfs_*'              # output every 5 seconds, with timestamps
    funccount -d 10 'vfs_*'              # trace for 10 seconds only
    funccount -p 185 'vfs_*'             # count vfs calls for PID 185 only
    funccount t:sched:sched_fork         # count calls to the sched_fork tracepoint
    funccount 't:syscalls:sys_enter_open*'  # count the open syscalls' entry tracepoints
    funccount -p 185 c:malloc            # count malloc() calls in PID 185's libc
    funccount p:c:malloc                 # the same for every process
    funccount '/usr/bin/bash:readline*'  # user functions of an executable, by path
    funccount 'u:pthread:*mutex*'        # count USDT probes of libpthread matching *mutex*
    funccount -p 185 'u::query__*'       # USDT probes of every object PID 185 maps
    funccount -v 'k:tcp_s*'              # also say which hook path is used";

/// Count functions, tracepoints, and USDT probes
#[derive(clap::Parser, Debug)]
#[command(
    name = "funccount",
    about = "Count functions, tracepoints and USDT probes matching a pattern",
    long_about = "Count functions, tracepoints and USDT probes matching a pattern.\n\n\
PATTERN is [TYPE:][LIBRARY:]FUNCTION with * wildcards: FUNCTION or k:FUNCTION for kernel \
functions (kprobes, one per function, at most 1000 as in BCC), t:CATEGORY:NAME for \
tracepoints, p:LIBRARY:FUNCTION or LIBRARY:FUNCTION for user functions (uprobes), \
u:LIBRARY:PROBE for USDT probes (as BCC; u::PROBE with -p: every object the process maps; \
PROBE may be provider:name). LIBRARY is a path, or a name found like BCC: in /proc/PID/maps \
with -p, else the ldconfig cache, the standard library directories and PATH (\"c\" is libc).",
    version
)]
struct Args {
    #[command(flatten)]
    every: args::PatternEvery,
    /// say which hook path is used and how many probes were attached (stderr)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// search expression for events
    #[arg(value_name = "pattern")]
    pattern: String,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    // "This kernel cannot" is not a failure of the tool: exit 2 like a usage error.
    multitool::run_exit("funccount", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let mut fc = FuncCount::attach(
        &args.pattern,
        &Config {
            pid: args.every.pid,
            regex: args.every.regexp,
        },
    )?;
    if args.verbose {
        eprintln!(
            "funccount: hook path: {}; {} probes (limit {MAX_PROBES})",
            fc.attached.path, fc.attached.probes
        );
        if !fc.attached.failed.is_empty() {
            eprintln!(
                "funccount: {} matching functions could not be probed: {}",
                fc.attached.failed.len(),
                fc.attached.failed.join(" ")
            );
        }
    }
    let every = Intervals::new(args.every.interval, args.every.duration)?;
    let mut out = output::stdout();
    writeln!(
        out,
        "Tracing {} functions for \"{}\"... Hit Ctrl-C to end.",
        fc.attached.probes, args.pattern
    )?;
    out.flush()?;
    every.run(|_| print(args, &mut out, fc.take()?))?;
    writeln!(out, "Detaching...")?;
    out.flush()?;
    Ok(())
}

fn print(args: &Args, out: &mut impl Write, mut rows: Vec<(String, u64)>) -> Result<()> {
    writeln!(out)?;
    if args.every.timestamp {
        writeln!(out, "{:<8}", timefmt::hms())?;
    }
    writeln!(out, "{:<36} {:>8}", "FUNC", "COUNT")?;
    // BCC sorts ascending by count: the busiest functions end up last, next to the prompt.
    rows.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    for (name, n) in rows.iter().filter(|r| r.1 > 0) {
        writeln!(out, "{name:<36} {n:>8}")?;
    }
    out.flush()?;
    Ok(())
}
