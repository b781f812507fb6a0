//! funccount and bashreadline run as binaries, as root, against workloads started here: a C
//! helper that, once told to go, makes K openat() syscalls, calls one of its own functions K
//! times, reads /dev/zero K times or sends K messages over a loopback TCP connection it makes;
//! and an interactive bash fed commands through a pipe (readline runs for `bash -i` on a pipe
//! too). Counts and commands are compared with what the test made happen. The kprobe paths run
//! in the Debian guests (tests/guest); on a kernel without kprobes the refusal is checked.
use std::{
    io::{Read, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use lab_tests::{cmd, compile_c, root_test, run, RunningTool as Tool};

const HELPER_C: &str = r#"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
volatile long sink;
/* The function the uprobe test counts: not inlined, not merged with anything. */
__attribute__((noinline)) void lab_counted_fn(long i) { sink += i; }
int main(int argc, char **argv) {
    char buf[8];
    if (argc < 3) return 2;
    long n = atol(argv[2]);
    if (read(0, buf, sizeof buf) <= 0) return 3;
    if (strcmp(argv[1], "openat") == 0) {
        for (long i = 0; i < n; i++) {
            int fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
            if (fd < 0) return 4;
            close(fd);
        }
    } else if (strcmp(argv[1], "call") == 0) {
        for (long i = 0; i < n; i++) lab_counted_fn(i);
    } else if (strcmp(argv[1], "read") == 0) {
        int fd = open("/dev/zero", O_RDONLY);
        if (fd < 0) return 4;
        for (long i = 0; i < n; i++) if (read(fd, buf, 1) != 1) return 5;
    } else if (strcmp(argv[1], "send") == 0 && argc >= 4) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons(atoi(argv[3]));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) return 6;
        for (long i = 0; i < n; i++) if (send(s, "x", 1, 0) != 1) return 7;
        close(s);
    } else {
        return 2;
    }
    return 0;
}
"#;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lab-func-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn helper() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| compile_c(&tmpdir("helper"), "funcee", HELPER_C, &["-O1"]))
}

/// The helper started and waiting on stdin; `go` lets it run and waits for it to finish.
struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Helper {
    fn spawn(args: &[&str]) -> Helper {
        let mut child = Command::new(helper())
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        Helper { child, stdin }
    }
    fn pid(&self) -> String {
        self.child.id().to_string()
    }
    fn go(mut self) {
        self.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let st = self.child.wait().unwrap();
        assert!(st.success(), "helper failed: {st}");
    }
}

/// Count of `func` in funccount's last FUNC/COUNT table.
fn count_of(out: &str, func: &str) -> Option<u64> {
    let last = out.rsplit("FUNC").next()?;
    last.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 2 && f[0] == func)
        .map(|f| f[1].parse().unwrap())
}

/// Run funccount with `args` while the helper does `work`, return its output.
fn funccount_during(args: &[&str], work: &[&str]) -> (String, String) {
    let h = Helper::spawn(work);
    let mut a: Vec<&str> = vec!["-v", "-p"];
    let pid = h.pid();
    a.push(&pid);
    a.extend_from_slice(args);
    let tool = Tool::start("funccount", &a, "Tracing");
    h.go();
    let (out, err) = tool.stop();
    assert!(out.trim_end().ends_with("Detaching..."), "{out}");
    (out, err)
}

fn k() -> u64 {
    100 + u64::from(std::process::id() % 100)
}

#[test]
fn funccount_tracepoint_counts_exactly_the_openat_calls_of_a_pid() {
    let Some(_g) = root_test("funccount_tracepoint_counts_exactly_the_openat_calls_of_a_pid")
    else {
        return;
    };
    let k = k();
    let (out, err) = funccount_during(
        &["t:syscalls:sys_enter_openat"],
        &["openat", &k.to_string()],
    );
    assert!(
        out.contains("Tracing 1 functions for \"t:syscalls:sys_enter_openat\""),
        "{out}"
    );
    assert_eq!(
        count_of(&out, "syscalls:sys_enter_openat"),
        Some(k),
        "{out}"
    );
    assert!(err.contains("hook path: tracepoints"), "{err}");

    // A wildcard over several tracepoints: entry and exit each counted K times, apart.
    let (out, _) = funccount_during(&["t:syscalls:sys_*_openat"], &["openat", &k.to_string()]);
    assert_eq!(
        count_of(&out, "syscalls:sys_enter_openat"),
        Some(k),
        "{out}"
    );
    assert_eq!(count_of(&out, "syscalls:sys_exit_openat"), Some(k), "{out}");
}

#[test]
fn funccount_uprobe_counts_exactly_the_calls_of_a_function() {
    let Some(_g) = root_test("funccount_uprobe_counts_exactly_the_calls_of_a_function") else {
        return;
    };
    let k = k();
    let pattern = format!("p:{}:lab_counted_*", helper().display());
    let (out, err) = funccount_during(&[&pattern], &["call", &k.to_string()]);
    assert!(out.contains("Tracing 1 functions"), "{out}");
    assert_eq!(count_of(&out, "lab_counted_fn"), Some(k), "{out}");
    assert!(err.contains("hook path: uprobes on"), "{err}");
    // -r: the same function by regular expression.
    let pattern = format!("p:{}:^lab_count.d_fn$", helper().display());
    let (out, _) = funccount_during(&["-r", &pattern], &["call", &k.to_string()]);
    assert_eq!(count_of(&out, "lab_counted_fn"), Some(k), "{out}");
}

#[test]
fn funccount_pattern_matching_nothing_is_an_error_naming_it() {
    let Some(_g) = root_test("funccount_pattern_matching_nothing_is_an_error_naming_it") else {
        return;
    };
    for pat in ["t:syscalls:sys_enter_no_such_call*", "p:c:lab_no_such_fn*"] {
        let (code, out, err) = run(cmd("funccount").args(["-d", "1", pat]));
        assert_eq!(code, 1, "{pat}: {out}{err}");
        assert!(out.is_empty(), "{pat}: {out}");
        let want = pat.rsplit(':').next().unwrap();
        assert!(
            err.contains(want) && err.lines().count() == 1,
            "{pat}: {err}"
        );
    }
    let (code, _, err) = run(cmd("funccount").args(["-d", "1", "x:y:z:w"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("x:y:z:w"), "{err}");
}

fn kprobes() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe").exists()
}

/// Without kprobes (this host): kernel patterns are refused in one line, exit 2.
fn kernel_patterns_refused() {
    for pat in ["tcp_s*", "k:vfs_*"] {
        let (code, out, err) = run(cmd("funccount").arg(pat));
        assert_eq!(code, 2, "{out}{err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("CONFIG_KPROBES") && err.contains("lab VMs") && err.contains(pat),
            "{err}"
        );
    }
}

/// With kprobes (the lab-VM guests) kernel patterns count at least the calls the test caused;
/// without them (this host) they are refused with the reason. Either way something is checked.
#[test]
fn funccount_kernel_patterns_count_with_kprobes_or_say_why_not() {
    let Some(_g) = root_test("funccount_kernel_patterns_count_with_kprobes_or_say_why_not") else {
        return;
    };
    if !kprobes() {
        kernel_patterns_refused();
        return;
    }
    let k = k();
    // K one-byte reads of /dev/zero: each is one vfs_read.
    let (out, err) = funccount_during(&["vfs_read*"], &["read", &k.to_string()]);
    assert!(err.contains("hook path: kprobes"), "{err}");
    let n = count_of(&out, "vfs_read").unwrap_or_else(|| panic!("no vfs_read row:\n{out}"));
    assert!(n >= k, "vfs_read {n} < {k} reads:\n{out}");

    // K one-byte sends on a loopback connection: each is one tcp_sendmsg.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        buf.len()
    });
    let (out, _) = funccount_during(&["k:tcp_s*"], &["send", &k.to_string(), &port]);
    assert_eq!(sink.join().unwrap() as u64, k);
    let n = count_of(&out, "tcp_sendmsg").unwrap_or_else(|| panic!("no tcp_sendmsg row:\n{out}"));
    assert!(n >= k, "tcp_sendmsg {n} < {k} sends:\n{out}");
}

#[test]
fn bashreadline_prints_exactly_the_commands_typed() {
    let Some(_g) = root_test("bashreadline_prints_exactly_the_commands_typed") else {
        return;
    };
    let tag = format!("labrl{}", std::process::id());
    let typed: Vec<String> = (0..3)
        .map(|i| format!("echo {tag} {i} 'quoted  text' > /dev/null"))
        .chain(std::iter::once(format!("true {tag}")))
        .collect();
    let tool = Tool::start("bashreadline", &["-v"], "COMMAND");
    // An interactive bash reading its commands from a pipe still reads them through readline.
    let mut bash = Command::new("bash")
        .args(["--norc", "--noprofile", "-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = bash.id().to_string();
    {
        let mut stdin = bash.stdin.take().unwrap();
        for c in &typed {
            writeln!(stdin, "{c}").unwrap();
        }
        writeln!(stdin, "exit").unwrap();
    }
    assert!(bash.wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    let (out, err) = tool.stop();
    assert!(err.contains("hook path: uretprobe on"), "{err}");
    assert!(out.starts_with("TIME      PID     COMMAND"), "{out}");
    // TIME PID COMMAND: the command is everything after the PID column (starts at 18).
    let ours: Vec<&str> = out
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(1) == Some(pid.as_str()))
        .map(|l| &l[18..])
        .collect();
    let mut want: Vec<&str> = typed.iter().map(String::as_str).collect();
    want.push("exit");
    assert_eq!(ours, want, "{out}");
}

/// `lab doctor` lists funccount as runnable, limited to t:/u: patterns exactly when this kernel
/// lacks kprobes (the kprobes row itself is checked in tests/it/doctor.rs).
#[test]
fn doctor_reports_funccount_kernel_patterns_by_kprobe_availability() {
    let Some(_g) = root_test("doctor_reports_funccount_kernel_patterns_by_kprobe_availability")
    else {
        return;
    };
    let (code, out, err) = run(cmd("lab").args(["doctor", "--json"]));
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("doctor --json is JSON");
    let fc = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "funccount")
        .cloned()
        .unwrap_or_else(|| panic!("no funccount in tools: {out}"));
    assert_eq!(fc["runnable"], true, "{fc}");
    let limited = fc["limited"].as_array().cloned().unwrap_or_default();
    if kprobes() {
        assert!(limited.is_empty(), "{fc}");
    } else {
        assert!(
            limited.len() == 1
                && limited[0]
                    .as_str()
                    .unwrap()
                    .starts_with("kprobes for kernel-function"),
            "{fc}"
        );
    }
}
