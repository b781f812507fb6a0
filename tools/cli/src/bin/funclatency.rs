//! funclatency: time kernel or user functions and print their latency as log2 histograms
//! (BCC's flags and output: -m/-u, -i/-d, -p, -F, -T; avg/total/count after each histogram).
use std::{io::Write, process::ExitCode};

use anyhow::Result;
use lab_probes::{
    funclat::{Config, FuncLat},
    hist::{format_log2, format_sections, merged},
};
use lab_tools::{args, help, multitool, output, runtime::Intervals, timefmt};

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
    #[command(flatten)]
    every: args::PatternEvery,
    /// microsecond histogram
    #[arg(short = 'u', long = "microseconds", conflicts_with = "milliseconds")]
    microseconds: bool,
    /// millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// show a separate histogram per function
    #[arg(short = 'F', long = "function")]
    function: bool,
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
    if let Some(p) = args.every.pid {
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
    let per_tgid = library && args.every.pid.is_none();
    let cfg = Config {
        pid: args.every.pid,
        unit_ns,
        key_func: args.function || per_tgid,
        key_tgid: per_tgid,
        regex: args.every.regexp,
        ..Default::default()
    };
    let mut fl = FuncLat::attach(std::slice::from_ref(&args.pattern), &cfg)?;
    if args.verbose {
        eprintln!(
            "funclatency: {} functions attached (entry and return probes)",
            fl.matched
        );
    }
    let every = Intervals::new(args.every.interval, args.every.duration)?;
    let mut out = output::stdout();
    writeln!(
        out,
        "Tracing {} functions for \"{}\"... Hit Ctrl-C to end.",
        fl.matched, args.pattern
    )?;
    out.flush()?;
    every.run(|_| {
        writeln!(out)?;
        if args.every.timestamp {
            writeln!(out, "{:<8}", timefmt::hms())?;
        }
        print_interval(&mut fl, &mut out, label, unit_ns, cfg.key_func, per_tgid)?;
        out.flush()?;
        Ok(())
    })?;
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
