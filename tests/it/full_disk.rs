//! A full disk: `lab start` refuses with one line before anything runs, and a running lab whose
//! workload hits ENOSPC is reported by `lab check` (with the workload's own error) instead of
//! being graded. The "disk" is a tmpfs of a known size the test mounts as the state directory.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use lab_tests::{bpf_lock, cmd, repo_root, require_root, run};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size_mib: u64) -> Tmpfs {
        let dir = std::env::temp_dir().join(format!("lab-full-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mib}m"),
                "lab-full-disk",
            ])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs");
        Tmpfs(dir)
    }
    fn lab(&self) -> Command {
        let mut c = cmd("lab");
        c.env("LAB_STATE_DIR", &self.0)
            .env("LAB_LABS_DIR", repo_root().join("labs"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }
    /// Take all free space but about `leave` bytes (0: every last block, as a runaway log would).
    fn fill(&self, name: &str, leave: u64) {
        // The running workload writes meanwhile: retry a little smaller if it took the space.
        let ok = (1..=5).any(|margin| {
            let size = free_bytes(&self.0).saturating_sub(leave + (margin << 20));
            Command::new("fallocate")
                .args(["-l", &size.max(4096).to_string()])
                .arg(self.0.join(name))
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success()
        });
        assert!(ok, "fallocate of {name} failed");
        if leave == 0 {
            // The last MiB: dd stops at ENOSPC (and says so; not an error here).
            let _ = Command::new("dd")
                .args(["if=/dev/zero", "bs=64k", "status=none"])
                .arg(format!(
                    "of={}",
                    self.0.join(format!("{name}.tail")).display()
                ))
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = run(self.lab().arg("stop"));
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
    s.f_bavail * s.f_frsize
}

/// Processes whose command line mentions `dir`.
fn session_processes(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle))
        .collect()
}

#[test]
fn full_disk_refuses_start_and_check_reports_the_dead_workload() {
    if !require_root("full_disk::full_disk_refuses_start_and_check_reports_the_dead_workload") {
        return;
    }
    // lab start arms the per session proctor (a BPF program): one BPF test at a time.
    let _g = bpf_lock();
    let disk = Tmpfs::mount(600);

    // 1. Room to start: lab 1 runs; then the disk fills under it.
    let (code, out, err) = run(disk.lab().args(["start", "1"]));
    assert_eq!(
        code, 0,
        "lab start 1 on an empty 600 MiB disk:\n{out}\n{err}"
    );
    disk.fill("ballast-1", 0);
    // The writer dies on its next write (ENOSPC); wait until the session knows.
    let t = Instant::now();
    loop {
        let (_, out, _) = run(disk.lab().args(["status", "--json"]));
        let st: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let writer_dead = st["workloads"].as_array().is_some_and(|w| {
            w.iter()
                .any(|w| w["name"] == "writer" && w["alive"] == false)
        });
        if writer_dead {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the writer still runs on a full disk: {st:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let (code, _, err) = run(disk.lab().args(["check", "1", "--answer", "process=x"]));
    assert_ne!(code, 0, "lab check graded a lab whose disk is full:\n{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line:\n{err}");
    assert!(
        err.contains("not running")
            && err.contains("No space left on device")
            && err.contains("nothing was graded"),
        "lab check should name the dead workload and its error:\n{err}"
    );
    let (code, _, err) = run(disk.lab().arg("stop"));
    assert_eq!(code, 0, "lab stop: {err}");

    // 2. Full before starting: one line naming the directory, non-zero, nothing started.
    std::fs::remove_file(disk.0.join("ballast-1")).unwrap();
    std::fs::remove_file(disk.0.join("ballast-1.tail")).unwrap();
    disk.fill("ballast-2", 100 << 20);
    let (code, out, err) = run(disk.lab().args(["start", "1"]));
    assert_eq!(code, 1, "lab start on a full disk:\n{out}\n{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line:\n{err}");
    assert!(
        err.contains("MiB free") && err.contains(&disk.0.display().to_string()),
        "the refusal names the directory and the free space:\n{err}"
    );
    assert!(
        session_processes(&disk.0).is_empty(),
        "something started: {:?}",
        session_processes(&disk.0)
    );
    let (_, status, _) = run(disk.lab().args(["status", "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status).expect("lab status --json");
    assert!(
        status["lab"].is_null(),
        "a refused start left a session: {status:#}"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(disk.0.join("state.json")).unwrap()).unwrap();
    assert!(
        state["session"].is_null(),
        "a refused start recorded a session: {state:#}"
    );
}
