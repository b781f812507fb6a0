//! The seeded workloads the checker drives while a tool runs: block I/O with a spread of sizes,
//! a process that deletes files, one that forks workers without exec, one that leaks fds, and
//! cached re-reads (logical >> physical I/O). Processes are forked from the runner and wait for
//! `go()` so the ground-truth probe can filter on their PID before they act. Between fork and
//! exit a child only makes raw syscalls on data prepared before the fork (async-signal-safe),
//! the ones a student traces by number (`sys`), so they are the same whichever libc built lab.
use std::{
    ffi::CString,
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use super::syscalls;

/// The checker workloads' generator: the project's SplitMix64 with their own stream constant.
pub type Rng = lab_probes_common::rng::SplitMix64;

pub fn rng(seed: u64) -> Rng {
    Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15)
}

/// A forked child waiting for `go()`; killed and reaped on drop.
pub struct Gated {
    pub pid: i32,
    go_fd: i32,
    reaped: bool,
}

impl Gated {
    /// Fork a child named `comm` that runs `body` once released, then exits.
    pub fn fork(comm: &str, body: impl FnOnce()) -> Result<Self> {
        let comm = CString::new(comm)?;
        let mut fds = [0i32; 2];
        // SAFETY: plain pipe2/fork; the child below only makes raw syscalls.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            bail!("pipe: {}", std::io::Error::last_os_error());
        }
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            bail!("fork: {}", std::io::Error::last_os_error());
        }
        if pid == 0 {
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                libc::prctl(libc::PR_SET_NAME, comm.as_ptr());
                libc::close(fds[1]);
                let mut b = 0u8;
                if libc::read(fds[0], (&mut b as *mut u8).cast(), 1) == 1 {
                    body();
                }
                libc::_exit(0);
            }
        }
        unsafe { libc::close(fds[0]) };
        Ok(Self {
            pid,
            go_fd: fds[1],
            reaped: false,
        })
    }

    /// Release the child.
    pub fn go(&mut self) {
        let b = 1u8;
        // SAFETY: writing one byte to our pipe end.
        unsafe {
            libc::write(self.go_fd, (&b as *const u8).cast(), 1);
            libc::close(self.go_fd);
        }
        self.go_fd = -1;
    }

    /// Wait for the child to exit, at most `timeout`. True when it exited.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let mut st = 0;
            // SAFETY: reaping our own child.
            if unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) } == self.pid {
                self.reaped = true;
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        unsafe {
            if self.go_fd >= 0 {
                libc::close(self.go_fd);
            }
            if !self.reaped {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// Sleep in the child (nanosleep is async-signal-safe).
fn child_sleep_ms(ms: u64) {
    let ts = libc::timespec {
        tv_sec: (ms / 1000) as i64,
        tv_nsec: ((ms % 1000) * 1_000_000) as i64,
    };
    // SAFETY: valid timespec.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// /var/tmp/lab-TAG-PID: on disk (block I/O happens there, unlike a tmpfs /tmp), and short:
    /// bpftrace's str() keeps 64 bytes, and the paths must fit whole in a tool's output.
    /// Directories of checks whose runner died (kill -9) are removed first.
    pub fn new(tag: &str, _seed: u64) -> Result<Self> {
        remove_stale(Path::new("/var/tmp"));
        let dir = PathBuf::from(format!("/var/tmp/lab-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

/// Remove lab-<exercise>-<pid> directories whose process is gone.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("lab-") else {
            continue;
        };
        let Some((ex, pid)) = rest.split_once('-') else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        if super::graded::graded(ex).is_none() || pid <= 0 {
            continue;
        }
        // SAFETY: signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const WORDS: &[&str] = &[
    "invoice", "backup", "report", "session", "thumb", "journal", "cache", "draft", "export",
    "ledger",
];
const EXTS: &[&str] = &["txt", "dat", "log", "tmp", "json", "csv"];

/// Files a deleter will remove: (base name, full path, deleted with unlinkat(dirfd) or unlink(path)).
pub struct DeletePlan {
    pub comm: String,
    pub files: Vec<(String, PathBuf, bool)>,
}

pub fn delete_plan(rng: &mut Rng, dir: &Path) -> DeletePlan {
    let n = rng.range(5, 9) as usize;
    let comm = rng
        .pick(&["cleanupd", "tmpreaper", "logpurge", "spoolclean"])
        .to_string();
    let files = (0..n)
        .map(|i| {
            let name = format!(
                "{}-{:04x}.{}",
                rng.pick(WORDS),
                rng.next_u64() & 0xffff,
                rng.pick(EXTS)
            );
            let path = dir.join(&name);
            (name, path, i % 2 == 0)
        })
        .collect();
    DeletePlan { comm, files }
}

/// Create the plan's files and fork the (gated) process that deletes them, 30 ms apart.
pub fn deleter(plan: &DeletePlan, dir: &Path) -> Result<Gated> {
    for (_, path, _) in &plan.files {
        std::fs::write(path, b"lab").with_context(|| format!("creating {}", path.display()))?;
    }
    let dirf = std::fs::File::open(dir)?;
    let dirfd = dirf.as_raw_fd();
    let calls: Vec<(CString, bool)> = plan
        .files
        .iter()
        .map(|(name, path, at)| {
            let s = if *at {
                name.clone()
            } else {
                path.to_string_lossy().into_owned()
            };
            (CString::new(s).unwrap_or_default(), *at)
        })
        .collect();
    let child = Gated::fork(&plan.comm, || {
        for (p, at) in &calls {
            if *at {
                syscalls::unlinkat(dirfd, p);
            } else {
                syscalls::unlink(p);
            }
            child_sleep_ms(30);
        }
    })?;
    drop(dirf);
    Ok(child)
}

/// A master that forks `workers` children which never exec, 50 ms apart; each lives `life_ms`.
/// (clone(2) as glibc's fork makes them; the master itself is forked before the tool starts.)
pub fn forker(comm: &str, workers: u32, life_ms: u64) -> Result<Gated> {
    Gated::fork(comm, move || {
        for _ in 0..workers {
            // The worker only sleeps and exits.
            let pid = syscalls::fork();
            if pid == 0 {
                child_sleep_ms(life_ms);
                unsafe { libc::_exit(0) };
            }
            child_sleep_ms(50);
        }
        for _ in 0..workers {
            unsafe { libc::wait(std::ptr::null_mut()) };
        }
    })
}

/// A process that opens `opens` descriptors and closes all but `leak` of them (which ones comes
/// from the seed), 10 ms apart, then stays alive holding the leaked ones until killed.
pub fn leaker(comm: &str, rng: &mut Rng, opens: usize, leak: usize, file: &Path) -> Result<Gated> {
    let path = CString::new(file.to_string_lossy().as_bytes())?;
    let mut keep = vec![false; opens];
    let mut kept = 0;
    while kept < leak {
        let i = (rng.next_u64() % opens as u64) as usize;
        if !keep[i] {
            keep[i] = true;
            kept += 1;
        }
    }
    Gated::fork(comm, move || {
        let mut fds = [0i32; 256];
        let n = opens.min(fds.len());
        for i in 0..n {
            fds[i] = syscalls::open(&path, libc::O_RDONLY);
            child_sleep_ms(10);
            // Close the ones not kept a little later, interleaved with further opens.
            if i >= 2 {
                let j = i - 2;
                if !keep[j] {
                    unsafe { libc::close(fds[j]) };
                }
            }
        }
        for j in n.saturating_sub(2)..n {
            if !keep[j] {
                unsafe { libc::close(fds[j]) };
            }
        }
        loop {
            unsafe { libc::pause() };
        }
    })
}

/// A 4 KiB-aligned buffer for O_DIRECT.
struct Aligned {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl Aligned {
    fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        Self { ptr, layout }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in new with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// Direct (uncached) block I/O for `secs`: writes and reads of seeded sizes (4 KiB to 4 MiB) at
/// seeded offsets, a few ms apart, calling `tick` between operations. Returns operations done.
pub fn block_io(rng: &mut Rng, dir: &Path, secs: f64, mut tick: impl FnMut()) -> Result<u64> {
    const FILE_SIZE: u64 = 64 << 20;
    let path = dir.join("blockio.dat");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    f.set_len(FILE_SIZE)?;
    drop(f);
    let cpath = CString::new(path.to_string_lossy().as_bytes())?;
    let mut fd = syscalls::open(&cpath, libc::O_RDWR | libc::O_DIRECT);
    let direct = fd >= 0;
    if !direct {
        // No O_DIRECT (e.g. tmpfs): buffered + fdatasync still reaches the disk for writes.
        fd = syscalls::open(&cpath, libc::O_RDWR);
        if fd < 0 {
            bail!(
                "opening {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
    }
    // Large ones are split into many requests queued at once: the later ones wait, which
    // spreads latencies from tens of microseconds to milliseconds.
    let buf = Aligned::new(4 << 20);
    let sizes = [4u64 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
    let mut written: Vec<(u64, u64)> = Vec::new();
    let start = Instant::now();
    let mut ops = 0;
    while start.elapsed().as_secs_f64() < secs {
        let size = *rng.pick(&sizes);
        let off = rng.range(0, (FILE_SIZE - size) / 4096) * 4096;
        // Read back what was written when there is some (reads of never-written blocks of a
        // sparse file complete without touching the disk).
        let read = !written.is_empty() && rng.range(0, 2) == 0;
        unsafe {
            if read {
                let (o, s) = written[(rng.next_u64() % written.len() as u64) as usize];
                libc::pread(fd, buf.ptr.cast(), s as usize, o as i64);
            } else {
                libc::pwrite(fd, buf.ptr.cast(), size as usize, off as i64);
                if !direct {
                    libc::fdatasync(fd);
                }
                written.push((off, size));
            }
        }
        ops += 1;
        tick();
        std::thread::sleep(Duration::from_millis(rng.range(2, 8)));
    }
    unsafe { libc::close(fd) };
    Ok(ops)
}

/// Write `mib` MiB (then fsync: physical I/O) and read it back `rereads` times from the page
/// cache (logical I/O only), 1 MiB per syscall.
pub fn cached_rereads(dir: &Path, mib: usize, rereads: usize) -> Result<()> {
    use std::io::{Read as _, Seek as _, Write as _};
    let path = dir.join("reread.dat");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    let chunk = vec![0x5au8; 1 << 20];
    for _ in 0..mib {
        f.write_all(&chunk)?;
    }
    f.sync_all()?;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..rereads {
        f.rewind()?;
        while f.read(&mut buf)? > 0 {}
    }
    Ok(())
}
