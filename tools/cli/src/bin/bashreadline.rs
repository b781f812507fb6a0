//! bashreadline: print the commands typed into every running bash, BCC-compatible
//! (TIME PID COMMAND), from a uretprobe on readline.
use std::{io::Write, path::PathBuf, process::ExitCode};

use anyhow::Result;
use lab_probes::bashreadline::{find_target, BashReadline};
use lab_tools::{
    help, output,
    runtime::{Runtime, Schedule},
    snoop, timefmt,
};

const EXAMPLES: &str = "
    bashreadline                  # trace the commands typed into any bash
    bashreadline -s /usr/lib/x86_64-linux-gnu/libreadline.so.8  # readline in this library
    bashreadline -v               # also say which binary and function are probed";

/// Print entered bash commands from all running shells
#[derive(clap::Parser, Debug)]
#[command(
    name = "bashreadline",
    about = "Print entered bash commands from all running shells",
    long_about = "Print entered bash commands from all running shells.\n\n\
A uretprobe on readline_internal_teardown (bash 5.2+: it returns the line before bash can \
change it) or, where that is missing, readline. readline is looked up in the bash binary \
(--bash, default /bin/bash), else in the libreadline it links; -s names the library instead.",
    version
)]
struct Args {
    /// specify the location of libreadline.so library (default: readline inside bash, or the
    /// libreadline bash links)
    #[arg(short = 's', long = "shared", value_name = "SHARED")]
    shared: Option<PathBuf>,
    /// the bash binary whose readline is traced
    #[arg(long = "bash", value_name = "PATH", default_value = "/bin/bash")]
    bash: PathBuf,
    /// say which binary and function are probed (stderr)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("bashreadline", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let target = find_target(&args.bash, args.shared.as_deref())?;
    let mut snoop = BashReadline::attach(target)?;
    if args.verbose {
        eprintln!(
            "bashreadline: hook path: uretprobe on {}:{} (file offset {:#x})",
            snoop.target.path.display(),
            snoop.target.function,
            snoop.target.file_offset
        );
    }
    // A shared libreadline also serves other programs: keep bash's lines only, like BCC.
    let only_bash = args.shared.is_some() || snoop.target.path != args.bash;
    let mut rt = Runtime::new(Schedule::default())?;
    let mut out = output::stdout();
    writeln!(out, "{:<9} {:<7} COMMAND", "TIME", "PID")?;
    out.flush()?;
    snoop::run("bashreadline", &mut rt, &mut snoop, &mut out, |l, out| {
        if only_bash && l.comm != "bash" {
            return Ok(());
        }
        writeln!(out, "{:<9} {:<7} {}", timefmt::hms(), l.pid, l.line)?;
        Ok(())
    })?;
    Ok(())
}
