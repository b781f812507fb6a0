//! A lab's prepare step: `lab-workload RUN ARGS --seed S` run to completion in the session's
//! data dir, reporting `progress DONE TOTAL` lines as it goes (labs/FORMAT.md, "Progress
//! protocol"). It dies with `lab start`, even on kill -9.
use std::io::{BufRead as _, BufReader};

use anyhow::Context as _;

use super::spawn;

/// Where a prepare step's progress goes (`lab start` draws a bar).
pub trait Progress {
    /// The step `label` begins.
    fn begin(&mut self, label: &str);
    /// `done` of `total` units.
    fn set(&mut self, done: u64, total: u64);
    /// The step ended well.
    fn done(&mut self, label: &str);
    /// The step failed (the error follows).
    fn failed(&mut self);
}

/// Run one prepare step; Err carries its last lines of output.
pub fn run_step(
    data_dir: &std::path::Path,
    label: &str,
    run: &str,
    args: &[String],
    seed: u64,
    progress: &mut dyn Progress,
) -> anyhow::Result<()> {
    let bin = spawn::workload_binary()?;
    let mut argv: Vec<String> = vec![run.to_string()];
    argv.extend(args.iter().cloned());
    argv.extend(["--seed".to_string(), seed.to_string()]);
    let reader = duct::cmd(&bin, &argv)
        .dir(data_dir)
        .stdin_null()
        .stderr_to_stdout()
        .unchecked()
        .before_spawn(|cmd| {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe. A prepare step dies with `lab start` (even
            // on kill -9) instead of writing into a session that is being cleaned up.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            Ok(())
        })
        .reader()
        .with_context(|| format!("{label}: starting lab-workload {run}"))?;
    progress.begin(label);
    let mut tail: Vec<String> = Vec::new();
    for line in BufReader::new(&reader).lines() {
        let line = line.with_context(|| format!("{label}: reading its output"))?;
        if let Some((done, total)) = progress_line(&line) {
            progress.set(done, total);
            continue;
        }
        tail.push(line);
        if tail.len() > 8 {
            tail.remove(0);
        }
    }
    let out = reader
        .try_wait()?
        .context("prepare step output ended but it did not exit")?;
    if !out.status.success() {
        progress.failed();
        anyhow::bail!(
            "{label}: lab-workload {run} failed ({}):\n    {}",
            out.status,
            tail.join("\n    ")
        );
    }
    progress.done(label);
    Ok(())
}

/// `progress DONE TOTAL` → (DONE, TOTAL).
fn progress_line(line: &str) -> Option<(u64, u64)> {
    let mut parts = line.split_whitespace();
    if parts.next() != Some("progress") {
        return None;
    }
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}
