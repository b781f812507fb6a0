//! tcpsynbl: show the TCP SYN backlog length as a histogram per backlog limit (BCC's
//! tcpsynbl.bt), without kprobes.
use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::{
    hist::format_log2,
    tcpsynbl::{TcpSynbl, HOOK},
};
use lab_tools::{
    args, help, output,
    runtime::{Runtime, Schedule, Wake},
    tcpfmt,
};

const EXAMPLES: &str = "
    tcpsynbl               # histogram of SYN backlog length per backlog limit, at Ctrl-C
    tcpsynbl -d 10         # trace for 10 seconds
    tcpsynbl -v            # say which kernel hook is used";

/// Show TCP SYN backlog length as a histogram per backlog limit
#[derive(clap::Parser, Debug)]
#[command(
    name = "tcpsynbl",
    about = "Show TCP SYN backlog length as a histogram per backlog limit",
    version
)]
struct Args {
    /// total duration of trace in seconds
    #[arg(short = 'd', long = "duration", value_name = "DURATION", value_parser = args::seconds)]
    duration: Option<Duration>,
    /// say which kernel hook is used (on stderr)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("tcpsynbl", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let synbl = TcpSynbl::attach()?;
    tcpfmt::say_hook("tcpsynbl", args.verbose, HOOK);
    let mut rt = Runtime::new(Schedule {
        duration: args.duration,
        ..Default::default()
    })?;
    let mut out = output::stdout();
    writeln!(out, "Tracing SYN backlog size. Ctrl-C to end.")?;
    out.flush()?;
    loop {
        if let Wake::Stop(_) = rt.wait(&[])? {
            break;
        }
    }
    for (max, h) in synbl.read()? {
        writeln!(out, "\nbacklog_max = {max}")?;
        write!(out, "{}", format_log2("backlog", &h))?;
    }
    out.flush()?;
    Ok(())
}
