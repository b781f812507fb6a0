//! Logging into a guest as the student, with the password from the roster (as the login card
//! says), through qemu's forwarded port on 127.0.0.1.
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use lab_tests::run;

pub struct Ssh {
    /// The guest's kernel id, for log lines.
    pub label: &'static str,
    pub port: u16,
    pub password: String,
}

/// What one remote command did.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Both streams, the tail of each when long: what a failure message shows.
    pub fn both(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            tail(&self.stdout, 200),
            tail(&self.stderr, 80)
        )
    }
}

pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    let cut = v.len().saturating_sub(lines);
    let mut t = String::new();
    if cut > 0 {
        t.push_str(&format!("[... {cut} earlier lines ...]\n"));
    }
    t.push_str(&v[cut..].join("\n"));
    t
}

impl Ssh {
    /// Run `script` as the student. ssh's own failures (exit 255: connection refused or reset)
    /// are retried a few times: cloud-init restarts sshd while it configures the guest, and a
    /// connection made just then is reset ("kex_exchange_identification: ... reset by peer").
    pub fn run(&self, timeout_s: u64, script: &str) -> Out {
        let mut last = self.once(timeout_s, script);
        for _ in 0..6 {
            if last.code != 255 {
                break;
            }
            std::thread::sleep(Duration::from_secs(5));
            last = self.once(timeout_s, script);
        }
        last
    }

    pub fn once(&self, timeout_s: u64, script: &str) -> Out {
        let mut c = Command::new("timeout");
        c.args(["-k", "10", &timeout_s.to_string()])
            .args(["sshpass", "-e", "ssh", "-p", &self.port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args(["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30"])
            .args([
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "PreferredAuthentications=password",
            ])
            .args([
                "-o",
                "ServerAliveInterval=15",
                "-o",
                "ServerAliveCountMax=8",
            ])
            .arg("student@127.0.0.1")
            .arg(script)
            .env("SSHPASS", &self.password)
            .stdin(Stdio::null());
        let (code, stdout, stderr) = run(&mut c);
        Out {
            code,
            stdout,
            stderr,
        }
    }

    /// Run and require exit 0; returns stdout. Err carries the command and its output.
    pub fn ok(&self, timeout_s: u64, script: &str) -> Result<String, String> {
        let start = Instant::now();
        let out = self.run(timeout_s, script);
        eprintln!(
            "guest {}: [{:>6.1}s] $ {script} -> exit {}",
            self.label,
            start.elapsed().as_secs_f64(),
            out.code
        );
        if out.code == 0 {
            Ok(out.stdout)
        } else {
            Err(format!(
                "in the guest: `{script}` exited {}\n{}",
                out.code,
                out.both()
            ))
        }
    }
}
