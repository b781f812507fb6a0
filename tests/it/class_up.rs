//! `lab class up/down/ls` against a real libvirtd (class_up/libvirt.rs: started by the test in
//! a network namespace of its own) and real VMs booted under TCG from the image
//! provision/vm/build-image.sh makes, provisioned from a NoCloud seed with the static payload.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use lab_tests::{bin, repo_root, require_root, run};
use serde_json::Value;

#[path = "class_up/libvirt.rs"]
mod libvirt;
use libvirt::{wait_for, Libvirt};

/// A class directory under /var/tmp (removed on drop: it holds passwords).
struct ClassDir(PathBuf);

impl ClassDir {
    fn new(tag: &str) -> ClassDir {
        let d = lab_tests::disk_dir().join(format!("lab-class-up-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        ClassDir(d)
    }
    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
    fn journal(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.0.join("vms.json")).unwrap()).unwrap()
    }
}

impl Drop for ClassDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `lab ARGS` inside the namespace.
fn lab(lv: &Libvirt, args: &[&str]) -> (i32, String, String) {
    run(lv.cmd(bin("lab"), args).env("NO_COLOR", "1"))
}

/// `lab class up` for `dir` with the test image and payload, plus `extra` flags.
fn up_args<'a>(
    dir: &'a ClassDir,
    image: &'a Path,
    bins: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut v = vec![
        "class",
        "up",
        "--class",
        dir.arg(),
        "--image",
        image.to_str().unwrap(),
        "--bin-dir",
        bins.to_str().unwrap(),
        "--accel",
        "tcg",
        "--memory",
        "1536M",
        "--timeout",
        "25",
    ];
    v.extend_from_slice(extra);
    v
}

/// Domains whose name starts with `prefix`.
fn domains(lv: &Libvirt, prefix: &str) -> Vec<String> {
    lv.virsh(&["list", "--all", "--name"])
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(prefix))
        .map(String::from)
        .collect()
}

/// Two students on a "remote" lab host reached as `qemu+ssh://root@127.0.0.1:PORT/system` (this
/// libvirtd behind a loopback sshd and a key made here): its NAT network is reached through that
/// login, as for a real lab host. `up` is killed (-9) while they boot, then run again: it
/// converges to two ready VMs, not three; `lab class status` sees both and a lab started in one;
/// `up` again changes nothing; `down --keep-results` collects, then leaves libvirt as it found
/// it. (The local `qemu:///system` path is class_up_boots_an_image_with_its_own_bootloader's.)
#[test]
fn class_up_two_vms_ready_resumed_after_kill_idempotent_and_down_restores() {
    if !require_root("class_up_two_vms_ready_resumed_after_kill_idempotent_and_down_restores") {
        return;
    }
    let repo = repo_root();
    let (image, bins) = libvirt::image_and_payload(&repo);
    let lv = Libvirt::start(&repo);
    let before = lv.inventory();
    let dir = ClassDir::new("two");
    let name = dir.0.file_name().unwrap().to_str().unwrap().to_string();
    let sshd_dir = lab_tests::disk_dir().join(format!("lab-class-up-sshd-{}", std::process::id()));
    let sshd = RootSshd::start(&lv, &sshd_dir);
    let remote = sshd.uri();
    let t0 = Instant::now();
    kill_while_booting(&lv, &dir, &image, &bins, &remote);
    let j = resume_converges(&lv, &dir, &image, &bins, &remote, t0);
    let ip1 = j["vms"]["lab-01"]["address"].as_str().unwrap().to_string();
    status_sees_doctor_and_lab(&lv, &dir, &ip1);
    up_again_makes_nothing(&lv, &dir, &name);
    ls_then_down_restores(&lv, &dir, &name, &before);
    drop(sshd);
    let _ = std::fs::remove_dir_all(&sshd_dir);
}

/// Step 1: kill -9 while the VMs boot: the journal records them as booting.
fn kill_while_booting(lv: &Libvirt, dir: &ClassDir, image: &Path, bins: &Path, hosts: &str) {
    let name = dir.0.file_name().unwrap().to_str().unwrap().to_string();
    let mut first = lv.cmd(
        bin("lab"),
        &up_args(dir, image, bins, &["--students", "2", "--hosts", hosts]),
    );
    first
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = first.spawn().unwrap();
    let booting = wait_for(Duration::from_secs(900), || {
        let j = std::fs::read_to_string(dir.0.join("vms.json")).unwrap_or_default();
        if j.contains("\"booting\"") {
            return Some(Ok(()));
        }
        // Ended before any VM booted: say how far it got.
        child
            .try_wait()
            .unwrap()
            .map(|st| Err(format!("lab class up exited ({st}) first: {j}")))
    });
    let _ = child.kill();
    let _ = child.wait();
    match booting {
        Some(Ok(())) => {}
        Some(Err(why)) => panic!("{why}"),
        None => panic!("no VM reached 'booting' within 15 min"),
    }
    assert!(domains(lv, &name).len() <= 2);
}

/// Step 2: up again converges: two domains, both ready on the remote host, reached through its
/// SSH login; the roster and cards hold their addresses.
fn resume_converges(
    lv: &Libvirt,
    dir: &ClassDir,
    image: &Path,
    bins: &Path,
    remote: &str,
    t0: Instant,
) -> Value {
    let name = dir.0.file_name().unwrap().to_str().unwrap().to_string();
    let (code, out, err) = lab(lv, &up_args(dir, image, bins, &[]));
    eprintln!(
        "class up (resumed) after {:.0} s:\n{out}{err}",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 of 2 VMs ready"), "{out}");
    let doms = domains(lv, &name);
    assert_eq!(doms.len(), 2, "{doms:?}");
    let j = dir.journal();
    for s in ["lab-01", "lab-02"] {
        assert_eq!(j["vms"][s]["state"], "ready", "{j}");
        assert_eq!(j["vms"][s]["host"], remote, "{j}");
        assert_eq!(j["vms"][s]["via"], remote, "{j}");
    }
    check_roster_and_cards(dir, &j);
    j
}

/// Step 3: lab class status sees both with doctor ok, and a lab started in one.
fn status_sees_doctor_and_lab(lv: &Libvirt, dir: &ClassDir, ip1: &str) {
    let status = class_status(lv, dir);
    for r in status["rows"].as_array().unwrap() {
        assert_eq!(r["status"]["doctor"]["verdict"], "ok", "{r}");
    }
    start_lab(lv, dir, ip1);
    let rows = class_status(lv, dir)["rows"].as_array().unwrap().clone();
    let row1 = rows.iter().find(|r| r["name"] == "lab-01").unwrap();
    assert_eq!(row1["status"]["lab"], 3, "{row1}");
}

/// Step 4: up again is a no-op: nothing made, the same domains (same UUIDs).
fn up_again_makes_nothing(lv: &Libvirt, dir: &ClassDir, name: &str) {
    let doms = domains(lv, name);
    let uuids = || -> Vec<String> { doms.iter().map(|d| lv.virsh(&["domuuid", d])).collect() };
    let before_uuids = uuids();
    let (code, out, err) = lab(lv, &["class", "up", "--class", dir.arg()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 of 2 VMs ready (0 made now)"), "{out}");
    assert_eq!(uuids(), before_uuids);
}

/// Step 5: ls, then down: refused without --yes, then exactly the class's objects go, after the
/// results were kept.
fn ls_then_down_restores(lv: &Libvirt, dir: &ClassDir, name: &str, before: &(String, String)) {
    let (code, out, _) = lab(lv, &["class", "ls", "--class", dir.arg()]);
    assert_eq!(code, 0);
    let listed = out
        .lines()
        .filter(|l| l.contains("running") && l.contains("ready"));
    assert_eq!(listed.count(), 2, "{out}");
    let (code, out, err) = lab(lv, &["class", "down", "--class", dir.arg()]);
    assert_eq!(
        code, 2,
        "down without --yes and no terminal must refuse: {out}{err}"
    );
    assert_eq!(domains(lv, name).len(), 2);
    let results = dir.0.join("results");
    let keep = results.to_str().unwrap();
    let down = [
        "class",
        "down",
        "--class",
        dir.arg(),
        "--yes",
        "--keep-results",
        keep,
    ];
    let (code, out, err) = lab(lv, &down);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Kept 2 of 2 students' results"), "{out}");
    let kept = std::fs::read_to_string(results.join("lab-01.json")).unwrap();
    let kept: Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(
        kept["status"]["lab"], 3,
        "the results were collected before the VMs went"
    );
    assert_eq!(
        &lv.inventory(),
        before,
        "down must leave libvirt as it found it"
    );
    assert!(!dir.0.join("vms.json").exists());
}

fn check_roster_and_cards(dir: &ClassDir, j: &Value) {
    let roster = std::fs::read_to_string(dir.0.join("roster.csv")).unwrap();
    let cards = std::fs::read_to_string(dir.0.join("cards.html")).unwrap();
    for s in ["lab-01", "lab-02"] {
        let ip = j["vms"][s]["address"].as_str().unwrap();
        assert!(ip.starts_with("192.168.122."), "{ip}");
        let row = roster
            .lines()
            .find(|l| l.starts_with(&format!("{s},{ip},")))
            .unwrap_or_else(|| panic!("{roster}"));
        let via = j["vms"][s]["via"].as_str().unwrap_or("");
        assert!(
            row.ends_with(&format!(",{via}")) || row.ends_with(&format!(",\"{via}\"")),
            "{row}"
        );
        assert!(cards.contains(&format!("ssh student@{ip}")), "card of {s}");
    }
    assert!(!cards.contains("NOT READY"), "every VM is ready");
}

fn class_status(lv: &Libvirt, dir: &ClassDir) -> Value {
    let (code, out, err) = lab(lv, &["class", "status", "--class", dir.arg(), "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `sudo lab start 3` in the VM at `ip`, as its student with the class key.
fn start_lab(lv: &Libvirt, dir: &ClassDir, ip: &str) {
    let key = dir.0.join("class-key");
    let known = dir.0.join("known_hosts");
    let (code, out, err) = run(&mut lv.cmd(
        "ssh",
        &[
            "-o",
            "BatchMode=yes",
            "-o",
            &format!("UserKnownHostsFile={}", known.display()),
            "-i",
            key.to_str().unwrap(),
            &format!("student@{ip}"),
            "sudo lab start 3 </dev/null",
        ],
    ));
    assert_eq!(code, 0, "lab start 3 in the VM: {out}{err}");
}

#[test]
fn class_up_bad_input_gets_one_line_and_creates_nothing() {
    if !require_root("class_up_bad_input_gets_one_line_and_creates_nothing") {
        return;
    }
    let repo = repo_root();
    let lv = Libvirt::start(&repo);
    let before = lv.inventory();
    let scratch = ClassDir::new("bad-files");
    std::fs::create_dir_all(&scratch.0).unwrap();
    let gz = scratch.0.join("image.qcow2.gz");
    std::fs::write(&gz, b"\x1f\x8b\x08\x00rest").unwrap();
    let text = scratch.0.join("notes.img");
    std::fs::write(&text, "not a disk\n".repeat(300)).unwrap();
    let qcow = scratch.0.join("tiny.qcow2");
    let (c, _, e) = run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&qcow)
        .arg("1G"));
    assert_eq!(c, 0, "{e}");
    let image = qcow.to_str().unwrap();
    let dir = ClassDir::new("bad");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--hosts", "xen:///system"],
            "--hosts 'xen:///system': driver 'xen'",
        ),
        (
            vec!["--hosts", "qemu+ssh://root@127.0.0.1:1/system"],
            "--hosts qemu+ssh://root@127.0.0.1:1/system",
        ),
        (
            vec!["--image", "/nonexistent.qcow2"],
            "--image /nonexistent.qcow2: no such image file",
        ),
        (
            vec!["--image", gz.to_str().unwrap()],
            "is a gzip-compressed file",
        ),
        (
            vec!["--image", text.to_str().unwrap()],
            "is neither qcow2 nor a raw disk",
        ),
        (
            vec!["--image", image, "--memory", "64G"],
            "the class does not fit",
        ),
        (vec!["--image", image, "--students", "40"], "by CPUs"),
        (
            vec!["--image", image, "--network", "nosuchnet"],
            "no libvirt network 'nosuchnet'",
        ),
    ];
    let sshd_dir =
        lab_tests::disk_dir().join(format!("lab-class-up-sshd-bad-{}", std::process::id()));
    let sshd = RootSshd::start(&lv, &sshd_dir);
    // One libvirtd under two names: its room would count twice.
    let twice = format!("qemu:///system,{}", sshd.uri());
    let mut cases = cases;
    cases.push((vec!["--hosts", &twice], "are the same libvirt host"));
    for (extra, expect) in cases {
        refused_before_anything_is_made(&lv, &dir, image, &extra, expect, &before);
    }
    drop(sshd);
    let _ = std::fs::remove_dir_all(&sshd_dir);
    refused_other_student_count(&lv, &dir, &repo, image);
    refused_foreign_domain(&lv, &dir, &scratch, image);
    refused_without_virsh(&dir, image);
    assert_eq!(lv.inventory(), before);
}

/// `lab class up` with `extra` flags exits 2 with one line holding `expect`, making nothing.
fn refused_before_anything_is_made(
    lv: &Libvirt,
    dir: &ClassDir,
    image: &str,
    extra: &[&str],
    expect: &str,
    before: &(String, String),
) {
    let mut args = vec!["class", "up", "--class", dir.arg(), "--accel", "tcg"];
    if !extra.contains(&"--students") {
        args.extend(["--students", "1"]);
    }
    if !extra.contains(&"--image") {
        args.extend(["--image", image]);
    }
    args.extend(extra.iter().copied());
    let (code, out, err) = lab(lv, &args);
    assert_eq!(code, 2, "{args:?}: {out}{err}");
    assert_eq!(err.lines().count(), 1, "one line for {args:?}: {err}");
    assert!(
        err.contains(expect),
        "{args:?}: expected {expect:?} in {err}"
    );
    assert!(!dir.0.exists(), "{args:?} created the class directory");
    assert_eq!(&lv.inventory(), before, "{args:?} created a libvirt object");
}

/// A directory provisioned for two students is not a class of three.
fn refused_other_student_count(lv: &Libvirt, dir: &ClassDir, repo: &Path, image: &str) {
    let bins = libvirt::static_bins(repo);
    let (code, out, err) = run(lab_tests::cmd("lab").args([
        "provision",
        "cloud-init",
        "--students",
        "2",
        "--out",
        dir.arg(),
        "--payload-url",
        "http://127.0.0.1/x",
        "--bin-dir",
        bins.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let up = [
        "class",
        "up",
        "--class",
        dir.arg(),
        "--students",
        "3",
        "--image",
        image,
    ];
    let (code, _, err) = lab(lv, &up);
    assert_eq!(code, 2);
    assert!(
        err.contains("--students 3:") && err.contains("holds a class of 2"),
        "{err}"
    );
    assert!(!dir.0.join("vms.json").exists());
}

/// A domain with a student VM's name but without the class's mark is someone else's: refused,
/// and left alone.
fn refused_foreign_domain(lv: &Libvirt, dir: &ClassDir, scratch: &ClassDir, image: &str) {
    let foreign = format!("{}-lab-01", dir.0.file_name().unwrap().to_str().unwrap());
    let xml = scratch.0.join("foreign.xml");
    std::fs::write(
        &xml,
        format!("<domain type='qemu'><name>{foreign}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>"),
    )
    .unwrap();
    lv.virsh(&["define", xml.to_str().unwrap()]);
    let with_foreign = lv.inventory();
    let (code, _, err) = lab(lv, &["class", "up", "--class", dir.arg(), "--image", image]);
    assert_eq!(code, 2, "{err}");
    let expect = format!("domain '{foreign}' exists but is not this class's");
    assert!(err.contains(&expect), "{err}");
    assert_eq!(
        lv.inventory(),
        with_foreign,
        "the foreign domain is left alone"
    );
    lv.virsh(&["undefine", &foreign]);
}

/// libvirt not installed: say which packages.
fn refused_without_virsh(dir: &ClassDir, image: &str) {
    let (code, _, err) = run(lab_tests::cmd("lab")
        .args(["class", "up", "--class", dir.arg(), "--image", image])
        .env("PATH", "/nonexistent"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("virsh not found: install libvirt-clients"),
        "{err}"
    );
}

/// A loopback sshd inside the namespace that lets root in with `key` only: the "remote" libvirt
/// host of a `qemu+ssh://root@127.0.0.1:PORT/system` URI (the same libvirtd, reached over SSH).
struct RootSshd {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl RootSshd {
    fn start(lv: &Libvirt, dir: &Path) -> RootSshd {
        std::fs::create_dir_all(dir).unwrap();
        for k in ["key", "host"] {
            let _ = std::fs::remove_file(dir.join(k));
            let (c, _, e) = run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(k)));
            assert_eq!(c, 0, "{e}");
        }
        std::fs::copy(dir.join("key.pub"), dir.join("authorized_keys")).unwrap();
        let port = 20000 + (std::process::id() % 20000) as u16;
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM yes\n\
                 StrictModes no\nUseDNS no\nMaxStartups 100\nMaxSessions 100\n"
            ),
        )
        .unwrap();
        let child = lv
            .cmd(
                "/usr/sbin/sshd",
                &["-D", "-e", "-f", dir.join("sshd_config").to_str().unwrap()],
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sshd");
        let up = wait_for(Duration::from_secs(10), || {
            (run(&mut lv.cmd(
                "bash",
                &["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")],
            ))
            .0 == 0)
                .then_some(())
        });
        assert!(
            up.is_some(),
            "sshd did not listen on {port} in the namespace"
        );
        RootSshd {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    fn uri(&self) -> String {
        format!(
            "qemu+ssh://root@127.0.0.1:{}/system?keyfile={}&no_verify=1",
            self.port,
            self.dir.join("key").display()
        )
    }
}

impl Drop for RootSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One VM: up, ready, seen by `lab class status`, then down leaves libvirt as it was.
fn one_vm_round_trip(
    lv: &Libvirt,
    dir: &ClassDir,
    image: &Path,
    bins: &Path,
    extra: &[&str],
) -> Value {
    let before = lv.inventory();
    let mut args = up_args(dir, image, bins, &["--students", "1"]);
    args.extend_from_slice(extra);
    let t0 = Instant::now();
    let (code, out, err) = lab(lv, &args);
    eprintln!(
        "class up {extra:?}: {:.0} s\n{out}{err}",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 of 1 VMs ready (1 made now)"), "{out}");
    let j = dir.journal();
    let status = class_status(lv, dir);
    assert_eq!(
        status["rows"][0]["status"]["doctor"]["verdict"], "ok",
        "{status}"
    );
    let (code, out, err) = lab(lv, &["class", "down", "--class", dir.arg(), "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        lv.inventory(),
        before,
        "down must leave libvirt as it found it"
    );
    j
}

#[test]
#[ignore = "a second image and VM (~8 min under TCG) for the CI budget: run with --ignored; \
            the remote-host test boots the direct-kernel image in every run"]
fn class_up_boots_an_image_with_its_own_bootloader() {
    if !require_root("class_up_boots_an_image_with_its_own_bootloader") {
        return;
    }
    let repo = repo_root();
    let (_, bins) = libvirt::image_and_payload(&repo);
    let out = Command::new(repo.join("provision/vm/bootloader-image.sh"))
        .arg("bookworm")
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success());
    let image = PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .trim(),
    );
    assert!(
        !image.join("vmlinuz").exists(),
        "a bootloader image has no kernel beside it"
    );
    let lv = Libvirt::start(&repo);
    let dir = ClassDir::new("bios");
    let j = one_vm_round_trip(&lv, &dir, &image, &bins, &[]);
    assert_eq!(j["settings"]["direct_kernel_boot"], false, "{j}");
}
