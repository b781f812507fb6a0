//! The snoop tools (execsnoop, opensnoop, killsnoop) and syscount run as binaries, as root,
//! against workloads started here whose behaviour the test decides: a uniquely named copy of
//! /bin/true exec'd N times with chosen arguments, a C helper that opens N named files, calls
//! getppid() K times or forks and execs a program N times when told to, and signals the test
//! sends itself. The `-c` tests put one helper in a cgroup v2 made here and an identical one
//! outside it. Their BCC-format output is
//! parsed back and compared exactly. Every run is stopped with SIGINT or SIGTERM, must print its
//! final output, exit 0, and leave none of its BPF programs loaded.
use std::{
    io::Write,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant, SystemTime},
};

use lab_tests::{cmd, require_root, root_test, run, RunningTool as Tool};

// ---------------------------------------------------------------------------------------------
// Running a tool: wait for its ready (header) line, stop it with a signal, collect its output.

/// Start `name args`, ready at a stdout line containing `ready`. `ignore_sigint` starts it the
/// way a background job of a non-interactive shell would be: with SIGINT ignored.
fn start_tool(name: &str, args: &[&str], ready: &str, ignore_sigint: bool) -> Tool {
    let mut c = cmd(name);
    c.args(args);
    if ignore_sigint {
        // SAFETY: only async-signal-safe signal(2) between fork and exec.
        unsafe {
            c.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            });
        }
    }
    Tool::spawn(c, name, ready)
}

/// Stop with `sig` (see RunningTool::stop_with) and assert the tool left none of its BPF
/// programs (`progs`, kernel names) loaded; the same check first proves it can see them.
fn stop_clean(tool: Tool, sig: i32, progs: &[&str]) -> (String, String) {
    let started = tool.started();
    assert!(
        !loaded_programs(started, progs).is_empty(),
        "none of {progs:?} loaded while running"
    );
    let out = tool.stop_with(sig);
    let left = programs_loaded_since(started, progs);
    assert!(
        left.is_empty(),
        "BPF programs left loaded after exit: {left:?}"
    );
    out
}

/// Kernel names (15 chars at most) of BPF programs from `names` loaded at or after `since`.
fn loaded_programs(since: SystemTime, names: &[&str]) -> Vec<String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| {
            p.loaded_at()
                .is_some_and(|t| t + Duration::from_secs(1) >= since)
        })
        .filter_map(|p| p.name_as_str().map(str::to_owned))
        .filter(|n| !n.is_empty() && names.iter().any(|want| want.starts_with(n.as_str())))
        .collect()
}

/// `loaded_programs` once it is empty, or after 5 s: teardown after the last fd closes is
/// asynchronous (RCU).
fn programs_loaded_since(since: SystemTime, names: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = loaded_programs(since, names);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lab-snoop-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ---------------------------------------------------------------------------------------------
// The C helper: waits for a line on stdin (so the tool is attached first), then does its work.

const HELPER_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char buf[8];
    if (read(0, buf, sizeof buf) <= 0) return 3;
    if (argc >= 4 && strcmp(argv[1], "exec") == 0) {
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++) {
            pid_t p = fork();
            if (p < 0) return 4;
            if (p == 0) {
                execl(argv[3], argv[3], (char *)0);
                _exit(127);
            }
            int st;
            if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 5;
        }
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "getppid") == 0) {
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++) syscall(SYS_getppid);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "open") == 0) {
        for (int i = 2; i < argc; i++) {
            int fd = open(argv[i], O_RDONLY);
            if (fd >= 0) close(fd);
        }
        return 0;
    }
    return 2;
}
"#;

fn helper() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| lab_tests::compile_c(&tmpdir("helper"), "snoopee", HELPER_C, &["-O1"]))
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
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn go(mut self) {
        self.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let st = self.child.wait().unwrap();
        assert!(st.success(), "helper failed: {st}");
    }
}

/// Give a ring buffer consumer time to print what it already has (snoops drain every 50 ms).
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

// ---------------------------------------------------------------------------------------------
// execsnoop

const EXECSNOOP_PROGS: &[&str] = &["execsnoop_enter", "execsnoop_exit", "execsnoop_fork"];

/// Rows of execsnoop output, the optional leading TIME column removed: (pcomm, pid, ppid, ret, args).
fn exec_rows(out: &str, time_col: bool) -> Vec<(String, u32, u32, i64, String)> {
    out.lines()
        .skip_while(|l| !l.contains("PCOMM"))
        .skip(1)
        .filter_map(|l| {
            let l = if time_col { l.get(9..)? } else { l };
            let mut it = l.split_whitespace();
            let comm = it.next()?.to_owned();
            let pid = it.next()?.parse().ok()?;
            let ppid = it.next()?.parse().ok()?;
            let ret = it.next()?.parse().ok()?;
            let args = it.collect::<Vec<_>>().join(" ");
            Some((comm, pid, ppid, ret, args))
        })
        .collect()
}

#[test]
fn execsnoop_sees_each_exec_with_args_parent_and_result() {
    let Some(_g) = root_test("execsnoop_sees_each_exec_with_args_parent_and_result") else {
        return;
    };
    let dir = tmpdir("exec");
    // A unique comm (15 chars max), so no other exec on the machine can match.
    let name = format!("lxs{}", std::process::id() % 1_000_000);
    let exe = dir.join(&name);
    std::fs::copy("/bin/true", &exe).unwrap();
    let not_exec = dir.join(format!("{name}-noexec"));
    std::fs::write(&not_exec, "not a program").unwrap();
    let n = 3 + (std::process::id() % 3) as usize;

    let run_workload = || -> Vec<u32> {
        let mut pids = Vec::new();
        for i in 0..n {
            let mut c = Command::new(&exe)
                .args(["alpha", "beta", &i.to_string()])
                .spawn()
                .unwrap();
            pids.push(c.id());
            assert!(c.wait().unwrap().success());
        }
        let e = Command::new(&not_exec)
            .spawn()
            .expect_err("exec of a non-executable file must fail");
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
        pids
    };

    // 1: -T, started with SIGINT ignored, stopped by SIGINT: successes only, with times.
    let tool = start_tool("execsnoop", &["-T"], "PCOMM", true);
    let pids = run_workload();
    settle();
    let (out, _) = stop_clean(tool, libc::SIGINT, EXECSNOOP_PROGS);
    let rows: Vec<_> = exec_rows(&out, true)
        .into_iter()
        .filter(|r| r.4.contains(&name))
        .collect();
    assert_eq!(
        rows.len(),
        n,
        "exactly {n} execs of {name} (no failed one without -x):\n{out}"
    );
    for (i, (comm, pid, ppid, ret, args)) in rows.iter().enumerate() {
        assert_eq!(comm, &name);
        assert_eq!(*pid, pids[i]);
        assert_eq!(
            *ppid,
            std::process::id(),
            "parent of the exec'd child is this test"
        );
        assert_eq!(*ret, 0);
        assert_eq!(args, &format!("{} alpha beta {i}", exe.display()));
    }
    for l in out.lines().filter(|l| l.contains(&name)) {
        let t = &l[..8];
        assert!(
            t.len() == 8 && t.as_bytes()[2] == b':' && t.as_bytes()[5] == b':',
            "HH:MM:SS first: {l}"
        );
    }

    // 2: -x -l NAME, stopped by SIGTERM: the failed exec too, with its errno.
    let tool = start_tool("execsnoop", &["-x", "-l", &name], "PCOMM", false);
    let pids = run_workload();
    settle();
    let (out, _) = stop_clean(tool, libc::SIGTERM, EXECSNOOP_PROGS);
    let rows = exec_rows(&out, false);
    assert_eq!(
        rows.len(),
        n + 1,
        "-l keeps only our execs; -x adds the failed one:\n{out}"
    );
    for (i, r) in rows[..n].iter().enumerate() {
        assert_eq!((r.1, r.3), (pids[i], 0), "{out}");
    }
    let failed = &rows[n];
    assert_eq!(
        failed.3,
        -(libc::EACCES as i64),
        "failed exec RET is -EACCES:\n{out}"
    );
    assert_eq!(failed.4, not_exec.display().to_string());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// opensnoop

const OPENSNOOP_PROGS: &[&str] = &[
    "opensnoop_open",
    "opensnoop_openat",
    "opensnoop_openat2",
    "opensnoop_exit",
];

#[test]
fn opensnoop_pid_sees_exactly_the_files_its_process_opens() {
    let Some(_g) = root_test("opensnoop_pid_sees_exactly_the_files_its_process_opens") else {
        return;
    };
    let dir = tmpdir("open");
    let n = 4 + (std::process::id() % 4) as usize;
    let files: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("file-{i}"))).collect();
    for f in &files {
        std::fs::write(f, "x").unwrap();
    }
    let missing = dir.join("missing");
    let mut args: Vec<String> = vec!["open".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.push(missing.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let h = Helper::spawn(&args);
    let pid = h.pid().to_string();
    // Something else opening our files must not show up under -p.
    let tool = start_tool("opensnoop", &["-p", &pid], "PATH", false);
    std::fs::read(&files[0]).unwrap();
    h.go();
    settle();
    let (out, _) = stop_clean(tool, libc::SIGINT, OPENSNOOP_PROGS);

    // PID COMM FD ERR PATH
    let rows: Vec<(String, String, i64, i64, String)> = out
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() >= 5, "short row {l:?}");
            (
                f[0].into(),
                f[1].into(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4..].join(" "),
            )
        })
        .collect();
    assert!(rows.iter().all(|r| r.0 == pid), "only PID {pid}:\n{out}");
    let ours: Vec<_> = rows
        .iter()
        .filter(|r| r.4.starts_with(&dir.display().to_string()))
        .collect();
    assert_eq!(
        ours.len(),
        n + 1,
        "each of the {n} files once, plus the missing one:\n{out}"
    );
    for (i, f) in files.iter().enumerate() {
        let r = ours[i];
        assert_eq!(r.4, f.display().to_string());
        assert_eq!(r.1, "snoopee");
        assert!(r.2 >= 3 && r.3 == 0, "fd and no error: {r:?}");
    }
    let m = ours[n];
    assert_eq!(
        (m.2, m.3, m.4.clone()),
        (-1, libc::ENOENT as i64, missing.display().to_string())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// killsnoop

const KILLSNOOP_PROGS: &[&str] = &[
    "killsnoop_kill",
    "killsnoop_tkill",
    "killsnoop_tgkill",
    "killsnoop_exit",
];

/// (pid, sig, tpid, result) rows of killsnoop output.
fn kill_rows(out: &str) -> Vec<(u32, u32, i32, i64)> {
    out.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = f.len();
            assert!(n >= 6, "short row {l:?}");
            // TIME PID COMM... SIG TPID RESULT (a comm may hold spaces: count from the end)
            (
                f[1].parse().unwrap(),
                f[n - 3].parse().unwrap(),
                f[n - 2].parse().unwrap(),
                f[n - 1].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn killsnoop_sees_each_signal_sent_with_target_and_result() {
    let Some(_g) = root_test("killsnoop_sees_each_signal_sent_with_target_and_result") else {
        return;
    };
    let me = std::process::id();
    let spawn_target = || Command::new("sleep").arg("30").spawn().unwrap();
    let sends = |targets: &[i32]| -> Vec<(u32, i32, i64)> {
        let plan = [libc::SIGUSR1, libc::SIGTERM, libc::SIGKILL];
        let mut sent = Vec::new();
        for (t, sig) in targets.iter().zip(plan) {
            // SAFETY: signalling our own children.
            assert_eq!(unsafe { libc::kill(*t, sig) }, 0);
            sent.push((sig as u32, *t, 0));
        }
        // A kill that fails: no such process.
        assert_eq!(unsafe { libc::kill(i32::MAX - 1, libc::SIGTERM) }, -1);
        sent.push((libc::SIGTERM as u32, i32::MAX - 1, -(libc::ESRCH as i64)));
        sent
    };

    let mut kids: Vec<Child> = (0..3).map(|_| spawn_target()).collect();
    let targets: Vec<i32> = kids.iter().map(|k| k.id() as i32).collect();
    let tool = start_tool("killsnoop", &["-p", &me.to_string()], "TPID", false);
    let tool_pid = tool.pid();
    let mut sent = sends(&targets);
    for k in &mut kids {
        let _ = k.wait();
    }
    settle();
    let (out, _) = stop_clean(tool, libc::SIGINT, KILLSNOOP_PROGS);
    let rows = kill_rows(&out);
    let seen: Vec<(u32, i32, i64)> = rows.iter().map(|r| (r.1, r.2, r.3)).collect();
    // The SIGINT that stopped the tool is one of ours too; it may be seen before the tool exits.
    if seen.len() == sent.len() + 1 {
        sent.push((libc::SIGINT as u32, tool_pid, 0));
    }
    assert_eq!(seen, sent, "exactly our signals, in order:\n{out}");
    assert!(
        rows.iter().all(|r| r.0 == me),
        "sender is this test:\n{out}"
    );

    // -s TERM keeps only the SIGTERMs; -x only the failed one.
    let mut kids: Vec<Child> = (0..3).map(|_| spawn_target()).collect();
    let targets: Vec<i32> = kids.iter().map(|k| k.id() as i32).collect();
    let tool = start_tool(
        "killsnoop",
        &["-p", &me.to_string(), "-s", "SIGTERM", "-x"],
        "TPID",
        false,
    );
    let sent = sends(&targets);
    for k in &mut kids {
        let _ = k.wait();
    }
    settle();
    let (out, _) = stop_clean(tool, libc::SIGTERM, KILLSNOOP_PROGS);
    let seen: Vec<(u32, i32, i64)> = kill_rows(&out).iter().map(|r| (r.1, r.2, r.3)).collect();
    let want: Vec<_> = sent
        .into_iter()
        .filter(|s| s.0 == libc::SIGTERM as u32 && s.2 < 0)
        .collect();
    assert_eq!(seen, want, "{out}");
}

// ---------------------------------------------------------------------------------------------
// syscount

const SYSCOUNT_PROGS: &[&str] = &["syscount_enter", "syscount_exit"];

/// The count column of `name`'s row in the last table printed.
fn syscount_row(out: &str, name: &str) -> Option<Vec<String>> {
    let last = out.rsplit("SYSCALL").next()?;
    last.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|f| f.first().is_some_and(|n| n == name))
}

#[test]
fn syscount_counts_exactly_the_calls_of_a_pid() {
    let Some(_g) = root_test("syscount_counts_exactly_the_calls_of_a_pid") else {
        return;
    };
    let k = 1000 + (std::process::id() % 1000) as u64;

    // SIGINT: final table with the exact getppid count.
    let h = Helper::spawn(&["getppid", &k.to_string()]);
    let tool = start_tool(
        "syscount",
        &["-p", &h.pid().to_string()],
        "Tracing syscalls",
        false,
    );
    h.go();
    let (out, _) = stop_clean(tool, libc::SIGINT, SYSCOUNT_PROGS);
    let row = syscount_row(&out, "getppid").unwrap_or_else(|| panic!("no getppid row:\n{out}"));
    assert_eq!(row[1].parse::<u64>().unwrap(), k, "{out}");
    assert!(out.trim_end().ends_with("Detaching..."), "{out}");

    // SIGTERM with -L: the same count, and a latency column.
    let h = Helper::spawn(&["getppid", &k.to_string()]);
    let tool = start_tool(
        "syscount",
        &["-L", "-p", &h.pid().to_string()],
        "Tracing syscalls",
        false,
    );
    h.go();
    let (out, _) = stop_clean(tool, libc::SIGTERM, SYSCOUNT_PROGS);
    assert!(out.contains("TIME (us)"), "{out}");
    let row = syscount_row(&out, "getppid").unwrap_or_else(|| panic!("no getppid row:\n{out}"));
    assert_eq!(row[1].parse::<u64>().unwrap(), k, "{out}");
    assert!(row[2].parse::<f64>().unwrap() > 0.0, "{out}");

    // -P: one row for the helper's PID, whose count includes the K getppid calls.
    let h = Helper::spawn(&["getppid", &k.to_string()]);
    let pid = h.pid().to_string();
    let tool = start_tool("syscount", &["-P", "-p", &pid], "Tracing processes", false);
    h.go();
    let (out, _) = stop_clean(tool, libc::SIGINT, SYSCOUNT_PROGS);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip_while(|l| !l.starts_with("PID"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0][0], pid);
    let total: u64 = rows[0].last().unwrap().parse().unwrap();
    assert!(
        total >= k && total < k + 200,
        "K getppid plus a few exit-time calls, got {total}:\n{out}"
    );
}

#[test]
fn syscount_duration_ends_on_its_own_with_the_summary() {
    let Some(_g) = root_test("syscount_duration_ends_on_its_own_with_the_summary") else {
        return;
    };
    let t0 = Instant::now();
    let (code, out, err) =
        run(cmd("syscount").args(["-d", "1", "--syscall", "getppid", "-T", "3"]));
    assert_eq!(code, 0, "{err}");
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert!(
        out.contains("SYSCALL") && out.trim_end().ends_with("Detaching..."),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Parent (-P) and cgroup (-c) filters, applied in the kernel.

/// A copy of /bin/true under a name unique to this test run (15 chars at most: it is the comm).
fn named_true(dir: &Path, tag: &str) -> (String, PathBuf) {
    let name = format!("l{tag}{}", std::process::id() % 1_000_000);
    let exe = dir.join(&name);
    std::fs::copy("/bin/true", &exe).unwrap();
    (name, exe)
}

#[test]
fn execsnoop_ppid_sees_only_children_of_that_parent() {
    let Some(_g) = root_test("execsnoop_ppid_sees_only_children_of_that_parent") else {
        return;
    };
    let dir = tmpdir("ppid");
    let (name, exe) = named_true(&dir, "pp");
    let n = 2 + (std::process::id() % 3) as usize;
    let m = n + 1 + (std::process::id() % 2) as usize;
    let exe_s = exe.display().to_string();
    let first = Helper::spawn(&["exec", &n.to_string(), &exe_s]);
    let other = Helper::spawn(&["exec", &m.to_string(), &exe_s]);
    let ppid = first.pid();
    let tool = start_tool("execsnoop", &["-P", &ppid.to_string()], "PCOMM", false);
    first.go();
    other.go();
    settle();
    let (out, _) = stop_clean(tool, libc::SIGINT, EXECSNOOP_PROGS);
    let rows = exec_rows(&out, false);
    assert!(
        rows.iter().all(|r| r.2 == ppid),
        "-P {ppid}: every row has PPID {ppid}:\n{out}"
    );
    let ours = rows.iter().filter(|r| r.0 == name).count();
    assert_eq!(
        ours, n,
        "the {n} execs of {name} by {ppid}, none of the {m} by the other parent:\n{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cgroup v2 made for one test under the cgroup2 mount; on drop its tasks go back to the
/// mount's root and the directory is removed (also when the test fails).
struct TestCgroup {
    dir: PathBuf,
    root: PathBuf,
}

impl TestCgroup {
    fn new(tag: &str) -> TestCgroup {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        // Fields: id parent maj:min root mountpoint opts ... - fstype source superopts
        let root = mountinfo
            .lines()
            .find(|l| {
                l.split(" - ")
                    .nth(1)
                    .is_some_and(|t| t.starts_with("cgroup2 "))
            })
            .and_then(|l| l.split_whitespace().nth(4))
            .map(PathBuf::from)
            .expect("no cgroup2 mount in /proc/self/mountinfo");
        let dir = root.join(format!("lab-snoop-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir(&dir);
        std::fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("creating cgroup {}: {e}", dir.display()));
        TestCgroup { dir, root }
    }

    fn path(&self) -> String {
        self.dir.display().to_string()
    }

    fn enter(&self, pid: u32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", self.dir.display()));
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let procs = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.split_whitespace() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
            // Exited tasks leave the cgroup asynchronously: rmdir is EBUSY until then.
            if std::fs::remove_dir(&self.dir).is_ok() || Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn cgroup_filter_sees_only_tasks_inside_the_cgroup() {
    let Some(_g) = root_test("cgroup_filter_sees_only_tasks_inside_the_cgroup") else {
        return;
    };
    let cg = TestCgroup::new("cg");
    let dir = tmpdir("cgroup");
    let seed = std::process::id() as usize;

    // syscount: K getppid() inside, the same outside; only the inside ones are counted.
    let k = 500 + seed % 500;
    let inside = Helper::spawn(&["getppid", &k.to_string()]);
    let outside = Helper::spawn(&["getppid", &k.to_string()]);
    cg.enter(inside.pid());
    let tool = start_tool("syscount", &["-c", &cg.path()], "Tracing syscalls", false);
    inside.go();
    outside.go();
    let (out, _) = stop_clean(tool, libc::SIGINT, SYSCOUNT_PROGS);
    let row = syscount_row(&out, "getppid").unwrap_or_else(|| panic!("no getppid row:\n{out}"));
    assert_eq!(
        row[1].parse::<usize>().unwrap(),
        k,
        "-c: {k} inside, {k} outside:\n{out}"
    );

    // opensnoop: the same files opened inside and outside; each shows up once, from inside.
    let n = 2 + seed % 4;
    let files: Vec<String> = (0..n)
        .map(|i| {
            let f = dir.join(format!("file-{i}"));
            std::fs::write(&f, "x").unwrap();
            f.display().to_string()
        })
        .collect();
    let mut args = vec!["open"];
    args.extend(files.iter().map(String::as_str));
    let inside = Helper::spawn(&args);
    let outside = Helper::spawn(&args);
    let in_pid = inside.pid().to_string();
    cg.enter(inside.pid());
    let tool = start_tool("opensnoop", &["-c", &cg.path()], "PATH", false);
    inside.go();
    outside.go();
    settle();
    let (out, _) = stop_clean(tool, libc::SIGINT, OPENSNOOP_PROGS);
    // PID COMM FD ERR PATH
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        rows.iter().all(|r| r[0] == in_pid),
        "only PID {in_pid} is inside:\n{out}"
    );
    let paths: Vec<&str> = rows.iter().filter_map(|r| r.last().copied()).collect();
    for f in &files {
        assert_eq!(
            paths.iter().filter(|p| *p == f).count(),
            1,
            "{f} opened once inside, once outside:\n{out}"
        );
    }

    // execsnoop: N execs from a parent inside, N from an identical parent outside.
    let (name, exe) = named_true(&dir, "cg");
    let exe_s = exe.display().to_string();
    let inside = Helper::spawn(&["exec", &n.to_string(), &exe_s]);
    let outside = Helper::spawn(&["exec", &n.to_string(), &exe_s]);
    let parent = inside.pid();
    cg.enter(parent);
    let tool = start_tool("execsnoop", &["-c", &cg.path()], "PCOMM", false);
    inside.go();
    outside.go();
    settle();
    let (out, _) = stop_clean(tool, libc::SIGINT, EXECSNOOP_PROGS);
    let rows = exec_rows(&out, false);
    assert!(
        rows.iter().all(|r| r.2 == parent),
        "only children of {parent}:\n{out}"
    );
    assert_eq!(rows.iter().filter(|r| r.0 == name).count(), n, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

// host only: a bad path, refused before anything loads
#[test]
fn bad_cgroup_path_is_a_one_line_usage_error() {
    let dir = tmpdir("badcg");
    let missing = dir.join("missing");
    for tool in ["execsnoop", "opensnoop", "syscount"] {
        for path in [&dir, &missing] {
            let p = path.display().to_string();
            let (code, out, err) = run(cmd(tool).args(["-c", &p]));
            assert_eq!(code, 2, "{tool} -c {p}: exit {code}\n{out}{err}");
            assert_eq!(
                err.trim().lines().count(),
                1,
                "{tool} -c {p}: one line:\n{err}"
            );
            assert!(
                err.contains("--cgroup") && err.contains(&p),
                "{tool}: {err}"
            );
            assert!(out.is_empty(), "{tool}: nothing on stdout:\n{out}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Command lines: bad flags, help, man pages (no root needed: parsing happens before any BPF).

// host only: flag parsing
#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("execsnoop", &["--bogus"], "--bogus"),
        ("execsnoop", &["--max-args", "0"], "--max-args"),
        ("execsnoop", &["-n", "("], "not a valid regular expression"),
        ("opensnoop", &["-p", "abc"], "not a process id"),
        ("opensnoop", &["-d", "0"], "not a number of seconds"),
        ("opensnoop", &["-p", "1", "-t", "2"], "cannot be used with"),
        ("killsnoop", &["-s", "NOPE"], "not a signal"),
        ("syscount", &["--syscall", "nope"], "not a known syscall"),
        ("syscount", &["-e", "EWHAT"], "not an errno"),
        ("syscount", &["-T", "0"], "--top"),
    ];
    for (tool, args, want) in cases {
        let (code, out, err) = run(cmd(tool).args(*args));
        assert_eq!(code, 2, "{tool} {args:?}: exit {code}\n{out}{err}");
        assert!(
            err.contains(want),
            "{tool} {args:?}: stderr should mention {want:?}:\n{err}"
        );
        assert!(out.is_empty(), "{tool} {args:?}: nothing on stdout:\n{out}");
    }
}

// host only: help text and man pages
#[test]
fn help_has_examples_and_man_pages_render() {
    // Every tool of the catalog (CONTRIBUTING.md's "Add a tool" relies on it).
    for tool in lab_probes::requirements::TOOLS.iter().map(|t| t.name) {
        let (code, out, _) = run(cmd(tool).arg("--help"));
        assert_eq!(code, 0);
        assert!(
            out.contains("examples:") && out.contains(&format!("    {tool} ")),
            "{tool} --help:\n{out}"
        );
        let (code, man, err) = run(cmd(tool).arg("--man"));
        assert_eq!(code, 0, "{err}");
        assert!(
            man.starts_with(".ie") || man.contains(".TH"),
            "{tool} --man:\n{man}"
        );
        assert!(
            man.contains(".SH EXAMPLES") && man.contains(".SH OPTIONS"),
            "{tool} --man:\n{man}"
        );
    }
}

#[test]
fn missing_tracepoint_is_named() {
    if !require_root("missing_tracepoint_is_named") {
        return;
    }
    let err = lab_probes::events::require_tracepoints(&[
        ("syscalls", "sys_enter_openat"),
        ("syscalls", "sys_enter_no_such_call"),
    ])
    .expect_err("a tracepoint that does not exist");
    assert!(
        err.to_string().contains("syscalls:sys_enter_no_such_call"),
        "{err}"
    );
}

// host only: the catalog as `lab tools` prints it
#[test]
fn lab_tools_lists_every_tool_under_its_category() {
    // Our build dir first on PATH: every tool in the catalog is installed.
    let path = format!(
        "{}:{}",
        lab_tests::bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (code, out, err) = run(cmd("lab").arg("tools").env("PATH", path));
    assert_eq!(code, 0, "{err}");
    // One table: category (on a group's first row), tool, status, what it shows; a wrapped
    // line leaves the tool column blank. Cells are found by the header's column offsets.
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    let at = |name: &str| {
        header
            .find(name)
            .unwrap_or_else(|| panic!("{name}:\n{out}"))
    };
    let (tool_col, status_col) = (at("tool"), at("status"));
    let cell = |line: &str, col: usize| {
        line.get(col..)
            .filter(|r| !r.starts_with(' '))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("")
            .to_owned()
    };
    let mut section = String::new();
    let mut found = std::collections::BTreeMap::new();
    for line in lines.skip(1).take_while(|l| !l.is_empty()) {
        if !line.starts_with(' ') {
            section = cell(line, 0);
        }
        let tool = cell(line, tool_col);
        if !tool.is_empty() {
            found.insert(tool, (section.clone(), cell(line, status_col)));
        }
    }
    for t in lab_probes::requirements::TOOLS {
        let (cat, status) = found
            .get(t.name)
            .unwrap_or_else(|| panic!("{} not listed:\n{out}", t.name));
        assert_eq!(cat, t.category, "{}:\n{out}", t.name);
        assert_eq!(status, "installed", "{}:\n{out}", t.name);
    }
    // Without our build dir on PATH they are reported missing, not silently skipped.
    let (code, out, _) = run(cmd("lab").arg("tools").env("PATH", "/nonexistent"));
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.contains(" execsnoop ") && l.contains("missing")),
        "{out}"
    );
}
