//! dbslower: MySQL or PostgreSQL queries slower than a threshold, from the servers' USDT
//! probes, BCC-compatible (flags, header, TIME(s) PID MS QUERY lines).
use std::process::ExitCode;

use anyhow::{bail, Result};
use lab_probes::dbslower::{pidof, DbSlower, Target};
use lab_tools::{args, dbtool, help};

const EXAMPLES: &str = "
    dbslower postgres            # trace PostgreSQL queries slower than 1ms
    dbslower postgres -p 188 322 # trace specific PostgreSQL processes
    dbslower mysql -p 480 -m 30  # trace MySQL queries slower than 30ms
    dbslower mysql -p 480 -v     # trace MySQL queries & say which probes are used
    dbslower mysql -x $(which mysqld)  # every process running this binary
    dbslower mysql -p $(pgrep -f 'lab-workload queryserve') -m 0  # the lab's query server";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Db {
    Mysql,
    Postgres,
}

/// Trace MySQL and PostgreSQL queries slower than a threshold.
#[derive(clap::Parser, Debug)]
#[command(
    name = "dbslower",
    about = "Trace MySQL and PostgreSQL queries slower than a threshold",
    long_about = "Trace MySQL and PostgreSQL queries slower than a threshold.\n\n\
Uses the servers' USDT probes query__start (the query is its first argument) and \
query__done: MySQL built with -DENABLE_DTRACE=1, PostgreSQL with --enable-dtrace, or any \
program with probes of those names (lab-workload queryserve). Without -p or -x, traces every \
process named mysqld (or postgres). With -x PATH, every process running that binary (BCC \
uses uprobes on dispatch_command there; this version reads the binary's USDT probes). TIME(s) \
is when the query started, counted from the start of tracing.",
    version
)]
struct Args {
    /// say which probes are attached (BCC: print the BPF program)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// the database engine to use
    #[arg(value_name = "db", value_enum)]
    db: Db,
    /// the pid(s) to trace
    #[arg(short = 'p', long = "pid", value_name = "PID", num_args = 1.., value_parser = args::pid)]
    pids: Vec<u32>,
    /// path to binary
    #[arg(short = 'x', long = "exe", value_name = "PATH")]
    path: Option<String>,
    /// trace queries slower than this threshold (ms)
    #[arg(
        short = 'm',
        long = "threshold",
        value_name = "THRESHOLD",
        default_value_t = 1
    )]
    threshold: u64,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("dbslower", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let (target, header) = match (&args.path, args.pids.is_empty()) {
        (Some(path), true) => (
            Target::Binary(path.clone()),
            format!(
                "Tracing database queries for application {path} slower than {} ms...",
                args.threshold
            ),
        ),
        _ => {
            let pids = if args.pids.is_empty() {
                discover(args.db)?
            } else {
                args.pids.clone()
            };
            let list: Vec<String> = pids.iter().map(u32::to_string).collect();
            let header = format!(
                "Tracing database queries for pids {} slower than {} ms...",
                list.join(", "),
                args.threshold
            );
            (Target::Pids(pids), header)
        }
    };
    let probe = DbSlower::attach(&target, args.threshold * 1_000_000)?;
    if args.verbose {
        eprintln!(
            "dbslower: query__start and query__done attached ({} query__start locations)",
            probe.locations
        );
    }
    let start = lab_probes::events::monotonic_ns();
    dbtool::run(
        "dbslower",
        probe,
        &header,
        dbtool::Epoch::At(start),
        lab_probes_common::dbslower::QUERY_MAX,
    )
}

/// BCC's default: every mysqld (or postgres) process.
fn discover(db: Db) -> Result<Vec<u32>> {
    let name = match db {
        Db::Mysql => "mysqld",
        Db::Postgres => "postgres",
    };
    let pids = pidof(name);
    if pids.is_empty() {
        bail!("no process named {name} is running: give its PID with -p, or a binary with -x");
    }
    Ok(pids)
}
