//! The multi-tools (trace, argdist, stackcount, funclatency, funcslower) run as binaries against
//! a C workload whose every call is known in advance: once told to go it calls its own functions
//! N times with known arguments (lab_leaf(i, 7) returns 2i + 7, through lab_mid), sleeps for
//! known durations (lab_timed), or opens known paths (openat of missing files: -ENOENT). What the
//! tools print is compared with what the workload did and with bpftrace on the same run. The
//! kprobe paths run in the Debian guests (tests/guest); here they must be refused in one line.
mod argdist;
mod funclatency;
mod stackcount;
mod trace;
mod usdt;

use std::{
    collections::BTreeMap,
    io::{BufRead as _, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::OnceLock,
};

/// The workload. Frame pointers and no sibling calls keep its user stacks whole.
const WORKLOAD_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
volatile long sink;
__attribute__((noinline)) long lab_leaf(long a, long b) { sink += a; return 2 * a + b; }
__attribute__((noinline)) long lab_mid(long a, long b) { long r = lab_leaf(a, b); sink += r; return r + 1; }
__attribute__((noinline)) long lab_timed(long us) {
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, 0);
    return us;
}
static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}
int main(int argc, char **argv) {
    char buf[8];
    if (argc < 3) return 2;
    long n = atol(argv[2]);
    if (read(0, buf, sizeof buf) <= 0) return 3;
    if (strcmp(argv[1], "calls") == 0) {
        for (long i = 0; i < n; i++) lab_mid(i, 7);
    } else if (strcmp(argv[1], "timed") == 0 && argc >= 5) {
        /* Each call's duration as measured around it, printed after "done". */
        long a = atol(argv[3]), b = atol(argv[4]), took[1000];
        for (long i = 0; i < n && i < 1000; i++) {
            long t0 = now_ns();
            lab_timed(i % 2 ? b : a);
            took[i] = now_ns() - t0;
        }
        printf("done\n");
        for (long i = 0; i < n && i < 1000; i++) printf("%ld\n", took[i]);
        fflush(stdout);
        while (read(0, buf, sizeof buf) > 0) {}
        return 0;
    } else if (strcmp(argv[1], "open") == 0 && argc >= 4) {
        char path[4096];
        for (long i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/f%ld", argv[3], i % 3);
            if (syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC) >= 0) return 4;
        }
    } else {
        return 2;
    }
    /* Say so, then stay until stdin closes, so its user stacks can still be symbolized. */
    printf("done\n");
    fflush(stdout);
    while (read(0, buf, sizeof buf) > 0) {}
    return 0;
}
"#;

pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lab-multi-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The compiled workload (built once per test run).
pub fn workload() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        lab_tests::compile_c(
            &tmpdir("workload"),
            "multee",
            WORKLOAD_C,
            &[
                "-O1",
                "-fno-omit-frame-pointer",
                "-fno-optimize-sibling-calls",
            ],
        )
    })
}

/// The workload started and waiting on stdin; `go` lets it run and waits for it to finish.
pub struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Workload {
    pub fn spawn(args: &[&str]) -> Workload {
        let mut child = Command::new(workload())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Workload {
            child,
            stdin,
            stdout,
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Let it run and wait until it is done.
    pub fn go(mut self) {
        self.go_and_stay();
        self.finish();
    }

    /// Let it run and wait until it has made every call; it stays (its mappings readable)
    /// until [`Workload::finish`].
    pub fn go_and_stay(&mut self) {
        self.send_go();
        self.wait_done();
    }

    /// Tell it to start its calls (several workloads can then run at once).
    pub fn send_go(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Wait until it has made every call.
    pub fn wait_done(&mut self) {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "done", "the workload did not finish its calls");
    }

    /// "timed": the duration of each call as the workload measured it around the call, in ns.
    pub fn durations(&mut self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let mut line = String::new();
                self.stdout.read_line(&mut line).unwrap();
                line.trim().parse().unwrap()
            })
            .collect()
    }

    pub fn finish(mut self) {
        drop(self.stdin.take());
        let st = self.child.wait().unwrap();
        assert!(st.success(), "workload failed: {st}");
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this kernel has kprobes (the guests do, this host does not).
pub fn kprobes() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe").exists()
}

/// Whether bpftrace can be compared with (skips that part, saying so, when missing).
pub fn have_bpftrace(test: &str) -> bool {
    if Command::new("bpftrace").arg("--version").output().is_ok() {
        return true;
    }
    eprintln!("SKIPPED the bpftrace comparison of {test}: bpftrace is not installed");
    false
}

/// A number of calls that differs between runs (a tool printing a remembered number fails).
pub fn n_calls() -> u64 {
    30 + u64::from(std::process::id() % 20)
}

/// Wait until process `pid` holds a perf event (its probes are attached), up to 60 s.
pub fn wait_attached(pid: u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten();
        let links = fds.filter_map(|e| std::fs::read_link(e.path()).ok());
        if links
            .map(|l| l.to_string_lossy().into_owned())
            .any(|l| l.contains("perf_event") || l.contains("bpf_link"))
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("process {pid} attached no probe within 60 s");
}

/// The durations (ns) "timed N A B" asks of lab_timed: A us for even calls, B us for odd ones.
pub fn asked_ns(n: usize, a_us: u64, b_us: u64) -> Vec<u64> {
    (0..n)
        .map(|i| 1000 * if i % 2 == 1 { b_us } else { a_us })
        .collect()
}

/// Check a tool's log2 histogram (rows in units of `unit_ns`) against what the workload asked
/// and measured. A call sleeps at least what it asked between the probes, and the probes fire
/// inside the workload's clock, so the tool's value of each call lies in [asked, measured]: a
/// loaded machine stretches the measured one (a preemption around a trap) and the tool may see
/// less of it. For every row boundary B, the tool's count of calls at or above B must lie
/// between the counts of the calls' lowest and highest possible values.
pub fn assert_hist_fits(
    got: &BTreeMap<(u64, u64), u64>,
    asked_ns: &[u64],
    took_ns: &[u64],
    unit_ns: u64,
    out: &str,
) {
    let high: Vec<u64> = took_ns.iter().map(|d| d / unit_ns).collect();
    let low: Vec<u64> = asked_ns.iter().map(|d| d / unit_ns).collect();
    let total: u64 = got.values().sum();
    assert_eq!(total, took_ns.len() as u64, "{out}\nmeasured: {took_ns:?}");
    let rows: Vec<(u64, u64)> = got
        .keys()
        .copied()
        .chain(high.iter().map(|&d| log2_row(d)))
        .collect();
    for &(lo, _) in &rows {
        let at_least = low.iter().filter(|&&v| v >= lo).count() as u64;
        let at_most = high.iter().filter(|&&v| v >= lo).count() as u64;
        let n: u64 = got
            .iter()
            .filter(|((l, _), _)| *l >= lo)
            .map(|(_, n)| n)
            .sum();
        assert!(
            (at_least..=at_most).contains(&n),
            "{n} calls in rows from {lo} up, the asked and measured durations allow \
             {at_least}..={at_most}:\n{out}\nasked: {asked_ns:?}\nmeasured: {took_ns:?}"
        );
    }
}

/// BCC's log2 row ("lo -> hi") of value `v`.
pub fn log2_row(v: u64) -> (u64, u64) {
    if v <= 1 {
        (0, 1)
    } else {
        let b = 63 - v.leading_zeros();
        (1 << b, (1u64 << (b + 1)) - 1)
    }
}

/// Every multi-tool's --help ends with BCC-style examples and its man page renders.
#[test]
fn multi_tools_help_has_examples_and_man_pages_render() {
    for tool in [
        "trace",
        "argdist",
        "stackcount",
        "funclatency",
        "funcslower",
    ] {
        let (code, out, _) = lab_tests::run(lab_tests::cmd(tool).arg("--help"));
        assert_eq!(code, 0);
        assert!(
            out.contains("examples:") && out.contains(&format!("    {tool} ")),
            "{tool} --help:\n{out}"
        );
        let (code, man, err) = lab_tests::run(lab_tests::cmd(tool).arg("--man"));
        assert_eq!(code, 0, "{err}");
        assert!(
            man.contains(".SH EXAMPLES") && man.contains(".SH OPTIONS"),
            "{tool} --man:\n{man}"
        );
    }
}

/// BCC's tests/python/test_tools_smoke.py for these tools: its command lines and pass rules
/// (`run_with_duration`: exit 0 within 10 s; `run_with_int`: still running at the deadline,
/// then ended by SIGINT, which `timeout` reports as 124), with a 2 s deadline instead of 5 to
/// keep the suite short. Its kmalloc probes name `__kmalloc_noprof` (Linux 6.10+); on older
/// kernels the same lines run with `__kmalloc`, the name before the rename. Without kprobes
/// (this host) each line must be refused in one line, exit 2.
#[test]
fn multi_tools_pass_bccs_smoke_test_or_say_why_not() {
    let Some(_g) = lab_tests::root_test("multi_tools_pass_bccs_smoke_test_or_say_why_not") else {
        return;
    };
    let kmalloc = if kernel_function("__kmalloc_noprof") {
        "__kmalloc_noprof"
    } else {
        "__kmalloc"
    };
    let lines: [(&str, Vec<&str>, bool); 5] = [
        (
            "argdist",
            vec!["-v", "-C", "p::do_sys_open()", "-n", "1", "-i", "1"],
            false,
        ),
        ("funclatency", vec![kmalloc, "-i", "1"], true),
        ("funcslower", vec![kmalloc], true),
        ("stackcount", vec![kmalloc, "-i", "1"], true),
        ("trace", vec!["do_sys_open"], true),
    ];
    for (tool, args, with_int) in lines {
        let mut c = Command::new("timeout");
        if with_int {
            c.args(["-s", "INT", "-k", "5s", "2s"]);
        } else {
            c.args(["-s", "KILL", "10s"]);
        }
        c.arg(lab_tests::bin(tool))
            .args(&args)
            .stdout(Stdio::null());
        let (code, _, err) = lab_tests::run(&mut c);
        if !kprobes() {
            assert_eq!(code, 2, "{tool} {args:?}: {err}");
            assert!(
                err.lines().count() == 1 && err.contains("CONFIG_KPROBES"),
                "{tool}: {err}"
            );
            continue;
        }
        let want = if with_int { 124 } else { 0 };
        assert_eq!(code, want, "{tool} {args:?} ({kmalloc}): {err}");
    }
}

/// Whether kernel function `name` exists (kallsyms).
fn kernel_function(name: &str) -> bool {
    std::fs::read_to_string("/proc/kallsyms")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some(name))
}

/// The function names of a bpftrace ustack/kstack in `text` (its `name+offset` lines).
pub fn bpftrace_frames(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.contains('+'))
        .map(|l| l.split('+').next().unwrap())
        .collect()
}

/// Without kprobes (this host): `tool args` is refused in one line naming CONFIG_KPROBES, exit 2.
pub fn refused_without_kprobes(tool: &str, args: &[&str]) {
    let (code, out, err) = lab_tests::run(lab_tests::cmd(tool).args(args));
    assert_eq!(code, 2, "{tool} {args:?}: {out}{err}");
    assert!(
        out.is_empty() && err.lines().count() == 1 && err.contains("CONFIG_KPROBES"),
        "{tool} {args:?}: {err}"
    );
}
