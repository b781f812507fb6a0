//! funcslower: print kernel or user function calls slower than a threshold, with their
//! latency, return value, arguments and stacks (BCC's flags and output).
use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::{
    events::cstr,
    funclat::{Config, FuncLat},
    symbolize::Symbols,
};
use lab_probes_common::funclat::SlowCall;
use lab_tools::{
    args, help, multitool, output,
    runtime::{Runtime, Schedule, Wake},
    timefmt,
};

const EXAMPLES: &str = "
    funcslower vfs_write        # trace vfs_write calls slower than 1ms
    funcslower -m 10 vfs_write  # same, but slower than 10ms
    funcslower -u 10 c:open     # trace open calls slower than 10us
    funcslower -p 135 c:open    # trace pid 135 only
    funcslower c:malloc c:free  # trace both malloc and free slower than 1ms
    funcslower -a 2 c:open      # show first two arguments to open
    funcslower -UK -m 10 c:open # show user and kernel stack frame of open calls slower than 10ms
    funcslower -f -UK c:open    # output in folded format for flame graphs
    funcslower __kmalloc_noprof # BCC's smoke test (__kmalloc before Linux 6.10)";

/// Trace slow kernel or user function calls
#[derive(clap::Parser, Debug)]
#[command(
    name = "funcslower",
    about = "Trace slow kernel or user function calls.",
    version
)]
struct Args {
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// minimum duration to trace (ms)
    #[arg(
        short = 'm',
        long = "min-ms",
        value_name = "MIN_MS",
        conflicts_with = "min_us"
    )]
    min_ms: Option<f64>,
    /// minimum duration to trace (us)
    #[arg(short = 'u', long = "min-us", value_name = "MIN_US")]
    min_us: Option<f64>,
    /// print this many entry arguments, as hex
    #[arg(short = 'a', long = "arguments", value_name = "ARGUMENTS", value_parser = clap::value_parser!(u8).range(0..=6))]
    arguments: Option<u8>,
    /// show HH:MM:SS timestamp
    #[arg(short = 'T', long = "time")]
    time: bool,
    /// show timestamp in seconds at us resolution
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// say which functions were attached (stderr)
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// output folded format, one line per stack (for flame graphs)
    #[arg(short = 'f', long = "folded")]
    folded: bool,
    /// output user stack trace
    #[arg(short = 'U', long = "user-stack")]
    user_stack: bool,
    /// output kernel stack trace
    #[arg(short = 'K', long = "kernel-stack")]
    kernel_stack: bool,
    /// function(s) to trace
    #[arg(value_name = "function", required = true)]
    functions: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    multitool::run_exit("funcslower", || run(&args))
}

fn run(args: &Args) -> Result<()> {
    if let Some(p) = args.pid {
        lab_tools::histtool::check_pid("-p", p)?;
    }
    let (value, unit, mult) = match (args.min_us, args.min_ms) {
        (Some(us), _) => (us, "us", 1000.0),
        (None, Some(ms)) => (ms, "ms", 1e6),
        (None, None) => (1.0, "ms", 1e6),
    };
    anyhow::ensure!(value >= 0.0, "-m/-u: a duration cannot be negative");
    let cfg = Config {
        pid: args.pid,
        slow: Some((value * mult) as u64),
        kernel_stack: args.kernel_stack,
        user_stack: args.user_stack,
        ..Default::default()
    };
    let mut fl = FuncLat::attach(&args.functions, &cfg)?;
    if args.verbose {
        eprintln!(
            "funcslower: {} functions attached (entry and return probes)",
            fl.matched
        );
    }
    let mut rt = Runtime::new(Schedule::default())?;
    rt.drain_every(Duration::from_millis(50));
    let mut out = output::stdout();
    if !args.folded {
        writeln!(
            out,
            "Tracing function calls slower than {} {unit}... Ctrl+C to quit.",
            fmt_g(value)
        )?;
        let time = if args.time || args.timestamp {
            format!("{:<10} ", "TIME")
        } else {
            String::new()
        };
        let a = if args.arguments.unwrap_or(0) > 0 {
            " ARGS"
        } else {
            ""
        };
        writeln!(
            out,
            "{time}{:<14} {:<6} {:>7} {:>16} FUNC{a}",
            "COMM",
            "PID",
            format!("LAT({unit})"),
            "RVAL"
        )?;
        out.flush()?;
    }
    let mut p = Printer {
        args,
        mult,
        first_ns: 0,
        syms: Symbols::default(),
    };
    loop {
        let wake = rt.wait(&[fl.fd().expect("events")])?;
        let mut calls = Vec::new();
        fl.drain(|c| calls.push(c));
        for c in calls {
            p.call(&fl, &c, &mut out)?;
        }
        out.flush()?;
        if let Wake::Stop(_) = wake {
            break;
        }
    }
    output::report_lost("funcslower", fl.lost()?);
    Ok(())
}

/// Python's `%g` for the threshold in the header (1, 0.5, 10.25).
fn fmt_g(v: f64) -> String {
    let s = format!("{v}");
    s.strip_suffix(".0").unwrap_or(&s).to_owned()
}

struct Printer<'a> {
    args: &'a Args,
    mult: f64,
    first_ns: u64,
    syms: Symbols,
}

impl Printer<'_> {
    fn call(&mut self, fl: &FuncLat, c: &SlowCall, out: &mut impl Write) -> Result<()> {
        let (_, idx) = fl.function(c.func);
        let func = &self.args.functions[idx.min(self.args.functions.len() - 1)];
        let comm = cstr(&c.comm);
        if !self.args.folded {
            let time = if self.args.time {
                format!("{:<10} ", timefmt::hms())
            } else if self.args.timestamp {
                if self.first_ns == 0 {
                    self.first_ns = c.start_ns;
                }
                format!("{:<10.6} ", (c.start_ns - self.first_ns) as f64 / 1e9)
            } else {
                String::new()
            };
            let n = usize::from(self.args.arguments.unwrap_or(0));
            let argv: Vec<String> = c.args[..n].iter().map(|a| format!("0x{a:x}")).collect();
            let comm14: String = comm.chars().take(14).collect();
            let lat = c.duration_ns as f64 / self.mult;
            writeln!(
                out,
                "{time}{comm14:<14} {:<6} {lat:>7.2} {:>16x} {func} {}",
                c.tgid,
                c.retval,
                argv.join(" ")
            )?;
        }
        if self.args.user_stack || self.args.kernel_stack {
            self.stacks(fl, c, &comm, out)?;
        }
        Ok(())
    }

    fn stacks(
        &mut self,
        fl: &FuncLat,
        c: &SlowCall,
        comm: &str,
        out: &mut impl Write,
    ) -> Result<()> {
        let user = if self.args.user_stack {
            fl.stack(c.ustack)
        } else {
            Vec::new()
        };
        let kernel = if self.args.kernel_stack {
            fl.stack(c.kstack)
        } else {
            Vec::new()
        };
        self.syms.load_user(c.tgid, user.iter().copied());
        self.syms.load_kernel(kernel.iter().copied());
        let u: Vec<String> = user
            .iter()
            .map(|&a| self.syms.user(c.tgid, a).bcc(false, false))
            .collect();
        let k: Vec<String> = kernel
            .iter()
            .map(|&a| self.syms.kernel(a).bcc(false, false))
            .collect();
        if self.args.folded {
            let mut parts = vec![comm.to_owned()];
            parts.extend(u.iter().rev().cloned());
            if !u.is_empty() && !k.is_empty() {
                parts.push("-".into());
            }
            parts.extend(k.iter().rev().cloned());
            writeln!(out, "{} 1", parts.join(";"))?;
        } else {
            for f in k.iter().chain(&u) {
                writeln!(out, "    {f}")?;
            }
        }
        Ok(())
    }
}
