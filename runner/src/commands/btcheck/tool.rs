//! Running a student's .bt under bpftrace: its own process group, JSON output (`-f json`) read
//! line by line with arrival times, "ready" once every probe is attached, a flood limit, and a
//! stop that always leaves nothing behind (SIGINT so END runs, then SIGKILL to the whole group).
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
/// Time END gets to print the maps after Ctrl-C.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// One stdout line of `bpftrace -f json`, with when it arrived (seconds since the tool was ready).
#[derive(Debug, Clone)]
pub struct Line {
    pub at: f64,
    pub json: serde_json::Value,
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
    stderr: Option<thread::JoinHandle<String>>,
    stdout: Option<thread::JoinHandle<()>>,
    ready_at: Option<Instant>,
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
        let out = child.stdout.take().context("bpftrace stdout")?;
        let (b, f) = (bytes.clone(), flooded.clone());
        let stdout = thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let total = b.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                        if total > FLOOD_BYTES {
                            // Stop reading: the tool blocks on a full pipe until it is killed.
                            f.store(true, Ordering::Relaxed);
                            break;
                        }
                        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                        if tx.send((Instant::now(), line)).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut err = child.stderr.take().context("bpftrace stderr")?;
        let stderr = thread::spawn(move || {
            let mut s = Vec::new();
            // Bounded: a tool can flood stderr too.
            let _ = (&mut err).take(256 * 1024).read_to_end(&mut s);
            let _ = std::io::copy(&mut err, &mut std::io::sink());
            String::from_utf8_lossy(&s).into_owned()
        });
        Ok(Self {
            child,
            pgid,
            rx,
            bytes,
            flooded,
            stderr: Some(stderr),
            stdout: Some(stdout),
            ready_at: None,
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
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(json) => self.lines.push(Line { at, json }),
                Err(_) => self.raw.push(line),
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

    /// Wait until every probe is attached. Err(None) when bpftrace exited first, Err(Some(why))
    /// on timeout.
    pub fn wait_ready(&mut self) -> std::result::Result<(), Option<String>> {
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        loop {
            self.pump();
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return Err(None);
            }
            let want = self.lines.iter().find_map(|l| {
                (l.json["type"] == "attached_probes")
                    .then(|| l.json["data"]["probes"].as_u64())
                    .flatten()
            });
            if let Some(n) = want {
                // bpftrace prints the count before attaching; every probe holds a perf_event
                // (or bpf_link) fd once attached, so their number tells when it is done.
                if attached_fds(self.pid()) >= n {
                    thread::sleep(Duration::from_millis(50));
                    self.ready_at = Some(Instant::now());
                    // Lines so far (BEGIN output) count as time 0.
                    for l in &mut self.lines {
                        l.at = 0.0;
                    }
                    return Ok(());
                }
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

/// perf_event and bpf_link descriptors of `pid`: one per attached probe.
fn attached_fds(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| {
            let t = t.to_string_lossy();
            t.contains("[perf_event]") || t.contains("bpf_link")
        })
        .count() as u64
}
