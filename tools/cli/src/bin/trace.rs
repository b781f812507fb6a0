//! trace: print a message at probes of kernel functions, user functions, tracepoints and USDT
//! probes, with a filter and a printf format (BCC's probe specs and output).
use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::{
    btf::Btf,
    probespec::ctype::Types,
    trace::{self, Options, Probe},
};
use lab_tools::{
    args, help, multitool,
    runtime::{Runtime, Schedule, Wake},
};

const EXAMPLES: &str = r#"
    trace do_sys_open                  # trace do_sys_open() calls, default message
    trace kfree_skb+0x12               # trace kfree_skb() at offset 0x12 of it
    trace 'do_sys_open "%s", arg2@user'  # print the file name being opened
    trace 'do_sys_open "%s", arg2' -n main  # only processes whose name contains "main"
    trace 'do_sys_open "%s", arg2' --uid 1001  # only processes of user 1001
    trace 'do_sys_open "%s", arg2' -f config  # only messages containing "config"
    trace 'sys_read (arg3 > 20000) "read %d bytes", arg3'  # reads of more than 20000 bytes
    trace 'r::do_sys_open "%llx", retval'  # the return value of do_sys_open()
    trace 'r::do_sys_openat2 (retval < 0) "ret %d", retval'  # failed opens only
    trace 'c:open (arg2 == 42) "%s %d", arg1, arg2'  # libc open() with flags 42
    trace 'c:malloc "size = %d", arg1'  # malloc() sizes
    trace 'u:/lib/x86_64-linux-gnu/libc.so.6:malloc "%d", arg1'  # the same, by path
    trace 'p:c:write (arg1 == 1) "writing %d bytes to STDOUT", arg3'  # writes to stdout
    trace 'r::__kmalloc (retval == 0) "kmalloc failed!"'  # NULL returns of __kmalloc
    trace 'r:c:malloc (retval) "allocated = %x", retval'  # non-NULL malloc() results
    trace 't:block:block_rq_complete "sectors=%d", args->nr_sector'  # block I/O sizes
    trace 't:syscalls:sys_enter_openat "%s", args->filename'  # file names opened
    trace 'u:pthread:pthread_create (arg4 != 0)'  # USDT probe with its 4th argument
    trace 'p::SyS_nanosleep(struct timespec *ts) "sleep for %lld ns", ts->tv_nsec'
    trace 'udpv6_sendmsg(struct sock *sk) (sk->sk_dport == 13568)'  # DNS (port 53)
    trace 'mntns_install "users = %d", $task->fs->users'  # via the current task
    trace -U -K 'c:malloc' -M 5         # five malloc() calls with both stacks
    trace 'do_sys_open' 't:sched:sched_process_exec'  # several probes at once"#;

/// Attach to functions and print trace messages
#[derive(clap::Parser, Debug)]
#[command(
    name = "trace",
    about = "Attach to functions and print trace messages",
    long_about = "Attach to functions and print trace messages.\n\n\
PROBE is [p|r|t|u]:[LIBRARY]:FUNCTION[+OFFSET][(SIGNATURE)] [(FILTER)] [\"FORMAT\"[, ARGS]]: \
p: function entry (default), r: function return, t:CATEGORY:EVENT a tracepoint, \
u:LIBRARY:[PROVIDER:]PROBE a USDT probe. No LIBRARY means the kernel (kprobes). FILTER and \
ARGS are C expressions over arg1..arg6, retval, the parameters' names (from kernel BTF, or \
SIGNATURE), args->FIELD (tracepoints), $pid, $tgid, $uid, $gid, $cpu, $comm, $task; STRCMP(\"text\", \
expr) or expr == \"text\" compare strings. FORMAT takes %d %u %x %ld %lu %lx %lld %llu %llx \
%hd %hu %c %s %K %U. Types come from kernel BTF and tracepoint format files: no kernel headers \
or compiler are needed, and -I is accepted and ignored.",
    version
)]
struct Args {
    /// number of pages for the ring buffer (default 64 per CPU)
    #[arg(
        short = 'b',
        long = "buffer-pages",
        value_name = "PAGES",
        default_value_t = 64
    )]
    buffer_pages: u32,
    /// id of the process to trace
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = args::pid, conflicts_with = "tid")]
    pid: Option<u32>,
    /// id of the thread to trace
    #[arg(short = 'L', long = "tid", value_name = "TID", value_parser = args::pid)]
    tid: Option<u32>,
    /// id of the user to trace
    #[arg(long = "uid", value_name = "UID")]
    uid: Option<u32>,
    /// print each probe's compiled program before tracing
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// maximum size to read from strings
    #[arg(short = 'Z', long = "string-size", value_name = "SIZE", default_value_t = 80, value_parser = clap::value_parser!(u32).range(1..=1024))]
    string_size: u32,
    /// do not filter trace's own pid from the trace
    #[arg(short = 'S', long = "include-self")]
    include_self: bool,
    /// number of events to print before quitting
    #[arg(short = 'M', long = "max-events", value_name = "MAX_EVENTS", value_parser = clap::value_parser!(u64).range(1..))]
    max_events: Option<u64>,
    /// print timestamp column (offset from trace start)
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// print UNIX timestamp instead of offset from trace start, requires -t
    #[arg(short = 'u', long = "unix-timestamp", requires = "timestamp")]
    unix_timestamp: bool,
    /// print time column
    #[arg(short = 'T', long = "time")]
    time: bool,
    /// print CPU id
    #[arg(short = 'C', long = "print_cpu")]
    print_cpu: bool,
    /// cgroup path
    #[arg(short = 'c', long = "cgroup-path", value_name = "CGROUP_PATH")]
    cgroup_path: Option<PathBuf>,
    /// only print process names containing this name
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    name: Option<String>,
    /// only print the msg of event containing this string
    #[arg(short = 'f', long = "msg-filter", value_name = "MSG_FILTER")]
    msg_filter: Option<String>,
    /// allow to use STRCMP with binary values (accepted; comparisons are byte-wise anyway)
    #[arg(short = 'B', long = "bin_cmp")]
    bin_cmp: bool,
    /// comma separated list of symbol files (accepted; symbols come from the processes' files)
    #[arg(short = 's', long = "sym_file_list", value_name = "SYM_FILE_LIST")]
    sym_file_list: Option<String>,
    /// output kernel stack trace
    #[arg(short = 'K', long = "kernel-stack")]
    kernel_stack: bool,
    /// output user stack trace
    #[arg(short = 'U', long = "user-stack")]
    user_stack: bool,
    /// print virtual address in stacks
    #[arg(short = 'a', long = "address")]
    address: bool,
    /// header files to include (accepted and ignored: types come from kernel BTF)
    #[arg(short = 'I', long = "include", value_name = "header")]
    include: Vec<String>,
    /// aggregate amount of each trace (needs -M)
    #[arg(short = 'A', long = "aggregate", requires = "max_events")]
    aggregate: bool,
    /// probe specifier (see examples)
    #[arg(value_name = "probe", required = true)]
    probes: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    multitool::run_exit("trace", || run(&args))
}

fn run(args: &Args) -> Result<()> {
    if !args.include.is_empty() {
        eprintln!("trace: -I ignored: types come from kernel BTF, no headers are needed");
    }
    let opts = Options {
        string_size: args.string_size,
        pid: args.pid,
        tid: args.tid,
        uid: args.uid,
        cgroup: args::cgroup_or_exit("trace", args.cgroup_path.as_deref()),
        kernel_stack: args.kernel_stack,
        user_stack: args.user_stack,
        include_self: args.include_self,
    };
    if let Some(p) = args.pid {
        lab_tools::histtool::check_pid("-p", p)?;
    }
    let btf = Btf::vmlinux_with_names().ok();
    let types = Types { btf: btf.as_ref() };
    let mut compiled = Vec::new();
    for spec in &args.probes {
        for c in trace::compile(spec, &opts, &types).map_err(|e| multitool::in_spec(e, spec))? {
            if args.verbose {
                multitool::print_program(spec, &c.target.hook, &c.program);
            }
            compiled.push(c);
        }
    }
    let mut probes = Vec::new();
    for c in compiled {
        let spec = c.spec.clone();
        probes.push(Probe::attach(c, &opts).map_err(|e| e.context(format!("probe '{spec}'")))?);
    }
    let mut out = multitool::TraceOut::new(&multitool::TraceView {
        time: args.time,
        timestamp: args.timestamp,
        unix_timestamp: args.unix_timestamp,
        print_cpu: args.print_cpu,
        address: args.address,
        name: args.name.clone(),
        msg_filter: args.msg_filter.clone(),
        max_events: args.max_events,
        aggregate: args.aggregate,
    });
    // Signal handlers before the header: a Ctrl-C right after it must still end us cleanly.
    let mut rt = Runtime::new(Schedule::default())?;
    rt.drain_every(Duration::from_millis(50));
    out.header(probes.iter().all(|p| p.compiled.pieces.is_empty()))?;
    loop {
        let fds: Vec<_> = probes.iter().map(Probe::fd).collect();
        let wake = rt.wait(&fds)?;
        drop(fds);
        let done = out.drain(&mut probes)?;
        if done || matches!(wake, Wake::Stop(_)) {
            break;
        }
    }
    out.finish()?;
    let lost: u64 = probes.iter().map(|p| p.lost().unwrap_or(0)).sum();
    lab_tools::output::report_lost("trace", lost);
    Ok(())
}
