//! opensnoop: trace open(), openat() and openat2() with path and result, BCC-compatible.
use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::opensnoop::{Config, Open, OpenSnoop};
use lab_tools::{
    args, help, output,
    runtime::{Runtime, Schedule},
    snoop,
    timefmt::Clock,
};

const EXAMPLES: &str = "
    opensnoop                     # trace all open() syscalls
    opensnoop -T                  # include timestamps
    opensnoop -U                  # include UID
    opensnoop -x                  # only show failed opens
    opensnoop -p 181              # only trace PID 181
    opensnoop -t 123              # only trace TID 123
    opensnoop -u 1000             # only trace UID 1000
    opensnoop -d 10               # trace for 10 seconds only
    opensnoop -n main             # only print process names containing \"main\"
    opensnoop -e                  # show extended fields (flags)
    opensnoop -c /sys/fs/cgroup/app  # only trace processes in cgroup v2 \"app\"";

/// Trace open() syscalls
#[derive(clap::Parser, Debug)]
#[command(name = "opensnoop", about = "Trace open() syscalls", version)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// print UID column
    #[arg(short = 'U', long = "print-uid")]
    print_uid: bool,
    /// only show failed opens
    #[arg(short = 'x', long = "failed")]
    failed: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid, conflicts_with = "tid")]
    pid: Option<u32>,
    /// trace this TID only
    #[arg(short = 't', long = "tid", value_name = "TID", value_parser = args::pid)]
    tid: Option<u32>,
    /// trace this UID only
    #[arg(short = 'u', long = "uid", value_name = "UID")]
    uid: Option<u32>,
    /// total duration of trace in seconds
    #[arg(short = 'd', long = "duration", value_name = "DURATION", value_parser = args::seconds)]
    duration: Option<Duration>,
    /// only print process names containing this name
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    name: Option<String>,
    /// show extended fields (open flags, in octal)
    #[arg(short = 'e', long = "extended_fields")]
    extended: bool,
    /// trace only processes in this cgroup v2 directory
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    cgroup: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("opensnoop", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let mut snoop = OpenSnoop::attach(&Config {
        pids: args.pid.map(|p| vec![p]),
        tid: args.tid,
        uid: args.uid,
        failed_only: args.failed,
        cgroup: args::cgroup_or_exit("opensnoop", args.cgroup.as_deref()),
    })?;
    let mut rt = Runtime::new(Schedule {
        duration: args.duration,
        ..Default::default()
    })?;
    rt.drain_every(Duration::from_millis(50));
    let clock = Clock::start();
    let mut out = output::stdout();
    if args.timestamp {
        write!(out, "{:<14}", "TIME(s)")?;
    }
    if args.print_uid {
        write!(out, "{:<6} ", "UID")?;
    }
    write!(
        out,
        "{:<6} {:<16} {:>4} {:>3} ",
        if args.tid.is_some() { "TID" } else { "PID" },
        "COMM",
        "FD",
        "ERR"
    )?;
    if args.extended {
        write!(out, "{:<9}", "FLAGS")?;
    }
    writeln!(out, "PATH")?;
    out.flush()?;
    snoop::run("opensnoop", &mut rt, &mut snoop, &mut out, |o, out| {
        print_open(args, &clock, &o, out)
    })?;
    Ok(())
}

fn print_open(args: &Args, clock: &Clock, o: &Open, out: &mut impl Write) -> Result<()> {
    if args
        .name
        .as_ref()
        .is_some_and(|n| !o.comm.contains(n.as_str()))
    {
        return Ok(());
    }
    let (fd, err) = o.fd_err();
    if args.timestamp {
        write!(out, "{:<14.9}", clock.secs_at(o.ts_ns))?;
    }
    if args.print_uid {
        write!(out, "{:<6} ", o.uid)?;
    }
    let id = if args.tid.is_some() { o.tid } else { o.pid };
    write!(out, "{:<6} {:<16} {:>4} {:>3} ", id, o.comm, fd, err)?;
    if args.extended {
        write!(out, "{:08o} ", o.flags)?;
    }
    writeln!(out, "{}", o.path)?;
    Ok(())
}
