//! Helpers for the integration tests (tests/it): finding the built binaries, running them,
//! and skipping root-only tests with a printed reason when not root.
#[path = "running_tool.rs"]
mod running_tool;
pub mod trials;

pub use running_tool::RunningTool;

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio},
};

/// Directory with the workspace's built binaries (target/debug or target/release), found from
/// the test executable's own path (target/<profile>/deps/it-HASH). `LAB_TEST_BIN_DIR` points it
/// elsewhere: inside a lab-VM guest (tests/guest) the suite tests the installed static payload.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LAB_TEST_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // Test binaries live in target/<profile>/deps, the lab-trials command in target/<profile>.
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("exe dir");
    match dir.file_name() {
        Some(d) if d == "deps" => dir.parent().expect("profile dir").to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

/// A directory on a real disk, for tests whose workloads must reach the block layer: /var/tmp
/// (never tmpfs on Debian/Ubuntu, while /tmp is tmpfs from Debian 13 on), or `LAB_TEST_DISK_DIR`.
pub fn disk_dir() -> PathBuf {
    std::env::var_os("LAB_TEST_DISK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp"))
}

/// How far apart (µs) two BPF programs on the same tracepoint hit may read the clock: a few µs
/// on real hardware; in a TCG guest the host can deschedule the vCPU thread between them for
/// milliseconds, so tests/guest sets `LAB_TEST_CLOCK_SLACK_US`.
pub fn clock_slack_us() -> f64 {
    std::env::var("LAB_TEST_CLOCK_SLACK_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10.0)
}

/// The first `LAB_TEST_SEEDS` of `all` (all of them when unset): the lab-VM guests run the
/// scripted students with fewer seeds than this host (tests/guest sets it), since a seed varies
/// the workload, not what the kernel is asked.
pub fn seeds(all: &[u64]) -> &[u64] {
    let n = std::env::var("LAB_TEST_SEEDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(all.len());
    &all[..n.min(all.len())]
}

/// The repository's root: the source tree's, or `LAB_TEST_REPO` where the test binary runs away
/// from it (a guest gets the files the tests read: labs/, tools/bpftrace/, tests/it/engine_labs/).
pub fn repo_root() -> PathBuf {
    match std::env::var_os("LAB_TEST_REPO") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests/ has a parent")
            .to_path_buf(),
    }
}

/// Path to one of our binaries; panics with how to build it when missing.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not built; run `cargo build --bins` first (tests/run.sh does)",
        p.display()
    );
    p
}

/// A `Command` for one of our binaries.
pub fn cmd(name: &str) -> Command {
    Command::new(bin(name))
}

/// Run and capture; returns (status code, stdout, stderr).
pub fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("spawn");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// `sudo lab ...` typed by `user`: root, with SUDO_USER naming the student and the real
/// per-user state dir (/var/lib/lab/USER, no LAB_STATE_DIR).
pub fn sudo_lab(user: &str) -> Command {
    let mut c = cmd("lab");
    c.env("SUDO_USER", user)
        .env_remove("LAB_STATE_DIR")
        .env_remove("LAB_LABS_DIR")
        .env_remove("LAB_DEV_SESSION")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// The uid of account `user` (panics when there is none).
pub fn uid_of(user: &str) -> u32 {
    let (code, out, err) = run(Command::new("id").args(["-u", user]));
    assert_eq!(code, 0, "id -u {user}: {err}");
    out.trim().parse().unwrap()
}

/// A fresh account `name` (home dir, /bin/sh), replacing one a crashed run left. Retried: tests
/// run in parallel and useradd/userdel fail while another holds the lock on /etc/passwd.
pub fn add_account(name: &str, comment: &str) {
    remove_account(name);
    let out = retry_account_tool(|| {
        Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", "--comment", comment])
            .arg(name)
            .output()
            .expect("useradd")
    });
    assert!(out.status.success(), "useradd {name}: {out:?}");
}

/// Remove account `name`, its processes, home and lab state (nothing if there is none).
pub fn remove_account(name: &str) {
    let _ = Command::new("pkill").args(["-KILL", "-u", name]).output();
    // userdel refuses while a process of the user exists; SIGKILL is not instant.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Command::new("pgrep")
        .args(["-u", name])
        .output()
        .is_ok_and(|o| o.status.success())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = retry_account_tool(|| {
        Command::new("userdel")
            .args(["-r", name])
            .output()
            .expect("userdel")
    });
    // 6: no such user (already gone); 12: no home or mail spool to remove. Called from Drop:
    // say what failed rather than panic while a test may be unwinding.
    if !matches!(out.status.code(), Some(0 | 6 | 12)) {
        eprintln!("userdel -r {name}: {out:?}");
    }
    let _ = std::fs::remove_dir_all(Path::new("/var/lib/lab").join(name));
}

/// Run useradd/userdel until it does not fail on a lock of /etc/passwd, /etc/group or
/// /etc/shadow ("cannot lock ...; try again later") or on a process still exiting, up to 10 s.
fn retry_account_tool(f: impl Fn() -> Output) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = f();
        let err = String::from_utf8_lossy(&out.stderr);
        let busy = err.contains("try again") || err.contains("currently used by process");
        if out.status.success() || !busy || std::time::Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Call first in a test that needs root: returns false (after printing why) when not root, so
/// the test is reported as skipped in the output rather than silently passing.
#[must_use]
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: CI runs as root, but this run is not root");
    }
    eprintln!("SKIPPED {test}: needs root to load BPF programs (run the suite with sudo)");
    false
}

/// The preamble of a test that loads BPF or starts workloads: None when not root (after
/// `require_root` printed why, so the test returns and shows as skipped), else the BPF lock,
/// held for the rest of the test: `let Some(_g) = root_test("name") else { return };`
#[must_use]
pub fn root_test(test: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    require_root(test).then(bpf_lock)
}

/// Serializes tests that load BPF or start workloads: they compete for 2 CPUs and tracepoints.
pub fn bpf_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Compile the C program `src` into `dir/name` with gcc and `flags`; panics with gcc's errors.
pub fn compile_c(dir: &Path, name: &str, src: &str, flags: &[&str]) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    let exe = dir.join(name);
    let out = Command::new("gcc")
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .arg(&c)
        .output()
        .expect("gcc (apt-get install gcc) is needed to build the test workload");
    assert!(
        out.status.success(),
        "gcc failed on {name}.c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// A test workload driven over its stdin/stdout: it prints "ready" once started, then reads
/// commands. Dropping it closes its stdin (every workload here ends on EOF) and kills it.
pub struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Workload {
    /// Spawn `cmd` with piped stdin/stdout and wait for its "ready" line.
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut w = Self {
            child,
            stdin,
            stdout,
        };
        assert_eq!(w.line(), "ready", "{cmd:?} did not start");
        w
    }

    /// The process started (for a wrapper such as `unshare`, the wrapper).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its next output line, without the line end ("" at EOF).
    pub fn line(&mut self) -> String {
        let mut s = String::new();
        self.stdout.read_line(&mut s).unwrap();
        s.trim_end().to_owned()
    }

    /// Send it one line.
    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    /// Wait for it to exit.
    pub fn wait(&mut self) {
        self.child.wait().unwrap();
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
