//! Labs: markdown files with a ```toml front matter (labs/FORMAT.md), embedded in the binary.
//! `LAB_LABS_DIR` points the runner at a working copy instead (for authors).
use std::path::PathBuf;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

pub mod choice;
pub mod format;
pub mod hooks;
pub mod render;
pub mod seed;
#[cfg(test)]
mod tests;

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

static EMBEDDED: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../labs");

/// Where the labs come from: `LAB_LABS_DIR`, or the copy embedded at build time.
pub fn labs_dir_override() -> Option<PathBuf> {
    std::env::var_os("LAB_LABS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Every lab file as (name for messages, text), sorted by file name.
pub fn sources() -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Some(dir) = labs_dir_override() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("LAB_LABS_DIR={}", dir.display()))?;
        for e in entries {
            let path = e?.path();
            if is_lab_file(&path.file_name().unwrap_or_default().to_string_lossy()) {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                out.push((path.display().to_string(), text));
            }
        }
    } else {
        for f in EMBEDDED.files() {
            let name = f.path().to_string_lossy().into_owned();
            if is_lab_file(&name) {
                let text = f
                    .contents_utf8()
                    .with_context(|| format!("labs/{name} is not UTF-8"))?;
                out.push((format!("labs/{name}"), text.to_string()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The files under labs/solutions/ (reference .bt files and broken/ variants) as
/// (path relative to solutions/, text), sorted: `LAB_LABS_DIR/solutions`, or the embedded copy.
/// Adding a file there needs no Rust edit.
pub fn solution_files() -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Some(dir) = labs_dir_override() {
        let root = dir.join("solutions");
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries {
                let path = e?.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let rel = path.strip_prefix(&root).unwrap_or(&path);
                    out.push((rel.to_string_lossy().into_owned(), text));
                }
            }
        }
    } else if let Some(root) = EMBEDDED.get_dir("solutions") {
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            stack.extend(d.dirs());
            for f in d.files() {
                let path = f.path();
                let rel = path.strip_prefix("solutions").unwrap_or(path);
                let text = f
                    .contents_utf8()
                    .with_context(|| format!("labs/{} is not UTF-8", path.display()))?;
                out.push((rel.to_string_lossy().into_owned(), text.to_string()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Lab files are "NN-something.md"; FORMAT.md and READMEs are not labs.
fn is_lab_file(name: &str) -> bool {
    name.ends_with(".md") && name.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// Every lab, parsed, sorted by id; the first malformed file is an error with file:line.
pub fn catalog() -> anyhow::Result<Vec<Lab>> {
    let mut labs = Vec::new();
    for (name, text) in sources()? {
        labs.push(format::parse(&name, &text)?);
    }
    labs.sort_by_key(|l| l.id);
    for pair in labs.windows(2) {
        if pair[0].id == pair[1].id {
            anyhow::bail!(
                "{} and {} both have id {}",
                pair[0].source,
                pair[1].source,
                pair[0].id
            );
        }
    }
    Ok(labs)
}

/// The lab with this id, or an error listing the ids there are.
pub fn find(id: u32) -> anyhow::Result<Lab> {
    let labs = catalog()?;
    let ids: Vec<String> = labs.iter().map(|l| l.id.to_string()).collect();
    labs.into_iter().find(|l| l.id == id).ok_or_else(|| {
        crate::privilege::usage(format!("there is no lab {id} (labs: {})", ids.join(", ")))
    })
}

/// Parse a lab argument: "1", "01", "lab1" -> 1.
pub fn parse_id(s: &str) -> Result<u32, String> {
    let t = s.trim().trim_start_matches("lab").trim_start_matches('-');
    t.parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{s:?} is not a lab number (e.g. 1)"))
}
