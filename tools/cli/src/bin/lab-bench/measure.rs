//! Running one tool the way a user does: exec it on a pseudo-terminal (so C stdio is line
//! buffered, as in a terminal), time exec -> first ready line, stop it with SIGINT, and take its
//! peak RSS from wait4's rusage.
use std::{
    fs::File,
    io::Read,
    os::{
        fd::{FromRawFd, OwnedFd},
        unix::process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Exit {
    /// Peak resident set size, KiB (ru_maxrss).
    pub max_rss_kib: u64,
    /// Exit code, or 128 + signal.
    pub code: i32,
}

/// A spawned tool.
pub struct Running {
    pub pid: i32,
    lines: Option<mpsc::Receiver<(Instant, String)>>,
    started: Instant,
    /// Where the RSS wrapper writes the tool's ru_maxrss (see `build_rss_wrapper`).
    rss_file: Option<PathBuf>,
}

/// A tool's ru_maxrss from its parent's wait4 is at least the parent's own RSS when it forked
/// (Linux keeps the pre-exec mm's high-water mark): spawned straight from lab-bench, a 4 MiB
/// tool showed lab-bench's 8-12 MiB. Tools are therefore started by this small C wrapper,
/// which forks and execs the tool, forwards SIGINT/SIGTERM, and writes the tool's own
/// ru_maxrss (KiB) to a file; its fork+exec adds well under a millisecond to the ready time.
const RSS_WRAPPER_C: &str = r#"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;
static void forward(int sig) { if (child > 0) kill(child, sig); }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: rsswrap RESULT PROG [ARG...]\n"); return 2; }
    struct sigaction sa = { 0 };
    sa.sa_handler = forward;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a SIGKILLed wrapper takes the tool along */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    child = pid;
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {}
    FILE *f = fopen(argv[1], "w");
    if (f) { fprintf(f, "%ld\n", ru.ru_maxrss); fclose(f); }
    if (WIFSIGNALED(st)) {
        signal(WTERMSIG(st), SIG_DFL);
        kill(getpid(), WTERMSIG(st));
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
"#;

static RSS_WRAPPER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Compile the C program `src` into `work/name` with gcc -O2.
pub fn compile_c(work: &Path, name: &str, src: &str) -> Result<PathBuf> {
    let c = work.join(format!("{name}.c"));
    std::fs::write(&c, src)?;
    let exe = work.join(name);
    let out = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(&c)
        .output()
        .context("running gcc (apt-get install gcc)")?;
    if !out.status.success() {
        bail!("gcc failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(exe)
}

/// Compile the RSS wrapper into `dir`; every later spawn goes through it.
pub fn build_rss_wrapper(dir: &Path) -> Result<()> {
    let exe = compile_c(dir, "rsswrap", RSS_WRAPPER_C)?;
    let _ = RSS_WRAPPER.set(exe);
    Ok(())
}

/// `argv` as a command, through the RSS wrapper when built: (command, its result file).
fn command(argv: &[String]) -> (Command, Option<PathBuf>) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    match RSS_WRAPPER.get() {
        Some(w) => {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let file = w.with_extension(format!("rss{n}"));
            let mut cmd = Command::new(w);
            cmd.arg(&file).args(argv);
            (cmd, Some(file))
        }
        None => {
            let mut cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..]);
            (cmd, None)
        }
    }
}

/// Reset signal dispositions in the child: a bench started from a non-interactive shell's
/// background job has SIGINT ignored, and the tool would then not stop on it.
fn reset_signals(cmd: &mut Command) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            Ok(())
        });
    }
}

/// Spawn `argv` with stdout on a new pty (lines are read by a thread), stderr into `stderr_to`.
pub fn spawn_on_pty(argv: &[String], stderr_to: &Path) -> Result<Running> {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: out-pointers to two ints; no name, termios or winsize.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        bail!("openpty: {}", std::io::Error::last_os_error());
    }
    // SAFETY: fresh fds from openpty, owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let (mut cmd, rss_file) = command(argv);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(File::create(stderr_to)?);
    reset_signals(&mut cmd);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", argv[0]))?;
    drop(cmd); // closes our copy of the slave, so the master sees EOF when the tool exits
    let (tx, rx) = mpsc::channel();
    let mut master = File::from(master);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut line = Vec::new();
        // EIO once the tool (the last slave holder) is gone.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            let now = Instant::now();
            for &b in &buf[..n] {
                if b == b'\n' {
                    let text = String::from_utf8_lossy(&line)
                        .trim_end_matches('\r')
                        .to_owned();
                    if tx.send((now, text)).is_err() {
                        return; // nobody listens any more; keep draining below
                    }
                    line.clear();
                } else {
                    line.push(b);
                }
            }
        }
    });
    Ok(Running {
        pid: child.id() as i32,
        lines: Some(rx),
        started,
        rss_file,
    })
}

/// Spawn `argv` with stdout and stderr into files (the overhead runs: output to a file).
pub fn spawn_to_files(argv: &[String], stdout_to: &Path, stderr_to: &Path) -> Result<Running> {
    let (mut cmd, rss_file) = command(argv);
    cmd.stdin(Stdio::null())
        .stdout(File::create(stdout_to)?)
        .stderr(File::create(stderr_to)?);
    reset_signals(&mut cmd);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", argv[0]))?;
    Ok(Running {
        pid: child.id() as i32,
        lines: None,
        started,
        rss_file,
    })
}

/// Whether a stdout line means "tracing now". bpftrace prints "Attaching N probes..." before it
/// attaches; its scripts' BEGIN output comes after.
pub fn is_ready_line(line: &str) -> bool {
    let l = line.trim();
    !l.is_empty() && !l.starts_with("Attaching ")
}

impl Running {
    /// The tool's own pid: the RSS wrapper's child, once forked (else the spawned pid).
    pub fn tool_pid(&self) -> i32 {
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid))
            .ok()
            .and_then(|c| c.split_whitespace().next()?.parse().ok())
            .unwrap_or(self.pid)
    }

    /// Time from exec to the first ready line, or None if the tool exited or `timeout` passed.
    pub fn wait_ready(&mut self, timeout: Duration) -> Option<Duration> {
        let rx = self.lines.as_ref()?;
        let deadline = self.started + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match rx.recv_timeout(left) {
                Ok((at, line)) if is_ready_line(&line) => return Some(at - self.started),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Whether the process has exited (without reaping it).
    pub fn alive(&self) -> bool {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid out pointer; WNOWAIT leaves the child reapable by `stop`.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        rc == 0 && unsafe { info.si_pid() } == 0
    }

    /// SIGINT (Ctrl-C), then reap with wait4; SIGKILL after `grace`.
    pub fn stop(self, grace: Duration) -> Exit {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid, libc::SIGINT) };
        let deadline = Instant::now() + grace;
        let mut status = 0;
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: valid out pointers.
            let rc = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, &mut ru) };
            if rc == self.pid {
                break;
            }
            if rc < 0 || Instant::now() >= deadline {
                unsafe { libc::kill(self.pid, libc::SIGKILL) };
                unsafe { libc::wait4(self.pid, &mut status, 0, &mut ru) };
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        // The wrapper's figure is the tool's own; without it, wait4's (see RSS_WRAPPER_C).
        let wrapped = self.rss_file.as_ref().and_then(|f| {
            let kib = std::fs::read_to_string(f).ok()?.trim().parse().ok();
            let _ = std::fs::remove_file(f);
            kib
        });
        Exit {
            max_rss_kib: wrapped.unwrap_or(ru.ru_maxrss as u64),
            code,
        }
    }
}

/// Median of a non-empty list (the lower middle for even lengths).
pub fn median<T: Copy + Ord>(v: &[T]) -> Option<T> {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len().checked_sub(1)? / 2).copied()
}

/// The first non-empty line of a file, for error cells.
pub fn first_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.contains("RLIMIT_MEMLOCK"))
        .unwrap_or("")
        .chars()
        .take(80)
        .collect()
}
