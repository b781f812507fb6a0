//! tcpsynbl: show the TCP SYN backlog length as a histogram per backlog limit (BCC's
//! tcpsynbl.bt), without kprobes.
use std::{io::Write, process::ExitCode};

use anyhow::Result;
use lab_probes::{
    hist::format_log2,
    tcpsynbl::{TcpSynbl, HOOK},
};
use lab_tools::{help, output, runtime::Wake, tcpfmt};

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
    #[command(flatten)]
    common: tcpfmt::Common,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("tcpsynbl", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let synbl = TcpSynbl::attach()?;
    let mut rt = args.common.start("tcpsynbl", HOOK)?;
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
