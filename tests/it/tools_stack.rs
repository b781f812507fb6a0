//! profile and offcputime against small C workloads compiled here (gcc, frame pointers kept, so
//! user stacks unwind): a known hot function must top the profile, a known sleep pattern must
//! show up as off-CPU time in the nanosleep stack, in the amount the workload itself measured.
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use lab_tests::{cmd, compile_c, root_test, run, Workload};

/// A per-test scratch dir, removed when dropped (also when the test fails), and a suffix that
/// makes function names unique to this run.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(test: &str) -> (Scratch, String) {
    let tag = format!("{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("lab-{test}-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    (Scratch(dir), tag)
}

/// Compile `src` into `dir/name` (PIE, as Debian's gcc builds by default) with frame pointers.
fn compile(dir: &Path, name: &str, src: &str) -> PathBuf {
    let flags = [
        "-O1",
        "-g",
        "-fno-omit-frame-pointer",
        "-mno-omit-leaf-frame-pointer",
        "-fno-inline",
    ];
    compile_c(dir, name, src, &flags)
}

/// Start `exe args` (prints "ready", works once it reads "go").
fn workload(exe: &Path, args: &[&str]) -> Workload {
    let mut c = Command::new(exe);
    c.args(args);
    Workload::start(c)
}

/// Folded line `comm;frame;...;frame count` -> (frames after comm, count).
fn parse_folded(out: &str) -> Vec<(Vec<String>, u64)> {
    out.lines()
        .filter_map(|l| {
            let (stack, n) = l.rsplit_once(' ')?;
            let n = n.parse().ok()?;
            let frames = stack.split(';').skip(1).map(str::to_owned).collect();
            Some((frames, n))
        })
        .collect()
}

/// utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_comm.split(' ').collect();
    // after "pid (comm) " the fields start at #3 (state), so #14 is index 11.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn ticks_per_sec() -> f64 {
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

const BURN_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) unsigned long lab_spin_TAG(unsigned long n) {
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < n; i++) x += i * i;
    return x;
}

/* read(2) issued right here: libc's wrapper keeps no frame pointer, so a user stack taken
   inside it would skip its caller's frame. */
__attribute__((noinline)) void lab_read_TAG(int fd, char *buf) {
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"((long)SYS_read), "D"((long)fd), "S"(buf), "d"((long)(1 << 20))
                     : "rcx", "r11", "memory");
#else
    long ret = read(fd, buf, 1 << 20);
#endif
    if (ret < 0) exit(1);
}

int main(int argc, char **argv) {
    static char buf[1 << 20];
    int fd = open("/dev/zero", O_RDONLY);
    printf("ready\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
    for (;;) {
        if (strcmp(argv[1], "spin") == 0) lab_spin_TAG(1000000);
        else lab_read_TAG(fd, buf);
    }
}
"#;

#[test]
fn profile_puts_the_hot_function_on_top() {
    let Some(_g) = root_test("profile_puts_the_hot_function_on_top") else {
        return;
    };
    let (scratch_dir, tag) = scratch("profile");
    let dir = &scratch_dir.0;
    let exe = compile(dir, "burn", &BURN_C.replace("TAG", &tag));
    let hot = format!("lab_spin_{tag}");
    let reader = format!("lab_read_{tag}");

    // User stacks: the spinning function must be the innermost frame of most samples.
    let mut w = workload(&exe, &["spin"]);
    w.send("go");
    let svg = dir.join("out.svg");
    let pid = w.pid().to_string();
    let cpu_before = cpu_ticks(w.pid());
    let (code, out, err) = run(cmd("profile")
        .args(["-F", "499", "-U", "-f", "-p", &pid, "--flamegraph"])
        .arg(&svg)
        .arg("2"));
    let cpu_after = cpu_ticks(w.pid());
    assert_eq!(code, 0, "profile failed: {err}");
    drop(w);
    let stacks = parse_folded(&out);
    let total: u64 = stacks.iter().map(|(_, n)| n).sum();
    // The machine may be busy: bound the count by the CPU time the workload really got.
    let cpu_s = (cpu_after - cpu_before) as f64 / ticks_per_sec();
    assert!(
        total >= 50,
        "too few samples ({total}) to judge; the workload ran {cpu_s:.2} s on CPU:\n{out}"
    );
    assert!(
        total as f64 <= cpu_s * 499.0 * 1.25 + 20.0,
        "{total} samples at 499 Hz but the workload only ran {cpu_s:.2} s on CPU:\n{out}"
    );
    let mut by_leaf: std::collections::HashMap<&str, u64> = Default::default();
    for (frames, n) in &stacks {
        *by_leaf
            .entry(frames.last().map(String::as_str).unwrap_or(""))
            .or_default() += n;
    }
    let (top, top_n) = by_leaf.iter().max_by_key(|(_, n)| **n).unwrap();
    assert_eq!(*top, hot, "top user frame; leaves: {by_leaf:?}");
    assert!(
        *top_n * 10 >= total * 9,
        "{hot} has {top_n} of {total} samples:\n{out}"
    );
    // Frame pointers unwind through the caller.
    let with_main: u64 = stacks
        .iter()
        .filter(|(f, _)| f.last() == Some(&hot) && f.iter().any(|x| x == "main"))
        .map(|(_, n)| n)
        .sum();
    assert!(
        with_main * 10 >= top_n * 8,
        "only {with_main} of {top_n} hot samples unwind to main:\n{out}"
    );

    let svg_text = std::fs::read_to_string(&svg).expect("--flamegraph wrote no file");
    assert!(
        svg_text.starts_with("<?xml") && svg_text.contains("<svg"),
        "not an SVG: {}",
        &svg_text[..200.min(svg_text.len())]
    );
    assert!(
        svg_text.contains(&hot),
        "flame graph does not mention {hot}"
    );
    assert!(svg_text.trim_end().ends_with("</svg>"), "SVG is truncated");

    // Kernel + user stacks: reads of /dev/zero spend their time in the kernel's read path,
    // under the user function that calls read().
    let mut w = workload(&exe, &["read"]);
    w.send("go");
    let pid = w.pid().to_string();
    let (code, out, err) = run(cmd("profile").args(["-F", "499", "-d", "-f", "-p", &pid, "2"]));
    assert_eq!(code, 0, "profile failed: {err}");
    drop(w);
    let stacks = parse_folded(&out);
    let total: u64 = stacks.iter().map(|(_, n)| n).sum();
    assert!(total >= 50, "too few samples ({total}):\n{out}");
    let in_kernel_read: u64 = stacks
        .iter()
        .filter(|(f, _)| {
            let Some(d) = f.iter().position(|x| x == "-") else {
                return false;
            };
            f[..d].contains(&reader) && f[d + 1..].iter().any(|k| k.contains("vfs_read"))
        })
        .map(|(_, n)| n)
        .sum();
    assert!(
        in_kernel_read * 2 >= total,
        "only {in_kernel_read} of {total} samples are in vfs_read under {reader}:\n{out}"
    );
}

const NAP_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The syscall is issued right here: libc's wrapper keeps no frame pointer, so a user stack
   taken inside it would skip its caller's frame. */
__attribute__((noinline)) long long lab_nap_TAG(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    long long t0 = now_ns();
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"((long)SYS_clock_nanosleep), "D"((long)CLOCK_MONOTONIC), "S"(0L), "d"(&ts), "r"(r10)
                     : "rcx", "r11", "memory");
#else
    nanosleep(&ts, NULL);
#endif
    return now_ns() - t0;
}

int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    long ms = atol(argv[2]);
    printf("ready\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
    long long slept = 0;
    for (int i = 0; i < n; i++) slept += lab_nap_TAG(ms);
    printf("%lld\n", slept / 1000);
    fflush(stdout);
    /* Stay alive (blocked) until stdin closes, so the tracer can symbolize our stacks. */
    fgets(line, sizeof line, stdin);
    return 0;
}
"#;

#[test]
fn offcputime_attributes_sleep_to_nanosleep_stack() {
    let Some(_g) = root_test("offcputime_attributes_sleep_to_nanosleep_stack") else {
        return;
    };
    let (scratch_dir, tag) = scratch("offcputime");
    let dir = &scratch_dir.0;
    let exe = compile(dir, "nap", &NAP_C.replace("TAG", &tag));
    let nap = format!("lab_nap_{tag}");
    let (naps, ms) = (15, 100);

    // The workload blocks on stdin before the tracer attaches, so that wait is not counted
    // (a thread is only timed from a switch-out the tracer saw).
    let mut w = workload(&exe, &[&naps.to_string(), &ms.to_string()]);
    let mut tool = cmd("offcputime")
        .args(["-d", "-p", &w.pid().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut tool_out = BufReader::new(tool.stdout.take().unwrap());
    let mut header = String::new();
    tool_out.read_line(&mut header).unwrap();
    assert!(
        header.starts_with("Tracing off-CPU time (us) of PID"),
        "header: {header:?}"
    );
    w.send("go");
    let slept_us: u64 = w.line().parse().expect("workload prints the time it slept");
    unsafe { libc::kill(tool.id() as i32, libc::SIGTERM) };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut tool_out, &mut stdout).unwrap();
    let out = tool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "offcputime failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(w);

    // BCC's layout with -d: kernel frames, "--", user frames, "-  comm (pid)", value (us).
    let blocks: Vec<(Vec<&str>, Vec<&str>, u64)> = stdout
        .split("\n\n")
        .filter_map(|b| {
            let lines: Vec<&str> = b.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let (value, rest) = lines.split_last()?;
            let value = value.parse().ok()?;
            let frames = &rest[..rest.len().checked_sub(1)?];
            let d = frames
                .iter()
                .position(|l| *l == "--")
                .unwrap_or(frames.len());
            Some((
                frames[..d].to_vec(),
                frames.get(d + 1..).unwrap_or_default().to_vec(),
                value,
            ))
        })
        .collect();
    let total: u64 = blocks.iter().map(|b| b.2).sum();
    // Everything the workload measured happened inside lab_nap: its sleeps, plus any time it
    // waited for a CPU around them (preempted right after waking, on a busy machine).
    let in_nap: u64 = blocks
        .iter()
        .filter(|(_, u, _)| u.contains(&nap.as_str()))
        .map(|b| b.2)
        .sum();
    let asleep: u64 = blocks
        .iter()
        .filter(|(k, u, _)| u.contains(&nap.as_str()) && k.iter().any(|f| f.contains("nanosleep")))
        .map(|b| b.2)
        .sum();
    assert!(
        asleep * 10 >= total * 8,
        "only {asleep} of {total} us off CPU are under {nap} in nanosleep:\n{stdout}"
    );
    let diff = in_nap.abs_diff(slept_us);
    assert!(
        diff * 20 <= slept_us,
        "off-CPU time in {nap} is {in_nap} us, the workload slept {slept_us} us ({naps} x {ms} ms):\n{stdout}"
    );
}

// host only: bad arguments, refused before anything loads
#[test]
fn stack_tools_reject_bad_input() {
    for tool in ["profile", "offcputime"] {
        let (code, _, err) = run(cmd(tool).args(["-p", "2147483647"]));
        assert_ne!(code, 0, "{tool} -p with no such process must fail");
        assert!(
            err.contains("-p 2147483647") && err.lines().count() == 1,
            "{tool}: {err}"
        );
        let (code, _, err) = run(cmd(tool).arg("--no-such-flag"));
        assert_eq!(code, 2, "{tool}: {err}");
        let (code, _, err) = run(cmd(tool).args(["-U", "-K"]));
        assert_eq!(code, 2, "{tool} -U -K must be refused: {err}");
    }
    let (code, _, err) = run(cmd("offcputime").args(["-m", "500", "-M", "100"]));
    assert_ne!(code, 0);
    assert!(err.contains("-m 500"), "{err}");
}
