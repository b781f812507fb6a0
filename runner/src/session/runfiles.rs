//! The files a supervisor writes in `<data_dir>/run/`, each atomically:
//! NAME.supervisor.json (its own identity, written first), NAME.workload.json (the workload's,
//! once spawned) and NAME.exit.json (how the workload ended). They, not the state file, say
//! which processes belong to a session, so a `lab start` killed at any point leaves nothing
//! that `lab stop` cannot find.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::procs::ProcId;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkloadFile {
    #[serde(flatten)]
    pub id: ProcId,
    pub comm: String,
}

/// How a workload ended: an exit code or a signal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// Unix seconds.
    pub at: u64,
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exited with status {c}"),
            (_, Some(s)) => write!(f, "killed by {}", super::procs::signal_name(s)),
            _ => f.write_str("ended (status unknown)"),
        }
    }
}

pub fn run_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("run")
}
pub fn log_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("logs").join(format!("{name}.log"))
}
pub fn supervisor_path(data_dir: &Path, name: &str) -> PathBuf {
    run_dir(data_dir).join(format!("{name}.supervisor.json"))
}
pub fn workload_path(data_dir: &Path, name: &str) -> PathBuf {
    run_dir(data_dir).join(format!("{name}.workload.json"))
}
/// The workload's arguments, NUL-separated, readable by root only: passed through a file so
/// `ps` shows just the seeded process name, not the seeded parameters a student must find.
pub fn args_path(data_dir: &Path, name: &str) -> PathBuf {
    run_dir(data_dir).join(format!("{name}.args"))
}
pub fn exit_path(data_dir: &Path, name: &str) -> PathBuf {
    run_dir(data_dir).join(format!("{name}.exit.json"))
}

pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

pub fn write<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    crate::store::write_atomic(path, &serde_json::to_vec(value)?)
}

/// Names of every workload with a supervisor file in this data dir (including ones the state
/// does not know about because `lab start` was killed before recording them).
pub fn names(data_dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(run_dir(data_dir)) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".supervisor.json")
                .map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

/// The last `n` lines of a workload's log (to explain why it died).
pub fn log_tail(data_dir: &Path, name: &str, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(log_path(data_dir, name)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}
