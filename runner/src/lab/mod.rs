//! Labs: markdown files with a ```toml front matter (labs/FORMAT.md), embedded in the binary.
//! `LAB_LABS_DIR` points the runner at a working copy instead (for authors).
use serde::{Deserialize, Serialize};

mod catalog;
pub mod choice;
pub mod format;
pub mod render;
mod sections;
pub mod seed;
#[cfg(test)]
mod tests;

pub use catalog::{catalog, find, labs_dir_override, parse_id, solution_files, sources};

/// One parsed lab (see labs/FORMAT.md for every field).
// Some fields are only read by the checker or by tests: they are the lab's API.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Lab {
    pub format: u32,
    pub id: u32,
    pub title: String,
    /// As written ("15m").
    pub duration: String,
    pub duration_secs: u64,
    pub tools: Vec<String>,
    /// The checker that traces this lab's truths, by name (crate::checkers); None for a lab
    /// whose questions are bpftrace exercises.
    pub checker: Option<String>,
    /// Seeded values in declaration order.
    pub seed: Vec<(String, SeedSpec)>,
    pub prepare: Vec<Step>,
    pub workloads: Vec<Step>,
    pub questions: Vec<Question>,
    /// Markdown after the front matter, hints cut out, not yet rendered.
    pub body: String,
    /// 1-based line of the body's first line in the file (for template errors).
    pub body_line: usize,
    /// Hint blocks in order, not yet rendered.
    pub hints: Vec<String>,
    /// File name for messages ("labs/01-disk-latency.md").
    pub source: String,
}

impl Question {
    /// Whether `lab check` grades it: text questions are shown with the hints, and tool ones
    /// are the bpftrace exercises' (crate::exercises).
    pub fn gradable(&self) -> bool {
        !matches!(self.kind, Kind::Text | Kind::Tool)
    }
}

impl Lab {
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }
    #[allow(dead_code)] // API for the checker
    pub fn workload(&self, name: &str) -> Option<&Step> {
        self.workloads.iter().find(|w| w.name == name)
    }
}

/// A prepare step or a workload: a lab-workload subcommand with templated args.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub run: String,
    pub args: Vec<String>,
    pub comm: Option<String>,
    pub label: Option<String>,
    pub line: usize,
}

#[allow(dead_code)] // `params` is for the checker
#[derive(Debug, Clone)]
pub struct Question {
    pub id: String,
    pub prompt: String,
    pub kind: Kind,
    pub metric: String,
    pub required: bool,
    pub tolerance: Tolerance,
    pub choices: Vec<String>,
    pub reference: Option<String>,
    pub params: toml::Table,
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Process,
    File,
    Size,
    Duration,
    Syscall,
    Number,
    Cpu,
    Choice,
    Text,
    Tool,
}

impl Kind {
    /// Kinds compared as numbers, so a tolerance applies.
    pub fn numeric(self) -> bool {
        matches!(self, Kind::Size | Kind::Duration | Kind::Number)
    }
}

/// How close a numeric answer must be to the measured truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    Exact,
    /// truth/f <= answer <= truth*f
    Factor(f64),
    /// |answer - truth| <= r * |truth|
    Relative(f64),
    /// |answer - truth| <= a (in the kind's base unit)
    Absolute(f64),
}

impl Tolerance {
    /// "exact", "2x", "25%", "±3", "+-3".
    pub fn parse(s: &str) -> Option<Tolerance> {
        let s = s.trim();
        let num = |t: &str| {
            t.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        if s.eq_ignore_ascii_case("exact") {
            Some(Tolerance::Exact)
        } else if let Some(f) = s.strip_suffix(['x', '×']) {
            num(f).filter(|f| *f >= 1.0).map(Tolerance::Factor)
        } else if let Some(p) = s.strip_suffix('%') {
            num(p).map(|p| Tolerance::Relative(p / 100.0))
        } else if let Some(a) = s.strip_prefix('±').or_else(|| s.strip_prefix("+-")) {
            num(a).map(Tolerance::Absolute)
        } else {
            None
        }
    }

    pub fn accepts(&self, truth: f64, answer: f64) -> bool {
        match *self {
            Tolerance::Exact => answer == truth,
            Tolerance::Factor(f) => {
                if truth == 0.0 {
                    answer == 0.0
                } else {
                    let ratio = answer / truth;
                    ratio >= 1.0 / f && ratio <= f
                }
            }
            Tolerance::Relative(r) => (answer - truth).abs() <= r * truth.abs(),
            Tolerance::Absolute(a) => (answer - truth).abs() <= a,
        }
    }
}

impl std::fmt::Display for Tolerance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tolerance::Exact => f.write_str("exact"),
            Tolerance::Factor(x) => write!(f, "within {x}×"),
            Tolerance::Relative(r) => write!(f, "within {}%", r * 100.0),
            Tolerance::Absolute(a) => write!(f, "within ±{a}"),
        }
    }
}

/// How one seeded value is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum SeedSpec {
    Literal(serde_json::Value),
    Pick(Vec<serde_json::Value>),
    Range { lo: i64, hi: i64, step: i64 },
    Template(String),
}
