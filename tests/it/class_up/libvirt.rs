//! A real libvirtd (Debian's packages) for the `lab class up` tests, started by the test inside
//! a network namespace it creates: the NAT network `default`, its bridge, dnsmasq and every VM
//! packet live in that namespace only, and so does everything the test runs against the VMs
//! (`lab class up/status` go through `ip netns exec`). Stopped by PID on drop, the namespace
//! deleted. One per machine at a time (libvirt's sockets are machine-wide): a file lock.
use std::{
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use lab_tests::run;

pub struct Libvirt {
    pub ns: String,
    daemons: Vec<u32>,
    _lock: std::fs::File,
    /// TCG VMs take both CPUs: no BPF or workload test of this binary runs beside them.
    _cpus: std::sync::MutexGuard<'static, ()>,
}

/// Where libvirtd and virtlogd leave their PIDs (their defaults as root).
const PIDFILES: &[(&str, &str)] = &[
    ("/usr/sbin/virtlogd", "/run/virtlogd.pid"),
    ("/usr/sbin/libvirtd", "/run/libvirtd.pid"),
];

impl Libvirt {
    /// Install (provision/vm/deps.sh: qemu, libvirt), then start libvirtd in a fresh namespace.
    pub fn start(repo: &Path) -> Libvirt {
        let (code, out, err) = run(&mut Command::new(repo.join("provision/vm/deps.sh")));
        assert_eq!(code, 0, "provision/vm/deps.sh failed:\n{out}\n{err}");
        let lock = std::fs::File::create("/run/lab-test-libvirt.lock").unwrap();
        // SAFETY: flock on a descriptor we own; blocks until another test's libvirtd is gone.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        for (daemon, pidfile) in PIDFILES {
            if let Some(pid) = live_pid(pidfile) {
                // Left by a killed run of these tests (it sits in one of our namespaces)?
                let ns = run(Command::new("ip").args(["netns", "identify", &pid.to_string()])).1;
                assert!(
                    ns.trim().starts_with("lab-virt-"),
                    "{daemon} already runs (pid {pid}); the class up tests start their own inside a network namespace: stop it first (kill {pid})"
                );
                // SAFETY: a daemon an earlier, killed run of these tests started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
        for stale in run(Command::new("ip").args(["netns", "list"])).1.lines() {
            let name = stale.split_whitespace().next().unwrap_or_default();
            if name.starts_with("lab-virt-") {
                let _ = Command::new("ip").args(["netns", "del", name]).status();
            }
        }
        // A dnsmasq of the NAT network outlives a libvirtd killed without net-destroy.
        if let Some(pid) = live_pid("/run/libvirt/network/default.pid") {
            // SAFETY: a stale dnsmasq of libvirt's default network, no libvirtd runs.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        let ns = format!("lab-virt-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &ns])
            .stderr(std::process::Stdio::null())
            .status();
        sh(Command::new("ip").args(["netns", "add", &ns]));
        let mut lv = Libvirt {
            ns,
            daemons: Vec::new(),
            _lock: lock,
            _cpus: lab_tests::bpf_lock(),
        };
        sh(&mut lv.cmd("ip", &["link", "set", "lo", "up"]));
        for (daemon, pidfile) in PIDFILES {
            // /dev/kvm masked in the daemons' mount namespace (ip netns exec makes one): this
            // machine's /dev/kvm is root's alone (no udev), so libvirt's QEMU could not use it
            // and libvirtd would probe QEMU again on every call, stalling parallel defines.
            // A host without KVM, as far as libvirt knows: TCG, as these tests want anyway.
            let start = format!("mount --bind /dev/null /dev/kvm 2>/dev/null; exec {daemon} -d");
            sh(lv.cmd("sh", &["-c", &start]).env_remove("LD_LIBRARY_PATH"));
            let pid = wait_for(Duration::from_secs(30), || live_pid(pidfile))
                .unwrap_or_else(|| panic!("{daemon} did not start (no {pidfile})"));
            lv.daemons.push(pid);
        }
        wait_for(Duration::from_secs(30), || {
            (run(&mut lv.virsh_cmd(&["uri"])).0 == 0).then_some(())
        })
        .expect("libvirtd answers on its socket");
        if !lv
            .virsh(&["net-info", "default"])
            .contains("Active:         yes")
        {
            lv.virsh(&["net-start", "default"]);
        }
        lv.purge_test_objects();
        lv
    }

    /// Domains and pools a failed or killed run of these tests left (their class directories
    /// are named lab-class-up-*): VMs would otherwise run on after the test.
    fn purge_test_objects(&self) {
        let list = |args: &[&str]| -> Vec<String> {
            run(&mut self.virsh_cmd(args))
                .1
                .lines()
                .map(str::trim)
                .filter(|n| n.starts_with("lab-class-up-") || n.starts_with("lab-lab-class-up-"))
                .map(String::from)
                .collect()
        };
        for d in list(&["list", "--all", "--name"]) {
            let _ = run(&mut self.virsh_cmd(&["destroy", &d]));
            let _ = run(&mut self.virsh_cmd(&["undefine", &d]));
        }
        for p in list(&["pool-list", "--all", "--name"]) {
            let _ = run(&mut self.virsh_cmd(&["pool-start", &p]));
            for v in run(&mut self.virsh_cmd(&["vol-list", &p])).1.lines() {
                if let Some(v) = v.split_whitespace().next() {
                    let _ = run(&mut self.virsh_cmd(&["vol-delete", "--pool", &p, v]));
                }
            }
            let _ = run(&mut self.virsh_cmd(&["pool-destroy", &p]));
            let _ = run(&mut self.virsh_cmd(&["pool-delete", &p]));
            let _ = run(&mut self.virsh_cmd(&["pool-undefine", &p]));
        }
    }

    /// `ip netns exec NS prog args...`
    pub fn cmd(&self, prog: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(prog).args(args);
        c
    }

    fn virsh_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("virsh");
        c.args(["-q", "-c", "qemu:///system"]).args(args);
        c
    }

    /// virsh's stdout (the test fails when virsh does).
    pub fn virsh(&self, args: &[&str]) -> String {
        let (code, out, err) = run(&mut self.virsh_cmd(args));
        assert_eq!(code, 0, "virsh {args:?}: {err}");
        out
    }

    /// Every domain and every storage pool: what a test must leave as it found.
    pub fn inventory(&self) -> (String, String) {
        (
            self.virsh(&["list", "--all", "--name"]),
            self.virsh(&["pool-list", "--all", "--name"]),
        )
    }
}

impl Drop for Libvirt {
    fn drop(&mut self) {
        // A test that failed before its `down`: its VMs must not run on without libvirtd.
        self.purge_test_objects();
        let _ = run(&mut self.virsh_cmd(&["net-destroy", "default"]));
        for pid in self.daemons.iter().rev() {
            // SAFETY: signalling a daemon this test started.
            unsafe { libc::kill(*pid as i32, libc::SIGTERM) };
            let gone = wait_for(Duration::from_secs(20), || {
                live_pid_of(*pid).is_none().then_some(())
            });
            if gone.is_none() {
                unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn live_pid_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    (stat.rsplit_once(") ")?.1.chars().next()? != 'Z').then_some(pid)
}

/// The PID in `pidfile` when that process runs (a zombie does not: PID 1 here may not reap).
fn live_pid(pidfile: &str) -> Option<u32> {
    live_pid_of(std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?)
}

pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sh(c: &mut Command) {
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{c:?}: {out}{err}");
}

/// The last stdout line of a repo script (its result: a directory).
fn last_line(c: &mut Command) -> PathBuf {
    let out = c.stderr(std::process::Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "{c:?} failed");
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .trim(),
    )
}

/// The static payload (provision/build-static.sh, or LAB_VM_BIN_DIR as tests/run.sh sets it).
pub fn static_bins(repo: &Path) -> PathBuf {
    match std::env::var_os("LAB_VM_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => last_line(&mut Command::new(repo.join("provision/build-static.sh"))),
    }
}

/// The Debian 12 image provision/vm/build-image.sh makes (cached), and the static payload.
pub fn image_and_payload(repo: &Path) -> (PathBuf, PathBuf) {
    let bins = static_bins(repo);
    let image = last_line(Command::new(repo.join("provision/vm/build-image.sh")).arg("bookworm"));
    (image, bins)
}
