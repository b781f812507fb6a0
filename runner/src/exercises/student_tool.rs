//! Running a student's .bt under bpftrace: its own process group, JSON output (`-f json`) read
//! line by line with arrival times, "ready" once every probe is attached, a flood limit, and a
//! stop that always leaves nothing behind (SIGINT so END runs, then SIGKILL to the whole group).
//!
//! Readiness: bpftrace's "attached_probes" count comes *before* attaching and includes BEGIN/END,
//! which hold no perf_event descriptor (0.23 runs them with BPF_PROG_TEST_RUN; 0.17 attaches
//! them only while they run), while 0.17 holds one per CPU for its output buffers; and BEGIN
//! runs before the other probes are attached. So neither that count, descriptors nor BEGIN's
//! output tell when tracing starts. With
//! `__BPFTRACE_NOTIFY_PROBES_ATTACHED` set, bpftrace (0.14 to at least 0.26) prints that name on
//! a line of its own once every probe is attached: on stderr up to 0.22, on stdout from 0.23.
//!
//! Stopping: bpftrace 0.17 can miss a Ctrl-C. Its poll loop looks at the flag the signal sets
//! only when epoll_wait is interrupted, so a SIGINT that lands between two waits leaves it
//! tracing (0.23 checks the flag every round). While it still holds its probes' descriptors
//! the signal is sent again, as SIGTERM: same flag, and harmless once it is printing its maps
//! (a second SIGINT would kill it then: bpftrace resets SIGINT to the default after tracing).
use std::{
    io::{BufRead as _, BufReader, Read as _},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

/// Stop reading (and stop the tool) after this much output: a flood, not a report. The checks
/// run a few seconds; honest tools print kilobytes, one printing per syscall ~1.5 MB/s.
pub const FLOOD_BYTES: u64 = 2 << 20;
const FLOOD_MIN_BYTES: u64 = 512 << 10;
const FLOOD_RATE: f64 = 256.0 * 1024.0;
/// Attaching takes 0.2-0.4 s here; a tool not attached after this is reported as hung.
pub const ATTACH_TIMEOUT: Duration = Duration::from_secs(20);
/// Set in bpftrace's environment; it prints this line once every probe is attached (see above).
pub const ATTACHED_MARKER: &str = "__BPFTRACE_NOTIFY_PROBES_ATTACHED";
/// Time END gets to print the maps after Ctrl-C.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// A tool still attached this long after Ctrl-C missed it (detaching starts at once).
const RESEND_EVERY: Duration = Duration::from_secs(1);

/// One stdout line of `bpftrace -f json`, with when it arrived (seconds since the tool was ready).
#[derive(Debug, Clone)]
pub struct Line {
    pub at: f64,
    pub json: serde_json::Value,
}

impl Line {
    /// One stdout line: a JSON record (Ok) or raw text that is not JSON (Err, kept as text).
    pub fn parse(at: f64, line: &str) -> Result<Line, String> {
        serde_json::from_str::<serde_json::Value>(line)
            .map(|json| Line { at, json })
            .map_err(|_| line.to_owned())
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// Exited by itself or after Ctrl-C, with this status (None: killed by a signal).
    Exited(Option<i32>),
    /// Still running after Ctrl-C + grace: killed.
    KilledAfterGrace,
    /// Printed more than FLOOD_BYTES: killed.
    Flooded { bytes: u64, secs: f64 },
}

/// A bpftrace process running one tool.
pub struct Tool {
    child: Child,
    pgid: i32,
    rx: mpsc::Receiver<(Instant, String)>,
    bytes: Arc<AtomicU64>,
    flooded: Arc<AtomicBool>,
    /// Set when bpftrace printed ATTACHED_MARKER (on either stream).
    attached: Arc<AtomicBool>,
    stderr: Option<thread::JoinHandle<String>>,
    stdout: Option<thread::JoinHandle<()>>,
    ready_at: Option<Instant>,
    /// perf_event/bpf_link descriptors once attached: fewer means it is detaching.
    probe_fds: usize,
    started: Instant,
    pub lines: Vec<Line>,
    /// stdout lines that were not JSON (should not happen with -f json; kept for the report).
    pub raw: Vec<String>,
}

/// bpftrace on PATH (or in /usr/sbin, /usr/bin), or a clear error.
pub fn bpftrace_path() -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join("bpftrace"))
        .find(|p| p.is_file())
        .context(
            "bpftrace is not installed (apt-get install bpftrace; provision/setup.sh installs it)",
        )
}

impl Tool {
    pub fn spawn(tool: &Path) -> Result<Self> {
        let bpftrace = bpftrace_path()?;
        let mut cmd = Command::new(bpftrace);
        cmd.arg("-f").arg("json").arg(tool);
        cmd.env(ATTACHED_MARKER, "1");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.process_group(0);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // A runner started from a non-interactive shell may have SIGINT ignored; the
                // tool must see Ctrl-C to run END and print its maps.
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                // Its own process group does not get the user's Ctrl-C of `lab check`: if the
                // runner dies, the tool must not stay attached.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().context("starting bpftrace")?;
        let pgid = child.id() as i32;
        let (tx, rx) = mpsc::channel();
        let bytes = Arc::new(AtomicU64::new(0));
        let flooded = Arc::new(AtomicBool::new(false));
        let attached = Arc::new(AtomicBool::new(false));
        let out = child.stdout.take().context("bpftrace stdout")?;
        let (b, f, a) = (bytes.clone(), flooded.clone(), attached.clone());
        let stdout = thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut buf = Vec::new();
            loop {
                // Bytes are counted as they arrive, not per line: a tool printing one endless
                // line (printf without "\n") must hit the cap, not grow `buf` without bound.
                let (used, line_done) = match r.fill_buf() {
                    Ok([]) | Err(_) => break,
                    Ok(chunk) => match chunk.iter().position(|&c| c == b'\n') {
                        Some(i) => {
                            buf.extend_from_slice(&chunk[..=i]);
                            (i + 1, true)
                        }
                        None => {
                            buf.extend_from_slice(chunk);
                            (chunk.len(), false)
                        }
                    },
                };
                r.consume(used);
                let total = b.fetch_add(used as u64, Ordering::Relaxed) + used as u64;
                if total > FLOOD_BYTES {
                    // Stop reading: the tool blocks on a full pipe until it is killed.
                    f.store(true, Ordering::Relaxed);
                    break;
                }
                if !line_done {
                    continue;
                }
                let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                buf.clear();
                if line == ATTACHED_MARKER {
                    a.store(true, Ordering::Relaxed);
                    continue;
                }
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let err = child.stderr.take().context("bpftrace stderr")?;
        let a = attached.clone();
        let stderr = thread::spawn(move || read_stderr(err, &a));
        Ok(Self {
            child,
            pgid,
            rx,
            bytes,
            flooded,
            attached,
            stderr: Some(stderr),
            stdout: Some(stdout),
            ready_at: None,
            probe_fds: 0,
            started: Instant::now(),
            lines: Vec::new(),
            raw: Vec::new(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Move lines that arrived into `lines`.
    pub fn pump(&mut self) {
        let t0 = self.ready_at.unwrap_or(self.started);
        while let Ok((at, line)) = self.rx.try_recv() {
            if line.is_empty() {
                continue;
            }
            let at = at.saturating_duration_since(t0).as_secs_f64();
            match Line::parse(at, &line) {
                Ok(l) => self.lines.push(l),
                Err(raw) => self.raw.push(raw),
            }
        }
    }

    /// Over the byte cap, or printing faster than any honest tool here (a steady 256 KiB/s once
    /// past 512 KiB; per-event tools on a busy machine print tens of KiB/s).
    pub fn flooded(&self) -> bool {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let secs = self.elapsed().max(0.1);
        self.flooded.load(Ordering::Relaxed)
            || (bytes > FLOOD_MIN_BYTES && bytes as f64 / secs > FLOOD_RATE)
    }

    /// Wait until bpftrace says every probe is attached. Err(None) when bpftrace exited first,
    /// Err(Some(why)) on timeout.
    pub fn wait_ready(&mut self) -> std::result::Result<(), Option<String>> {
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        loop {
            self.pump();
            if self.attached.load(Ordering::Relaxed) {
                self.ready_at = Some(Instant::now());
                self.probe_fds = probe_fds(self.pid());
                // Lines so far (BEGIN output) count as time 0.
                for l in &mut self.lines {
                    l.at = 0.0;
                }
                return Ok(());
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return Err(None);
            }
            if Instant::now() > deadline {
                return Err(Some(format!(
                    "bpftrace did not finish attaching its probes within {} s",
                    ATTACH_TIMEOUT.as_secs()
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Seconds since the tool was ready.
    pub fn elapsed(&self) -> f64 {
        self.ready_at
            .unwrap_or(self.started)
            .elapsed()
            .as_secs_f64()
    }

    /// Stop the tool: Ctrl-C (END prints the maps), then SIGKILL to the group after the grace
    /// time, or at once when it flooded. Returns how it ended and its stderr.
    pub fn stop(mut self) -> (End, String, Vec<Line>, Vec<String>) {
        let end = if self.flooded() {
            let secs = self.elapsed();
            self.kill_group();
            End::Flooded {
                bytes: self.bytes.load(Ordering::Relaxed),
                secs,
            }
        } else if let Ok(Some(st)) = self.child.try_wait() {
            End::Exited(st.code())
        } else {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(self.pid() as i32, libc::SIGINT) };
            let deadline = Instant::now() + STOP_GRACE;
            let mut resend = Instant::now() + RESEND_EVERY;
            loop {
                self.pump();
                // After Ctrl-C only the cap counts: END may print big maps in one go.
                if self.flooded.load(Ordering::Relaxed) {
                    let secs = self.elapsed();
                    self.kill_group();
                    break End::Flooded {
                        bytes: self.bytes.load(Ordering::Relaxed),
                        secs,
                    };
                }
                if let Ok(Some(st)) = self.child.try_wait() {
                    break End::Exited(st.code());
                }
                if Instant::now() > deadline {
                    self.kill_group();
                    break End::KilledAfterGrace;
                }
                if Instant::now() > resend {
                    resend += RESEND_EVERY;
                    // Still attached: the Ctrl-C was missed (see the module comment).
                    if self.probe_fds > 0 && probe_fds(self.pid()) >= self.probe_fds {
                        // SAFETY: signalling our own child.
                        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
                    }
                }
                thread::sleep(Duration::from_millis(20));
            }
        };
        self.kill_group();
        if let Some(h) = self.stdout.take() {
            let _ = h.join();
        }
        self.pump();
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let lines = std::mem::take(&mut self.lines);
        let raw = std::mem::take(&mut self.raw);
        (end, stderr, lines, raw)
    }

    /// SIGKILL every process of the tool's group and reap the leader.
    fn kill_group(&mut self) {
        // SAFETY: the group is the one bpftrace leads (process_group(0) at spawn).
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        if self.stdout.is_some() {
            self.kill_group();
        }
    }
}

/// Whether any process of group `pgid` is still alive.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// perf_event and bpf_link descriptors of `pid`: its attached probes (0.17 also keeps one per
/// CPU for its output buffer). Only compared with itself, never with a count of probes.
fn probe_fds(pid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| {
            let t = t.to_string_lossy();
            t.contains("[perf_event]") || t.contains("bpf_link")
        })
        .count()
}

/// bpftrace's stderr, at most 256 KiB of it (a tool can flood stderr too), without the
/// attached marker, which sets `attached` (bpftrace up to 0.22 prints it there).
fn read_stderr(err: impl std::io::Read, attached: &AtomicBool) -> String {
    const KEEP: usize = 256 * 1024;
    let mut r = BufReader::new(err);
    let (mut kept, mut line) = (Vec::new(), Vec::new());
    loop {
        line.clear();
        // Each read is bounded too: a line without an end must not grow without limit.
        match (&mut r).take(64 * 1024).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim_ascii_end() == ATTACHED_MARKER.as_bytes() => {
                attached.store(true, Ordering::Relaxed);
            }
            Ok(_) if kept.len() < KEEP => {
                kept.extend_from_slice(&line[..line.len().min(KEEP - kept.len())]);
            }
            Ok(_) => {}
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_marker_sets_attached_and_is_left_out() {
        let attached = AtomicBool::new(false);
        let err = format!("WARNING: memlock\n{ATTACHED_MARKER}\nERROR: late\n");
        let text = read_stderr(err.as_bytes(), &attached);
        assert!(attached.load(Ordering::Relaxed));
        assert_eq!(text, "WARNING: memlock\nERROR: late\n");
    }
}
