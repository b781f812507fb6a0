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
    // The cached image stays pristine: this VM writes to its own overlay.
    let overlay = work.join("disk.qcow2");
    checked(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(image.join("disk.qcow2"))
            .arg(&overlay),
    )?;

    let ssh_port = free_port();
    let console = work.join("console.log");
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-accel", "tcg,thread=multi,tb-size=512", "-cpu", "max"])
        .args(["-smp", "2", "-m", "2048"])
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
    // Dies with the harness's main thread even if the harness is killed outright.
    unsafe {
        qemu.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut vm = Vm {
        child: qemu
            .spawn()
            .map_err(|e| format!("spawn qemu-system-x86_64: {e}"))?,
        console,
    };
    eprintln!(
        "guest {}: qemu pid {}, ssh on 127.0.0.1:{ssh_port}, files on :{}",
        k.id,
        vm.pid(),
        server.port
    );
    let ssh = Ssh {
        label: k.id,
        port: ssh_port,
        password,
    };
    let up = Instant::now();
    loop {
        if !vm.alive() {
            return Err(format!(
                "qemu exited during boot; console:\n{}",
                vm.console_tail()
            ));
        }
        if up.elapsed() > SSH_UP_TIMEOUT {
            return Err(format!(
                "no SSH login within {SSH_UP_TIMEOUT:?}; console:\n{}",
                vm.console_tail()
            ));
        }
        if ssh.once(90, "true").code == 0 {
            break;
        }
        std::thread::sleep(Duration::from_secs(3));
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
