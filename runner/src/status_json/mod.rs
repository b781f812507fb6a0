//! The machine-readable progress and session form (docs/status-json.md): what `lab status --json` and `lab list --json`
//! print and what `lab class` reads from every student VM over SSH. Versioned by `schema`
//! (docs/status-json.md); fields are only ever added within one schema version, so an older
//! `lab class` reads a newer VM's answer. Built from the state file and /proc, both readable by
//! the student account: no root needed.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod doctor;
mod session;

pub use doctor::{doctor, doctor_file, save_doctor};
pub use session::{session_doc, status};

use crate::{lab::Lab, store::State};

/// The schema version of `lab status --json` / `lab list --json`. Bump only for an incompatible
/// change (a field removed or its meaning changed); adding fields keeps the version.
pub const SCHEMA: u32 = 1;

/// `lab status --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusDoc {
    pub schema: u32,
    /// "lab-status"
    pub kind: String,
    pub user: String,
    pub host: String,
    /// Unix seconds on the VM when this was written (compare with the other times here).
    pub now: u64,
    /// The running lab, flattened: `lab`, `title`, `elapsed_secs`, `workloads`, ... at the top
    /// level; absent when no lab runs (`lab` is then null).
    #[serde(flatten)]
    pub session: Option<SessionDoc>,
    #[serde(default)]
    pub lab: Option<u32>,
    /// Every lab with its progress.
    pub labs: Vec<LabDoc>,
    /// The most recent `lab check` of any lab.
    pub last_check: Option<CheckDoc>,
    /// Hints revealed, all labs together.
    pub hints_used: usize,
    /// Perturbing tools (strace, gdb, ...) seen during the running lab.
    pub proctor: ProctorDoc,
    /// `lab doctor`'s last verdict on this machine, if it ever ran.
    pub doctor: Option<DoctorDoc>,
}

/// The running session (the fields `lab status --json` always had).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionDoc {
    pub title: String,
    pub seed: u64,
    pub started_at: u64,
    pub elapsed_secs: u64,
    /// The lab's planned duration (front matter `duration`), seconds.
    pub duration_secs: u64,
    pub data_dir: String,
    pub complete: bool,
    /// False when the machine rebooted since the lab started (its workloads are gone).
    pub same_boot: bool,
    pub workloads: Vec<WorkloadDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadDoc {
    pub name: String,
    pub comm: String,
    pub pid: i32,
    pub start_time: u64,
    pub alive: bool,
    /// "running", "exited with status 3", "killed by SIGKILL", ...
    pub health: String,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub processes: usize,
    /// Percent of one CPU over the sample, all processes of the tree.
    pub cpu_percent: Option<f64>,
    /// Resident memory of the tree, bytes.
    pub memory_bytes: Option<u64>,
    /// Storage I/O rates (null without permission to read the processes' /proc/PID/io).
    pub read_bytes_per_sec: Option<f64>,
    pub write_bytes_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
}

/// One lab's progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabDoc {
    pub id: u32,
    pub title: String,
    pub duration_secs: u64,
    /// "not_started", "started", "running" or "passed".
    pub status: String,
    pub running: bool,
    /// Required questions and how many of them passed.
    pub required: usize,
    pub passed: usize,
    pub passed_at: Option<u64>,
    /// Finished sessions plus the running one so far.
    pub time_spent_secs: u64,
    pub hints_used: usize,
    pub last_check_at: Option<u64>,
    /// Each answered question: what the student answered, whether it passed, when.
    pub answers: Vec<AnswerDoc>,
    /// Perturbing tools seen by this lab's last check, with counts.
    #[serde(default)]
    pub proctor: BTreeMap<String, u64>,
}

impl LabDoc {
    /// The lab's progress in the words `lab list`, `lab status`, `lab stop` and `lab class`
    /// share: "passed", "3/7 right" (required questions answered right at some check),
    /// "started", "not started".
    pub fn progress(&self) -> String {
        match self.status.as_str() {
            "passed" => "passed".into(),
            _ if !self.answers.is_empty() => right(self.passed, self.required),
            "running" | "started" => "started".into(),
            _ => "not started".into(),
        }
    }
}

/// "3/7 right".
pub fn right(passed: usize, of: usize) -> String {
    format!("{passed}/{of} right")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerDoc {
    pub id: String,
    pub answer: String,
    pub passed: bool,
    pub measured: String,
    pub at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckDoc {
    pub lab: u32,
    pub at: u64,
    /// Required questions passed / required questions, as of that check.
    pub passed: usize,
    pub required: usize,
    /// Every required question passed.
    pub ok: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProctorDoc {
    /// Tool name -> times started.
    pub seen: BTreeMap<String, u64>,
    /// "live" (read from the proctor's pinned map: root), "last_check" (what the running lab's
    /// last `lab check` saw) or "none" (no lab running).
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DoctorDoc {
    /// "ok" (every lab can run) or "fail".
    pub verdict: String,
    pub all_labs_runnable: bool,
    /// Checks that failed, by name.
    #[serde(default)]
    pub failed: Vec<String>,
    /// When that doctor ran (the report file's time), Unix seconds.
    pub at: Option<u64>,
    /// The report file read.
    pub source: String,
}

/// `lab list --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListDoc {
    pub schema: u32,
    /// "lab-list"
    pub kind: String,
    pub user: String,
    pub now: u64,
    pub labs: Vec<LabDoc>,
}

/// Every lab of the catalog with its progress in `state`.
pub fn labs(catalog: &[Lab], state: &State, now: u64) -> Vec<LabDoc> {
    catalog
        .iter()
        .map(|l| {
            let running = state.session.as_ref().filter(|s| s.lab == l.id);
            let progress = state.progress(l.id).cloned().unwrap_or_default();
            let required_ids: Vec<&str> = l
                .questions
                .iter()
                .filter(|q| q.required && q.gradable())
                .map(|q| q.id.as_str())
                .collect();
            let passed = progress.passed_count(required_ids.iter().copied());
            let status = if progress.passed_at.is_some() {
                "passed"
            } else if running.is_some() {
                "running"
            } else if progress.time_spent > 0 || !progress.questions.is_empty() {
                "started"
            } else {
                "not_started"
            };
            LabDoc {
                id: l.id,
                title: l.title.clone(),
                duration_secs: l.duration_secs,
                status: status.into(),
                running: running.is_some(),
                required: required_ids.len(),
                passed,
                passed_at: progress.passed_at,
                time_spent_secs: progress.time_spent
                    + running.map_or(0, |s| now.saturating_sub(s.started_at)),
                hints_used: progress.hints_revealed,
                last_check_at: progress.questions.values().map(|q| q.at).max(),
                answers: progress
                    .questions
                    .iter()
                    .map(|(id, q)| AnswerDoc {
                        id: id.clone(),
                        answer: q.answer.clone(),
                        passed: q.passed,
                        measured: q.measured.clone(),
                        at: q.at,
                    })
                    .collect(),
                proctor: progress.proctor.clone(),
            }
        })
        .collect()
}

/// The latest check over all labs: the answers recorded at that check's time.
pub fn last_check(labs: &[LabDoc]) -> Option<CheckDoc> {
    let lab = labs
        .iter()
        .filter(|l| l.last_check_at.is_some())
        .max_by_key(|l| l.last_check_at)?;
    Some(CheckDoc {
        lab: lab.id,
        at: lab.last_check_at?,
        passed: lab.passed,
        required: lab.required,
        ok: lab.required > 0 && lab.passed == lab.required,
    })
}

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
