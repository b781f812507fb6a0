//! What the state file holds: the running session's record and each lab's progress.
use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

use super::FORMAT;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub format: u32,
    /// The lab running now, if any (at most one: labs compete for the CPU and disk).
    #[serde(default)]
    pub session: Option<SessionRecord>,
    /// Progress per lab id.
    #[serde(default)]
    pub labs: BTreeMap<u32, LabProgress>,
}

impl Default for State {
    fn default() -> Self {
        State {
            format: FORMAT,
            session: None,
            labs: BTreeMap::new(),
        }
    }
}

/// The record of a started lab (the live processes are crate::session's). Workload processes are not stored here: each supervisor records its own and
/// its workload's PID + start time in `data_dir/run/` (see session::runfiles), so a `lab start`
/// killed at any moment leaves nothing that `lab stop` cannot find.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    pub lab: u32,
    pub seed: u64,
    /// Seeded values, as computed at start (templates and the checker read them).
    pub vars: BTreeMap<String, serde_json::Value>,
    pub data_dir: PathBuf,
    pub user: String,
    /// Unix seconds.
    pub started_at: u64,
    /// /proc/sys/kernel/random/boot_id at start: after a reboot every process is gone.
    pub boot_id: String,
    /// The workload names the lab declares, in start order.
    pub workloads: Vec<String>,
    /// False until `lab start` finished starting every workload.
    pub complete: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LabProgress {
    /// Seconds spent in finished sessions (the running one adds now - started_at).
    #[serde(default)]
    pub time_spent: u64,
    #[serde(default)]
    pub hints_revealed: usize,
    #[serde(default)]
    pub last_seed: Option<u64>,
    #[serde(default)]
    pub questions: BTreeMap<String, QuestionResult>,
    /// Unix seconds of the check that passed every required question.
    #[serde(default)]
    pub passed_at: Option<u64>,
    /// Perturbing tools (strace, gdb, ...) the proctor had seen at this lab's last check.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proctor: BTreeMap<String, u64>,
    /// Question id → unix seconds it first passed. Never shrinks: passed stays passed, however
    /// a later check goes (`questions` holds the latest result of each).
    #[serde(default)]
    pub ever_passed: BTreeMap<String, u64>,
    /// The latest `lab check` of this lab, on its own (None: not checked since format 2).
    #[serde(default)]
    pub last_check: Option<CheckTally>,
}

/// How one `lab check` went for the lab's required questions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckTally {
    pub passed: usize,
    pub total: usize,
    pub at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QuestionResult {
    pub passed: bool,
    pub answer: String,
    pub measured: String,
    pub at: u64,
}

impl LabProgress {
    /// Record one checked answer (the checker calls this for each question).
    pub fn record(&mut self, question: &str, passed: bool, answer: &str, measured: &str) {
        let at = crate::clock::now();
        if passed {
            self.ever_passed.entry(question.to_string()).or_insert(at);
        }
        self.questions.insert(
            question.to_string(),
            QuestionResult {
                passed,
                answer: answer.to_string(),
                measured: measured.to_string(),
                at,
            },
        );
    }
    /// How many of these question ids have ever passed (the best the student has reached).
    pub fn passed_count<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> usize {
        ids.into_iter()
            .filter(|id| self.ever_passed.contains_key(*id))
            .count()
    }
}

impl State {
    pub fn progress(&self, lab: u32) -> Option<&LabProgress> {
        self.labs.get(&lab)
    }
    pub fn progress_mut(&mut self, lab: u32) -> &mut LabProgress {
        self.labs.entry(lab).or_default()
    }
}
