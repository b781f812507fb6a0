//! killsnoop: trace signals sent with kill(), tkill() and tgkill(), BCC-compatible.
use std::{io::Write, process::ExitCode};

use anyhow::Result;
use lab_probes::killsnoop::{parse_signal, Config, Kill, KillSnoop};
use lab_tools::{
    args, help, output,
    runtime::{Runtime, Schedule},
    snoop, timefmt,
};

const EXAMPLES: &str = "
    killsnoop             # trace all kill() signals
    killsnoop -x          # only show failed kills
    killsnoop -p 181      # only trace PID 181
    killsnoop -s 9        # only trace signal 9 (also -s KILL or -s SIGKILL)";

/// Trace signals issued by the kill() syscall
#[derive(clap::Parser, Debug)]
#[command(
    name = "killsnoop",
    about = "Trace signals issued by the kill() syscall",
    version
)]
struct Args {
    /// only show failed kill syscalls
    #[arg(short = 'x', long = "failed")]
    failed: bool,
    /// trace this PID only which is the sender of signal
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// trace this signal only (number or name, e.g. 9, KILL, SIGKILL)
    #[arg(short = 's', long = "signal", value_name = "SIGNAL", value_parser = signal)]
    signal: Option<u32>,
}

fn signal(s: &str) -> Result<u32, String> {
    parse_signal(s)
        .ok_or_else(|| format!("'{s}' is not a signal (a number 1-64 or a name like TERM)"))
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("killsnoop", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let mut snoop = KillSnoop::attach(&Config {
        pids: args.pid.map(|p| vec![p]),
        signal: args.signal,
        failed_only: args.failed,
    })?;
    let mut rt = Runtime::new(Schedule::default())?;
    let mut out = output::stdout();
    writeln!(
        out,
        "{:<9} {:<7} {:<16} {:<4} {:<7} RESULT",
        "TIME", "PID", "COMM", "SIG", "TPID"
    )?;
    out.flush()?;
    snoop::run("killsnoop", &mut rt, &mut snoop, &mut out, |k, out| {
        print_kill(&k, out)
    })?;
    Ok(())
}

fn print_kill(k: &Kill, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "{:<9} {:<7} {:<16} {:<4} {:<7} {}",
        timefmt::hms(),
        k.pid,
        k.comm,
        k.sig,
        k.tpid,
        k.ret
    )?;
    Ok(())
}
