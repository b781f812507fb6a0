//! syscount: summarize syscall counts and latencies, by syscall or by process, BCC-compatible.
use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::syscount::{syscall_name, syscall_names, syscall_number, Config, Stat, SysCount};
use lab_tools::{
    args, help, output,
    runtime::{Runtime, Schedule, Wake},
    timefmt,
};

const EXAMPLES: &str = "
    syscount                 # count by syscall, top 10, until Ctrl-C
    syscount -P              # count by process (PID and COMM)
    syscount -p 181          # only trace PID 181
    syscount -L              # also measure time spent in each syscall
    syscount -T 20           # show the top 20
    syscount -i 1 -d 10      # print every second, for 10 seconds
    syscount -x              # count only failed syscalls
    syscount -e ENOENT       # count only syscalls failing with ENOENT
    syscount --syscall read  # count only read()
    syscount -l              # list the syscall names known
    syscount -c /sys/fs/cgroup/app  # only trace processes in cgroup v2 \"app\"";

/// Summarize syscall counts and latencies
#[derive(clap::Parser, Debug)]
#[command(
    name = "syscount",
    about = "Summarize syscall counts and latencies",
    version
)]
struct Args {
    /// trace only this pid
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid, conflicts_with = "tid")]
    pid: Option<u32>,
    /// trace only this tid
    #[arg(short = 't', long = "tid", value_name = "TID", value_parser = args::pid)]
    tid: Option<u32>,
    /// print summary at this interval (seconds)
    #[arg(short = 'i', long = "interval", value_name = "INTERVAL", value_parser = args::seconds)]
    interval: Option<Duration>,
    /// total duration of trace, in seconds
    #[arg(short = 'd', long = "duration", value_name = "DURATION", value_parser = args::seconds)]
    duration: Option<Duration>,
    /// print only the top syscalls by count or latency
    #[arg(short = 'T', long = "top", value_name = "TOP", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    top: u32,
    /// trace only failed syscalls (return < 0)
    #[arg(short = 'x', long = "failures")]
    failures: bool,
    /// trace only syscalls that return this error (numeric or EPERM, etc.)
    #[arg(short = 'e', long = "errno", value_name = "ERRNO", value_parser = errno)]
    errno: Option<u32>,
    /// collect syscall latency
    #[arg(short = 'L', long = "latency")]
    latency: bool,
    /// display latency in milliseconds (default: microseconds)
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// count by process and not by syscall
    #[arg(short = 'P', long = "process")]
    process: bool,
    /// print list of recognized syscalls and exit
    #[arg(short = 'l', long = "list")]
    list: bool,
    /// trace this syscall only (use option -l to get all recognized syscalls)
    #[arg(long = "syscall", value_name = "SYSCALL", value_parser = syscall)]
    syscall: Option<u32>,
    /// trace only processes in this cgroup v2 directory
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    cgroup: Option<PathBuf>,
}

fn errno(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        if n > 0 {
            return Ok(n);
        }
    }
    ERRNOS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, v)| *v as u32)
        .ok_or_else(|| format!("'{s}' is not an errno (a positive number or a name like ENOENT)"))
}

const ERRNOS: &[(&str, i32)] = &[
    ("EPERM", libc::EPERM),
    ("ENOENT", libc::ENOENT),
    ("ESRCH", libc::ESRCH),
    ("EINTR", libc::EINTR),
    ("EIO", libc::EIO),
    ("ENXIO", libc::ENXIO),
    ("E2BIG", libc::E2BIG),
    ("ENOEXEC", libc::ENOEXEC),
    ("EBADF", libc::EBADF),
    ("ECHILD", libc::ECHILD),
    ("EAGAIN", libc::EAGAIN),
    ("ENOMEM", libc::ENOMEM),
    ("EACCES", libc::EACCES),
    ("EFAULT", libc::EFAULT),
    ("EBUSY", libc::EBUSY),
    ("EEXIST", libc::EEXIST),
    ("ENODEV", libc::ENODEV),
    ("ENOTDIR", libc::ENOTDIR),
    ("EISDIR", libc::EISDIR),
    ("EINVAL", libc::EINVAL),
    ("ENFILE", libc::ENFILE),
    ("EMFILE", libc::EMFILE),
    ("ENOTTY", libc::ENOTTY),
    ("EFBIG", libc::EFBIG),
    ("ENOSPC", libc::ENOSPC),
    ("ESPIPE", libc::ESPIPE),
    ("EROFS", libc::EROFS),
    ("EPIPE", libc::EPIPE),
    ("ERANGE", libc::ERANGE),
    ("ENOSYS", libc::ENOSYS),
    ("ENOTEMPTY", libc::ENOTEMPTY),
    ("ETIMEDOUT", libc::ETIMEDOUT),
    ("ECONNREFUSED", libc::ECONNREFUSED),
    ("EINPROGRESS", libc::EINPROGRESS),
    ("EOPNOTSUPP", libc::EOPNOTSUPP),
    ("ECONNRESET", libc::ECONNRESET),
    ("ENOTCONN", libc::ENOTCONN),
];

fn syscall(s: &str) -> Result<u32, String> {
    syscall_number(s).ok_or_else(|| format!("'{s}' is not a known syscall (see syscount -l)"))
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("syscount", || {
        if args.list {
            let mut out = output::stdout();
            for n in syscall_names() {
                writeln!(out, "{n}")?;
            }
            out.flush()?;
            return Ok(());
        }
        trace(&args)
    })
}

fn trace(args: &Args) -> Result<()> {
    let mut counter = SysCount::attach(&Config {
        pids: args.pid.map(|p| vec![p]),
        tid: args.tid,
        failed_only: args.failures,
        errno: args.errno,
        syscall: args.syscall,
        by_process: args.process,
        latency: args.latency,
        cgroup: args::cgroup_or_exit("syscount", args.cgroup.as_deref()),
    })?;
    let mut rt = Runtime::new(Schedule {
        interval: args.interval,
        count: None,
        duration: args.duration,
    })?;
    let mut out = output::stdout();
    let what = if args.process {
        "processes"
    } else {
        "syscalls"
    };
    writeln!(
        out,
        "Tracing {what}, printing top {}... Ctrl+C to quit.",
        args.top
    )?;
    out.flush()?;
    loop {
        match rt.wait(&[])? {
            Wake::Ready => {}
            Wake::Tick { .. } => print(args, &mut out, counter.take()?)?,
            Wake::Stop(_) => {
                print(args, &mut out, counter.take()?)?;
                break;
            }
        }
    }
    writeln!(out, "Detaching...")?;
    out.flush()?;
    Ok(())
}

fn print(args: &Args, out: &mut impl Write, mut rows: Vec<(u32, Stat)>) -> Result<()> {
    writeln!(out, "[{}]", timefmt::hms())?;
    if args.latency {
        rows.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(&b.0)));
    } else {
        rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    }
    rows.truncate(args.top as usize);
    let unit = if args.milliseconds {
        "TIME (ms)"
    } else {
        "TIME (us)"
    };
    let div = if args.milliseconds { 1e6 } else { 1e3 };
    if args.process {
        write!(out, "{:<6} {:<15} {:>8}", "PID", "COMM", "COUNT")?;
    } else {
        write!(out, "{:<22} {:>8}", "SYSCALL", "COUNT")?;
    }
    if args.latency {
        write!(out, " {unit:>16}")?;
    }
    writeln!(out)?;
    for (key, s) in rows {
        if args.process {
            write!(out, "{:<6} {:<15} {:>8}", key, comm_of(key), s.count)?;
        } else {
            write!(out, "{:<22} {:>8}", syscall_name(key), s.count)?;
        }
        if args.latency {
            write!(out, " {:>16.3}", s.total_ns as f64 / div)?;
        }
        writeln!(out)?;
    }
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Comm of a process still running, as BCC prints it ("[unknown]" once it exited).
fn comm_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_else(|_| "[unknown]".into())
}
