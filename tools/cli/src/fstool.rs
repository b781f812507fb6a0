//! The file-system latency tools, one implementation for every file system: `ext4slower`,
//! `xfsslower`, `btrfsslower` (slow operations, one line each) and `ext4dist`, `xfsdist`
//! (latency histograms per operation). Each binary in src/bin is one line naming its file
//! system; the flags and output are BCC's.
use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::fsslower::{op_letter, op_name, FsKind, FsOp, FsProbe, Hook, Mode, Options};

use crate::{
    args, help,
    histtool::{self, Periodic},
    output,
    runtime::{Runtime, Schedule},
    snoop, timefmt,
};

fn hook_arg(s: &str) -> Result<Hook, String> {
    Hook::parse(s).ok_or_else(|| format!("'{s}': want fentry, kprobe or syscall"))
}

#[derive(clap::Parser, Debug)]
struct SlowerArgs {
    /// just print fields: comma-separated values
    #[arg(short = 'j', long = "csv")]
    csv: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// hook to use: fentry, kprobe or syscall (default: the first of these that works here)
    #[arg(long = "hook", value_name = "HOOK", value_parser = hook_arg)]
    hook: Option<Hook>,
    /// say which hooks were tried (on stderr)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// minimum I/O duration to trace, in ms (default 10; 0 traces every operation)
    #[arg(value_name = "min_ms", default_value_t = 10)]
    min_ms: u64,
}

#[derive(clap::Parser, Debug)]
struct DistArgs {
    #[command(flatten)]
    every: Periodic,
    /// output in milliseconds
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// hook to use: fentry, kprobe or syscall (default: the first of these that works here)
    #[arg(long = "hook", value_name = "HOOK", value_parser = hook_arg)]
    hook: Option<Hook>,
    /// say which hooks were tried (on stderr)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
}

/// Parse `A` as tool `name` (help, usage and man page carry that name).
fn parse<A: clap::Parser>(name: &'static str, about: String, examples: &str) -> A {
    let cmd = A::command()
        .name(name)
        .bin_name(name)
        .about(about.clone())
        .long_about(about)
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(format!("examples:\n{}", examples.trim_matches('\n')));
    if std::env::args_os().nth(1).is_some_and(|a| a == "--man") {
        let mut out = std::io::stdout().lock();
        let code = match help::man_page(cmd, &mut out) {
            Ok(()) => 0,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            Err(e) => {
                eprintln!("error writing man page: {e}");
                1
            }
        };
        std::process::exit(code);
    }
    A::from_arg_matches(&cmd.get_matches()).unwrap_or_else(|e| e.exit())
}

fn what_is_timed(fs: &FsKind) -> String {
    format!(
        "Trace common {} file operations slower than a threshold: reads, writes, opens and syncs. \
         The tool's own process is never traced (its output may go to a file on {}); into a \
         file or a pipe, lines are written per 64 KiB and at exit, on a terminal as they come.",
        fs.name, fs.name
    )
}

fn report_hook(tool: &str, probe: &FsProbe, verbose: bool) {
    if verbose {
        for s in &probe.skipped {
            eprintln!("{tool}: skipped {s}");
        }
        eprintln!("{tool}: using the {} hook", probe.hook().name());
    }
}

/// `ext4slower` and friends.
pub fn slower_main(name: &'static str, fs: FsKind) -> ExitCode {
    let examples = format!(
        "
    {name}             # trace operations slower than 10 ms (default)
    {name} 1           # trace operations slower than 1 ms
    {name} -j 1        # ... 1 ms, parsable output (csv)
    {name} 0           # trace all operations (warning: verbose)
    {name} -p 185      # trace PID 185 only
    {name} --hook syscall 0  # force the syscall-tracepoint path"
    );
    let args: SlowerArgs = parse(name, what_is_timed(&fs), &examples);
    crate::run(name, || slower(name, fs, &args))
}

fn slower(name: &str, fs: FsKind, args: &SlowerArgs) -> Result<()> {
    if let Some(p) = args.pid {
        histtool::check_pid("-p", p)?;
    }
    let mut probe = FsProbe::attach(&Options {
        fs,
        hook: args.hook,
        pid: args.pid,
        mode: Mode::Events {
            min_ns: args.min_ms * 1_000_000,
        },
    })?;
    report_hook(name, &probe, args.verbose);
    let mut out = output::stdout();
    let hook_line = format!("Hook: {}", probe.describe());
    if args.csv {
        // Keep stdout pure CSV.
        eprintln!("{name}: {hook_line}");
        writeln!(
            out,
            "ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE"
        )?;
    } else {
        if args.min_ms == 0 {
            writeln!(out, "Tracing {} operations", fs.name)?;
        } else {
            writeln!(
                out,
                "Tracing {} operations slower than {} ms",
                fs.name, args.min_ms
            )?;
        }
        writeln!(out, "{hook_line}")?;
        writeln!(
            out,
            "{:<8} {:<14} {:<6} {:1} {:<7} {:<8} {:>7} FILENAME",
            "TIME", "COMM", "PID", "T", "BYTES", "OFF_KB", "LAT(ms)"
        )?;
    }
    // The header goes out at once (it says tracing has begun); events follow per batch on a
    // terminal, per 64 KiB into a file or pipe.
    out.flush()?;
    let mut rt = Runtime::new(Schedule::default())?;
    rt.drain_every(Duration::from_millis(50));
    snoop::run_with(
        name,
        &mut rt,
        &mut probe,
        &mut out,
        snoop::Flush::WhenFull,
        |op, out| print_op(args.csv, &op, out),
    )?;
    histtool::report_missed(name, probe.missed());
    Ok(())
}

fn print_op(csv: bool, op: &FsOp, out: &mut impl Write) -> Result<()> {
    let t = op_letter(op.op);
    if csv {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            op.end_ns / 1000,
            op.comm,
            op.pid,
            t,
            op.size,
            op.offset,
            op.delta_ns / 1000,
            op.name
        )?;
    } else {
        let comm: String = op.comm.chars().take(14).collect();
        writeln!(
            out,
            "{:<8} {:<14} {:<6} {:1} {:<7} {:<8} {:>7.2} {}",
            timefmt::hms(),
            comm,
            op.pid,
            t,
            op.size,
            op.offset / 1024,
            op.delta_ns as f64 / 1e6,
            op.name
        )?;
    }
    Ok(())
}

/// `ext4dist` and friends.
pub fn dist_main(name: &'static str, fs: FsKind) -> ExitCode {
    let examples = format!(
        "
    {name}            # show operation latency as a histogram
    {name} -p 181     # trace PID 181 only
    {name} 1 10       # print 1 second summaries, 10 times
    {name} -m 5       # 5s summaries, milliseconds
    {name} --hook kprobe  # force the kprobe path"
    );
    let about = format!(
        "Summarize {} operation latency (read, write, open, fsync) as histograms. The tool's \
         own process is never traced.",
        fs.name
    );
    let args: DistArgs = parse(name, about, &examples);
    crate::run(name, || dist(name, fs, &args))
}

fn dist(name: &str, fs: FsKind, args: &DistArgs) -> Result<()> {
    if let Some(p) = args.pid {
        histtool::check_pid("-p", p)?;
    }
    let probe = FsProbe::attach(&Options {
        fs,
        hook: args.hook,
        pid: args.pid,
        mode: Mode::Hist {
            millis: args.milliseconds,
        },
    })?;
    report_hook(name, &probe, args.verbose);
    println!(
        "Tracing {} operation latency... Hit Ctrl-C to end.",
        fs.name
    );
    println!("Hook: {}", probe.describe());
    let label = if args.milliseconds { "msecs" } else { "usecs" };
    let res = histtool::run(
        &args.every,
        || probe.read_hist(),
        |hists| {
            lab_probes::hist::format_sections(
                "operation",
                label,
                false,
                hists
                    .iter()
                    .map(|(op, h)| (op_name(*op as u32).to_string(), h)),
            )
        },
    );
    histtool::report_missed(name, probe.missed());
    res
}
