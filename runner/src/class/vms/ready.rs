//! Whether a VM has proven ready, stage by stage: an address from libvirt's DHCP leases, SSH
//! answering with the instructor key, cloud-init done, and `lab doctor`'s verdict ok, read the
//! way `lab class status` reads it (`lab status --json` over the same SSH).
use std::time::{Duration, Instant};

use super::{
    hosts::Host,
    progress::{Stage, VmLine},
};
use crate::class::{ssh, Options, Target};

/// How a VM is asked, and until when.
pub struct Probe<'a> {
    pub host: &'a Host,
    pub domain: &'a str,
    pub student: &'a str,
    pub user: &'a str,
    pub opts: &'a Options,
    pub deadline: Instant,
    /// A VM made in this run: old host keys of its address are forgotten.
    pub fresh: bool,
}

/// Ok(address) when ready; Err(why not, starting with the stage that failed).
pub fn wait(p: &Probe, line: &VmLine, on_address: &dyn Fn(&str)) -> Result<String, String> {
    let wanted = if p.host.leases {
        "a DHCP lease"
    } else {
        "an address in the host's ARP table"
    };
    line.set(Stage::Booting, &format!("waiting for {wanted}"));
    let ip = poll(p, Duration::from_secs(2), || {
        crate::libvirt::domain::address(&p.host.virsh, p.domain, p.host.leases)
            .ok_or_else(|| format!("no address yet ({wanted})"))
    })
    .map_err(|why| {
        format!(
            "booting: {why} (console log: /var/log/libvirt/qemu/{}-console.log on {})",
            p.domain,
            p.host.label()
        )
    })?;
    on_address(&ip);
    if p.fresh {
        forget_host_key(p.opts, &ip);
    }
    let t = Target {
        name: p.student.to_string(),
        host: ip.clone(),
        user: p.user.to_string(),
        via: p.host.via.clone(),
    };
    let fail = |stage: &str, why: String| format!("{stage}: {why}");
    line.set(Stage::Ssh, &ip);
    poll(p, Duration::from_secs(3), || run(p, &t, "true").map(|_| ()))
        .map_err(|why| fail("ssh", why))?;
    line.set(Stage::CloudInit, &ip);
    cloud_init_done(p, &t).map_err(|why| fail("cloud-init", why))?;
    line.set(Stage::Doctor, &ip);
    doctor_ok(p, &t).map_err(|why| fail("doctor", why))?;
    Ok(ip)
}

/// Retry `f` every `every` until it succeeds or the deadline passes (then its last error).
fn poll<T>(
    p: &Probe,
    every: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(why) if Instant::now() + every >= p.deadline => {
                return Err(format!("{why} (gave up after the --timeout)"))
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// `remote` over ssh; Err: ssh's reason in a word, or the command's last stderr line.
fn run(p: &Probe, t: &Target, remote: &str) -> Result<String, String> {
    let deadline = (Instant::now() + p.opts.timeout).min(p.deadline);
    let out = ssh::run(t, p.opts, remote, deadline)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Some(255) => Err(ssh::classify(&stderr)),
        code => Err(format!(
            "`{remote}` exited {}: {}",
            code.map_or("by a signal".into(), |c| c.to_string()),
            stderr.lines().last().unwrap_or("").trim()
        )),
    }
}

fn cloud_init_done(p: &Probe, t: &Target) -> Result<(), String> {
    let status = poll(p, Duration::from_secs(5), || {
        // Exit 1 (error) and 2 (degraded, cloud-init 23.4+) still print the status line.
        let text = run(p, t, "cloud-init status 2>&1; true")?;
        let word = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("status:"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        match word.as_str() {
            "running" | "not started" | "not run" | "" => Err(format!("status {word:?}")),
            _ => Ok(word),
        }
    })?;
    if status == "done" {
        return Ok(());
    }
    let log = run(p, t, "sudo -n tail -n 40 /var/log/cloud-init-output.log").unwrap_or_default();
    let last = log
        .lines()
        .rev()
        .find(|l| l.contains("lab-provision:"))
        .or_else(|| log.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("(no output log)");
    Err(format!("status {status}: {}", last.trim()))
}

fn doctor_ok(p: &Probe, t: &Target) -> Result<(), String> {
    let row = ssh::fetch(t, p.opts);
    if let Some(e) = row.error {
        return Err(e);
    }
    let doctor = row.status.and_then(|s| s.doctor).ok_or(
        "no report: provisioning did not run `lab doctor` (see /var/log/cloud-init-output.log)",
    )?;
    if doctor.verdict == "ok" && doctor.all_labs_runnable {
        Ok(())
    } else {
        Err(format!(
            "verdict {}: {} (see /var/log/lab-doctor.log)",
            doctor.verdict,
            doctor.failed.join(", ")
        ))
    }
}

/// A re-created VM may get an address an old one had: its old host key must not block it.
fn forget_host_key(opts: &Options, ip: &str) {
    if opts.known_hosts.exists() {
        let _ = duct::cmd!("ssh-keygen", "-R", ip, "-f", &opts.known_hosts)
            .stdout_null()
            .stderr_null()
            .run();
    }
}
