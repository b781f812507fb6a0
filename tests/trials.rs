//! kill -9 trials: `lab start`, `lab check`, `lab dev check` and each tool are killed at random
//! moments, then the normal command runs, and the machine is checked: no BPF program, link or
//! pin left that no process holds, no orphan workload, a state file that still parses. The
//! `lab-trials` command prints the figure (default 100 trials per command); the suite runs a
//! short version (tests/it/trials.rs).
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use rand::{rngs::StdRng, Rng as _, SeedableRng as _};

use crate::{bin, repo_root};

/// What gets killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `lab start 1`, killed within its first `window`, then `lab stop`.
    Start,
    /// `lab check 1` against a running lab 1, then a normal `lab check 1` at the end.
    Check,
    /// `lab dev check --lab 3` (a reference run of lab 3), then `lab stop`.
    DevCheck,
    /// A BPF tool from bin_dir(), killed while it loads, attaches or runs.
    Tool(&'static str),
}

/// The tools every trial run covers (all of ours that attach BPF programs here), as command
/// lines: a tool that needs arguments gets typical ones. From the catalog's `trial` column.
pub fn tools() -> impl Iterator<Item = &'static str> {
    lab_probes::requirements::TOOLS
        .iter()
        .filter_map(|t| t.trial)
}

impl Target {
    pub fn name(&self) -> String {
        match self {
            Target::Start => "lab start 1".into(),
            Target::Check => "lab check 1".into(),
            Target::DevCheck => "lab dev check --lab 3".into(),
            Target::Tool(t) => (*t).into(),
        }
    }
    /// Kill moments are drawn uniformly from 0..window (covering setup, tracing, teardown).
    fn window(&self) -> Duration {
        match self {
            Target::Start => Duration::from_millis(7000),
            Target::Check => Duration::from_millis(9000),
            Target::DevCheck => Duration::from_millis(15000),
            Target::Tool(_) => Duration::from_millis(1500),
        }
    }
}

/// One row of the figure.
#[derive(Debug, Default, Clone)]
pub struct Row {
    pub what: String,
    pub trials: u32,
    /// BPF programs / links loaded during the trial that outlived every process holding them.
    pub progs_left: usize,
    pub links_left: usize,
    /// New entries under /sys/fs/bpf.
    pub pins_left: usize,
    /// Processes of the trial's session (its state dir in their command line) still running
    /// after the follow-up command.
    pub orphans: usize,
    /// `lab status --json` failed or printed no JSON after a trial.
    pub state_unreadable: u32,
    /// The follow-up (normal) command failed.
    pub followup_failed: u32,
    pub problems: Vec<String>,
}

impl Row {
    pub fn clean(&self) -> bool {
        self.progs_left + self.links_left + self.pins_left + self.orphans == 0
            && self.state_unreadable + self.followup_failed == 0
    }
}

/// Run `trials` kill -9 trials of each target; `seed` fixes the kill moments.
pub fn run(targets: &[Target], trials: u32, seed: u64, mut progress: impl FnMut(&str)) -> Vec<Row> {
    let mut moments = StdRng::seed_from_u64(seed);
    targets
        .iter()
        .map(|t| {
            let row = run_target(*t, trials, &mut moments, &mut progress);
            progress(&format!(
                "{}: {} trials, clean: {}",
                row.what,
                row.trials,
                row.clean()
            ));
            row
        })
        .collect()
}

fn run_target(
    t: Target,
    trials: u32,
    moments: &mut StdRng,
    progress: &mut impl FnMut(&str),
) -> Row {
    let mut row = Row {
        what: t.name(),
        ..Row::default()
    };
    let state = std::env::temp_dir().join(format!(
        "lab-trials-{}-{}",
        std::process::id(),
        t.name().replace(' ', "_")
    ));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).unwrap();
    let lab = |args: &[&str]| {
        let mut c = Command::new(bin("lab"));
        c.args(args)
            .env("LAB_STATE_DIR", &state)
            .env("NO_COLOR", "1")
            .env("LAB_LABS_DIR", repo_root().join("labs"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    if t == Target::Check {
        // A running lab to check against.
        if !lab(&["start", "1"]).status().is_ok_and(|s| s.success()) {
            row.problems
                .push("lab start 1 (setup for the check trials) failed".into());
            row.followup_failed += 1;
            return row;
        }
    }
    for i in 0..trials {
        let since = SystemTime::now();
        let pins = pins();
        let links_before = link_ids();
        let at = t.window().mul_f64(moments.gen::<f64>());
        let mut child = match t {
            Target::Start => lab(&["start", "1", "--seed", &(i + 1).to_string()]),
            Target::Check => lab(&["check", "1"]),
            Target::DevCheck => lab(&["dev", "check", "--lab", "3"]),
            Target::Tool(line) => {
                let mut words = line.split_whitespace();
                let mut c = Command::new(bin(words.next().unwrap()));
                c.args(words);
                c.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                c
            }
        }
        .spawn()
        .unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < at && child.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        row.trials += 1;
        // The follow-up: what a user types next.
        let follow = match t {
            Target::Start | Target::DevCheck => Some(lab(&["stop"]).status()),
            Target::Check | Target::Tool(_) => None,
        };
        if let Some(st) = follow {
            if !st.is_ok_and(|s| s.success()) {
                row.followup_failed += 1;
                row.problems
                    .push(format!("trial {i} (kill at {at:?}): lab stop failed"));
            }
        }
        if !matches!(t, Target::Tool(_)) {
            let out = lab(&["status", "--json"]).stdout(Stdio::piped()).output();
            let ok = out.as_ref().is_ok_and(|o| {
                o.status.success() && serde_json::from_slice::<serde_json::Value>(&o.stdout).is_ok()
            });
            if !ok {
                row.state_unreadable += 1;
                row.problems.push(format!(
                    "trial {i} (kill at {at:?}): lab status --json failed"
                ));
            }
        }
        let (progs, links) = bpf_left_since(since, &links_before);
        // During the check trials the lab's own session runs on purpose; it is checked after
        // the final `lab stop`.
        let orphans = match t {
            Target::Start | Target::DevCheck => session_processes(&state),
            Target::Check | Target::Tool(_) => vec![],
        };
        let mut new_pins: Vec<_> = pins_now_minus(&pins);
        if matches!(t, Target::Tool(_)) {
            // Tools never pin; a lab session started meanwhile arms its proctor there.
            new_pins.retain(|p| !p.starts_with("/sys/fs/bpf/lab-proctor"));
        }
        if !progs.is_empty() || !links.is_empty() || !orphans.is_empty() || !new_pins.is_empty() {
            row.problems.push(format!(
                "trial {i} (kill at {at:?}): programs {progs:?}, links {links:?}, pins {new_pins:?}, processes {orphans:?}"
            ));
        }
        row.progs_left += progs.len();
        row.links_left += links.len();
        row.pins_left += new_pins.len();
        row.orphans += orphans.len();
        if (i + 1) % 10 == 0 {
            progress(&format!("{}: {}/{trials}", row.what, i + 1));
        }
    }
    if t == Target::Check {
        // The normal command still works after all that.
        match lab(&["check", "1"]).status() {
            Ok(s) if matches!(s.code(), Some(0 | 1)) => {}
            other => {
                row.followup_failed += 1;
                row.problems
                    .push(format!("a normal lab check 1 afterwards: {other:?}"));
            }
        }
    }
    let _ = lab(&["stop"]).status();
    let left = session_processes(&state);
    row.orphans += left.len();
    let _ = std::fs::remove_dir_all(&state);
    row
}

/// BPF programs loaded since `since` and links not in `links_before` that no live process holds, once teardown
/// (which follows the last fd's close asynchronously) had up to 3 s.
fn bpf_left_since(since: SystemTime, links_before: &BTreeSet<u32>) -> (Vec<u32>, Vec<u32>) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let held = held_ids();
        let progs: Vec<u32> = aya::programs::loaded_programs()
            .flatten()
            .filter(|p| p.loaded_at().is_some_and(|t| t >= since))
            .map(|p| p.id())
            .filter(|id| !held.0.contains(id))
            .collect();
        let links: Vec<u32> = link_ids()
            .into_iter()
            .filter(|id| !links_before.contains(id) && !held.1.contains(id))
            .collect();
        if (progs.is_empty() && links.is_empty()) || Instant::now() >= deadline {
            return (progs, links);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every BPF link now (links have no load time; the kernel holds some itself, e.g. the
/// bpf_preload iterators behind /sys/fs/bpf/*.debug).
fn link_ids() -> BTreeSet<u32> {
    aya::programs::loaded_links()
        .flatten()
        .map(|l| l.id())
        .collect()
}

/// (prog ids, link ids) that some process holds an fd to, or a pin in bpffs keeps (a running
/// lab's proctor), from fdinfo's prog_id/link_id lines.
fn held_ids() -> (BTreeSet<u32>, BTreeSet<u32>) {
    let (mut progs, mut links) = (BTreeSet::new(), BTreeSet::new());
    let mut note = |info: &str| {
        for l in info.lines() {
            let num = |v: &str| v.trim().parse::<u32>().ok();
            if let Some(id) = l.strip_prefix("prog_id:").and_then(num) {
                progs.insert(id);
            } else if let Some(id) = l.strip_prefix("link_id:").and_then(num) {
                links.insert(id);
            }
        }
    };
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        for fd in std::fs::read_dir(p.path().join("fdinfo"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(info) = std::fs::read_to_string(fd.path()) {
                note(&info);
            }
        }
    }
    for pin in pins() {
        if let Some(fd) = obj_get(&pin) {
            if let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) {
                note(&info);
            }
            // SAFETY: closing the descriptor BPF_OBJ_GET just gave us.
            unsafe { libc::close(fd) };
        }
    }
    (progs, links)
}

/// BPF_OBJ_GET: an fd for a pinned object (None for directories and the preload iterators).
fn obj_get(path: &Path) -> Option<i32> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // union bpf_attr for BPF_OBJ_GET: pathname, bpf_fd, file_flags (BPF_F_RDONLY), path_fd.
    #[repr(C)]
    struct ObjGet {
        pathname: u64,
        bpf_fd: u32,
        file_flags: u32,
        path_fd: i32,
    }
    let attr = ObjGet {
        pathname: c.as_ptr() as u64,
        bpf_fd: 0,
        file_flags: 1 << 3,
        path_fd: 0,
    };
    const BPF_OBJ_GET: libc::c_long = 7;
    // SAFETY: a valid attr of the size passed; the kernel only reads it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET,
            &attr as *const ObjGet,
            std::mem::size_of::<ObjGet>(),
        )
    };
    (fd >= 0).then_some(fd as i32)
}

/// Everything under /sys/fs/bpf (pins).
fn pins() -> BTreeSet<PathBuf> {
    fn walk(d: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            }
            out.insert(p);
        }
    }
    let mut out = BTreeSet::new();
    walk(Path::new("/sys/fs/bpf"), &mut out);
    out
}

fn pins_now_minus(before: &BTreeSet<PathBuf>) -> Vec<PathBuf> {
    // A pin the killed command made and nothing removed: give `lab`'s own cleanup a moment.
    std::thread::sleep(Duration::from_millis(50));
    pins().difference(before).cloned().collect()
}

/// Processes whose command line mentions the trial's state dir (workloads, supervisors,
/// recorders of its sessions), after up to 5 s for them to end.
fn session_processes(state: &Path) -> Vec<String> {
    let needle = state.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found: Vec<String> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .filter_map(|e| {
                let c = std::fs::read(e.path().join("cmdline")).ok()?;
                let c = String::from_utf8_lossy(&c).replace('\0', " ");
                c.contains(&needle)
                    .then(|| format!("{} {c}", e.file_name().to_string_lossy()))
            })
            .collect();
        if found.is_empty() || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The figure as a markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| killed | trials | programs left | links left | pins left | orphan processes | state unreadable | follow-up failed |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.what,
            r.trials,
            r.progs_left,
            r.links_left,
            r.pins_left,
            r.orphans,
            r.state_unreadable,
            r.followup_failed
        ));
    }
    s
}
