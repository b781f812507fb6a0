//! Lab 3: worker threads pinned to one CPU, each spinning on a system call that does no work
//! (0-byte reads or writes issued through syscall(2)), so they queue behind each other on that
//! CPU while the other CPUs idle. Thread count, CPU and system call come from the arguments.
use std::{os::fd::AsRawFd as _, path::Path};

use anyhow::{bail, Context as _, Result};

use crate::{common::Common, syscalls};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Number of spinning worker threads.
    #[arg(long)]
    pub threads: usize,
    /// CPU the workers are pinned to (taken modulo the CPUs this process may use).
    #[arg(long)]
    pub cpu: usize,
    /// The useless system call each worker repeats.
    #[arg(long, default_value = "read")]
    pub syscall: Useless,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Useless {
    Read,
    Pread64,
    Write,
    Pwrite64,
}

pub fn run(args: Args) -> Result<()> {
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    let cpu = pick_cpu(args.cpu)?;
    let writes = matches!(args.syscall, Useless::Write | Useless::Pwrite64);
    let dev = if writes { "/dev/null" } else { "/dev/zero" };
    let mode = if writes {
        libc::O_WRONLY
    } else {
        libc::O_RDONLY
    };
    let file = syscalls::open(Path::new(dev), mode, 0).with_context(|| format!("opening {dev}"))?;
    let fd = file.as_raw_fd() as libc::c_long;
    let nr = match args.syscall {
        Useless::Read => libc::SYS_read,
        Useless::Pread64 => libc::SYS_pread64,
        Useless::Write => libc::SYS_write,
        Useless::Pwrite64 => libc::SYS_pwrite64,
    };
    let mut workers = Vec::new();
    for _ in 0..args.threads {
        workers.push(std::thread::spawn(move || worker(cpu, nr, fd)));
    }
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a worker thread panicked"))??;
    }
    drop(file);
    Ok(())
}

fn worker(cpu: usize, nr: libc::c_long, fd: libc::c_long) -> Result<()> {
    pin_to(cpu)?;
    // A "latency-sensitive" service: its threads outrank ordinary work on that CPU, so they
    // mostly queue behind each other (best effort: needs root, as `lab start` is).
    // SAFETY: setpriority on the calling thread (who = 0).
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -5) };
    let mut buf = [0u8; 64];
    let ptr = buf.as_mut_ptr() as libc::c_long;
    loop {
        // Count 0 and offset 0: the kernel returns at once, having done nothing.
        // SAFETY: a valid fd and buffer; a zero-length transfer touches no memory.
        unsafe { libc::syscall(nr, fd, ptr, 0 as libc::c_long, 0 as libc::c_long) };
    }
}

/// The `want`-th CPU (modulo) among those this process may run on.
fn pick_cpu(want: usize) -> Result<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("sched_getaffinity");
    }
    let allowed: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect();
    if allowed.is_empty() {
        bail!("no CPU is allowed for this process");
    }
    Ok(allowed[want % allowed.len()])
}

fn pin_to(cpu: usize) -> Result<()> {
    // SAFETY: as above; pid 0 = the calling thread.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("pinning a worker to CPU {cpu}"));
    }
    Ok(())
}
