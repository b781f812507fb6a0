//! Starting a workload: a `lab supervise` process in its own session (setsid), which starts
//! the workload through a symlink named after its seeded process name.
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context as _;

use super::{
    procs::ProcId,
    runfiles::{self, WorkloadFile},
};

/// The `lab-workload` binary: `LAB_WORKLOAD_BIN`, next to this `lab`, or on PATH.
pub fn workload_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("LAB_WORKLOAD_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Ok(me) = std::env::current_exe() {
        let sibling = me.with_file_name("lab-workload");
        if sibling.exists() {
            return Ok(sibling);
        }
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join("lab-workload");
        if p.exists() {
            return Ok(p);
        }
    }
    anyhow::bail!("lab-workload not found next to lab or on PATH; install it (provision/setup.sh) or set LAB_WORKLOAD_BIN")
}

/// Start one workload; returns its identity once the supervisor has recorded it.
pub fn start(
    data_dir: &Path,
    name: &str,
    comm: &str,
    subcommand: &str,
    args: &[String],
    seed: u64,
) -> anyhow::Result<ProcId> {
    let bin = workload_binary()?;
    // exec through a symlink named `comm`: the kernel takes the task name from the path
    // executed, so ps/top/execsnoop show the seeded name, not "lab-workload".
    let link_dir = data_dir.join("bin");
    std::fs::create_dir_all(&link_dir)?;
    std::fs::create_dir_all(runfiles::run_dir(data_dir))?;
    std::fs::create_dir_all(data_dir.join("logs"))?;
    let link = link_dir.join(comm);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&bin, &link)
        .with_context(|| format!("linking {}", link.display()))?;

    let mut workload_args: Vec<String> = vec![subcommand.to_string()];
    workload_args.extend(args.iter().cloned());
    workload_args.extend(["--seed".to_string(), seed.to_string()]);
    write_args(&runfiles::args_path(data_dir, name), &workload_args)?;
    let handle = supervise(data_dir, name, comm, &[link.display().to_string()])
        .with_context(|| format!("starting the supervisor for {name}"))?;
    let log = runfiles::log_path(data_dir, name);
    let sup_pid = handle.pids()[0] as i32;

    // Wait for the supervisor to record the workload.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(w) = runfiles::read::<WorkloadFile>(&runfiles::workload_path(data_dir, name)) {
            // The supervisor keeps running after we exit; it must not become our zombie if we
            // linger, and duct must not kill it: forget the handle.
            std::mem::forget(handle);
            return Ok(w.id);
        }
        if let Ok(Some(out)) = handle.try_wait() {
            let tail = runfiles::log_tail(data_dir, name, 5).join("\n  ");
            anyhow::bail!(
                "supervisor for {name} (pid {sup_pid}) exited early ({:?}):\n  {tail}",
                out.status
            );
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "workload {name} did not start within 10 s (see {})",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Start `lab supervise --name NAME --data-dir ROOT --comm COMM -- PROGRAM...` detached: in its
/// own session (setsid: no terminal signals, and `lab stop` finds every member by session id),
/// its output appended to ROOT's log for NAME, which the supervisor and its child share. Workloads
/// and the session's truth recorder are started this one way. The caller waits for the run files.
pub fn supervise(
    root: &Path,
    name: &str,
    comm: &str,
    program: &[String],
) -> anyhow::Result<duct::Handle> {
    let me = std::env::current_exe().context("finding the lab binary")?;
    let mut argv: Vec<String> = vec![
        "supervise".into(),
        "--name".into(),
        name.into(),
        "--data-dir".into(),
        root.display().to_string(),
        "--comm".into(),
        comm.into(),
        "--".into(),
    ];
    argv.extend(program.iter().cloned());
    let log = runfiles::log_path(root, name);
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| log.display().to_string())?;
    duct::cmd(&me, &argv)
        .stdin_null()
        .stdout_null()
        .stderr_file(log_file)
        .unchecked()
        .before_spawn(|cmd| {
            use std::os::unix::process::CommandExt;
            // SAFETY: setsid is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setsid() < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .start()
        .map_err(Into::into)
}

/// Write the NUL-separated argument file, mode 0600.
fn write_args(path: &Path, args: &[String]) -> anyhow::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    anyhow::ensure!(
        !args.iter().any(|a| a.contains('\0')),
        "workload arguments may not contain NUL"
    );
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| path.display().to_string())?;
    f.write_all(args.join("\0").as_bytes())?;
    Ok(())
}
