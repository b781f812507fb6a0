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
    path::Path,
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
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
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
    })
}

/// Spawn `argv` with stdout and stderr into files (the overhead runs: output to a file).
pub fn spawn_to_files(argv: &[String], stdout_to: &Path, stderr_to: &Path) -> Result<Running> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
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
    })
}

/// Whether a stdout line means "tracing now". bpftrace prints "Attaching N probes..." before it
/// attaches; its scripts' BEGIN output comes after.
pub fn is_ready_line(line: &str) -> bool {
    let l = line.trim();
    !l.is_empty() && !l.starts_with("Attaching ")
}

impl Running {
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
        Exit {
            max_rss_kib: ru.ru_maxrss as u64,
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
