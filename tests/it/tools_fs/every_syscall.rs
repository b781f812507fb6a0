//! ext4slower sees every file syscall: a C helper makes each file read/write/open/sync syscall
//! that has a tracepoint exactly once (open, openat, openat2, creat, open_by_handle_at, write,
//! pwrite64, writev, pwritev, pwritev2, read, pread64, readv, preadv, preadv2, fsync,
//! fdatasync) on an ext4 file, and the tool must print exactly one line for each, in order,
//! with its size and offset; the syscall path's header names what it does not see. The same
//! list holds for the kprobe and fentry paths (the file system's own functions) in the guests.
//! Also: the tool never traces itself, and into a file it writes per 64 KiB and at exit.
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use lab_tests::{bpf_lock, cmd, compile_c, require_root, root_test, RunningTool as Tool};

use super::{loaded_with_prefix, Ext4Dir};

/// Each syscall once; `argv[1]` the data file, `argv[2]` the file creat() makes, `argv[3]`
/// their directory (open_by_handle_at's mount fd). Setup (the
/// file, its handle, the mount fd) happens before the go byte on stdin, while nothing traces.
/// Exits with the number of the step that failed.
const EVERY_C: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
static char buf[8192];
static int step;
static void ok(long r) { step++; if (r < 0) _exit(step); }
int main(int argc, char **argv) {
    if (argc < 4) return 100;
    const char *path = argv[1];
    int fd = open(path, O_CREAT | O_RDWR, 0644);
    if (fd < 0) return 101;
    close(fd);
    struct { struct file_handle fh; unsigned char space[128]; } h;
    h.fh.handle_bytes = 128;
    int mount_id;
    if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) != 0) return 102;
    int mount_fd = open(argv[3], O_RDONLY | O_DIRECTORY);
    if (mount_fd < 0) return 103;
    char go;
    if (read(0, &go, 1) != 1) return 104;
    struct iovec v = { buf, 0 };
    fd = syscall(SYS_open, path, O_CREAT | O_RDWR | O_TRUNC, 0644); ok(fd);
    ok(write(fd, buf, 4096));                                      /* W 4096 @0 */
    ok(pwrite(fd, buf, 512, 8192));                                /* W 512 @8192 */
    v.iov_len = 1000; ok(writev(fd, &v, 1));                       /* W 1000 @4096 */
    v.iov_len = 300; ok(pwritev(fd, &v, 1, 16384));                /* W 300 @16384 */
    v.iov_len = 200; ok(pwritev2(fd, &v, 1, 20000, 0));            /* W 200 @20000 */
    v.iov_len = 100; ok(pwritev2(fd, &v, 1, -1, 0));               /* W 100 @5096 (f_pos) */
    ok(fsync(fd));
    ok(fdatasync(fd));
    int fd2 = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY); ok(fd2);
    struct open_how how = { .flags = O_RDONLY };
    int fd3 = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how); ok(fd3);
    int fd4 = syscall(SYS_creat, argv[2], 0644); ok(fd4);
    int fd5 = open_by_handle_at(mount_fd, &h.fh, O_RDONLY); ok(fd5);
    ok(lseek(fd, 0, SEEK_SET));
    ok(read(fd, buf, 4096));                                       /* R 4096 @0 */
    ok(pread(fd, buf, 2048, 4096));                                /* R 2048 @4096 */
    v.iov_len = 1000; ok(readv(fd, &v, 1));                        /* R 1000 @4096 */
    v.iov_len = 300; ok(preadv(fd, &v, 1, 16384));                 /* R 300 @16384 */
    v.iov_len = 200; ok(preadv2(fd, &v, 1, 20000, 0));             /* R 200 @20000 */
    v.iov_len = 100; ok(preadv2(fd, &v, 1, -1, 0));                /* R 100 @5096 (f_pos) */
    return 0;
}
"#;

/// The lines the helper's syscalls must make: (T, bytes, offset, which file).
const EXPECTED: &[(char, i64, i64, &str)] = &[
    ('O', 0, 0, "data"),
    ('W', 4096, 0, "data"),
    ('W', 512, 8192, "data"),
    ('W', 1000, 4096, "data"),
    ('W', 300, 16384, "data"),
    ('W', 200, 20000, "data"),
    ('W', 100, 5096, "data"),
    ('S', 0, 0, "data"),
    ('S', 0, 0, "data"),
    ('O', 0, 0, "data"),
    ('O', 0, 0, "data"),
    ('O', 0, 0, "creat"),
    ('O', 0, 0, "data"),
    ('R', 4096, 0, "data"),
    ('R', 2048, 4096, "data"),
    ('R', 1000, 4096, "data"),
    ('R', 300, 16384, "data"),
    ('R', 200, 20000, "data"),
    ('R', 100, 5096, "data"),
];

fn helper() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("lab-fs-every-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        compile_c(&d, "everysyscall", EVERY_C, &["-O1"])
    })
}

/// The helper, set up and waiting for its go byte.
struct Every {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Every {
    fn start(dir: &Path) -> Every {
        let mut child = Command::new(helper())
            .arg(dir.join("every-data.dat"))
            .arg(dir.join("every-creat.dat"))
            .arg(dir)
            .stdin(Stdio::piped())
            .spawn()
            .expect("starting the syscall helper");
        let stdin = child.stdin.take();
        // Its setup (open, name_to_handle_at) must be over before the tool attaches.
        std::thread::sleep(Duration::from_millis(200));
        Every { child, stdin }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn go_and_wait(mut self) {
        self.stdin.take().unwrap().write_all(b"g").unwrap();
        let st = self.child.wait().unwrap();
        assert!(
            st.success(),
            "syscall helper failed at step {:?}",
            st.code()
        );
    }
}

impl Drop for Every {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The helper's lines in ext4slower -j output: (T, bytes, offset, "data"/"creat").
fn helper_lines(out: &str, pid: &str) -> Vec<(char, i64, i64, String)> {
    out.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() == 8 && f[2] == pid)
        .map(|f| {
            let file = match f[7] {
                "every-data.dat" => "data",
                "every-creat.dat" => "creat",
                other => panic!("a line for a file the helper never touched: {other}"),
            };
            let num = |s: &str| s.parse::<i64>().unwrap();
            (
                f[3].chars().next().unwrap(),
                num(f[4]),
                num(f[5]),
                file.into(),
            )
        })
        .collect()
}

fn every_syscall(hook: &str) {
    let _g = bpf_lock();
    let dir = Ext4Dir::new(&format!("every-{hook}"));
    let child = Every::start(&dir.dir);
    let pid = child.pid();
    let tool = Tool::start(
        "ext4slower",
        &["-j", "-p", &pid, "--hook", hook, "0"],
        "ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE",
    );
    child.go_and_wait();
    std::thread::sleep(Duration::from_millis(300));
    let (out, err) = tool.stop();
    let want: Vec<(char, i64, i64, String)> = EXPECTED
        .iter()
        .map(|&(t, b, o, f)| (t, b, o, f.to_owned()))
        .collect();
    assert_eq!(
        helper_lines(&out, &pid),
        want,
        "--hook {hook}:\n{out}\n{err}"
    );
    if hook == "syscall" {
        let not_seen = err.split("not seen: ").nth(1).unwrap_or_default();
        for call in ["creat", "pwritev", "preadv", "openat2", "open_by_handle_at"] {
            assert!(!not_seen.contains(call), "{call} is traced: {err}");
        }
        assert!(
            not_seen.contains("io_uring") && not_seen.contains("mmap"),
            "{err}"
        );
    }
    assert!(
        loaded_with_prefix("fss_").is_empty(),
        "ext4slower left programs loaded"
    );
}

#[test]
fn ext4slower_syscall_path_sees_every_file_syscall_once() {
    if !require_root("ext4slower_syscall_path_sees_every_file_syscall") {
        return;
    }
    every_syscall("syscall");
}

/// The kprobe and fentry paths run where the kernel has them (the lab VMs; fentry not on a
/// module's functions: see tools_fs's refusal tests).
#[test]
fn ext4slower_kprobe_and_fentry_paths_see_every_file_syscall_once() {
    if !require_root("ext4slower_kprobe_and_fentry_paths_see_every_file_syscall") {
        return;
    }
    if !lab_probes::capabilities::kprobes_compiled_in() {
        eprintln!("SKIPPED: no kprobes here (the guests run this)");
        return;
    }
    every_syscall("kprobe");
    if !Path::new("/sys/kernel/btf/ext4").exists() {
        every_syscall("fentry");
    }
}

/// ext4slower with its output into a file on ext4, started and ready (header in the file).
struct IntoFile {
    tool: Child,
    path: PathBuf,
}

impl IntoFile {
    fn start(dir: &Path, args: &[&str]) -> IntoFile {
        let path = dir.join("ext4slower-out.txt");
        let tool = cmd("ext4slower")
            .args(args)
            .stdout(std::fs::File::create(&path).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = IntoFile { tool, path };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !t.read().contains("ENDTIME_us") {
            assert!(
                Instant::now() < deadline,
                "ext4slower never printed its header"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t
    }

    fn read(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }

    /// Ctrl-C; its whole output.
    fn stop(mut self) -> String {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.tool.id() as i32, libc::SIGINT) };
        assert!(self.tool.wait().unwrap().success());
        self.read()
    }
}

impl Drop for IntoFile {
    fn drop(&mut self) {
        let _ = self.tool.kill();
        let _ = self.tool.wait();
    }
}

/// `ext4slower 0 > file` with the file on ext4: none of its lines is its own, though its
/// output (> 64 KiB, so written while it traces) went to ext4.
#[test]
fn ext4slower_into_a_file_on_ext4_never_traces_itself() {
    let Some(_g) = root_test("ext4slower_into_a_file_on_ext4_never_traces_itself") else {
        return;
    };
    let dir = Ext4Dir::new("self");
    let tool = IntoFile::start(&dir.dir, &["-j", "--hook", "syscall", "0"]);
    let me = tool.tool.id().to_string();
    let mut f = std::fs::File::create(dir.dir.join("big.dat")).unwrap();
    for _ in 0..3000 {
        f.write_all(b"x").unwrap();
    }
    drop(f);
    std::thread::sleep(Duration::from_millis(300));
    let out = tool.stop();
    let pid_of = |l: &str| l.split(',').nth(2).map(str::to_owned);
    let own: Vec<&str> = out
        .lines()
        .filter(|l| pid_of(l) == Some(me.clone()))
        .collect();
    assert!(own.is_empty(), "ext4slower traced its own writes: {own:?}");
    let ours = Some(std::process::id().to_string());
    let test_writes = out
        .lines()
        .filter(|l| pid_of(l) == ours && l.contains(",W,") && l.ends_with(",big.dat"))
        .count();
    assert_eq!(test_writes, 3000, "the test's 3000 writes to big.dat");
    assert!(
        out.len() > 64 * 1024,
        "too little output to have filled the buffer"
    );
}

/// Into a file, lines wait in the 64 KiB buffer until it fills or the tool exits (BCC's
/// tools buffer so too); the header goes out at once.
#[test]
fn ext4slower_into_a_file_writes_per_buffer_not_per_batch() {
    let Some(_g) = root_test("ext4slower_into_a_file_writes_per_buffer") else {
        return;
    };
    let dir = Ext4Dir::new("buffered");
    let child = Every::start(&dir.dir);
    let pid = child.pid();
    let tool = IntoFile::start(&dir.dir, &["-j", "-p", &pid, "--hook", "syscall", "0"]);
    child.go_and_wait();
    std::thread::sleep(Duration::from_millis(300));
    let while_running = tool.read();
    let out = tool.stop();
    assert_eq!(
        while_running.lines().count(),
        1,
        "lines reached the file before the buffer filled:\n{while_running}"
    );
    assert_eq!(helper_lines(&out, &pid).len(), EXPECTED.len(), "{out}");
}
