//! A tool under test, run as a binary: started, waited for until a stdout line shows it is
//! tracing (our tools attach every probe before printing their header), then stopped with a
//! signal the way a user stops it, its whole output collected and its exit status checked.
use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime},
};

/// How long a tool may take to print its ready line (a TCG guest on a busy host is slow).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long a tool may take to exit after the signal (it drains its buffers and prints).
const EXIT_WITHIN: Duration = Duration::from_secs(20);

pub struct RunningTool {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    /// stdout lines so far (all of them after `stop`).
    pub seen: Vec<String>,
    started: SystemTime,
}

impl RunningTool {
    /// `crate::cmd(name) args`, ready once a stdout line contains `ready`.
    pub fn start(name: &str, args: &[&str], ready: &str) -> RunningTool {
        let mut c = crate::cmd(name);
        c.args(args);
        Self::spawn(c, name, ready)
    }

    /// Start a prepared command (e.g. with a pre_exec); its stdout and stderr are piped here.
    pub fn spawn(mut c: Command, name: &str, ready: &str) -> RunningTool {
        let started = SystemTime::now();
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut t = RunningTool {
            name: name.into(),
            child,
            lines,
            stderr: Some(stderr),
            seen: Vec::new(),
            started,
        };
        let deadline = Instant::now() + READY_WITHIN;
        while let Ok(l) = t
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let hit = l.contains(ready);
            t.seen.push(l);
            if hit {
                return t;
            }
        }
        let _ = t.child.kill();
        let status = t.child.wait().unwrap();
        let err = t.take_stderr();
        panic!(
            "{name} never printed {ready:?} ({status}); stdout {:?}, stderr {err}",
            t.seen
        );
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// When it was started (for "BPF programs loaded since").
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// Ctrl-C: see `stop_with`.
    pub fn stop(self) -> (String, String) {
        self.stop_with(libc::SIGINT)
    }

    /// Send `sig`, wait for the tool to exit, and return (stdout, stderr); panics unless it
    /// exited 0 within EXIT_WITHIN and is gone from /proc.
    pub fn stop_with(self, sig: i32) -> (String, String) {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
        self.collect(sig)
    }

    /// Wait for a tool that ends by itself (`-M`, a count): as `stop`, without the signal.
    pub fn wait_exit(self) -> (String, String) {
        self.collect(0)
    }

    fn collect(mut self, sig: i32) -> (String, String) {
        let deadline = Instant::now() + EXIT_WITHIN;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {} s of signal {sig}",
                    self.name,
                    EXIT_WITHIN.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = self.take_stderr();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        let stdout = self.seen.join("\n");
        assert_eq!(
            status.code(),
            Some(0),
            "{} exit after signal {sig}: {status}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            self.name
        );
        assert!(
            !std::path::Path::new(&format!("/proc/{}", self.pid())).exists(),
            "{} still in /proc after it was reaped",
            self.name
        );
        (stdout, stderr)
    }

    fn take_stderr(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for RunningTool {
    /// A test that panics while the tool runs must not leave it attached.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
