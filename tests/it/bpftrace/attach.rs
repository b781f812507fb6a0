//! bpftrace started for a test and waited for until every probe is attached. BEGIN runs before
//! the other probes attach and perf_event descriptors do not match probes (0.23 runs BEGIN/END
//! without one, 0.17 holds extra ones for its output buffers), so the sign is bpftrace's own:
//! with `__BPFTRACE_NOTIFY_PROBES_ATTACHED` set it prints that line once everything is attached,
//! on stderr up to 0.22 and on stdout from 0.23 (the runner's exercise checks wait the same way).
//! Stopping, bpftrace 0.17 can miss a Ctrl-C (its poll loop reads the flag only when epoll_wait
//! is interrupted): while it still holds its probe descriptors, SIGTERM (same flag, harmless once
//! it prints its maps) follows every second, as in the runner.
use std::{
    ffi::OsStr,
    io::{BufRead as _, BufReader, Read},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

const MARKER: &str = "__BPFTRACE_NOTIFY_PROBES_ATTACHED";
const ATTACH_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running bpftrace, attached.
pub struct Traced {
    child: Child,
    what: String,
    /// stdout lines before the marker (BEGIN's output), then the channel of the rest.
    early: Vec<String>,
    lines: mpsc::Receiver<String>,
    /// perf_event/bpf_link descriptors once attached.
    probe_fds: usize,
    readers: Vec<JoinHandle<String>>,
}

/// What a stopped bpftrace printed.
pub struct Stopped {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Lines of `r` to `tx` (stdout) or into the returned text (stderr), the marker sent as "".
fn reader(
    r: impl Read + Send + 'static,
    tx: mpsc::Sender<String>,
    keep: bool,
) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = String::new();
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if line == MARKER {
                let _ = tx.send(String::new());
            } else if keep {
                kept.push_str(&line);
                kept.push('\n');
            } else {
                let _ = tx.send(line);
            }
        }
        kept
    })
}

/// Start `bpftrace ARGS` (SIGINT not ignored, so Ctrl-C runs END) and wait until it is attached;
/// panics naming `what` with its output when it exits first or does not attach in 20 s.
pub fn start(args: &[&OsStr], what: &str) -> Traced {
    let mut cmd = Command::new("bpftrace");
    cmd.args(args)
        .env(MARKER, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("bpftrace on PATH");
    let (tx, rx) = mpsc::channel();
    let readers = vec![
        reader(child.stdout.take().unwrap(), tx.clone(), false),
        reader(child.stderr.take().unwrap(), tx, true),
    ];
    let mut t = Traced {
        child,
        what: what.to_string(),
        early: Vec::new(),
        lines: rx,
        probe_fds: 0,
        readers,
    };
    let deadline = Instant::now() + ATTACH_TIMEOUT;
    loop {
        match t
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(l) if l.is_empty() => {
                t.probe_fds = probe_fds(t.child.id());
                return t;
            }
            Ok(l) => t.early.push(l),
            Err(_) => {
                let s = t.stop();
                panic!(
                    "{what}: bpftrace did not say it attached within {} s ({}):\n{}\n{}",
                    ATTACH_TIMEOUT.as_secs(),
                    s.status,
                    s.stdout,
                    s.stderr
                );
            }
        }
    }
}

impl Traced {
    /// Ctrl-C, wait for it to exit (END prints its maps), and collect everything it printed.
    pub fn stop(mut self) -> Stopped {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        // Generous: detaching takes a while per probe (vfsstat.bt has 18) on a busy 2-core machine.
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut resend = Instant::now() + Duration::from_secs(1);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > resend {
                resend += Duration::from_secs(1);
                if self.probe_fds > 0 && probe_fds(self.child.id()) >= self.probe_fds {
                    // SAFETY: signalling our own child.
                    unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
                }
            }
            if Instant::now() > deadline {
                let state = proc_state(self.child.id());
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{}: bpftrace still running {} s after Ctrl-C: {state}",
                    self.what,
                    STOP_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Both readers are done once it exited: every line is in the channel.
        let mut stderr = String::new();
        for r in self.readers.drain(..) {
            stderr.push_str(&r.join().unwrap());
        }
        let rest: Vec<String> = self.lines.try_iter().filter(|l| !l.is_empty()).collect();
        let stdout = self
            .early
            .iter()
            .chain(&rest)
            .map(|l| format!("{l}\n"))
            .collect();
        Stopped {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// perf_event and bpf_link descriptors of `pid`.
fn probe_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|t| {
                    let t = t.to_string_lossy();
                    t.contains("[perf_event]") || t.contains("bpf_link")
                })
                .count()
        })
        .unwrap_or(0)
}

/// State, signal masks and where each thread waits: why a bpftrace did not stop.
fn proc_state(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mut s: Vec<String> = status
        .lines()
        .filter(|l| {
            ["State", "SigBlk", "SigIgn", "SigCgt", "SigPnd", "ShdPnd"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(str::to_string)
        .collect();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let read = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default();
            s.push(format!(
                "{} {} wchan={}",
                read("comm").trim(),
                read("stat").split(' ').nth(2).unwrap_or("?"),
                read("wchan")
            ));
        }
    }
    s.join("; ")
}
