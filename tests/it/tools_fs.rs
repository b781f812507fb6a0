//! The file-system latency tools (ext4slower/xfsslower/btrfsslower and ext4dist/xfsdist, one
//! implementation) against a forked child of the test that performs a known list of operations
//! on an ext4 file (under lab_tests::disk_dir(), or an ext4 image on a loop device when that is
//! not ext4): the tool, filtered to the child's PID, must report exactly those operations with
//! their sizes and offsets (threshold 0), and ext4dist's counts must equal them. Each hook path
//! is forced in turn: the syscall path runs everywhere; fentry and kprobe run where the kernel
//! has kprobes (the lab VMs), and elsewhere must refuse with a one-line error naming the hook.
use std::{
    ffi::CString,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use lab_tests::{bpf_lock, cmd, disk_dir, require_root, root_test, run, RunningTool as Tool};

mod every_syscall;

/// Names of the BPF programs loaded now whose name starts with `prefix`.
pub fn loaded_with_prefix(prefix: &str) -> Vec<String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter_map(|p| p.name_as_str().map(str::to_owned))
        .filter(|n| n.starts_with(prefix))
        .collect()
}

const EXT4_MAGIC: i64 = 0xEF53;

fn fs_magic(p: &Path) -> i64 {
    let c = CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: zeroed statfs filled by the call.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::statfs(c.as_ptr(), &mut st) },
        0,
        "statfs {p:?}"
    );
    st.f_type as i64
}

/// A directory on ext4: disk_dir() when it is ext4, else a loop-mounted ext4 image (unmounted
/// and deleted on drop).
pub struct Ext4Dir {
    pub dir: PathBuf,
    mounted: Option<PathBuf>,
}

impl Ext4Dir {
    pub fn new(tag: &str) -> Ext4Dir {
        let base = disk_dir();
        if fs_magic(&base) == EXT4_MAGIC {
            let dir = base.join(format!("lab-fs-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            return Ext4Dir { dir, mounted: None };
        }
        let img = base.join(format!("lab-fs-{tag}-{}.img", std::process::id()));
        let dir = base.join(format!("lab-fs-{tag}-{}.mnt", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = |c: &mut Command| {
            let (code, o, e) = run(c);
            assert_eq!(code, 0, "{c:?}: {o}{e}");
        };
        ok(Command::new("truncate").arg("-s").arg("64M").arg(&img));
        ok(Command::new("mkfs.ext4").arg("-q").arg("-F").arg(&img));
        ok(Command::new("mount")
            .arg("-o")
            .arg("loop")
            .arg(&img)
            .arg(&dir));
        Ext4Dir {
            dir,
            mounted: Some(img),
        }
    }
}

impl Drop for Ext4Dir {
    fn drop(&mut self) {
        if let Some(img) = &self.mounted {
            let _ = Command::new("umount").arg(&self.dir).status();
            let _ = std::fs::remove_file(img);
            let _ = std::fs::remove_dir(&self.dir);
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One operation the child performs and the tool must report: (T, bytes, offset).
type Op = (char, i64, i64);

/// A forked child that waits for a byte on a pipe, then on `path`: opens (creating) it, writes
/// 4096 then 1000 bytes, pwrites 512 at 64 KiB, fsyncs, fdatasyncs, preads 2048 at 4096
/// `extra_preads + 1` times, seeks to 0 and reads 4096, closes, and exits.
pub struct IoChild {
    pub pid: i32,
    go: i32,
    pub expected: Vec<Op>,
}

impl IoChild {
    pub fn fork(path: &Path, extra_preads: usize) -> IoChild {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        let buf = vec![7u8; 65536];
        let mut expected: Vec<Op> = vec![
            ('O', 0, 0),
            ('W', 4096, 0),
            ('W', 1000, 4096),
            ('W', 512, 65536),
            ('S', 0, 0),
            ('S', 0, 0),
        ];
        for _ in 0..=extra_preads {
            expected.push(('R', 2048, 4096));
        }
        expected.push(('R', 4096, 0));
        let mut fds = [0i32; 2];
        // SAFETY: plain pipe/fork; the child only makes syscalls on memory prepared before the
        // fork (no allocation, no locks) and leaves with _exit.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            assert!(pid >= 0, "fork");
            if pid == 0 {
                libc::close(fds[1]);
                let mut b = 0u8;
                libc::read(fds[0], (&mut b as *mut u8).cast(), 1);
                let p = buf.as_ptr().cast();
                let fd = libc::open(
                    c.as_ptr(),
                    libc::O_CREAT | libc::O_RDWR | libc::O_TRUNC,
                    0o644,
                );
                if fd < 0 {
                    libc::_exit(3);
                }
                libc::write(fd, p, 4096);
                libc::write(fd, p, 1000);
                libc::pwrite(fd, p, 512, 65536);
                libc::fsync(fd);
                libc::fdatasync(fd);
                let rp = buf.as_ptr() as *mut libc::c_void;
                for _ in 0..=extra_preads {
                    libc::pread(fd, rp, 2048, 4096);
                }
                libc::lseek(fd, 0, libc::SEEK_SET);
                libc::read(fd, rp, 4096);
                libc::close(fd);
                libc::_exit(0);
            }
            libc::close(fds[0]);
            IoChild {
                pid,
                go: fds[1],
                expected,
            }
        }
    }

    /// Let it run and wait for it to exit 0.
    pub fn go_and_wait(self) {
        let mut status = 0;
        // SAFETY: our pipe and our child.
        unsafe {
            assert_eq!(libc::write(self.go, b"g".as_ptr().cast(), 1), 1);
            libc::close(self.go);
            assert_eq!(libc::waitpid(self.pid, &mut status, 0), self.pid);
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "io child failed: status {status:#x}"
        );
    }
}

impl Drop for IoChild {
    fn drop(&mut self) {
        // Reaped already on the normal path; this only matters when a test fails first.
        // SAFETY: our child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), libc::WNOHANG);
        }
    }
}

/// Whether this kernel offers kprobes and fentry (the lab VMs do; this repo's CI host does not).
fn kernel_has_kprobes() -> bool {
    lab_probes::capabilities::kprobes_compiled_in()
}

/// ext4 built as a module (Debian's kernels): its BTF is separate, and our fentry path (aya
/// 0.14) attaches to vmlinux functions only, so it must refuse with a one-line error.
fn ext4_is_module() -> bool {
    Path::new("/sys/kernel/btf/ext4").exists()
}

/// Run ext4slower -j 0 on a child's known operations; compare exactly.
fn slower_exact(hook: &str) {
    let _g = bpf_lock();
    let dir = Ext4Dir::new(&format!("slower-{hook}"));
    let file = dir.dir.join(format!("slow-{hook}.dat"));
    let child = IoChild::fork(&file, 0);
    let pid = child.pid.to_string();
    let tool = Tool::start(
        "ext4slower",
        &["-j", "-p", &pid, "--hook", hook, "0"],
        "ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE",
    );
    let expected = child.expected.clone();
    child.go_and_wait();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !loaded_with_prefix("fss_").is_empty(),
        "no fss_ program loaded while ext4slower ran"
    );
    let (out, err) = tool.stop();
    assert!(
        err.contains(&format!("Hook: {hook}")),
        "stderr must name the {hook} hook: {err}"
    );
    let name = file.file_name().unwrap().to_str().unwrap();
    let got: Vec<Op> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .inspect(|f| {
            assert_eq!(f.len(), 8, "CSV line: {f:?}");
            assert_eq!(f[2], pid, "-p {pid} let another process through: {f:?}");
        })
        .filter(|f| f[7] == name)
        .map(|f| {
            (
                f[3].chars().next().unwrap(),
                f[4].parse().unwrap(),
                f[5].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected, "ext4slower --hook {hook} output:\n{out}");
    assert!(
        loaded_with_prefix("fss_").is_empty(),
        "ext4slower left programs loaded"
    );
}

/// A forced hook the kernel lacks: exit 1, one line naming the hook, nothing left loaded.
fn refused(tool: &str, hook: &str) {
    let _g = bpf_lock();
    let (code, out, err) = run(cmd(tool).args(["--hook", hook]));
    assert_eq!(code, 1, "{tool} --hook {hook}: {out}{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(hook) || err.contains("kprobe"),
        "error must name the hook: {err}"
    );
    assert!(loaded_with_prefix("fss_").is_empty());
}

#[test]
fn ext4slower_syscall_path_reports_exactly_the_childs_operations() {
    if !require_root("ext4slower_syscall_path") {
        return;
    }
    slower_exact("syscall");
}

#[test]
fn ext4slower_fentry_path_reports_exactly_the_childs_operations() {
    if !require_root("ext4slower_fentry_path") {
        return;
    }
    if kernel_has_kprobes() && !ext4_is_module() {
        slower_exact("fentry");
    } else {
        refused("ext4slower", "fentry");
    }
}

#[test]
fn ext4slower_kprobe_path_reports_exactly_the_childs_operations() {
    if !require_root("ext4slower_kprobe_path") {
        return;
    }
    if kernel_has_kprobes() {
        slower_exact("kprobe");
    } else {
        refused("ext4slower", "kprobe");
    }
}

/// Total count per "operation = X" section of a BCC log2 histogram printout.
fn section_counts(out: &str) -> Vec<(String, u64)> {
    let mut res: Vec<(String, u64)> = vec![];
    for l in out.lines() {
        if let Some(op) = l.strip_prefix("operation = ") {
            res.push((op.trim().to_owned(), 0));
        } else if let (Some(last), Some((_, rest))) = (res.last_mut(), l.split_once(" : ")) {
            // Rows are "lo -> hi : count |stars|"; the column header's "count" is no number.
            if let Some(Ok(n)) = rest.split_whitespace().next().map(str::parse::<u64>) {
                last.1 += n;
            }
        }
    }
    res
}

fn dist_exact(hook: &str) {
    let _g = bpf_lock();
    let dir = Ext4Dir::new(&format!("dist-{hook}"));
    let file = dir.dir.join(format!("dist-{hook}.dat"));
    let extra = 6;
    let child = IoChild::fork(&file, extra);
    let pid = child.pid.to_string();
    let tool = Tool::start("ext4dist", &["-p", &pid, "--hook", hook], "Hit Ctrl-C");
    let expected = child.expected.clone();
    child.go_and_wait();
    std::thread::sleep(Duration::from_millis(300));
    let (out, _) = tool.stop();
    assert!(out.contains(&format!("Hook: {hook}")), "{out}");
    let count = |t: char| expected.iter().filter(|o| o.0 == t).count() as u64;
    let want = vec![
        ("read".to_owned(), count('R')),
        ("write".to_owned(), count('W')),
        ("open".to_owned(), count('O')),
        ("fsync".to_owned(), count('S')),
    ];
    assert_eq!(section_counts(&out), want, "ext4dist --hook {hook}:\n{out}");
    assert!(loaded_with_prefix("fss_").is_empty());
}

#[test]
fn ext4dist_syscall_path_counts_equal_the_childs_operations() {
    if !require_root("ext4dist_syscall_path") {
        return;
    }
    dist_exact("syscall");
}

#[test]
fn ext4dist_fentry_and_kprobe_paths_count_the_childs_operations() {
    if !require_root("ext4dist_fentry_and_kprobe_paths") {
        return;
    }
    for hook in ["fentry", "kprobe"] {
        if kernel_has_kprobes() && !(hook == "fentry" && ext4_is_module()) {
            dist_exact(hook);
        } else {
            refused("ext4dist", hook);
        }
    }
}

// host only: help text and flags
#[test]
fn fs_tools_help_names_the_tool_and_examples_and_reject_bad_input() {
    for tool in [
        "ext4slower",
        "xfsslower",
        "btrfsslower",
        "ext4dist",
        "xfsdist",
    ] {
        let (code, out, _) = run(cmd(tool).arg("--help"));
        assert_eq!(code, 0);
        assert!(out.contains(&format!("Usage: {tool}")), "{out}");
        assert!(out.contains("examples:") && out.contains("--hook"), "{out}");
        let (code, man, _) = run(cmd(tool).arg("--man"));
        assert_eq!(code, 0);
        assert!(man.contains(".SH EXAMPLES"), "{man}");
        let (code, _, err) = run(cmd(tool).args(["--hook", "bogus"]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--hook") && err.contains("bogus"), "{err}");
    }
}

/// fsslower skips fentry without aya's full BTF parse when a one-call probe says the kernel
/// refuses tracing programs; that probe must agree with a real fentry load and attach (the
/// doctor's, on vfs_read): refused here (EPERM), allowed in the lab VMs.
#[test]
fn fentry_refusal_probe_agrees_with_a_real_fentry_attach() {
    let Some(_g) = root_test("fentry_refusal_probe") else {
        return;
    };
    use lab_probes::capabilities::{fentry, tracing_progs_refused, Availability};
    let probe = tracing_progs_refused();
    match fentry() {
        Availability::Usable => assert_eq!(probe, None, "fentry works here"),
        Availability::Refused(why) if why.contains("EPERM") => {
            assert!(probe.is_some(), "a real fentry load was refused: {why}")
        }
        other => eprintln!("SKIPPED: fentry neither works nor is refused with EPERM: {other:?}"),
    }
}
