//! One VM's `lab status --json` over the OpenSSH client (driven with duct): key auth only
//! (BatchMode, no password ever), a connect timeout and an overall deadline after which the ssh
//! child is killed, so one dead or slow VM never holds up the others.
use std::time::Instant;

use super::{Options, Row, Target};
use crate::status_json::{StatusDoc, SCHEMA};

pub fn fetch(t: &Target, opts: &Options) -> Row {
    let started = Instant::now();
    let outcome = run(
        t,
        opts,
        &format!("{} status --json", opts.lab_command),
        started + opts.timeout,
    );
    let mut row = Row::new(t);
    row.elapsed_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Err(why) => row.error = Some(why),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code();
            if code == Some(255) {
                row.error = Some(classify(&stderr));
            } else if code == Some(127) {
                row.reachable = true;
                row.error = Some(format!(
                    "`{}` not found on the VM (provisioning not finished? see /var/log/lab-doctor.log)",
                    opts.lab_command
                ));
            } else {
                row.reachable = true;
                match parse(&out.stdout) {
                    Ok(doc) => row.status = Some(doc),
                    Err(e) => {
                        let last = stderr.lines().last().unwrap_or("").trim();
                        row.error = Some(if code == Some(0) || last.is_empty() {
                            e
                        } else {
                            format!("lab status failed: {last}")
                        });
                    }
                }
            }
        }
    }
    row
}

/// Run `remote` on the VM as the roster's user (key only, never a password); the ssh child is
/// killed at `deadline`. Err: ssh could not be run or did not finish in time.
pub fn run(
    t: &Target,
    opts: &Options,
    remote: &str,
    deadline: Instant,
) -> Result<std::process::Output, String> {
    let mut args = ssh_args(t, opts);
    let (host, _) = t.address();
    args.extend(["--".into(), host, remote.to_string()]);
    let expr = crate::child::dies_with_lab(
        duct::cmd("ssh", &args)
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked(),
    );
    match expr.start() {
        Err(e) => Err(format!("cannot run ssh: {e} (install openssh-client)")),
        Ok(handle) => match handle.wait_deadline(deadline) {
            Ok(Some(out)) => Ok(out.clone()),
            Ok(None) => {
                let _ = handle.kill();
                Err(format!(
                    "timeout: no answer within {} s",
                    opts.timeout.as_secs_f64()
                ))
            }
            Err(e) => Err(format!("ssh: {e}")),
        },
    }
}

/// The ssh options for one VM, up to (not including) its host name.
fn ssh_args(t: &Target, opts: &Options) -> Vec<String> {
    let (_, port) = t.address();
    let connect = opts.connect_timeout.min(opts.timeout).as_secs().max(1);
    let mut args: Vec<String> = vec![
        "-T".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("ConnectTimeout={connect}"),
        "-o".into(),
        "PasswordAuthentication=no".into(),
        "-o".into(),
        "KbdInteractiveAuthentication=no".into(),
        // First contact with a fresh VM is accepted and remembered; a changed key is refused.
        "-o".into(),
        "StrictHostKeyChecking=accept-new".into(),
        "-o".into(),
        format!("UserKnownHostsFile={}", opts.known_hosts.display()),
        "-o".into(),
        "LogLevel=ERROR".into(),
        "-l".into(),
        t.user.clone(),
    ];
    if let Some(id) = &opts.identity {
        args.extend([
            "-i".into(),
            id.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
        ]);
    }
    if let Some(k) = &opts.kex {
        args.extend(["-o".into(), format!("KexAlgorithms={k}")]);
    }
    if let Some(p) = port {
        args.extend(["-p".into(), p.to_string()]);
    }
    if let Some(proxy) = t.via.as_deref().and_then(|v| proxy_command(v, connect)) {
        args.extend(["-o".into(), format!("ProxyCommand={proxy}")]);
    }
    args
}

/// `ssh -W` through the libvirt host a VM sits behind (its `qemu+ssh://` login, key and port).
fn proxy_command(via: &str, connect_timeout: u64) -> Option<String> {
    use crate::provision::templates::shell_quote;
    let uri = crate::libvirt::HostUri::parse(via).ok()?;
    let login = uri.ssh?;
    let mut cmd =
        format!("ssh -o BatchMode=yes -o ConnectTimeout={connect_timeout} -o LogLevel=ERROR");
    if let Some(k) = &login.keyfile {
        cmd += &format!(" -i {} -o IdentitiesOnly=yes", shell_quote(k));
    }
    if login.no_verify {
        cmd += " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null";
    }
    if let Some(p) = login.port {
        cmd += &format!(" -p {p}");
    }
    if let Some(u) = &login.user {
        cmd += &format!(" -l {}", shell_quote(u));
    }
    cmd += &format!(" -W %h:%p {}", shell_quote(&login.host));
    Some(cmd)
}

/// The key exchange to offer. OpenSSH 9.0-9.8 default to sntrup761x25519, which costs ~0.1 s
/// of CPU per connection on each side: ten times the rest of a status read, and 40 of them at
/// once saturate a laptop. ML-KEM hybrid (OpenSSH 9.9+) is as cheap as X25519, so it comes first
/// when this ssh has it; then X25519; then the rest of ssh's default list, in its order.
pub fn kex_preference() -> Option<String> {
    // The client's effective default list (never widened: weak methods stay off).
    let config = duct::cmd!("ssh", "-G", "lab-class")
        .stderr_null()
        .stdin_null()
        .read()
        .ok()?;
    let list = config
        .lines()
        .find_map(|l| l.strip_prefix("kexalgorithms "))?
        .trim()
        .to_string();
    let known: Vec<&str> = list.split(',').collect();
    let fast = [
        "mlkem768x25519-sha256",
        "curve25519-sha256",
        "curve25519-sha256@libssh.org",
    ];
    let first: Vec<&str> = fast.into_iter().filter(|k| known.contains(k)).collect();
    if first.is_empty() {
        return None;
    }
    // The rest in ssh's own order, so a VM without those still finds a common method.
    let rest = known.iter().copied().filter(|k| !first.contains(k));
    Some(
        first
            .iter()
            .copied()
            .chain(rest)
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn parse(stdout: &[u8]) -> Result<StatusDoc, String> {
    let v: serde_json::Value = serde_json::from_slice(stdout)
        .map_err(|_| "lab on the VM printed no status JSON (too old? update it)".to_string())?;
    match v.get("schema").and_then(|s| s.as_u64()) {
        None => {
            return Err("lab on the VM is too old for `lab class` (no schema); update it".into())
        }
        Some(n) if n > SCHEMA as u64 => {
            return Err(format!(
                "lab on the VM speaks status schema {n}, this lab {SCHEMA}: update lab here"
            ))
        }
        Some(_) => {}
    }
    serde_json::from_value(v).map_err(|e| format!("unreadable status JSON from the VM: {e}"))
}

/// Why ssh (exit 255) could not run the command, in a word and a hint.
pub fn classify(stderr: &str) -> String {
    let s = stderr.to_ascii_lowercase();
    let why = if s.contains("connection refused") {
        "refused: nothing listens on the SSH port (VM still booting, or sshd down)"
    } else if s.contains("timed out") {
        "timeout: the VM does not answer (down, or a firewall drops SSH)"
    } else if s.contains("permission denied") {
        "auth: the instructor key is not accepted (provisioned without --ssh-key? see `lab class --help`)"
    } else if s.contains("host key verification failed")
        || s.contains("remote host identification has changed")
    {
        "host key changed: a new VM under an old name? remove its line from the class's known_hosts"
    } else if s.contains("could not resolve") || s.contains("name or service not known") {
        "unknown host: the name does not resolve (fix the roster's host column)"
    } else if s.contains("no route to host") || s.contains("network is unreachable") {
        "no route to host"
    } else {
        return format!(
            "ssh failed: {}",
            stderr
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("(no message)")
        );
    };
    why.to_string()
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn ssh_errors_in_a_word() {
        let c = |s: &str| classify(s).split(':').next().unwrap().to_string();
        assert_eq!(
            c("ssh: connect to host 127.0.0.1 port 1: Connection refused"),
            "refused"
        );
        assert_eq!(
            c("ssh: connect to host 10.1.1.1 port 22: Connection timed out"),
            "timeout"
        );
        assert_eq!(c("student@h: Permission denied (publickey)."), "auth");
        assert_eq!(c("Host key verification failed."), "host key changed");
    }
}
