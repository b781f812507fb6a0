//! mysqld_qslower: MySQL server queries slower than a threshold, from mysqld's USDT probes,
//! BCC-compatible (`mysqld_qslower PID [min_ms]`, its header and lines).
use std::process::ExitCode;

use anyhow::{bail, Result};
use lab_probes::dbslower::{DbSlower, Target};
use lab_tools::{args, dbtool, help};

const EXAMPLES: &str = "
    mysqld_qslower $(pgrep -n mysqld)       # queries slower than 1 ms
    mysqld_qslower $(pgrep -n mysqld) 10    # queries slower than 10 ms
    mysqld_qslower $(pgrep -n mysqld) 0     # every query (verbose)
    mysqld_qslower $(pgrep -f 'lab-workload queryserve') 0.5  # the lab's query server";

/// MySQL server queries slower than a threshold.
#[derive(clap::Parser, Debug)]
#[command(
    name = "mysqld_qslower",
    about = "Trace MySQL server queries slower than a threshold",
    long_about = "Trace MySQL server queries slower than a threshold (default 1 ms; 0: every query).\n\n\
Uses mysqld's USDT probes query__start and query__done (MySQL built with -DENABLE_DTRACE=1), \
or those of any program with probes of those names (lab-workload queryserve). TIME(s) counts \
from the first query printed; at most 128 bytes of each query are shown.",
    version
)]
struct Args {
    /// the mysqld process to trace
    #[arg(value_name = "PID", value_parser = args::pid)]
    pid: u32,
    /// minimum query time to print, in milliseconds (may have a fraction)
    #[arg(value_name = "min_ms", default_value = "1")]
    min_ms: String,
}

/// BCC's mysqld_qslower copies 128 bytes of each query.
const QUERY_MAX: usize = 128;

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("mysqld_qslower", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let min_ms: f64 = match args.min_ms.parse() {
        Ok(m) if m >= 0.0 && f64::is_finite(m) => m,
        _ => bail!(
            "min_ms '{}' is not a number of milliseconds (e.g. 1, 0.5, 0)",
            args.min_ms
        ),
    };
    let probe = DbSlower::attach(&Target::Pids(vec![args.pid]), (min_ms * 1e6) as u64)?;
    let header = format!(
        "Tracing MySQL server queries for PID {} slower than {} ms...",
        args.pid, args.min_ms
    );
    dbtool::run(
        "mysqld_qslower",
        probe,
        &header,
        dbtool::Epoch::FirstQuery,
        QUERY_MAX,
    )
}
