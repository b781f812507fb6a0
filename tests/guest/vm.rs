//! One lab VM: provisioned by the user-data `lab provision cloud-init` writes (as an instructor
//! would), booted under qemu TCG (this machine's nested KVM cannot boot a stock kernel) on a
//! private qcow2 overlay of the cached image, and logged into as the student over SSH.
use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    kernels::Kernel,
    payload::{checked, last_line, Payload},
    serve::Server,
    ssh::Ssh,
};

/// Generous: 2 cores shared with compilers make TCG several times slower than on a quiet machine.
const SSH_UP_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// No login this long after boot, with RCU stalls on the console: the guest hung (seen on
/// Debian 12's 6.1 under a starved TCG: "rcu_preempt kthread timer wakeup didn't happen", one
/// vCPU idle for good). A healthy guest logs in within 1-3 minutes even under load.
const HUNG_AFTER: Duration = Duration::from_secs(6 * 60);

/// The disks of one guest: the cached image (kept pristine), this VM's overlay, its seed.
struct Disks {
    image: PathBuf,
    overlay: PathBuf,
    seed: PathBuf,
}

/// Why a guest gave no login.
enum NoLogin {
    Hung(String),
    Failed(String),
}

impl std::fmt::Display for NoLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoLogin::Hung(s) | NoLogin::Failed(s) => f.write_str(s),
        }
    }
}

/// qemu, killed when dropped: nothing outlives the harness, even when a trial fails.
pub struct Vm {
    child: Child,
    console: PathBuf,
}

impl Vm {
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn console_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.console).unwrap_or_default();
        crate::ssh::tail(&text, 40)
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

/// A booted, logged-into guest with its payload server.
pub struct Booted {
    /// The kernel's id (`debian12`), for log lines: two guests run at once.
    pub kernel: &'static str,
    pub vm: Vm,
    pub ssh: Ssh,
    pub server: Server,
    pub name: String,
    pub work: PathBuf,
    /// The host's (instructor's) static `lab`, which provisioned the class.
    pub host_lab: PathBuf,
    /// Seconds from qemu start to the student's first SSH login.
    pub ssh_up_s: f64,
    /// `cloud-init status --wait --long` and the tail of its output log (boot::wait_for_cloud_init).
    pub cloud_init: Option<Result<String, String>>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Build (or reuse) the image, provision one student, boot, wait for the SSH login.
pub fn boot(
    repo: &Path,
    k: &'static Kernel,
    payload: &Payload,
    work: &Path,
) -> Result<Booted, String> {
    let image = PathBuf::from(last_line(
        Command::new(repo.join("provision/vm/build-image.sh")).arg(k.suite),
    )?);
    let class = work.join("class");
    // One server for both tarballs: the class payload and the tests.
    let serve_dir = work.join("served");
    std::fs::create_dir_all(&serve_dir).map_err(|e| e.to_string())?;
    let server = Server::start(serve_dir.clone());
    let url = format!("http://10.0.2.2:{}/lab-payload.tar.gz", server.port);
    // The host runs the static lab too: what the instructor would run.
    let lab = payload.bins.join("lab");
    // The instructor's key, as `lab class` uses it: its public half goes in with --ssh-key.
    let key = work.join("instructor");
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(work.join("instructor.pub"));
    checked(
        Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "lab-guest-instructor",
                "-f",
            ])
            .arg(&key),
    )?;
    let (code, out, err) = lab_tests::run(
        Command::new(&lab)
            .args(["provision", "cloud-init", "--students", "1", "--prefix"])
            .arg(format!("lab{}", k.id.trim_start_matches("debian")))
            .args(["--payload-url", &url, "--out"])
            .arg(&class)
            .arg("--ssh-key")
            .arg(work.join("instructor.pub"))
            .arg("--bin-dir")
            .arg(&payload.bins),
    );
    if code != 0 {
        return Err(format!(
            "lab provision cloud-init exited {code}:\n{out}\n{err}"
        ));
    }
    if err.contains("dynamically linked") {
        return Err(format!("payload is not static: {err}"));
    }
    let f = "lab-payload.tar.gz";
    std::fs::copy(class.join(f), serve_dir.join(f)).map_err(|e| e.to_string())?;
    let tests = payload.tests_dir.join(crate::payload::TESTS_TARBALL);
    std::fs::copy(&tests, serve_dir.join(crate::payload::TESTS_TARBALL))
        .map_err(|e| format!("{}: {e}", tests.display()))?;
    let roster = std::fs::read_to_string(class.join("roster.csv")).map_err(|e| e.to_string())?;
    let row: Vec<&str> = roster
        .lines()
        .nth(1)
        .ok_or("empty roster")?
        .split(',')
        .collect();
    let (name, password) = (row[0].to_string(), row[3].to_string());

    let seed = work.join("seed.iso");
    checked(
        Command::new("cloud-localds")
            .arg(&seed)
            .arg(class.join(&name).join("user-data"))
            .arg(class.join(&name).join("meta-data")),
    )?;
    let ssh_port = free_port();
    let ssh = Ssh {
        label: k.id,
        port: ssh_port,
        password,
    };
    let disks = Disks {
        image: image.clone(),
        overlay: work.join("disk.qcow2"),
        seed,
    };
    let up = Instant::now();
    let mut vm = start_qemu(k.id, &disks, &work.join("console.log"), ssh_port, &server)?;
    match wait_for_login(&mut vm, &ssh, HUNG_AFTER) {
        Ok(()) => {}
        Err(NoLogin::Failed(why)) => return Err(why),
        Err(NoLogin::Hung(why)) => {
            // A guest kernel that lost its timer under a starved TCG never recovers: boot it
            // again once, on a fresh overlay, rather than fail the run (console.log kept).
            eprintln!("guest {}: {why}; booting it again", k.id);
            drop(vm);
            let console = work.join("console-2.log");
            vm = start_qemu(k.id, &disks, &console, ssh_port, &server)?;
            wait_for_login(&mut vm, &ssh, SSH_UP_TIMEOUT).map_err(|e| e.to_string())?;
        }
    }
    let ssh_up_s = up.elapsed().as_secs_f64();
    eprintln!(
        "guest {}: student logged in over SSH {ssh_up_s:.0}s after boot",
        k.id
    );
    Ok(Booted {
        kernel: k.id,
        vm,
        ssh,
        server,
        name,
        work: work.to_path_buf(),
        host_lab: lab,
        ssh_up_s,
        cloud_init: None,
    })
}

/// qemu on a fresh overlay of the image, with the seed, the student's SSH port forwarded and
/// the console into `console`.
fn start_qemu(
    id: &str,
    disks: &Disks,
    console: &Path,
    ssh_port: u16,
    server: &Server,
) -> Result<Vm, String> {
    let _ = std::fs::remove_file(&disks.overlay);
    checked(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(disks.image.join("disk.qcow2"))
            .arg(&disks.overlay),
    )?;
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-accel", "tcg,thread=multi,tb-size=512", "-cpu", "max"])
        .args(["-smp", "2", "-m", "2048"])
        .args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(disks.image.join("vmlinuz"))
        .arg("-initrd")
        .arg(disks.image.join("initrd.img"))
        .args(["-append", "root=/dev/vda rw console=ttyS0"])
        .arg("-drive")
        .arg(format!(
            "file={},if=virtio,format=qcow2",
            disks.overlay.display()
        ))
        .arg("-drive")
        .arg(format!(
            "file={},if=virtio,format=raw,readonly=on",
            disks.seed.display()
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
    // Dies with the harness's main thread even if the harness is killed outright.
    unsafe {
        qemu.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let vm = Vm {
        child: qemu
            .spawn()
            .map_err(|e| format!("spawn qemu-system-x86_64: {e}"))?,
        console: console.to_path_buf(),
    };
    eprintln!(
        "guest {id}: qemu pid {}, ssh on 127.0.0.1:{ssh_port}, files on :{}",
        vm.pid(),
        server.port
    );
    Ok(vm)
}

/// Wait for the student's SSH login. Past `hung_after` without one, a console with RCU stalls
/// means the guest hung; past SSH_UP_TIMEOUT, give up either way.
fn wait_for_login(vm: &mut Vm, ssh: &Ssh, hung_after: Duration) -> Result<(), NoLogin> {
    let up = Instant::now();
    loop {
        if !vm.alive() {
            let tail = vm.console_tail();
            return Err(NoLogin::Failed(format!(
                "qemu exited during boot; console:\n{tail}"
            )));
        }
        if up.elapsed() > hung_after {
            let console = std::fs::read_to_string(&vm.console).unwrap_or_default();
            if console.contains("rcu: INFO: rcu_preempt detected stalls") {
                let secs = up.elapsed().as_secs();
                return Err(NoLogin::Hung(format!(
                    "no SSH login {secs} s after boot and RCU stalls on the console"
                )));
            }
        }
        if up.elapsed() > SSH_UP_TIMEOUT {
            let tail = vm.console_tail();
            return Err(NoLogin::Failed(format!(
                "no SSH login within {SSH_UP_TIMEOUT:?}; console:\n{tail}"
            )));
        }
        if ssh.once(90, "true").code == 0 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(3));
    }
}
