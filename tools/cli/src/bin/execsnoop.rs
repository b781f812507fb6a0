//! execsnoop: trace new processes (execve), BCC-compatible.
use std::{io::Write, path::PathBuf, process::ExitCode};

use anyhow::Result;
use lab_probes::execsnoop::{Config, Exec, ExecSnoop};
use lab_tools::{
    args, help, output,
    runtime::{Runtime, Schedule},
    snoop,
    timefmt::{self, Clock},
};
use regex_lite::Regex;

const EXAMPLES: &str = "
    execsnoop                  # trace all exec() syscalls
    execsnoop -x               # include failed exec()s
    execsnoop -T               # include time (HH:MM:SS)
    execsnoop -U               # include UID
    execsnoop -u 1000          # only trace UID 1000
    execsnoop -t               # include timestamps
    execsnoop -q               # add \"quotemarks\" around arguments
    execsnoop -n main          # only print command lines containing \"main\"
    execsnoop -l tpkg          # only print command where arguments contains \"tpkg\"
    execsnoop -P 181           # only trace new processes whose parent PID is 181
    execsnoop -c /sys/fs/cgroup/app  # only trace processes in cgroup v2 \"app\"
    execsnoop --max-args 40    # copy up to 40 arguments per exec";

/// Trace exec() syscalls
#[derive(clap::Parser, Debug)]
#[command(name = "execsnoop", about = "Trace exec() syscalls", version)]
struct Args {
    /// include time column on output (HH:MM:SS)
    #[arg(short = 'T', long = "time")]
    time: bool,
    /// include timestamp on output (seconds since start)
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// include failed exec()s
    #[arg(short = 'x', long = "fails")]
    fails: bool,
    /// trace this UID only
    #[arg(short = 'u', long = "uid", value_name = "UID")]
    uid: Option<u32>,
    /// add quotemarks (") around arguments
    #[arg(short = 'q', long = "quote")]
    quote: bool,
    /// only print commands matching this name (regex), any arg
    #[arg(short = 'n', long = "name", value_name = "NAME", value_parser = regex)]
    name: Option<Regex>,
    /// only print commands where arg contains this line (regex)
    #[arg(short = 'l', long = "line", value_name = "LINE", value_parser = regex)]
    line: Option<Regex>,
    /// print UID column
    #[arg(short = 'U', long = "print-uid")]
    print_uid: bool,
    /// trace this parent PID only
    #[arg(short = 'P', long = "ppid", value_name = "PPID", value_parser = args::pid)]
    ppid: Option<u32>,
    /// trace only processes in this cgroup v2 directory
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    cgroup: Option<PathBuf>,
    /// maximum number of arguments parsed and displayed (1-60)
    #[arg(long = "max-args", value_name = "MAX_ARGS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=60))]
    max_args: u32,
}

fn regex(s: &str) -> Result<Regex, String> {
    Regex::new(s).map_err(|e| format!("not a valid regular expression: {e}"))
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("execsnoop", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let mut snoop = ExecSnoop::attach(&Config {
        max_args: args.max_args,
        uid: args.uid,
        ppid: args.ppid,
        cgroup: args::cgroup_or_exit("execsnoop", args.cgroup.as_deref()),
    })?;
    let mut rt = Runtime::new(Schedule::default())?;
    let clock = Clock::start();
    let mut out = output::stdout();
    if args.time {
        write!(out, "{:<9}", "TIME")?;
    }
    if args.timestamp {
        write!(out, "{:<8}", "TIME(s)")?;
    }
    if args.print_uid {
        write!(out, "{:<6}", "UID")?;
    }
    writeln!(
        out,
        "{:<16} {:<7} {:<7} {:>3} ARGS",
        "PCOMM", "PID", "PPID", "RET"
    )?;
    out.flush()?;
    snoop::run("execsnoop", &mut rt, &mut snoop, &mut out, |e, out| {
        print_exec(args, &clock, &e, out)
    })?;
    Ok(())
}

fn print_exec(args: &Args, clock: &Clock, e: &Exec, out: &mut impl Write) -> Result<()> {
    // BCC prints failed execs only with -x.
    if e.retval != 0 && !args.fails {
        return Ok(());
    }
    if args.name.as_ref().is_some_and(|re| !re.is_match(&e.comm)) {
        return Ok(());
    }
    let mut text = if args.quote {
        e.args
            .iter()
            .map(|a| format!("\"{}\"", a.replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        e.args.join(" ")
    };
    if e.truncated {
        text.push_str(" ...");
    }
    if args.line.as_ref().is_some_and(|re| !re.is_match(&text)) {
        return Ok(());
    }
    if args.time {
        write!(out, "{:<9}", timefmt::hms())?;
    }
    if args.timestamp {
        write!(out, "{:<8.3}", clock.secs_at(e.ts_ns))?;
    }
    if args.print_uid {
        write!(out, "{:<6}", e.uid)?;
    }
    writeln!(
        out,
        "{:<16} {:<7} {:<7} {:>3} {}",
        e.comm, e.pid, e.ppid, e.retval, text
    )?;
    Ok(())
}
