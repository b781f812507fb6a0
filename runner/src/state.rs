//! The per-user state file: the running session and each lab's progress.
//!
//! One JSON file with a `format` version, in a directory per student (the runner runs as root
//! via sudo, so the student is SUDO_USER). Writes are atomic (temp file, fsync, rename, fsync
//! the directory) under an exclusive flock, so a crash or kill -9 leaves the old or the new
//! state, never a torn one.
use std::{
    collections::BTreeMap,
    fs::{self, File, OpenOptions},
    io::Write,
    os::unix::{fs::OpenOptionsExt, io::AsRawFd},
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The newest state format this runner reads and the one it writes. 2: per lab, the questions
/// ever passed and the last check's tally (format 1 files are migrated on read, see `migrate`).
pub const FORMAT: u32 = 2;
const FILE: &str = "state.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub format: u32,
    /// The lab running now, if any (at most one: labs compete for the CPU and disk).
    #[serde(default)]
    pub session: Option<Session>,
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

/// A started lab. Workload processes are not stored here: each supervisor records its own and
/// its workload's PID + start time in `data_dir/run/` (see session::runfiles), so a `lab start`
/// killed at any moment leaves nothing that `lab stop` cannot find.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
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
        let at = now();
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

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The student this state belongs to: SUDO_USER when run through sudo, else the current user.
pub fn user() -> String {
    if let Ok(u) = std::env::var("SUDO_USER") {
        if !u.is_empty() && !u.contains('/') && u != "." && u != ".." {
            return u;
        }
    }
    // SAFETY: getpwuid returns a pointer into static storage or null.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if !pw.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

/// The state directory: `LAB_STATE_DIR`, or /var/lib/lab/<user>.
pub fn dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("LAB_STATE_DIR").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        return Ok(if d.is_absolute() {
            d
        } else {
            std::env::current_dir()?.join(d)
        });
    }
    Ok(Path::new("/var/lib/lab").join(user()))
}

/// Mode of a session data dir: the student's alone. A lab whose workload runs as another
/// account (lab 2's sshd logs in as `student`) opens its own data dir for passing (o+x).
pub const PRIVATE: u32 = 0o700;
/// Mode of the state dir and `sessions/`: others cannot list them, but may pass through to a
/// lab's data dir opened for passing (lab 2's sshd reads its keys there as `student`, which
/// 0700 would refuse). The state file itself is 0600 (`write_private`).
pub const PASS_THROUGH: u32 = 0o711;

/// Make `path` (a directory of the student's) owned by the student (so they read their own
/// state without root, e.g. `lab status --json` run by `lab class`), with `mode` (PRIVATE or
/// PASS_THROUGH). Only for the default per-user dirs, when root: a LAB_STATE_DIR is the
/// caller's choice, its permissions are left alone. Symlinks are not followed.
pub fn make_private(path: &Path, mode: u32) -> anyhow::Result<()> {
    if std::env::var_os("LAB_STATE_DIR").is_some_and(|d| !d.is_empty())
        // SAFETY: geteuid has no preconditions.
        || unsafe { libc::geteuid() } != 0
    {
        return Ok(());
    }
    let (uid, gid) = account(&user()).unwrap_or((0, 0));
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: a valid fd for the life of `dir`.
    let ok = unsafe {
        libc::fchown(dir.as_raw_fd(), uid, gid) == 0 && libc::fchmod(dir.as_raw_fd(), mode) == 0
    };
    if !ok {
        return Err(std::io::Error::last_os_error()).with_context(|| {
            format!(
                "making {} private (owner {uid}, mode {mode:o})",
                path.display()
            )
        });
    }
    Ok(())
}

/// The uid and gid of account `name`, if it exists.
fn account(name: &str) -> Option<(libc::uid_t, libc::gid_t)> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or null; read at once.
    unsafe {
        let pw = libc::getpwnam(c.as_ptr());
        (!pw.is_null()).then(|| ((*pw).pw_uid, (*pw).pw_gid))
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

/// Write `bytes` to `path` so that readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with(path, bytes, false)
}

/// `write_atomic` for a file only the owner of its directory reads (the student's answers):
/// mode 0600, and owned like the directory, so the student still reads it without root.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with(path, bytes, true)
}

fn write_with(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let dir = path.parent().context("state path has no directory")?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        // A fresh file, never through a link someone left at that name.
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if private { 0o600 } else { 0o644 })
            .open(&tmp)?;
        if private {
            own_like_dir(&f, dir)?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(crate::privilege::usage(format!(
                "cannot write {} (permission denied); re-run it as root (e.g. sudo {})",
                path.display(),
                crate::privilege::command_line()
            )));
        }
        return Err(anyhow::Error::new(e).context(format!("writing {}", path.display())));
    }
    Ok(())
}

/// Give the new file `f` the owner of `dir` (root writing into a student's dir; a no-op when
/// they are the same, and left alone when not root).
fn own_like_dir(f: &File, dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let d = fs::metadata(dir)?;
    let m = f.metadata()?;
    // SAFETY: geteuid has no preconditions.
    if (m.uid(), m.gid()) == (d.uid(), d.gid()) || unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    // SAFETY: a valid fd for the life of `f`.
    if unsafe { libc::fchown(f.as_raw_fd(), d.uid(), d.gid()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// An flock on `<dir>/state.lock`, released on drop (and by the kernel if we are killed).
struct Lock {
    _file: File,
}

/// Open (creating, never following a link) and flock `path` exclusively; the lock lasts as
/// long as the returned file.
pub(crate) fn lock_file(path: &Path) -> anyhow::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: valid fd for the life of f.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("locking {}", path.display()));
    }
    Ok(f)
}

impl Lock {
    fn exclusive(dir: &Path) -> anyhow::Result<Lock> {
        let f = lock_file(&dir.join("state.lock"))?;
        Ok(Lock { _file: f })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lab-state-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn round_trip() {
        let d = scratch("rt");
        let written = update_in(&d, |s| {
            s.session = Some(Session {
                lab: 1,
                seed: 42,
                vars: [
                    ("comm".to_string(), serde_json::json!("logsink")),
                    ("size".into(), serde_json::json!(4096)),
                ]
                .into(),
                data_dir: d.join("sessions/lab-01"),
                user: "alice".into(),
                started_at: 1000,
                boot_id: "b".into(),
                workloads: vec!["writer".into()],
                complete: true,
            });
            s.progress_mut(1)
                .record("process", true, "logsink", "logsink (pid 7)");
            s.progress_mut(1).hints_revealed = 2;
            Ok(s.clone())
        })
        .unwrap();
        assert_eq!(load_from(&d).unwrap(), written);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn format_1_files_are_migrated_keeping_what_passed() {
        let d = scratch("migrate");
        fs::create_dir_all(&d).unwrap();
        let q = |passed: bool, at: u64| serde_json::json!({"passed": passed, "answer": "a", "measured": "m", "at": at});
        let old = serde_json::json!({"format": 1, "labs": {"1": {
            "time_spent": 60, "passed_at": 500,
            "questions": {"process": q(true, 400), "file": q(true, 500), "sync": q(false, 450)}
        }}});
        fs::write(d.join(FILE), old.to_string()).unwrap();
        let s = load_from(&d).unwrap();
        assert_eq!(s.format, FORMAT);
        let p = &s.labs[&1];
        assert_eq!(
            p.ever_passed,
            BTreeMap::from([("file".into(), 500), ("process".into(), 400)])
        );
        assert_eq!(
            (p.time_spent, p.passed_at, p.last_check),
            (60, Some(500), None)
        );
        // Written back in the new format, same content.
        update_in(&d, |_| Ok(())).unwrap();
        let text = fs::read_to_string(d.join(FILE)).unwrap();
        assert!(
            text.contains("\"format\": 2") && text.contains("ever_passed"),
            "{text}"
        );
        assert_eq!(load_from(&d).unwrap(), s);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn passed_stays_passed_and_best_and_last_show_apart() {
        let ids = ["a", "b", "c"];
        let mut p = LabProgress::default();
        let check = |p: &mut LabProgress, results: &[(&str, bool)]| {
            for (id, ok) in results {
                p.record(id, *ok, "x", "y");
            }
            let passed = results.iter().filter(|r| r.1).count();
            p.last_check = Some(CheckTally {
                passed,
                total: 3,
                at: now(),
            });
            if p.passed_count(ids) == 3 {
                p.passed_at.get_or_insert(now());
            }
        };
        check(&mut p, &[("a", true), ("b", false), ("c", false)]);
        assert_eq!(p.passed_count(ids), 1);
        check(&mut p, &[("a", false), ("b", true)]);
        // a passed once: it counts; the last check alone had 1.
        assert_eq!(p.passed_count(ids), 2);
        assert_eq!(p.last_check.map(|l| l.passed), Some(1));
        check(&mut p, &[("a", true), ("b", true), ("c", true)]);
        assert!(p.passed_at.is_some());
        check(&mut p, &[("a", false), ("b", false), ("c", false)]);
        assert_eq!(p.passed_count(ids), 3, "passed stays passed");
        assert!(
            !p.questions["a"].passed,
            "the latest answer is still shown as it went"
        );
    }

    #[test]
    fn missing_file_is_empty_state() {
        let d = scratch("missing");
        assert_eq!(load_from(&d).unwrap(), State::default());
    }

    /// Not a test on its own: the writer process for `kill_9_mid_write_leaves_old_or_new`.
    #[test]
    #[ignore]
    fn writer_child() {
        let Some(d) = std::env::var_os("LAB_TEST_WRITER_DIR") else {
            return;
        };
        let d = PathBuf::from(d);
        loop {
            // Big enough (~1.5 MB) that a write takes a while and a kill lands mid-write.
            update_in(&d, |s| {
                let p = s.progress_mut(1);
                let generation = p.time_spent + 1;
                for q in 0..20_000 {
                    p.record(
                        &format!("q{q}"),
                        false,
                        &generation.to_string(),
                        "measured value padding",
                    );
                }
                p.time_spent = generation;
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn kill_9_mid_write_leaves_old_or_new() {
        let d = scratch("kill9");
        let exe = std::env::current_exe().unwrap();
        let mut last = 0;
        for round in 0..8u64 {
            let mut child = std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "state::tests::writer_child",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env("LAB_TEST_WRITER_DIR", &d)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // Let it write a few generations, then kill it at an arbitrary point. On a busy
            // machine one write takes over a second: the first round waits for one to land.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while last == 0
                && load_from(&d).map_or(true, |s| s.labs.is_empty())
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            std::thread::sleep(std::time::Duration::from_millis(300 + round * 37));
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            let s = load_from(&d).expect("state readable after kill -9");
            let Some(p) = s.labs.get(&1) else {
                assert_eq!(last, 0, "state lost after kill -9");
                continue; // killed before its first write completed
            };
            let generation = p.time_spent;
            assert!(generation >= last, "state went backwards");
            assert_eq!(p.questions.len(), 20_000);
            assert!(
                p.questions
                    .values()
                    .all(|q| q.answer == generation.to_string()),
                "torn state: mixed generations after kill -9"
            );
            last = generation;
        }
        assert!(last > 0, "the writer never completed a write");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn newer_format_is_refused_by_name() {
        let err = parse(r#"{"format": 3, "labs": {}, "future": true}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("format 3 is newer"), "{err}");
        assert!(err.contains("(2)"), "{err}");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let d = scratch("garbage");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(FILE), "{\"format\": 1, \"labs\": {").unwrap();
        let err = format!("{:#}", load_from(&d).unwrap_err());
        assert!(
            err.contains(&d.join(FILE).display().to_string()) && err.contains("unreadable"),
            "{err}"
        );
        // And an update does not overwrite the unreadable file.
        assert!(update_in(&d, |_| Ok(())).is_err());
        assert_eq!(
            fs::read_to_string(d.join(FILE)).unwrap(),
            "{\"format\": 1, \"labs\": {"
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
