//! libvirt through `virsh` (package libvirt-clients), driven with duct.
//!
//! Why virsh and not the `virt` crate's bindings: the same `lab` binary is the static musl
//! payload of every lab VM, which must not link libvirt; virsh reaches local and `qemu+ssh://`
//! hosts alike, and its error lines are the ones an instructor can look up.
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

use super::uri::HostUri;

/// How long one virsh call may take before it is killed (an ssh transport to a dead host can
/// otherwise hang for minutes in TCP connect).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The packages an instructor's machine and a VM host need.
pub const CLIENT_PACKAGES: &str = "libvirt-clients";
pub const HOST_PACKAGES: &str =
    "libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base";

/// One libvirt host, spoken to with virsh.
#[derive(Debug, Clone)]
pub struct Virsh {
    pub host: HostUri,
}

impl Virsh {
    pub fn new(host: HostUri) -> Virsh {
        Virsh { host }
    }

    /// virsh's stdout, or its error in one line.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        self.run_input(args, None, CALL_TIMEOUT)
    }

    /// Like `run`, with a deadline of its own.
    pub fn run_within(&self, args: &[&str], timeout: Duration) -> anyhow::Result<String> {
        self.run_input(args, None, timeout)
    }

    /// Like `run`, with `input` (e.g. a domain's XML) on virsh's stdin as `/dev/stdin`.
    pub fn run_with_file(&self, args: &[&str], input: &[u8]) -> anyhow::Result<String> {
        self.run_input(args, Some(input), CALL_TIMEOUT)
    }

    fn run_input(
        &self,
        args: &[&str],
        input: Option<&[u8]>,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let mut full = vec!["-q", "-c", self.host.connect.as_str()];
        full.extend_from_slice(args);
        let mut expr = crate::child::dies_with_lab(
            duct::cmd("virsh", &full)
                .stdout_capture()
                .stderr_capture()
                .unchecked(),
        );
        expr = match input {
            Some(bytes) => expr.stdin_bytes(bytes.to_vec()),
            None => expr.stdin_null(),
        };
        let handle = expr.start().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!(
                    "virsh not found: install {CLIENT_PACKAGES} (apt-get install {CLIENT_PACKAGES}); a VM host also needs {HOST_PACKAGES}"
                )
            } else {
                anyhow!("running virsh: {e}")
            }
        })?;
        let deadline = Instant::now() + timeout;
        let out = match handle
            .wait_deadline(deadline)
            .context("waiting for virsh")?
        {
            Some(out) => out.clone(),
            None => {
                let _ = handle.kill();
                bail!(
                    "{}: virsh {} gave no answer within {} s",
                    self.host.uri,
                    args.first().unwrap_or(&""),
                    timeout.as_secs()
                );
            }
        };
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(anyhow!(
            "{}",
            one_line(&String::from_utf8_lossy(&out.stderr))
        ))
    }

    /// Whether `virsh ARGS` succeeds (for existence checks that fail by design).
    pub fn ok(&self, args: &[&str]) -> bool {
        self.run(args).is_ok()
    }
}

/// Run `make` (remove an object of ours, then create it) again while it fails because the object
/// exists: a killed `lab class up` may have sent its own create just before the kill, and libvirtd
/// carries it out later, even after our removal (seen: 48 s later, behind a QEMU probe). Three
/// tries; an object that is not ours is refused inside `make`, never removed.
pub fn replacing<T>(mut make: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let mut tries = 1;
    loop {
        match make() {
            Err(e) if tries < 3 && format!("{e:#}").contains("already exists") => {
                tries += 1;
                std::thread::sleep(Duration::from_secs(2));
            }
            done => return done,
        }
    }
}

/// virsh's stderr ("error: failed to connect...\nerror: Cannot recv data: ...") as one line.
pub fn one_line(stderr: &str) -> String {
    let parts: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect();
    if parts.is_empty() {
        "virsh failed without a message".into()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replacing_tries_again_only_while_the_object_exists() {
        let exists =
            || anyhow::anyhow!("operation failed: domain 'c-lab-02' already exists with uuid d522");
        let mut calls = 0;
        let r = super::replacing(|| {
            calls += 1;
            if calls == 1 {
                Err(exists())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 2, "made on the second try");
        let mut calls = 0;
        let r: anyhow::Result<()> = super::replacing(|| {
            calls += 1;
            Err(anyhow::anyhow!("Storage pool not found"))
        });
        assert!(r.is_err() && calls == 1, "another error is not retried");
        let mut calls = 0;
        let r: anyhow::Result<()> = super::replacing(|| {
            calls += 1;
            Err(exists())
        });
        assert!(
            r.is_err() && calls == 3,
            "three tries, then the error: {calls}"
        );
    }

    #[test]
    fn virsh_errors_in_one_line() {
        assert_eq!(
            super::one_line(
                "error: failed to connect to the hypervisor\nerror: Cannot recv data: Connection reset\n"
            ),
            "failed to connect to the hypervisor: Cannot recv data: Connection reset"
        );
    }
}
