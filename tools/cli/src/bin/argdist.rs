//! argdist: histograms (-H) and frequency counts (-C) of function arguments, return values,
//! tracepoint fields and USDT arguments, per interval (BCC's specs and output).
use std::{io::Write as _, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::{
    argdist::{self, Mode, Options, Probe},
    btf::Btf,
    hist::format_log2,
    probespec::ctype::Types,
};
use lab_tools::{
    args, help, multitool, output,
    runtime::{Runtime, Schedule, Wake},
    timefmt,
};

const EXAMPLES: &str = r#"
    argdist -H 'p::__kmalloc(u64 size):u64:size'  # histogram of kmalloc sizes
    argdist -p 1005 -C 'p:c:malloc(size_t size):size_t:size:size==16'  # mallocs of 16 bytes
    argdist -C 'r:c:gets():char*:(char*)$retval#snooped strings'  # strings gets() returned
    argdist -H 'r::__kmalloc(size_t size):u64:$latency/$entry(size)#ns per byte'
    argdist -p 1005 -C 'p:c:write(int fd):int:fd' -T 5  # the 5 busiest fds
    argdist -p 1005 -H 'r:c:read()'  # histogram of read() results
    argdist -C 'r::__vfs_read():u32:$PID:$latency > 100000'  # slow reads by process
    argdist -C 'r::__vfs_read():u32:$COMM:$latency > 100000'  # ... by process name
    argdist -H 'r::__vfs_read(void *file, void *buf, size_t count):size_t:$entry(count):$latency > 1000000'
    argdist -H 'p:c:write(int fd, const void *buf, size_t count):size_t:count:fd==1'
    argdist -C 'p:c:fork()#fork calls'  # count fork() calls
    argdist -H 't:block:block_rq_complete():u32:args->nr_sector'  # sectors per completed I/O
    argdist -C 't:irq:irq_handler_entry():int:args->irq'  # interrupts by IRQ
    argdist -C 'u:pthread:pthread_start():u64:arg2' -p 1337  # USDT argument counts
    argdist -H 'p:c:sleep(u32 seconds):u32:seconds' -H 'p:c:nanosleep(struct timespec *req):long:req->tv_nsec'
    argdist -p 2780 -z 120 -C 'p:c:write(int fd, char* buf, size_t len):char*:buf:fd==1'
    argdist -H 'p::tcp_sendmsg(struct sock *sk, struct msghdr *msg, size_t size):u32:size'
    argdist -v -C 'p::do_sys_open()' -n 1 -i 1  # BCC's smoke test"#;

/// Trace a function and display a summary of its parameter values
#[derive(clap::Parser, Debug)]
#[command(
    name = "argdist",
    about = "Trace a function and display a summary of its parameter values",
    long_about = "Trace a function and display a summary of its parameter values: a histogram \
(-H) or a frequency count (-C) per interval.\n\n\
Probe specifier syntax:\n    \
{p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]\n\
p, r, t, u: function entry, function return ($retval, $entry(param), $latency), kernel \
tracepoint, USDT probe. library: empty for the kernel. signature: the parameters as in C \
(kernel functions are typed from BTF without one). type: what each expr is collected as. \
Types come from kernel BTF and tracepoint format files, so no kernel headers or compiler are \
needed (-I is accepted and ignored). Strings print as text (BCC under Python 3 prints b'...').",
    version
)]
struct Args {
    /// id of the process to trace
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// id of the thread to trace
    #[arg(short = 't', long = "tid", value_name = "TID", value_parser = args::pid)]
    tid: Option<u32>,
    /// maximum string size to read from char* arguments
    #[arg(short = 'z', long = "string-size", value_name = "SIZE", default_value_t = 80, value_parser = clap::value_parser!(u32).range(1..=240))]
    string_size: u32,
    /// output interval, in seconds
    #[arg(short = 'i', long = "interval", value_name = "INTERVAL", default_value = "1", value_parser = args::seconds)]
    interval: Duration,
    /// total duration of trace, in seconds
    #[arg(short = 'd', long = "duration", value_name = "DURATION", value_parser = args::seconds)]
    duration: Option<Duration>,
    /// number of outputs
    #[arg(short = 'n', long = "number", value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// print each probe's compiled program before tracing
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// do not clear histograms and freq counts at each interval
    #[arg(short = 'c', long = "cumulative")]
    cumulative: bool,
    /// number of top results to show (not applicable to histograms)
    #[arg(short = 'T', long = "top", value_name = "TOP")]
    top: Option<usize>,
    /// probe specifier to capture histogram of (see examples below)
    #[arg(short = 'H', long = "histogram", value_name = "specifier")]
    histogram: Vec<String>,
    /// probe specifier to capture count of (see examples below)
    #[arg(short = 'C', long = "count", value_name = "specifier")]
    count_spec: Vec<String>,
    /// header files to include (accepted and ignored: types come from kernel BTF)
    #[arg(short = 'I', long = "include", value_name = "header")]
    include: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    multitool::run_exit("argdist", || run(&args))
}

fn run(args: &Args) -> Result<()> {
    if args.histogram.is_empty() && args.count_spec.is_empty() {
        anyhow::bail!("at least one specifier is required (-H or -C)");
    }
    if !args.include.is_empty() {
        eprintln!("argdist: -I ignored: types come from kernel BTF, no headers are needed");
    }
    if let Some(p) = args.pid {
        lab_tools::histtool::check_pid("-p", p)?;
    }
    let opts = Options {
        pid: args.pid,
        tid: args.tid,
        string_size: args.string_size,
    };
    let btf = Btf::vmlinux_with_names().ok();
    let types = Types { btf: btf.as_ref() };
    let specs = args
        .count_spec
        .iter()
        .map(|s| (s, Mode::Count))
        .chain(args.histogram.iter().map(|s| (s, Mode::Hist)));
    let mut compiled = Vec::new();
    for (spec, mode) in specs {
        let c =
            argdist::compile(spec, mode, &opts, &types).map_err(|e| multitool::in_spec(e, spec))?;
        if args.verbose {
            for (t, p) in &c.programs {
                multitool::print_program(spec, &t.hook, p);
            }
        }
        compiled.push(c);
    }
    let mut probes = Vec::new();
    for c in compiled {
        let spec = c.spec.clone();
        probes.push(Probe::attach(c, &opts).map_err(|e| e.context(format!("probe '{spec}'")))?);
    }
    let mut rt = Runtime::new(Schedule {
        interval: Some(args.interval),
        count: args.count,
        duration: args.duration,
    })?;
    let mut out = output::stdout();
    let mut elapsed = Duration::ZERO;
    loop {
        let last = match rt.sleep()? {
            Wake::Ready => continue,
            Wake::Tick { last } => last,
            // BCC's argdist leaves at Ctrl-C without printing the partial interval.
            Wake::Stop(_) => return Ok(()),
        };
        elapsed += args.interval;
        writeln!(out, "[{}]", timefmt::hms())?;
        for p in &mut probes {
            display(p, args, &mut out)?;
        }
        out.flush()?;
        if last || args.duration.is_some_and(|d| elapsed >= d) {
            return Ok(());
        }
    }
}

fn display(p: &mut Probe, args: &Args, out: &mut impl std::io::Write) -> Result<()> {
    let c = p.compiled.clone();
    if c.mode == Mode::Hist {
        writeln!(out, "{}", c.title())?;
        let label = c.parsed.label.clone().unwrap_or_else(|| {
            if c.parsed.default {
                "retval".into()
            } else {
                c.shown(0)
            }
        });
        out.write_all(format_log2(&label, &p.hist(args.cumulative)?).as_bytes())?;
        return Ok(());
    }
    writeln!(out, "{}", c.title())?;
    writeln!(out, "\t{:<10} EVENT", "COUNT")?;
    let mut rows = p.counts(args.cumulative)?;
    if let Some(top) = args.top {
        rows = rows.split_off(rows.len().saturating_sub(top));
    }
    let ret = c.parsed.head.kind == lab_probes::probespec::spec::Kind::Return;
    for (key, n) in rows {
        let event = if c.parsed.default && !ret {
            "total calls".to_owned()
        } else if c.parsed.default {
            format!("retval = {}", key[0])
        } else {
            key.iter()
                .enumerate()
                .map(|(i, v)| format!("{} = {v}", c.shown(i)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(out, "\t{:<10} {event}", n)?;
    }
    Ok(())
}
