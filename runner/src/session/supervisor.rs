//! The supervisor: `lab supervise ...` (hidden), one per workload, in its own session. It
//! records its own and the workload's PID + start time, reaps everything in the tree (it is a
//! child subreaper, so orphaned grandchildren come back to it), and when the workload ends it
//! records the exit status, ends what is left of the tree and exits. It outlives the `lab`
//! command that started it, and `lab` being kill -9'd does not touch it.
use std::{
    fs::OpenOptions,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context as _;

use super::{
    procs::{self, ProcId},
    runfiles::{self, ExitInfo, WorkloadFile},
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Workload name (run files are NAME.*.json)
    #[arg(long)]
    pub name: String,
    /// Session data directory
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Process name the workload runs under
    #[arg(long)]
    pub comm: String,
    /// Program (a symlink named after the workload); its arguments are in run/NAME.args
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    become_supervisor();
    let me = ProcId::of(std::process::id() as i32).context("reading my own /proc entry")?;
    // Contain the workload's whole tree (best effort: without cgroup2, the tree walk remains).
    if let Err(e) = super::cgroup::join(&args.data_dir, &args.name, me.pid) {
        eprintln!("lab-supervise: not using a cgroup ({e}); relying on the process tree");
    }
    runfiles::write(&runfiles::supervisor_path(&args.data_dir, &args.name), &me)?;
    // Room for the exit record, taken now: a workload often dies *because* the disk filled,
    // and then a new file could not be written.
    let reserve = runfiles::exit_path(&args.data_dir, &args.name).with_extension("reserve");
    std::fs::write(&reserve, [b' '; 4096]).with_context(|| reserve.display().to_string())?;
    let child = spawn_workload(&args, open_log(&args)?)?;
    let child_id = ProcId::of(child).unwrap_or(ProcId {
        pid: child,
        start_time: 0,
    });
    runfiles::write(
        &runfiles::workload_path(&args.data_dir, &args.name),
        &WorkloadFile {
            id: child_id,
            comm: args.comm.clone(),
        },
    )?;
    let exit = reap_until(child);
    record_exit(&args, &exit, &reserve)?;
    eprintln!("lab-supervise: {} (pid {child}) {exit}", args.comm);
    // The workload is gone: end what is left of its tree so nothing half-alive lingers.
    end_rest(&me, &args.data_dir, &args.name);
    Ok(ExitCode::SUCCESS)
}

/// A child subreaper named lab-supervise that no stray SIGHUP/SIGINT ends silently.
fn become_supervisor() {
    // SAFETY: plain prctl and signal calls on this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::prctl(
            libc::PR_SET_NAME,
            c"lab-supervise".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        );
        // No terminal to hang up, but a stray SIGHUP/SIGINT must not end the session silently.
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
}

/// The workload's log, with blocks reserved for its last words.
fn open_log(args: &Args) -> anyhow::Result<std::fs::File> {
    let log_path = runfiles::log_path(&args.data_dir, &args.name);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| log_path.display().to_string())?;
    // Blocks for the workload's last words, reserved now (the size stays 0): its error on a
    // full disk ("No space left on device") must still reach `lab check`.
    use std::os::fd::AsRawFd as _;
    // SAFETY: fallocate on an fd we own; failure (a file system without it) is harmless.
    unsafe { libc::fallocate(log.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, 64 << 10) };
    Ok(log)
}

/// Start the workload (output to `log`); its PID.
fn spawn_workload(args: &Args, log: std::fs::File) -> anyhow::Result<i32> {
    let (program, rest) = args.command.split_first().context("no command")?;
    let handle = duct::cmd(program, rest)
        .dir(&args.data_dir)
        // The workload reads its arguments from this file (see runfiles::args_path).
        .env(
            "LAB_WORKLOAD_ARGS",
            runfiles::args_path(&args.data_dir, &args.name),
        )
        .stdin_null()
        // duct applies the outer (later) redirection first: stderr joins stdout, which then
        // goes to the log. The other order sent the workload's errors to our own stdout.
        .stderr_to_stdout()
        .stdout_file(log)
        .unchecked()
        .before_spawn(|cmd| {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    // Undo the supervisor's ignored signals: the workload must die on them.
                    libc::signal(libc::SIGHUP, libc::SIG_DFL);
                    libc::signal(libc::SIGINT, libc::SIG_DFL);
                    Ok(())
                });
            }
            Ok(())
        })
        .start()
        .with_context(|| format!("starting {program}"))?;
    let child = *handle.pids().first().context("no pid")? as i32;
    // We reap with waitpid(-1) below; duct's handle must not wait too.
    std::mem::forget(handle);
    Ok(child)
}

/// Reap every child until the workload itself ends; how it ended.
fn reap_until(child: i32) -> ExitInfo {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return ExitInfo {
                code: None,
                signal: None,
                at: crate::clock::now(),
            };
        }
        if pid == child {
            return ExitInfo {
                code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
                signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
                at: crate::clock::now(),
            };
        }
    }
}

/// Write the exit record; on a full disk, into the blocks reserved at start.
fn record_exit(args: &Args, exit: &ExitInfo, reserve: &std::path::Path) -> anyhow::Result<()> {
    let exit_path = runfiles::exit_path(&args.data_dir, &args.name);
    if let Err(e) = runfiles::write(&exit_path, exit) {
        // Full disk: overwrite the reserved blocks in place and move them into place.
        let json = serde_json::to_vec(exit)?;
        let kept = std::fs::OpenOptions::new()
            .write(true)
            .open(reserve)
            .and_then(|mut f| {
                use std::io::Write as _;
                f.write_all(&json)?;
                f.set_len(json.len() as u64)?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(reserve, &exit_path));
        if let Err(e2) = kept {
            eprintln!(
                "lab-supervise: recording the exit of {}: {e:#}; {e2}",
                args.comm
            );
        }
    }
    let _ = std::fs::remove_file(reserve);
    Ok(())
}

/// SIGTERM the rest of the tree, SIGKILL after a grace period, reaping as we go.
fn end_rest(me: &ProcId, data_dir: &std::path::Path, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut sig = libc::SIGTERM;
    loop {
        let table = procs::table();
        let rest: Vec<_> =
            procs::tree_members_plus(&table, &[*me], &super::cgroup::pids(data_dir, Some(name)))
                .into_iter()
                .filter(|p| p.pid != me.pid)
                .collect();
        if rest.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            sig = libc::SIGKILL;
        }
        for p in &rest {
            // SAFETY: signalling a process we found in our own tree.
            unsafe { libc::kill(p.pid, sig) };
        }
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: non-blocking reap of any child.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    }
    // Reap any last zombies.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}
