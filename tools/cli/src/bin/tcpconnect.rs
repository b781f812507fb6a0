//! tcpconnect: trace active TCP connections (connect()), BCC-compatible.
use std::{
    collections::BTreeMap, io::Write, net::IpAddr, path::PathBuf, process::ExitCode, time::Duration,
};

use anyhow::Result;
use lab_probes::{
    tcp::Tcp,
    tcpconnect::{Config, Connect, TcpConnect, HOOK},
};
use lab_tools::{args, help, output, snoop, tcpfmt, timefmt::Clock};

const EXAMPLES: &str = "
    tcpconnect                  # trace all TCP connect()s
    tcpconnect -t               # include timestamps
    tcpconnect -p 181           # only trace PID 181
    tcpconnect -P 80            # only trace port 80
    tcpconnect -P 80,81         # only trace port 80 and 81
    tcpconnect -U               # include UID
    tcpconnect -u 1000          # only trace UID 1000
    tcpconnect -c               # count connects per src ip and dest ip/port
    tcpconnect --cgroup /sys/fs/cgroup/app  # only trace processes in cgroup v2 \"app\"
    tcpconnect -v               # say which kernel hook is used";

/// Trace TCP connects
#[derive(clap::Parser, Debug)]
#[command(name = "tcpconnect", about = "Trace TCP connects", version)]
struct Args {
    /// include timestamp on output
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// comma-separated list of destination ports to trace
    #[arg(short = 'P', long = "port", value_name = "PORT[,PORT]", value_parser = tcpfmt::ports)]
    port: Option<tcpfmt::Ports>,
    /// include UID on output
    #[arg(short = 'U', long = "print-uid")]
    print_uid: bool,
    /// trace this UID only
    #[arg(short = 'u', long = "uid", value_name = "UID")]
    uid: Option<u32>,
    /// count connects per src ip and dest ip/port
    #[arg(short = 'c', long = "count")]
    count: bool,
    /// trace only processes in this cgroup v2 directory
    #[arg(long = "cgroup", value_name = "PATH")]
    cgroup: Option<PathBuf>,
    #[command(flatten)]
    common: tcpfmt::Common,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("tcpconnect", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let mut snoop = TcpConnect::attach(&Config {
        pids: args.pid.map(|p| vec![p]),
        uid: args.uid,
        cgroup: args::cgroup_or_exit("tcpconnect", args.cgroup.as_deref()),
    })?;
    let mut rt = args.common.start("tcpconnect", HOOK)?;
    rt.drain_every(Duration::from_millis(50));
    let clock = Clock::start();
    let mut out = output::stdout();
    if args.count {
        writeln!(out, "Tracing connect ... Hit Ctrl-C to end")?;
    } else {
        if args.timestamp {
            write!(out, "{:<9}", "TIME(s)")?;
        }
        if args.print_uid {
            write!(out, "{:<6} ", "UID")?;
        }
        writeln!(
            out,
            "{:<6} {:<12} {:<2} {:<16} {:<16} {:<6}",
            "PID", "COMM", "IP", "SADDR", "DADDR", "DPORT"
        )?;
    }
    out.flush()?;
    let mut counts: BTreeMap<(IpAddr, IpAddr, u16), u64> = BTreeMap::new();
    snoop::run(
        "tcpconnect",
        &mut rt,
        &mut snoop,
        &mut out,
        |Connect(c), out| {
            if !tcpfmt::port_allowed(&args.port, c.rport) {
                return Ok(());
            }
            if args.count {
                *counts.entry((c.local, c.remote, c.rport)).or_default() += 1;
                return Ok(());
            }
            print_connect(args, &clock, &c, out)
        },
    )?;
    if args.count {
        writeln!(
            out,
            "\n{:<25} {:<25} {:<20} {:<10}",
            "LADDR", "RADDR", "RPORT", "CONNECTS"
        )?;
        let mut rows: Vec<_> = counts.into_iter().collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for ((l, r, port), n) in rows {
            writeln!(out, "{:<25} {:<25} {:<20} {:<10}", l, r, port, n)?;
        }
        out.flush()?;
    }
    Ok(())
}

fn print_connect(args: &Args, clock: &Clock, c: &Tcp, out: &mut impl Write) -> Result<()> {
    if args.timestamp {
        write!(out, "{:<9.3}", clock.secs_at(c.ts_ns))?;
    }
    if args.print_uid {
        write!(out, "{:<6} ", c.uid)?;
    }
    let comm: String = c.comm.chars().take(12).collect();
    writeln!(
        out,
        "{:<6} {:<12} {:<2} {:<16} {:<16} {:<6}",
        c.pid,
        comm,
        c.ip_version(),
        c.local.to_string(),
        c.remote.to_string(),
        c.rport
    )?;
    Ok(())
}
