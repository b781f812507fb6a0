//! tcplife: trace the lifespan of TCP sessions and summarize, BCC-compatible, with PIDs taken in
//! process context only (BCC's softirq PIDs are known to be wrong).
use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::tcplife::{Session, TcpLife, HOOK};
use lab_tools::{
    args, help, output, snoop, tcpfmt,
    timefmt::{self, Clock},
};

const EXAMPLES: &str = "
    tcplife                 # trace all TCP connect()s
    tcplife -t              # include time column (HH:MM:SS)
    tcplife -w              # wider columns (fit IPv6)
    tcplife -stT            # csv output, with times & timestamps
    tcplife -p 181          # only trace PID 181
    tcplife -L 80           # only trace local port 80
    tcplife -L 80,81        # only trace local ports 80 and 81
    tcplife -D 80           # only trace remote port 80
    tcplife -4              # only trace IPv4 family
    tcplife -6              # only trace IPv6 family
    tcplife --bytes         # TX/RX in bytes instead of KB
    tcplife -v              # say which kernel hooks are used";

/// Trace the lifespan of TCP sessions and summarize
#[derive(clap::Parser, Debug)]
#[command(
    name = "tcplife",
    about = "Trace the lifespan of TCP sessions and summarize",
    version
)]
struct Args {
    /// include time column on output (HH:MM:SS)
    #[arg(short = 'T', long = "time")]
    time: bool,
    /// include timestamp on output (seconds)
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// wide column output (fits IPv6 addresses)
    #[arg(short = 'w', long = "wide")]
    wide: bool,
    /// comma separated values output
    #[arg(short = 's', long = "csv")]
    csv: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// comma-separated list of local ports to trace
    #[arg(short = 'L', long = "localport", value_name = "PORT[,PORT]", value_parser = tcpfmt::ports)]
    localport: Option<tcpfmt::Ports>,
    /// comma-separated list of remote ports to trace
    #[arg(short = 'D', long = "remoteport", value_name = "PORT[,PORT]", value_parser = tcpfmt::ports)]
    remoteport: Option<tcpfmt::Ports>,
    /// trace IPv4 family only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,
    /// trace IPv6 family only
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
    /// print TX_B/RX_B (exact bytes) instead of TX_KB/RX_KB
    #[arg(long = "bytes")]
    bytes: bool,
    #[command(flatten)]
    common: tcpfmt::Common,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("tcplife", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let mut snoop = TcpLife::attach()?;
    let mut rt = args.common.start("tcplife", HOOK)?;
    rt.drain_every(Duration::from_millis(50));
    let clock = Clock::start();
    let mut out = output::stdout();
    print_header(args, &mut out)?;
    out.flush()?;
    snoop::run("tcplife", &mut rt, &mut snoop, &mut out, |s, out| {
        print_session(args, &clock, &s, out)
    })?;
    Ok(())
}

fn units(args: &Args) -> (&'static str, &'static str) {
    if args.bytes {
        ("TX_B", "RX_B")
    } else {
        ("TX_KB", "RX_KB")
    }
}

fn print_header(args: &Args, out: &mut impl Write) -> Result<()> {
    let (tx, rx) = units(args);
    if args.csv {
        if args.time {
            write!(out, "TIME,")?;
        }
        if args.timestamp {
            write!(out, "TIME(s),")?;
        }
        writeln!(out, "PID,COMM,IP,LADDR,LPORT,RADDR,RPORT,{tx},{rx},MS")?;
        return Ok(());
    }
    if args.time {
        write!(out, "{:<8} ", "TIME")?;
    }
    if args.timestamp {
        write!(out, "{:<9} ", "TIME(s)")?;
    }
    if args.wide {
        writeln!(
            out,
            "{:<7} {:<16} {:<2} {:<26} {:<5} {:<26} {:<5} {:>6} {:>6} MS",
            "PID", "COMM", "IP", "LADDR", "LPORT", "RADDR", "RPORT", tx, rx
        )?;
    } else {
        writeln!(
            out,
            "{:<7} {:<10} {:<15} {:<5} {:<15} {:<5} {:>5} {:>5} MS",
            "PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT", tx, rx
        )?;
    }
    Ok(())
}

fn print_session(args: &Args, clock: &Clock, s: &Session, out: &mut impl Write) -> Result<()> {
    let t = &s.0;
    if args.pid.is_some_and(|p| p != t.pid)
        || !tcpfmt::port_allowed(&args.localport, t.lport)
        || !tcpfmt::port_allowed(&args.remoteport, t.rport)
        || (args.ipv4 && t.ip_version() != 4)
        || (args.ipv6 && t.ip_version() != 6)
    {
        return Ok(());
    }
    let (tx, rx) = s.payload_bytes();
    let (tx, rx) = if args.bytes {
        (tx, rx)
    } else {
        (tx / 1024, rx / 1024)
    };
    let ms = t.span_ns as f64 / 1e6;
    // Sessions no process-context hook saw (opened before tcplife started) have no owner.
    let pid = if s.pid_known() {
        t.pid.to_string()
    } else {
        "-".to_string()
    };
    let comm = if s.pid_known() { t.comm.as_str() } else { "-" };
    let sep = if args.csv { "," } else { " " };
    if args.time {
        if args.csv {
            write!(out, "{},", timefmt::hms())?;
        } else {
            write!(out, "{:<8} ", timefmt::hms())?;
        }
    }
    if args.timestamp {
        write!(out, "{:<9.6}{sep}", clock.secs_at(t.ts_ns))?;
    }
    let (l, r) = (t.local.to_string(), t.remote.to_string());
    if args.csv {
        writeln!(
            out,
            "{pid},{comm},{},{l},{},{r},{},{tx},{rx},{ms:.2}",
            t.ip_version(),
            t.lport,
            t.rport
        )?;
    } else if args.wide {
        let comm: String = comm.chars().take(16).collect();
        writeln!(
            out,
            "{pid:<7} {comm:<16} {:<2} {l:<26} {:<5} {r:<26} {:<5} {tx:>6} {rx:>6} {ms:.2}",
            t.ip_version(),
            t.lport,
            t.rport
        )?;
    } else {
        let comm: String = comm.chars().take(10).collect();
        writeln!(
            out,
            "{pid:<7} {comm:<10} {l:<15} {:<5} {r:<15} {:<5} {tx:>5} {rx:>5} {ms:.2}",
            t.lport, t.rport
        )?;
    }
    Ok(())
}
