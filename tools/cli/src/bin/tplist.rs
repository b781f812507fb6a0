//! tplist: list kernel tracepoints (with their fields) or the USDT probes of a binary, library
//! or process, BCC-compatible (its flags and output).
use std::{io::Write as _, process::ExitCode};

use anyhow::{bail, Result};
use lab_probes::{funccount::Matcher, tplist, tracefs, usdt};
use lab_tools::{args, help, output};

const EXAMPLES: &str = "
    tplist                       # every kernel tracepoint
    tplist 'sched:*'             # the scheduler's tracepoints
    tplist -v 'net:*'            # network tracepoints with their fields
    tplist -l pthread            # USDT probes of libpthread
    tplist -l /usr/sbin/mysqld   # ... of an executable, by path
    tplist -p 4717 'libc:*'      # USDT probes of PID 4717's objects, libc provider
    tplist -vv -l c '*alloc*'    # every location and argument of libc's *alloc* probes";

/// Display kernel tracepoints or USDT probes and their formats.
#[derive(clap::Parser, Debug)]
#[command(
    name = "tplist",
    about = "Display kernel tracepoints or USDT probes and their formats",
    long_about = "Display kernel tracepoints or USDT probes and their formats.\n\n\
Without -l or -p, lists kernel tracepoints as category:name (from tracefs); -v adds each \
one's fields (from its format file, without the common_ header). With -l LIB (a path, or a \
name found like BCC: \"c\" is libc, \"pthread\" libpthread, else PATH) or -p PID (every \
binary and library the process maps), lists USDT probes from their .note.stapsdt notes: \
PATH provider:name; -v adds the semaphore and the counts of locations and arguments, -vv \
every location and how each argument is read (register, memory, constant). FILTER is a \
wildcard pattern (* and ?) on category:name or provider:name.",
    version
)]
struct Args {
    /// List USDT probes in the specified process
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// List USDT probes in the specified library or executable
    #[arg(short = 'l', long = "lib", value_name = "LIB")]
    lib: Option<String>,
    /// Increase verbosity level (print variables, arguments, etc.)
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbosity: u8,
    /// A filter that specifies which probes/tracepoints to print
    #[arg(value_name = "filter")]
    filter: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run_loading_nothing("tplist", || list(&args))
}

fn list(args: &Args) -> Result<()> {
    let filter = args.filter.as_deref().map(|f| Matcher::Glob(f.to_owned()));
    let mut out = output::stdout();
    if args.lib.is_some() || args.pid.is_some() {
        let probes = usdt::probes(args.lib.as_deref(), args.pid)?;
        out.write_all(tplist::usdt_listing(&probes, filter.as_ref(), args.verbosity)?.as_bytes())?;
        return Ok(out.flush()?);
    }
    let (root, _) = tracefs::mount_if_missing()?;
    let found = tplist::tracepoints(&root, filter.as_ref())?;
    if found.is_empty() {
        if let Some(f) = &args.filter {
            bail!("no tracepoint matches '{f}' (tplist with no filter lists them all)");
        }
    }
    for (cat, name) in found {
        writeln!(out, "{cat}:{name}")?;
        if args.verbosity > 0 {
            for decl in tplist::fields(&root, &cat, &name)? {
                writeln!(out, "    {decl};")?;
            }
        }
    }
    Ok(out.flush()?)
}
