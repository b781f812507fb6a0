//! funclatency: time kernel or user functions and print their latency as log2 histograms
//! (BCC's flags and output: -m/-u, -i/-d, -p, -F, -T; avg/total/count after each histogram).
use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::{
    funclat::{Config, FuncLat},
    hist::{format_log2, format_sections, merged},
};
use lab_tools::{
    args, help, multitool, output,
    runtime::{Runtime, Schedule, Wake},
    timefmt,
};

const EXAMPLES: &str = "
    funclatency do_sys_open       # time the do_sys_open() kernel function
    funclatency c:read            # time the read() C library function
    funclatency -u vfs_read       # time vfs_read(), in microseconds
    funclatency -m do_nanosleep   # time do_nanosleep(), in milliseconds
    funclatency -i 2 -d 10 c:open # output every 2 seconds, for duration 10s
    funclatency -mTi 5 vfs_read   # output every 5 seconds, with timestamps
    funclatency -p 181 vfs_read   # time process 181 only
    funclatency 'vfs_fstat*'      # time both vfs_fstat() and vfs_fstatat()
    funclatency 'c:*printf'       # time the *printf family of functions
    funclatency -F 'vfs_r*'       # show one histogram per matched function
    funclatency __kmalloc_noprof -i 1  # BCC's smoke test (__kmalloc before Linux 6.10)";

/// Time functions and print latency as a histogram
#[derive(clap::Parser, Debug)]
#[command(
    name = "funclatency",
    about = "Time functions and print latency as a histogram",
    long_about = "Time functions and print latency as a histogram. PATTERN is FUNC (kernel \
functions, kprobes) or LIB:FUNC (user functions, uprobes), with * wildcards (-r: a regular \
expression). Calls that recurse into the same function are timed from the innermost entry.",
    version
)]
struct Args {
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// summary interval, in seconds
    #[arg(short = 'i', long = "interval", value_name = "INTERVAL", value_parser = args::seconds)]
    interval: Option<Duration>,
    /// total duration of trace, in seconds
    #[arg(short = 'd', long = "duration", value_name = "DURATION", value_parser = args::seconds)]
    duration: Option<Duration>,
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// microsecond histogram
    #[arg(short = 'u', long = "microseconds", conflicts_with = "milliseconds")]
    microseconds: bool,
    /// millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// show a separate histogram per function
    #[arg(short = 'F', long = "function")]
    function: bool,
    /// use regular expressions. Default is "*" wildcards only.
    #[arg(short = 'r', long = "regexp")]
    regexp: bool,
    /// say which functions were attached (stderr)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// search expression for functions
    #[arg(value_name = "pattern")]
    pattern: String,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    multitool::run_exit("funclatency", || run(&args))
}

fn run(args: &Args) -> Result<()> {
    if let Some(p) = args.pid {
        lab_tools::histtool::check_pid("-p", p)?;
    }
    let (unit_ns, label) = if args.milliseconds {
        (1_000_000, "msecs")
    } else if args.microseconds {
        (1000, "usecs")
    } else {
        (1, "nsecs")
    };
    // BCC: one histogram per function with -F, and per process for library functions.
    let library = args.pattern.contains(':');
    let per_tgid = library && args.pid.is_none();
    let cfg = Config {
        pid: args.pid,
        unit_ns,
        key_func: args.function || per_tgid,
        key_tgid: per_tgid,
        regex: args.regexp,
        ..Default::default()
    };
    let mut fl = FuncLat::attach(std::slice::from_ref(&args.pattern), &cfg)?;
    if args.verbose {
        eprintln!(
            "funclatency: {} functions attached (entry and return probes)",
            fl.matched
        );
    }
    let interval = args.interval.or(args.duration);
    let mut rt = Runtime::new(Schedule {
        interval,
        count: None,
        duration: args.duration,
    })?;
    let mut out = output::stdout();
    writeln!(
        out,
        "Tracing {} functions for \"{}\"... Hit Ctrl-C to end.",
        fl.matched, args.pattern
    )?;
    out.flush()?;
    let start = std::time::Instant::now();
    loop {
        let last = match rt.sleep()? {
            Wake::Ready => continue,
            Wake::Tick { .. } => args.duration.is_some_and(|d| start.elapsed() >= d),
            Wake::Stop(_) => true,
        };
        writeln!(out)?;
        if args.timestamp {
            writeln!(out, "{:<8}", timefmt::hms())?;
        }
        print_interval(&mut fl, &mut out, label, unit_ns, cfg.key_func, per_tgid)?;
        out.flush()?;
        if last {
            break;
        }
    }
    writeln!(out, "Detaching...")?;
    out.flush()?;
    Ok(())
}

fn print_interval(
    fl: &mut FuncLat,
    out: &mut impl Write,
    label: &str,
    unit: u64,
    keyed: bool,
    per_tgid: bool,
) -> Result<()> {
    let hists = fl.take_hists()?;
    let text = if keyed {
        let named: Vec<(String, &lab_probes::hist::Hist)> = hists
            .iter()
            .map(|((func, tgid), h)| {
                let (name, _) = fl.function(*func);
                (
                    if per_tgid {
                        format!("{name} [{tgid}]")
                    } else {
                        name
                    },
                    h,
                )
            })
            .collect();
        format_sections("Function", label, false, named)
    } else {
        format_log2(label, &merged(hists.values()))
    };
    out.write_all(text.as_bytes())?;
    let (total_ns, count) = fl.take_avg()?;
    let total = total_ns / unit;
    if let Some(avg) = total.checked_div(count) {
        writeln!(
            out,
            "\navg = {avg} {label}, total: {total} {label}, count: {count}\n"
        )?;
    }
    Ok(())
}
