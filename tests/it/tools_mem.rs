//! The memory tools against memory pressure the test creates itself: a memory cgroup it makes
//! (cgroup v2 memory.max, or v1 memory.limit_in_bytes where only v1 is mounted) holding one
//! forked child. oomkill: the child allocates past the limit and must be the one kill reported.
//! drsnoop: the child reads a file larger than its limit, so the kernel reclaims on its behalf.
//! cachestat: where kprobes exist, K pages read after dropping the file's cache are >= K
//! misses and the re-read >= K hits; elsewhere the one-line refusal with exit 2.
use std::{
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    time::Duration,
};

use lab_tests::{cmd, disk_dir, root_test, run};

use crate::tools_fs::loaded_with_prefix;
use lab_tests::RunningTool as Tool;

/// A memory cgroup limited to `limit` bytes without swap; removed on drop (after its tasks).
struct MemCgroup {
    dir: PathBuf,
}

impl MemCgroup {
    fn new(tag: &str, limit: u64) -> MemCgroup {
        let name = format!("lab-mem-{tag}-{}", std::process::id());
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .is_ok_and(|c| c.split_whitespace().any(|x| x == "memory"));
        let (dir, limit_file, swap_file) = if v2 {
            (
                Path::new("/sys/fs/cgroup").join(name),
                "memory.max",
                "memory.swap.max",
            )
        } else {
            (
                Path::new("/sys/fs/cgroup/memory").join(name),
                "memory.limit_in_bytes",
                "memory.memsw.limit_in_bytes",
            )
        };
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {dir:?}: {e}"));
        let cg = MemCgroup { dir };
        std::fs::write(cg.dir.join(limit_file), limit.to_string()).unwrap();
        // Without swap the limit is hard: reclaim, then OOM. memsw must be >= the limit.
        let swap = if v2 {
            "0".to_owned()
        } else {
            limit.to_string()
        };
        let _ = std::fs::write(cg.dir.join(swap_file), swap);
        cg
    }

    fn add(&self, pid: i32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("could not remove {:?}", self.dir);
    }
}

/// A forked child that waits for a byte on a pipe, then runs `work` (syscalls only: it was
/// forked from a multi-threaded process) and _exits 0.
struct Child {
    pid: i32,
    go: i32,
}

impl Child {
    fn fork(work: impl FnOnce()) -> Child {
        let mut fds = [0i32; 2];
        // SAFETY: see above; the closure only makes syscalls on memory prepared before the fork.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            assert!(pid >= 0);
            if pid == 0 {
                libc::close(fds[1]);
                let mut b = 0u8;
                libc::read(fds[0], (&mut b as *mut u8).cast(), 1);
                work();
                libc::_exit(0);
            }
            libc::close(fds[0]);
            Child { pid, go: fds[1] }
        }
    }

    /// Let it run; wait for it; returns its raw wait status.
    fn go_and_wait(&self) -> i32 {
        let mut status = 0;
        // SAFETY: our pipe, our child.
        unsafe {
            assert_eq!(libc::write(self.go, b"g".as_ptr().cast(), 1), 1);
            libc::close(self.go);
            assert_eq!(libc::waitpid(self.pid, &mut status, 0), self.pid);
        }
        status
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: our child; a no-op once reaped.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), libc::WNOHANG);
        }
    }
}

/// Touch anonymous memory 1 MiB at a time, up to 1 GiB (the cgroup's OOM kill ends it first).
fn allocate_until_killed() {
    const MB: usize = 1 << 20;
    for _ in 0..1024 {
        // SAFETY: fresh anonymous mapping, written inside its bounds.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                MB,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            ) as *mut u8;
            if p as *mut libc::c_void == libc::MAP_FAILED {
                libc::_exit(4);
            }
            for i in (0..MB).step_by(4096) {
                *p.add(i) = 1;
            }
        }
    }
    // SAFETY: leaving the child.
    unsafe { libc::_exit(5) };
}

#[test]
fn oomkill_reports_the_child_killed_in_a_memory_limited_cgroup() {
    let Some(_g) = root_test("oomkill") else {
        return;
    };
    let limit: u64 = 32 << 20;
    let cg = MemCgroup::new("oom", limit);
    let child = Child::fork(allocate_until_killed);
    cg.add(child.pid);
    let tool = Tool::start("oomkill", &[], "Tracing OOM kills");
    let status = child.go_and_wait();
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
        "the child was not OOM-killed: status {status:#x}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let (out, _) = tool.stop();
    let pid = child.pid;
    let victim = format!("OOM kill of PID {pid} (");
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(&victim)).collect();
    assert_eq!(lines.len(), 1, "want one kill of {pid}:\n{out}");
    assert!(
        lines[0].contains(&format!("Triggered by PID {pid} (")) && lines[0].contains("loadavg: "),
        "{}",
        lines[0]
    );
    // Pages: with the kprobe, BCC's oc->totalpages, which for a cgroup OOM without swap is the
    // limit; with the tracepoint, the victim's total_vm, which had grown past the limit.
    let pages: u64 = lines[0]
        .split(", ")
        .find_map(|f| f.strip_suffix(" pages"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no page count: {}", lines[0]));
    let limit_pages = limit / 4096;
    if out.contains("(kprobe oom_kill_process)") {
        assert_eq!(pages, limit_pages, "{}", lines[0]);
    } else {
        assert!(pages >= limit_pages, "{}", lines[0]);
    }
    assert!(loaded_with_prefix("oomkill").is_empty());
}

/// A file of `pages` pages on disk, written and flushed, its page cache dropped.
fn cold_file(name: &str, pages: usize) -> (PathBuf, std::fs::File) {
    let path = disk_dir().join(format!("{name}-{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    f.write_all_at(&vec![5u8; pages * 4096], 0).unwrap();
    f.sync_all().unwrap();
    drop_cache(&f);
    (path, f)
}

fn drop_cache(f: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: valid fd.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0);
}

/// Read the whole file one page per read() call (filemap_read marks one folio accessed per
/// batch, so page-sized reads make one access per page).
fn read_pages(f: &std::fs::File, pages: usize) {
    let mut buf = [0u8; 4096];
    for i in 0..pages {
        f.read_exact_at(&mut buf, (i * 4096) as u64).unwrap();
    }
}

#[test]
fn drsnoop_sees_reclaim_of_a_child_reading_past_its_cgroup_limit() {
    let Some(_g) = root_test("drsnoop") else {
        return;
    };
    let pages = 16384; // 64 MiB through a 16 MiB limit
    let (path, f) = cold_file("lab-drsnoop", pages);
    let cg = MemCgroup::new("dr", 16 << 20);
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    let mut buf = vec![0u8; 65536];
    let bp = buf.as_mut_ptr();
    let child = Child::fork(move || {
        for i in 0..(pages / 16) {
            // SAFETY: buffer of 64 KiB prepared before the fork.
            unsafe { libc::pread(fd, bp.cast(), 65536, (i * 65536) as i64) };
        }
    });
    cg.add(child.pid);
    let pid = child.pid.to_string();
    let tool = Tool::start("drsnoop", &["-p", &pid], "LAT(ms)");
    let status = child.go_and_wait();
    assert!(libc::WIFEXITED(status), "reader died: {status:#x}");
    std::thread::sleep(Duration::from_millis(300));
    let (out, _) = tool.stop();
    drop(buf);
    let _ = std::fs::remove_file(&path);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(!rows.is_empty(), "no reclaim seen for {pid}:\n{out}");
    for r in &rows {
        assert_eq!(r[1], pid, "-p {pid} let another task through: {r:?}");
    }
    let reclaimed: u64 = rows.iter().map(|r| r[3].parse::<u64>().unwrap()).sum();
    assert!(reclaimed > 0, "reclaims freed no pages:\n{out}");
    assert!(loaded_with_prefix("drsnoop").is_empty());
}

/// Sum of column `col` over cachestat's data rows.
fn column_sum(out: &str, col: usize) -> u64 {
    out.lines()
        .skip(1)
        .map(|l| {
            l.split_whitespace()
                .nth(col)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

#[test]
fn cachestat_counts_misses_then_hits_or_refuses_without_kprobes() {
    let Some(_g) = root_test("cachestat") else {
        return;
    };
    if !lab_probes::capabilities::kprobes_compiled_in() {
        let (code, out, err) = run(&mut cmd("cachestat"));
        assert_eq!(code, 2, "{out}{err}");
        assert!(out.is_empty(), "nothing on stdout: {out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("kprobes"), "{err}");
        return;
    }
    let pages = 256;
    let (path, f) = cold_file("lab-cachestat", pages);
    let tool = Tool::start("cachestat", &[], "HITRATIO");
    read_pages(&f, pages);
    std::thread::sleep(Duration::from_millis(300));
    let (cold, _) = tool.stop();
    let misses = column_sum(&cold, 1);
    assert!(misses >= pages as u64, "MISSES {misses} < {pages}:\n{cold}");
    let tool = Tool::start("cachestat", &[], "HITRATIO");
    read_pages(&f, pages);
    std::thread::sleep(Duration::from_millis(300));
    let (warm, _) = tool.stop();
    let hits = column_sum(&warm, 0);
    assert!(hits >= pages as u64, "HITS {hits} < {pages}:\n{warm}");
    let _ = std::fs::remove_file(&path);
    assert!(loaded_with_prefix("cs_").is_empty());
}
