//! The guest-level checks: provisioning finished cleanly, the kernel is the one named, kprobes
//! and fentry work there, `lab provision host` is idempotent, and the guest powers off.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use crate::{kernels::Kernel, vm::Booted};

const CLOUD_INIT_TIMEOUT_S: u64 = 25 * 60;
/// A guest whose network setup stalls (trixie's DHCPv6 wait was 5 minutes) is a failure.
const SSH_UP_LIMIT_S: f64 = 240.0;

/// Wait for cloud-init (packages, payload, tracefs, lab doctor); the result is judged by
/// provisioned_cleanly, so the other trials still run when only that is wrong.
pub fn wait_for_cloud_init(b: &mut Booted) {
    let start = Instant::now();
    let status = b
        .ssh
        .run(CLOUD_INIT_TIMEOUT_S, "sudo cloud-init status --wait --long");
    let log = b
        .ssh
        .run(120, "sudo tail -n 60 /var/log/cloud-init-output.log")
        .stdout;
    eprintln!(
        "guest {}: cloud-init finished (exit {}) after {:.0}s",
        b.kernel,
        status.code,
        start.elapsed().as_secs_f64()
    );
    let text = format!(
        "{}\n{}\ncloud-init-output.log:\n{log}",
        status.stdout, status.stderr
    );
    b.cloud_init = Some(
        if status.code == 0 && status.stdout.contains("status: done") {
            Ok(text)
        } else {
            Err(format!("cloud-init status: exit {}\n{text}", status.code))
        },
    );
}

pub fn provisioned_cleanly(k: &Kernel, b: &mut Booted) -> Result<(), String> {
    let log = b
        .cloud_init
        .clone()
        .ok_or("cloud-init was not waited for")??;
    if !log.contains("lab-provision: lab doctor exit 0") {
        return Err(format!(
            "provisioning did not log a passing lab doctor:\n{log}"
        ));
    }
    if b.ssh_up_s > SSH_UP_LIMIT_S {
        return Err(format!(
            "SSH came up {:.0}s after boot (limit {SSH_UP_LIMIT_S}s): a stalled network setup?",
            b.ssh_up_s
        ));
    }
    let failed = b
        .ssh
        .ok(60, "sudo systemctl --failed --no-legend --plain")?;
    if !failed.trim().is_empty() {
        return Err(format!("failed systemd units in the guest:\n{failed}"));
    }
    expect_eq(b.ssh.ok(60, "id -un")?.trim(), "student", "id -un")?;
    expect_eq(b.ssh.ok(60, "hostname")?.trim(), &b.name, "hostname")?;
    b.ssh.ok(60, "sudo -n true")?; // passwordless sudo
    let sshd = b.ssh.ok(60, "sudo sshd -T")?;
    for want in ["permitrootlogin no", "passwordauthentication yes"] {
        if !sshd.contains(want) {
            return Err(format!("sshd -T lacks `{want}`:\n{sshd}"));
        }
    }
    b.ssh.ok(60, "findmnt -t tracefs /sys/kernel/tracing")?;
    let bins: Vec<&str> = ["lab", "lab-workload"]
        .into_iter()
        .chain(lab_probes::requirements::TOOLS.iter().map(|t| t.name))
        .collect();
    b.ssh.ok(
        60,
        &format!("for b in {}; do command -v $b; done", bins.join(" ")),
    )?;

    // The kernel and bpftrace this guest stands for.
    let release = b.ssh.ok(60, "uname -r")?;
    if !release.trim().starts_with(k.release_prefix) {
        return Err(format!(
            "{} runs kernel {release}, not {}x",
            k.id, k.release_prefix
        ));
    }
    let bt = b.ssh.ok(60, "bpftrace --version")?;
    if !bt.contains(k.bpftrace) {
        return Err(format!("{} has {bt}, not bpftrace {}x", k.id, k.bpftrace));
    }

    // lab doctor as the student runs it: every lab runnable, kprobes and fentry really loaded,
    // and this kernel in the tested-kernels table.
    let doctor = b.ssh.ok(600, "sudo lab doctor --json")?;
    let v: serde_json::Value =
        serde_json::from_str(&doctor).map_err(|e| format!("lab doctor --json: {e}\n{doctor}"))?;
    if v["all_labs_runnable"] != true {
        return Err(format!("lab doctor: not every lab can run:\n{doctor}"));
    }
    for check in ["kprobes", "fentry/fexit"] {
        let row = v["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["check"] == check))
            .ok_or_else(|| format!("lab doctor has no `{check}` row:\n{doctor}"))?;
        if row["verdict"] != "ok" {
            return Err(format!(
                "lab doctor: {check} not usable in the guest: {row}"
            ));
        }
    }
    if v["kernel_tested"] != true {
        return Err(format!(
            "lab doctor does not list {release} with {bt} as a tested kernel:\n{doctor}"
        ));
    }
    eprintln!(
        "guest {}: kernel {} {}, SSH up after {:.0}s",
        k.id,
        release.trim(),
        bt.trim(),
        b.ssh_up_s
    );
    Ok(())
}

/// Kernel-function probes, which this host lacks: a kprobe and a kfunc (fentry) count the
/// vfs_read calls of `cat`, which reads at least twice (the data, then end of file).
pub fn kprobes_and_fentry_work(b: &mut Booted) -> Result<(), String> {
    for probe in ["kprobe:vfs_read", "kfunc:vfs_read"] {
        let out = b.ssh.ok(
            600,
            &format!(
                "sudo bpftrace -e '{probe} /pid == cpid/ {{ @reads = count(); }}' -c '/usr/bin/cat /etc/os-release'"
            ),
        )?;
        let reads: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("@reads: "))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| format!("{probe}: bpftrace printed no count:\n{out}"))?;
        if reads < 2 {
            return Err(format!("{probe} saw {reads} reads by cat:\n{out}"));
        }
    }
    Ok(())
}

/// The instructor's view: a lab started in the guest, then `lab class status` on the host reads
/// it over SSH with the key given at provisioning (recorded in the class dir's class.json).
pub fn class_status_sees_the_running_lab(b: &mut Booted) -> Result<(), String> {
    let lab = 2;
    b.ssh.ok(
        900,
        &format!("sudo lab stop >/dev/null 2>&1; sudo lab start {lab}"),
    )?;
    let result = class_status(b, lab);
    let _ = b.ssh.run(300, "sudo lab stop");
    result
}

fn class_status(b: &mut Booted, lab: u64) -> Result<(), String> {
    // The class dir as provisioned, but the roster's host is the VM's forwarded SSH port here.
    let class = b.work.join("class");
    let view = b.work.join("class-view");
    let _ = std::fs::remove_dir_all(&view);
    std::fs::create_dir_all(&view).map_err(|e| e.to_string())?;
    std::fs::copy(class.join("class.json"), view.join("class.json")).map_err(|e| e.to_string())?;
    let roster = format!(
        "name,host,user,password,instance_id\n{},127.0.0.1:{},student,,\n",
        b.name, b.ssh.port
    );
    std::fs::write(view.join("roster.csv"), roster).map_err(|e| e.to_string())?;
    let timeout = 120.0;
    let t0 = Instant::now();
    let (code, out, err) = lab_tests::run(
        std::process::Command::new(&b.host_lab)
            .args([
                "class",
                "status",
                "--json",
                "--timeout",
                &timeout.to_string(),
                "--class",
            ])
            .arg(&view),
    );
    let took = t0.elapsed().as_secs_f64();
    if code != 0 {
        return Err(format!("lab class status exited {code}:\n{out}\n{err}"));
    }
    if took > timeout + 10.0 {
        return Err(format!(
            "lab class status took {took:.0} s with --timeout {timeout}"
        ));
    }
    let doc: serde_json::Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    let row = &doc["rows"][0];
    let st = &row["status"];
    if row["reachable"] != true || st["lab"] != lab || st["user"] != "student" {
        return Err(format!(
            "expected student on lab {lab}, got:\n{}\n{err}",
            serde_json::to_string_pretty(row).unwrap_or_default()
        ));
    }
    if st["workloads"]
        .as_array()
        .is_none_or(|w| w.is_empty() || w.iter().any(|w| w["alive"] != true))
    {
        return Err(format!(
            "lab {lab}'s workloads not all alive: {}",
            st["workloads"]
        ));
    }
    if st["doctor"]["verdict"] != "ok" {
        return Err(format!(
            "provisioning's doctor verdict missing or not ok: {}",
            st["doctor"]
        ));
    }
    eprintln!(
        "guest class: lab class status saw lab {lab} running for {} s (workload cpu {}%) in {took:.1} s",
        st["elapsed_secs"], st["workloads"][0]["cpu_percent"]
    );
    Ok(())
}

/// `lab provision host` on an already provisioned machine: the same setup, idempotent.
pub fn provision_host_is_idempotent(b: &mut Booted) -> Result<(), String> {
    let host = b.ssh.ok(900, "sudo lab provision host")?;
    if host.contains("lab doctor exit 0") {
        Ok(())
    } else {
        Err(format!(
            "lab provision host did not end with a passing doctor:\n{host}"
        ))
    }
}

/// A clean power-off; qemu is killed (and that reported) if the guest does not stop in time.
pub fn power_off(mut b: Booted) -> Result<(), String> {
    let pid = b.vm.pid();
    let _ = b.ssh.once(60, "sudo systemctl poweroff");
    let down = Instant::now();
    while b.vm.alive() && down.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_secs(2));
    }
    let clean = !b.vm.alive();
    let work = b.work.clone();
    drop(b); // kills qemu if still alive, stops the payload server
    if Path::new(&format!("/proc/{pid}")).exists() {
        return Err(format!("qemu {pid} still running after power-off"));
    }
    let _ = std::fs::remove_dir_all(&work);
    if clean {
        Ok(())
    } else {
        Err("the guest did not power off within 180 s (qemu killed)".into())
    }
}

fn expect_eq(got: &str, want: &str, what: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got `{got}`, want `{want}`"))
    }
}
