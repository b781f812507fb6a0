//! tcpaccept: trace passive TCP connections (accept()), BCC-compatible, with the accepting PID.
use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::{
    tcp::Tcp,
    tcpaccept::{Accept, Config, TcpAccept, HOOK},
};
use lab_tools::{args, help, output, snoop, tcpfmt, timefmt::Clock};

const EXAMPLES: &str = "
    tcpaccept                   # trace all TCP accept()s
    tcpaccept -t                # include timestamps
    tcpaccept -P 80,81          # only trace local port 80 and 81
    tcpaccept -p 181            # only trace PID 181
    tcpaccept -v                # say which kernel hook is used";

/// Trace TCP accepts
#[derive(clap::Parser, Debug)]
#[command(name = "tcpaccept", about = "Trace TCP accepts", version)]
struct Args {
    /// include timestamp on output
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// comma-separated list of local ports to trace
    #[arg(short = 'P', long = "port", value_name = "PORT[,PORT]", value_parser = tcpfmt::ports)]
    port: Option<tcpfmt::Ports>,
    #[command(flatten)]
    common: tcpfmt::Common,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("tcpaccept", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let mut snoop = TcpAccept::attach(&Config {
        pids: args.pid.map(|p| vec![p]),
    })?;
    let mut rt = args.common.start("tcpaccept", HOOK)?;
    rt.drain_every(Duration::from_millis(50));
    let clock = Clock::start();
    let mut out = output::stdout();
    if args.timestamp {
        write!(out, "{:<9}", "TIME(s)")?;
    }
    writeln!(
        out,
        "{:<7} {:<12} {:<2} {:<16} {:<5} {:<16} {:<5}",
        "PID", "COMM", "IP", "RADDR", "RPORT", "LADDR", "LPORT"
    )?;
    out.flush()?;
    snoop::run(
        "tcpaccept",
        &mut rt,
        &mut snoop,
        &mut out,
        |Accept(a), out| {
            if !tcpfmt::port_allowed(&args.port, a.lport) {
                return Ok(());
            }
            print_accept(args, &clock, &a, out)
        },
    )?;
    Ok(())
}

fn print_accept(args: &Args, clock: &Clock, a: &Tcp, out: &mut impl Write) -> Result<()> {
    if args.timestamp {
        write!(out, "{:<9.3}", clock.secs_at(a.ts_ns))?;
    }
    let comm: String = a.comm.chars().take(12).collect();
    writeln!(
        out,
        "{:<7} {:<12} {:<2} {:<16} {:<5} {:<16} {:<5}",
        a.pid,
        comm,
        a.ip_version(),
        a.remote.to_string(),
        a.rport,
        a.local.to_string(),
        a.lport
    )?;
    Ok(())
}
