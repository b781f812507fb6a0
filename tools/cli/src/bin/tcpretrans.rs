//! tcpretrans: trace TCP retransmits, BCC-compatible (`-l` tail loss probes where kprobes exist).
use std::{collections::BTreeMap, io::Write, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::{
    tcp::{state_name, Tcp},
    tcpretrans::{self, TcpRetrans, HOOK, TLP_HOOK},
};
use lab_tools::{help, output, snoop, tcpfmt, timefmt};

const EXAMPLES: &str = "
    tcpretrans             # trace TCP retransmits
    tcpretrans -l          # include TLP attempts (needs kprobes: the lab VMs have them)
    tcpretrans -c          # count retransmits per connection
    tcpretrans -v          # say which kernel hooks are used";

/// Trace TCP retransmits
#[derive(clap::Parser, Debug)]
#[command(name = "tcpretrans", about = "Trace TCP retransmits", version)]
struct Args {
    /// include tail loss probe attempts (kprobe on tcp_send_loss_probe)
    #[arg(short = 'l', long = "lossprobe")]
    lossprobe: bool,
    /// count occurred retransmits per flow
    #[arg(short = 'c', long = "count")]
    count: bool,
    #[command(flatten)]
    common: tcpfmt::Common,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    if args.lossprobe {
        if let Some(why) = tcpretrans::tlp_unavailable() {
            eprintln!("tcpretrans: error: {why}");
            return ExitCode::from(2);
        }
    }
    lab_tools::run("tcpretrans", || trace(&args))
}

fn endpoint(addr: &std::net::IpAddr, port: u16) -> String {
    format!("{addr}:{port}")
}

fn trace(args: &Args) -> Result<()> {
    let mut snoop = TcpRetrans::attach(args.lossprobe)?;
    let hook = if args.lossprobe {
        format!("{HOOK} + {TLP_HOOK}")
    } else {
        HOOK.to_string()
    };
    let mut rt = args.common.start("tcpretrans", &hook)?;
    rt.drain_every(Duration::from_millis(50));
    let mut out = output::stdout();
    if args.count {
        writeln!(out, "Tracing retransmits ... Hit Ctrl-C to end")?;
    } else {
        writeln!(
            out,
            "{:<8} {:<7} {:<2} {:<20} {:>1}> {:<20} STATE",
            "TIME", "PID", "IP", "LADDR:LPORT", "T", "RADDR:RPORT"
        )?;
    }
    out.flush()?;
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    snoop::run("tcpretrans", &mut rt, &mut snoop, &mut out, |r, out| {
        let t: &Tcp = &r.0;
        let (l, rm) = (endpoint(&t.local, t.lport), endpoint(&t.remote, t.rport));
        if args.count {
            *counts.entry((l, rm)).or_default() += 1;
            return Ok(());
        }
        let kind = if r.is_tlp() { "L" } else { "R" };
        writeln!(
            out,
            "{:<8} {:<7} {:<2} {:<20} {:>1}> {:<20} {}",
            timefmt::hms(),
            t.pid,
            t.ip_version(),
            l,
            kind,
            rm,
            state_name(t.state)
        )?;
        Ok(())
    })?;
    if args.count {
        writeln!(
            out,
            "\n{:<25} {:<25} {:<10}",
            "LADDR:LPORT", "RADDR:RPORT", "RETRANSMITS"
        )?;
        let mut rows: Vec<_> = counts.into_iter().collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for ((l, r), n) in rows {
            writeln!(out, "{l:<25} {r:<25} {n:<10}")?;
        }
        out.flush()?;
    }
    Ok(())
}
