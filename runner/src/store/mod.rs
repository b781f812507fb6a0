//! The per-user store: the state file (the running session and each lab's progress), and the
//! file primitives every other record on disk uses (atomic writes, private modes, flocks).
//!
//! One JSON file with a `format` version, in a directory per student (the runner runs as root
//! via sudo, so the student is SUDO_USER). Writes are atomic (temp file, fsync, rename, fsync
//! the directory) under an exclusive flock, so a crash or kill -9 leaves the old or the new
//! state, never a torn one.
use std::{fs, path::Path};

use anyhow::Context as _;

use lock::Lock;

mod atomic;
mod lock;
mod paths;
mod perms;
mod records;
#[cfg(test)]
mod tests;

pub use atomic::{write_atomic, write_private};
pub use lock::lock_file;
pub use paths::{dir, user};
pub use perms::{make_private, PASS_THROUGH, PRIVATE};
pub use records::{CheckTally, LabProgress, QuestionResult, SessionRecord, State};

/// The newest state format this runner reads and the one it writes. 2: per lab, the questions
/// ever passed and the last check's tally (format 1 files are migrated on read, see `migrate`).
pub const FORMAT: u32 = 2;
const FILE: &str = "state.json";

impl State {
    /// Read the state (no lock: rename makes every read see a whole file). Missing = empty.
    pub fn load() -> anyhow::Result<State> {
        load_from(&dir()?)
    }

    /// Locked read-modify-write: `f` changes the state; it is written atomically afterwards.
    pub fn update<T>(f: impl FnOnce(&mut State) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let dir = dir()?;
        create_dir(&dir)?;
        // Existing dirs (made by an older runner, mode 0755) are fixed up on their next write.
        make_private(&dir, PASS_THROUGH)?;
        update_in(&dir, f)
    }
}

pub fn load_from(dir: &Path) -> anyhow::Result<State> {
    let path = dir.join(FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(e).with_context(|| format!("reading state file {}", path.display())),
    };
    parse(&text).with_context(|| format!("state file {}", path.display()))
}

/// Parse state JSON; checks the format before the fields so a newer file is named as such.
pub fn parse(text: &str) -> anyhow::Result<State> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!("unreadable ({e}); move it away to start with fresh progress")
    })?;
    match value.get("format").and_then(|f| f.as_u64()) {
        Some(n) if n > FORMAT as u64 => {
            anyhow::bail!("format {n} is newer than this lab understands ({FORMAT}); update lab, or move the file away")
        }
        Some(_) => {}
        None => anyhow::bail!("has no \"format\" field; move it away to start with fresh progress"),
    }
    let format = value.get("format").and_then(|f| f.as_u64()).unwrap_or(0);
    let mut state: State = serde_json::from_value(value).map_err(|e| {
        anyhow::anyhow!("unreadable ({e}); move it away to start with fresh progress")
    })?;
    migrate(&mut state, format as u32);
    Ok(state)
}

/// Bring a state read in an older `format` up to FORMAT (written back on the next update).
/// 1 → 2: the questions ever passed start as those whose latest result passed (all the old
/// file knows; a lab passed in format 1 has every required one among them, as passed_at says).
fn migrate(state: &mut State, format: u32) {
    if format < 2 {
        for p in state.labs.values_mut() {
            for (id, q) in p.questions.iter().filter(|(_, q)| q.passed) {
                p.ever_passed.entry(id.clone()).or_insert(q.at);
            }
        }
    }
    state.format = FORMAT;
}

pub fn update_in<T>(
    dir: &Path,
    f: impl FnOnce(&mut State) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    create_dir(dir)?;
    let _lock = Lock::exclusive(dir)?;
    let mut state = load_from(dir)?;
    let result = f(&mut state)?;
    state.format = FORMAT;
    write_private(
        &dir.join(FILE),
        serde_json::to_string_pretty(&state)?.as_bytes(),
    )?;
    Ok(result)
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            crate::privilege::usage(format!(
                "cannot create {} (permission denied); re-run it as root (e.g. sudo {})",
                dir.display(),
                crate::privilege::command_line()
            ))
        } else {
            anyhow::Error::new(e).context(format!("creating {}", dir.display()))
        }
    })
}
