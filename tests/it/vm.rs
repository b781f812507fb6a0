//! The real thing: a Debian 12 VM under qemu (TCG: this machine's nested KVM cannot boot a stock
//! kernel), provisioned by the user-data `lab provision cloud-init` writes, logged into as the
//! student with the generated password, running the labs on a kernel that has kprobes.
//! Slow (about 8 minutes on a first run, most of it building the cached image), root only.
use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use lab_tests::{cmd, require_root, run};

use crate::provision::{repo_root, scratch};

/// Generous: 2 cores shared with compilers make TCG several times slower than on a quiet machine.
const SSH_UP_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const CLOUD_INIT_TIMEOUT: u64 = 25 * 60;

/// qemu, killed when dropped: nothing outlives the test, even when an assertion fails.
struct Vm {
    child: Child,
    console: PathBuf,
}

impl Vm {
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    fn console_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.console).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// SSH into the guest as the student, with the password from the roster.
struct Guest {
    port: u16,
    password: String,
}

impl Guest {
    /// Run `script` as the student. ssh's own failures (exit 255: connection refused or reset)
    /// are retried a few times: cloud-init restarts sshd while it configures the guest, and a
    /// connection made just then is reset ("kex_exchange_identification: ... reset by peer").
    fn ssh(&self, timeout_s: u64, script: &str) -> (i32, String, String) {
        let mut last = self.ssh_once(timeout_s, script);
        for _ in 0..6 {
            if last.0 != 255 {
                break;
            }
            std::thread::sleep(Duration::from_secs(5));
            last = self.ssh_once(timeout_s, script);
        }
        last
    }

    fn ssh_once(&self, timeout_s: u64, script: &str) -> (i32, String, String) {
        let mut c = Command::new("timeout");
        c.arg(timeout_s.to_string())
            .args(["sshpass", "-e", "ssh", "-p", &self.port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
            ])
            .args([
                "-o",
                "ConnectTimeout=30",
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
        run(&mut c)
    }

    /// Run and require success; returns stdout.
    fn ok(&self, timeout_s: u64, script: &str) -> String {
        let start = Instant::now();
        let (code, out, err) = self.ssh(timeout_s, script);
        eprintln!(
            "vm: [{:>5.1}s] $ {script} -> exit {code}",
            start.elapsed().as_secs_f64()
        );
        assert_eq!(
            code, 0,
            "in the VM: {script}\nstdout:\n{out}\nstderr:\n{err}"
        );
        out
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serve one file over HTTP on 127.0.0.1 (the guest reaches it as 10.0.2.2), like an instructor
/// serving the payload. The thread ends with the test process.
fn serve_file(path: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let path = path.clone();
            std::thread::spawn(move || respond(stream, &path));
        }
    });
    port
}

fn respond(mut s: TcpStream, path: &Path) {
    let mut req = [0u8; 4096];
    let n = s.read(&mut req).unwrap_or(0);
    let line = String::from_utf8_lossy(&req[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let wanted = format!("/{}", path.file_name().unwrap().to_string_lossy());
    match std::fs::read(path) {
        Ok(body)
            if line.starts_with("GET ")
                && line.split_whitespace().nth(1) == Some(wanted.as_str()) =>
        {
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/gzip\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
        _ => {
            let _ = s.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    }
}

/// Run a repo script, echoing its stderr; returns the last line of its stdout.
fn script(path: &Path, envs: &[(&str, &str)]) -> String {
    let start = Instant::now();
    let out = Command::new(path)
        .envs(envs.iter().copied())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}",
        path.display(),
        out.status
    );
    eprintln!(
        "vm: {} done in {:.0}s",
        path.display(),
        start.elapsed().as_secs_f64()
    );
    stdout.lines().last().unwrap_or_default().trim().to_string()
}

fn check(c: &mut Command) {
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{c:?}:\n{out}\n{err}");
}

#[test]
fn provisioned_vm_runs_the_labs() {
    if !require_root("vm::provisioned_vm_runs_the_labs") {
        return;
    }
    let t0 = Instant::now();
    let repo = repo_root();
    // Host packages (qemu, sshpass, cloud-localds...) even when the image is already cached.
    script(&repo.join("provision/vm/deps.sh"), &[]);
    let image = PathBuf::from(script(&repo.join("provision/vm/build-image.sh"), &[]));

    // The payload: the static musl build (LAB_VM_BIN_DIR reuses one built earlier).
    let bins = match std::env::var("LAB_VM_BIN_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => PathBuf::from(script(&repo.join("provision/build-static.sh"), &[])),
    };

    let work = scratch("vm");
    let class = work.join("class");
    let payload = class.join("lab-payload.tar.gz");
    let http_port = serve_file(payload.clone());
    let url = format!("http://10.0.2.2:{http_port}/lab-payload.tar.gz");
    let (code, out, err) = run(cmd("lab")
        .args([
            "provision",
            "cloud-init",
            "--students",
            "1",
            "--prefix",
            "labvm",
            "--payload-url",
            &url,
            "--out",
        ])
        .arg(&class)
        .arg("--bin-dir")
        .arg(&bins));
    assert_eq!(code, 0, "lab provision cloud-init:\n{out}\n{err}");
    assert!(
        !err.contains("dynamically linked"),
        "payload is not static: {err}"
    );
    let roster = std::fs::read_to_string(class.join("roster.csv")).unwrap();
    let row: Vec<&str> = roster.lines().nth(1).unwrap().split(',').collect();
    let (name, password) = (row[0].to_string(), row[3].to_string());

    let seed = work.join("seed.iso");
    check(
        Command::new("cloud-localds")
            .arg(&seed)
            .arg(class.join(&name).join("user-data"))
            .arg(class.join(&name).join("meta-data")),
    );
    // The cached image stays pristine: this VM writes to its own overlay.
    let overlay = work.join("disk.qcow2");
    check(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(image.join("disk.qcow2"))
            .arg(&overlay),
    );

    let ssh_port = free_port();
    let console = work.join("console.log");
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args([
        "-accel",
        "tcg,thread=multi,tb-size=512",
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        "2048",
    ])
    .args(["-display", "none", "-monitor", "none", "-no-reboot"])
    .arg("-kernel")
    .arg(image.join("vmlinuz"))
    .arg("-initrd")
    .arg(image.join("initrd.img"))
    .args(["-append", "root=/dev/vda rw console=ttyS0"])
    .arg("-drive")
    .arg(format!("file={},if=virtio,format=qcow2", overlay.display()))
    .arg("-drive")
    .arg(format!(
        "file={},if=virtio,format=raw,readonly=on",
        seed.display()
    ))
    .args([
        "-netdev",
        &format!("user,id=net0,hostfwd=tcp:127.0.0.1:{ssh_port}-:22"),
        "-device",
        "virtio-net-pci,netdev=net0",
    ])
    .arg("-serial")
    .arg(format!("file:{}", console.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    // Also dies with this test's thread if the test process is killed outright.
    unsafe {
        qemu.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut vm = Vm {
        child: qemu.spawn().expect("spawn qemu-system-x86_64"),
        console,
    };
    let qemu_pid = vm.child.id();
    eprintln!("vm: qemu pid {qemu_pid}, ssh on 127.0.0.1:{ssh_port}, payload on :{http_port}");

    // Log in as the student with the generated password, as the card says.
    let guest = Guest {
        port: ssh_port,
        password,
    };
    let boot = Instant::now();
    loop {
        assert!(
            vm.alive(),
            "qemu exited during boot; console:\n{}",
            vm.console_tail()
        );
        assert!(
            boot.elapsed() < SSH_UP_TIMEOUT,
            "no SSH login within {SSH_UP_TIMEOUT:?}; console:\n{}",
            vm.console_tail()
        );
        if guest.ssh_once(90, "true").0 == 0 {
            break;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
    eprintln!(
        "vm: student logged in over SSH {:.0}s after boot",
        boot.elapsed().as_secs_f64()
    );

    // cloud-init must finish cleanly: packages, payload, tracefs, lab doctor.
    let (code, status, err) = guest.ssh(CLOUD_INIT_TIMEOUT, "cloud-init status --wait --long");
    let log = guest
        .ssh(120, "sudo tail -n 40 /var/log/cloud-init-output.log")
        .1;
    assert!(
        code == 0 && status.contains("status: done"),
        "cloud-init: exit {code}\n{status}\n{err}\ncloud-init-output.log:\n{log}"
    );
    eprintln!(
        "vm: cloud-init done {:.0}s after boot",
        boot.elapsed().as_secs_f64()
    );
    assert!(
        log.contains("lab-provision: lab doctor exit 0"),
        "provisioning did not log a passing lab doctor:\n{log}"
    );

    assert_eq!(guest.ok(60, "id -un").trim(), "student");
    assert_eq!(guest.ok(60, "hostname").trim(), name);
    guest.ok(60, "sudo -n true"); // passwordless sudo
    let sshd = guest.ok(60, "sudo sshd -T");
    assert!(
        sshd.contains("permitrootlogin no"),
        "root may log in over SSH:\n{sshd}"
    );
    assert!(sshd.contains("passwordauthentication yes"), "{sshd}");
    guest.ok(60, "findmnt -t tracefs /sys/kernel/tracing");
    let mut expected = vec!["lab", "lab-workload"];
    expected.extend(lab_probes::requirements::TOOLS.iter().map(|t| t.name));
    guest.ok(
        60,
        &format!("for b in {}; do command -v $b; done", expected.join(" ")),
    );

    // lab doctor as the student would run it: every lab runnable, kprobes usable on this kernel.
    let doctor = guest.ok(300, "sudo lab doctor --json");
    let v: serde_json::Value = serde_json::from_str(&doctor).expect("doctor --json");
    assert_eq!(v["all_labs_runnable"], true, "{doctor}");
    let kprobes = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == "kprobes")
        .unwrap();
    assert_eq!(
        kprobes["verdict"], "ok",
        "our kprobe program did not load+attach in the guest: {kprobes}"
    );

    // A kprobe-based tool: count vfs_read calls of a child that reads a file; cat reads it at
    // least twice (the data, then end of file).
    let bt = guest.ok(300, "sudo bpftrace -e 'kprobe:vfs_read /pid == cpid/ { @reads = count(); }' -c '/usr/bin/cat /etc/os-release'");
    let reads: u64 = bt
        .lines()
        .find_map(|l| l.strip_prefix("@reads: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("bpftrace printed no count:\n{bt}"));
    assert!(
        reads >= 2,
        "kprobe:vfs_read saw {reads} reads by cat:\n{bt}"
    );

    // The lab itself, if this build has the engine.
    let help = guest.ok(60, "lab --help");
    if help.lines().any(|l| l.trim_start().starts_with("start ")) {
        let (code, out, err) = guest.ssh(600, "sudo lab start 1 && sudo lab status");
        assert_eq!(code, 0, "lab start 1 / lab status in the VM:\n{out}\n{err}");
        let stopped = guest.ok(300, "sudo lab stop");
        // stop names the session it ended: proof that start left one running.
        assert!(
            stopped.contains("Stopped lab 1"),
            "lab stop found no running lab 1:\n{stopped}"
        );
    } else {
        eprintln!(
            "vm: NOT RUN: `lab start 1` / `lab stop`: this lab build has no `start` command yet"
        );
    }

    // `lab provision host` on an already provisioned machine: same setup, idempotent.
    let host = guest.ok(600, "sudo lab provision host");
    assert!(host.contains("lab doctor exit 0"), "{host}");

    // Clean shutdown; the guard kills qemu if the guest does not power off in time.
    let _ = guest.ssh(60, "sudo poweroff");
    let down = Instant::now();
    while vm.alive() && down.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_secs(2));
    }
    let clean = !vm.alive();
    drop(vm);
    assert!(
        !Path::new(&format!("/proc/{qemu_pid}")).exists(),
        "qemu {qemu_pid} still running"
    );
    assert!(clean, "the guest did not power off within 180 s");
    eprintln!("vm: whole test {:.0}s", t0.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&work);
}
