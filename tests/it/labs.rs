//! Labs 1-3 end to end (root, real BPF, real workloads, real sshd): for several seeds a scripted
//! student finds the answers with the project's own tools, parsing their output as a student
//! reads it, and passes `lab check`; the same answers perturbed (wrong PID, 2x sizes, wrong
//! syscall, 4x latency) fail; and a check with no lab running says so.
use std::{
    collections::BTreeMap,
    io::Read as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use lab_tests::{bin, cmd, require_root, root_test, run};
use serde_json::Value;

const SEEDS: &[u64] = &[11, 22, 33, 44, 55];

/// The scripted student of every lab with a checker (labs 4-5 are bpftrace exercises, which
/// `lab dev check` and tests/it/bpftrace.rs cover); catalog.rs checks it against labs/.
pub(crate) const SCRIPTED: &[(u32, fn())] = &[
    (1, lab1_scripted_student_passes_and_perturbed_answers_fail),
    (2, lab2_scripted_student_passes_and_perturbed_answers_fail),
    (3, lab3_scripted_student_passes_and_perturbed_answers_fail),
];

/// A scratch state directory for one test; stops its lab and removes itself when dropped.
pub(crate) struct Scratch {
    pub(crate) dir: PathBuf,
}

impl Scratch {
    pub(crate) fn new(name: &str) -> Scratch {
        // On disk: lab 1's workload must reach the block layer (Debian 13's /tmp is tmpfs).
        let dir = lab_tests::disk_dir().join(format!("lab-it-labs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }
    pub(crate) fn lab(&self) -> Command {
        let mut c = cmd("lab");
        c.env("LAB_STATE_DIR", &self.dir)
            .env("NO_COLOR", "1")
            .env_remove("LAB_LABS_DIR");
        c
    }
    pub(crate) fn start(&self, lab: u32, seed: u64) -> Value {
        let (code, out, err) =
            run(self
                .lab()
                .args(["start", &lab.to_string(), "--seed", &seed.to_string()]));
        assert_eq!(
            code, 0,
            "lab start {lab} --seed {seed} failed:\n{out}\n{err}"
        );
        let (code, out, err) = run(self.lab().args(["status", "--json"]));
        assert_eq!(code, 0, "lab status failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("lab status --json: {e}: {out}"))
    }
    pub(crate) fn stop(&self) {
        let _ = run(self.lab().arg("stop"));
    }
    /// `lab check N --json --answer id=value ...`: (exit code, per-question results by id).
    pub(crate) fn check(
        &self,
        lab: u32,
        answers: &BTreeMap<&str, String>,
        window: Option<u32>,
    ) -> (i32, BTreeMap<String, Value>, String) {
        let mut c = self.lab();
        c.args(["check", &lab.to_string(), "--json"]);
        if let Some(w) = window {
            c.args(["--window", &w.to_string()]);
        }
        for (id, v) in answers {
            c.arg("--answer").arg(format!("{id}={v}"));
        }
        let (code, out, err) = run(&mut c);
        let v: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("lab check --json: {e}\nstdout: {out}\nstderr: {err}"));
        let qs = v["questions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| (q["id"].as_str().unwrap().to_string(), q.clone()))
            .collect();
        (code, qs, out)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn workload_pid(status: &Value) -> i32 {
    status["workloads"][0]["pid"]
        .as_i64()
        .expect("workload pid in lab status") as i32
}

/// Run one of our tools for `secs`, then interrupt it like Ctrl-C and return its stdout.
pub(crate) fn tool_for(name: &str, args: &[&str], secs: f64) -> String {
    let mut child = Command::new(bin(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    std::thread::sleep(Duration::from_secs_f64(secs));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// Several tools at once (a student with several terminals), each for `secs`.
fn tools_for(runs: Vec<(&'static str, Vec<String>)>, secs: f64) -> Vec<String> {
    let handles: Vec<_> = runs
        .into_iter()
        .map(|(name, args)| {
            std::thread::spawn(move || {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                tool_for(name, &a, secs)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "median of nothing");
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The passed flag of each question, with a readable failure message.
fn assert_all_pass(lab: u32, seed: u64, code: i32, qs: &BTreeMap<String, Value>, out: &str) {
    let failed: Vec<&String> = qs
        .iter()
        .filter(|(_, q)| q["passed"] != Value::Bool(true))
        .map(|(id, _)| id)
        .collect();
    assert!(
        failed.is_empty() && code == 0,
        "lab {lab} seed {seed}: the scripted student failed {failed:?}:\n{out}"
    );
}

/// The checker's measured duration for a question ("5.71 ms", "317 us (histogram ...)"), in ms.
pub(crate) fn measured_ms(q: &Value) -> f64 {
    let m = q["measured"].as_str().unwrap();
    let mut it = m.split_whitespace();
    let v: f64 = it
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("measured {m:?}"));
    match it.next().unwrap() {
        "ns" => v / 1e6,
        "us" => v / 1e3,
        "ms" => v,
        "s" => v * 1e3,
        u => panic!("unit {u} in {m:?}"),
    }
}

/// Run a check with an answer 4x off `truth_ms` (via `check`), again (up to 3 times) while the
/// truth it measures moved more than 2x from the one the answer was derived from.
fn stable_check(
    id: &str,
    truth_ms: &mut f64,
    mut check: impl FnMut(f64) -> (i32, BTreeMap<String, Value>, String),
) -> (i32, BTreeMap<String, Value>, String) {
    let mut last = None;
    for _ in 0..3 {
        let r = check(*truth_ms);
        let now = measured_ms(&r.1[id]);
        let ratio = now / *truth_ms;
        if (0.5..=2.0).contains(&ratio) {
            return r;
        }
        eprintln!(
            "{id}: truth moved from {truth_ms:.2} ms to {now:.2} ms between checks; checking again"
        );
        *truth_ms = now;
        last = Some(r);
    }
    panic!(
        "{id}: the measured truth kept moving more than 2x between checks (machine too busy?):\n{}",
        last.unwrap().2
    );
}

fn assert_fails(lab: u32, seed: u64, qs: &BTreeMap<String, Value>, ids: &[&str], out: &str) {
    for id in ids {
        assert_eq!(
            qs[*id]["passed"],
            Value::Bool(false),
            "lab {lab} seed {seed}: perturbed answer to {id} passed:\n{out}"
        );
    }
}

/// syscount -p PID: (syscall, count) rows, as printed under its SYSCALL/COUNT header.
fn syscount_rows(out: &str) -> Vec<(String, u64)> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [name, count, ..]
                    if name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
                {
                    count.parse::<u64>().ok().map(|n| (name.to_string(), n))
                }
                _ => None,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- lab 1

/// One biosnoop line: TIME(s) COMM PID DISK T SECTOR BYTES LAT(ms), read from the right.
struct BioLine {
    comm: String,
    pid: i32,
    bytes: f64,
    lat_ms: f64,
}

fn biosnoop_lines(out: &str) -> Vec<BioLine> {
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = f.len();
            if n < 8 {
                return None;
            }
            Some(BioLine {
                comm: f[1..n - 6].join(" "),
                pid: f[n - 6].parse().ok()?,
                bytes: f[n - 2].parse().ok()?,
                lat_ms: f[n - 1].parse().ok()?,
            })
        })
        .collect()
}

fn lab1_student(pid_hint: i32) -> BTreeMap<&'static str, String> {
    // Like a student, look twice (and a third time when no large I/O, a dump, showed up yet),
    // then sort everything seen by latency. One 6 s look was not enough in a TCG guest (seeds
    // 11 and 22 in the Debian guests): small writes were the slowest 5% of that look while
    // every 6 s window of the checker's, which traces all along, had the dumps slowest; likely
    // the stall of starting biosnoop under TCG, which a longer look dilutes.
    let mut bio = String::new();
    let mut lines = Vec::new();
    for look in 1..=3 {
        bio = tool_for("biosnoop", &[], 6.0);
        lines.extend(biosnoop_lines(&bio));
        let dump_seen = lines
            .iter()
            .any(|l| l.pid == pid_hint && l.bytes >= 65536.0);
        if look >= 2 && dump_seen {
            break;
        }
    }
    // The process doing most of the disk I/O (kernel threads aside).
    let mut per: BTreeMap<(String, i32), usize> = BTreeMap::new();
    for l in lines
        .iter()
        .filter(|l| l.pid > 0 && !l.comm.starts_with("kworker") && !l.comm.starts_with("jbd2"))
    {
        *per.entry((l.comm.clone(), l.pid)).or_default() += 1;
    }
    let most = *per.values().max().expect("biosnoop showed no I/O");
    // On a shared test host another test's lab 1 writer may be as busy: among the busiest
    // (at least half the top count), this session's. A lab VM has one.
    let ((comm, pid), _) = per
        .into_iter()
        .filter(|(_, n)| *n * 2 >= most)
        .max_by_key(|((_, p), n)| (*p == pid_hint, *n))
        .unwrap();
    assert_eq!(
        pid, pid_hint,
        "the busiest disk processes do not include the lab's workload:\n{bio}"
    );
    let mine: Vec<&BioLine> = lines
        .iter()
        .filter(|l| l.pid == pid && l.bytes > 0.0)
        .collect();
    let typical_size = median(mine.iter().map(|l| l.bytes).collect());
    // The outliers: the slowest 5% of its lines (sorted by LAT(ms)).
    let mut slow: Vec<&&BioLine> = mine.iter().collect();
    slow.sort_by(|a, b| b.lat_ms.total_cmp(&a.lat_ms));
    slow.truncate(((mine.len() as f64 * 0.05).ceil() as usize).max(1));
    // The slow lines: the size carrying most of their bytes.
    let mut sizes: Vec<f64> = slow.iter().map(|l| l.bytes).collect();
    sizes.sort_by(|a, b| b.total_cmp(a));
    let half = sizes.iter().sum::<f64>() / 2.0;
    let mut acc = 0.0;
    let big = *sizes
        .iter()
        .find(|b| {
            acc += **b;
            acc >= half
        })
        .unwrap();
    let outlier_lat = median(
        slow.iter()
            .filter(|l| l.bytes >= big / 2.0)
            .map(|l| l.lat_ms)
            .collect(),
    );

    let p = pid.to_string();
    let outs = tools_for(
        vec![
            ("opensnoop", vec!["-p".into(), p.clone()]),
            ("syscount", vec!["-p".into(), p.clone()]),
        ],
        3.0,
    );
    // PID COMM FD ERR PATH: the file it opened successfully.
    let file = outs[0]
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5 && f[2].parse::<i64>().is_ok_and(|fd| fd >= 0)).then(|| f[4..].join(" "))
        })
        .find(|path| path.starts_with('/'))
        .unwrap_or_else(|| panic!("opensnoop showed no file:\n{}", outs[0]));
    let rows = syscount_rows(&outs[1]);
    let sync = rows
        .iter()
        .find(|(n, _)| n == "fsync" || n == "fdatasync")
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| panic!("syscount showed no sync call:\n{}", outs[1]));
    BTreeMap::from([
        ("process", comm),
        ("file", file),
        ("io_size", format!("{typical_size}")),
        ("sync", sync),
        ("outlier_size", format!("{big}")),
        ("outlier_latency", format!("{outlier_lat}ms")),
        (
            "fix",
            "eliminate the sync (fsync/fdatasync) per record".to_string(),
        ),
    ])
}

/// Lab 1's numeric questions with the factors on the truth range (lo, hi) within which an answer
/// passes: io_size 50 %, outlier size and latency 2x.
const LAB1_NUMERIC: &[(&str, f64, f64)] = &[
    ("io_size", 0.5, 1.5),
    ("outlier_size", 0.5, 2.0),
    ("outlier_latency", 0.5, 2.0),
];

/// The truth range a check graded a numeric question against, in bytes or ns: its JSON
/// `over_time`, the session's recorded windows of the last 15 minutes plus the fresh one.
fn truth_range(q: &Value) -> (f64, f64) {
    let o = &q["over_time"];
    assert!(
        o["windows"].as_u64() >= Some(1),
        "question {}: no recorded truth over the session: {q}",
        q["id"]
    );
    (o["min"].as_f64().unwrap(), o["max"].as_f64().unwrap())
}

/// Answers off by more than the tolerance from every truth of the ranges (bytes or ns): above
/// the largest, or for the latency below the smallest when `low`.
fn lab1_perturbed(ranges: &BTreeMap<&str, (f64, f64)>, low: bool) -> BTreeMap<&'static str, f64> {
    let lat = ranges["outlier_latency"];
    BTreeMap::from([
        ("io_size", (ranges["io_size"].1 * 2.0).round()),
        ("outlier_size", (ranges["outlier_size"].1 * 4.0).round()),
        (
            "outlier_latency",
            if low { lat.0 / 4.0 } else { lat.1 * 4.0 },
        ),
    ])
}

#[test]
pub(crate) fn lab1_scripted_student_passes_and_perturbed_answers_fail() {
    let Some(_g) = root_test("labs::lab1_scripted_student_passes_and_perturbed_answers_fail")
    else {
        return;
    };
    let s = Scratch::new("lab1");
    for (i, &seed) in lab_tests::seeds(SEEDS).iter().enumerate() {
        let status = s.start(1, seed);
        let pid = workload_pid(&status);
        let answers = lab1_student(pid);
        let (code, qs, out) = s.check(1, &answers, None);
        assert_all_pass(1, seed, code, &qs, &out);
        for (id, ..) in LAB1_NUMERIC {
            let (lo, hi) = truth_range(&qs[*id]);
            eprintln!("lab 1 seed {seed}: {id} truth over the session {lo}..{hi}");
        }

        let mut bad = answers.clone();
        bad.insert("process", (pid + 100_000).to_string());
        bad.insert(
            "sync",
            if answers["sync"] == "fsync" {
                "fdatasync"
            } else {
                "fsync"
            }
            .to_string(),
        );
        // Perturb beyond everything the session measured (the checker grades against all of
        // it), latency above and below by turns. The truth keeps being recorded while we check:
        // should it reach a perturbed answer meanwhile, that answer proves nothing; derive anew.
        let mut ranges: BTreeMap<&str, (f64, f64)> = LAB1_NUMERIC
            .iter()
            .map(|(id, ..)| (*id, truth_range(&qs[*id])))
            .collect();
        let low = i % 2 == 1;
        for attempt in 0.. {
            let off = lab1_perturbed(&ranges, low);
            bad.insert("io_size", format!("{}", off["io_size"]));
            bad.insert("outlier_size", format!("{}", off["outlier_size"]));
            bad.insert(
                "outlier_latency",
                format!("{}us", off["outlier_latency"] / 1e3),
            );
            let (code, qs, out) = s.check(1, &bad, None);
            let now: BTreeMap<&str, (f64, f64)> = LAB1_NUMERIC
                .iter()
                .map(|(id, ..)| (*id, truth_range(&qs[*id])))
                .collect();
            let reached: Vec<&str> = LAB1_NUMERIC
                .iter()
                .filter(|(id, lo, hi)| {
                    let (min, max) = now[id];
                    (min * lo..=max * hi).contains(&off[id])
                })
                .map(|(id, ..)| *id)
                .collect();
            if !reached.is_empty() && attempt < 2 {
                eprintln!("lab 1 seed {seed}: the truth reached the perturbed {reached:?}; again");
                ranges = now;
                continue;
            }
            assert!(
                reached.is_empty(),
                "lab 1 seed {seed}: the truth kept moving onto the perturbed answers {reached:?}:\n{out}"
            );
            assert_ne!(code, 0, "perturbed answers passed lab 1:\n{out}");
            assert_fails(
                1,
                seed,
                &qs,
                &[
                    "process",
                    "io_size",
                    "outlier_size",
                    "sync",
                    "outlier_latency",
                ],
                &out,
            );
            break;
        }
        s.stop();
    }
}

/// A process by identity (PID + start time), from a run file of the session.
fn run_file_id(path: &Path) -> (i32, u64) {
    let v: Value = serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    (
        v["pid"].as_i64().unwrap() as i32,
        v["start_time"].as_u64().unwrap(),
    )
}

/// /proc/PID/stat fields after the comm: state first.
fn proc_stat(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The process still runs (same start time, not a zombie).
fn running(id: (i32, u64)) -> bool {
    proc_stat(id.0)
        .is_some_and(|f| f[0] != "Z" && f[0] != "X" && f[19].parse::<u64>().ok() == Some(id.1))
}

/// IDs of the BPF programs process `pid` holds (fdinfo of its bpf-prog fds).
fn bpf_prog_ids(pid: i32) -> Vec<u32> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let link = std::fs::read_link(e.path()).unwrap_or_default();
        if link.to_string_lossy() != "anon_inode:bpf-prog" {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            e.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        ids.extend(
            info.lines()
                .filter_map(|l| l.strip_prefix("prog_id:")?.trim().parse::<u32>().ok()),
        );
    }
    ids
}

/// The session's truth recorder: (recorder, its supervisor, its BPF program ids), once attached.
struct Recorder {
    id: (i32, u64),
    supervisor: (i32, u64),
    progs: Vec<u32>,
}

fn recorder(data_dir: &Path) -> Recorder {
    let truth = data_dir.join("truth");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !truth.join("windows.jsonl").exists() {
        assert!(
            Instant::now() < deadline,
            "the truth recorder did not attach in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = run_file_id(&truth.join("run/recorder.workload.json"));
    let supervisor = run_file_id(&truth.join("run/recorder.supervisor.json"));
    let progs = bpf_prog_ids(id.0);
    assert!(running(id), "the recorder is not running");
    assert!(!progs.is_empty(), "the recorder holds no BPF program");
    Recorder {
        id,
        supervisor,
        progs,
    }
}

/// Within `secs`: the recorder and its supervisor ended and its BPF programs are unloaded.
fn assert_recorder_gone(r: &Recorder, secs: u64, after: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let loaded: Vec<u32> = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .map(|p| p.id())
            .filter(|id| r.progs.contains(id))
            .collect();
        let left = (running(r.id), running(r.supervisor), loaded);
        if left == (false, false, vec![]) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {after}: recorder running {}, its supervisor running {}, its BPF programs still loaded {:?}",
            left.0,
            left.1,
            left.2
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The truth recorder runs from `lab start` to `lab stop` beside the workload, is not shown as
/// a workload, costs little CPU, and nothing of it outlives the session: not after `lab stop`,
/// not after kill -9 of `lab start` (then `lab stop`), not after kill -9 of the session's
/// workload and supervisor (it ends by itself).
#[test]
fn lab1_truth_recorder_ends_with_the_session() {
    let Some(_g) = root_test("labs::lab1_truth_recorder_ends_with_the_session") else {
        return;
    };
    let s = Scratch::new("lab1rec");
    let data_dir = s.dir.join("sessions/lab-01");

    // 1. lab start .. lab stop.
    let status = s.start(1, 7);
    let names: Vec<&str> = status["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["writer"],
        "lab status shows more than the student's workload"
    );
    let r = recorder(&data_dir);
    let ticks = |pid| -> u64 {
        let f = proc_stat(pid).unwrap();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    let (t0, c0) = (Instant::now(), ticks(r.id.0));
    let windows = data_dir.join("truth/windows.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&windows).unwrap().lines().count() < 2 {
        assert!(Instant::now() < deadline, "no 2 recorded windows in 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (ticks(r.id.0) - c0) as f64 / hz / t0.elapsed().as_secs_f64() * 100.0;
    eprintln!("truth recorder: {cpu:.1}% of a CPU while recording");
    assert!(cpu < 10.0, "the truth recorder used {cpu:.1}% of a CPU");
    assert_eq!(
        proc_stat(r.id.0).unwrap()[16],
        "10",
        "the recorder runs at nice 10"
    );
    s.stop();
    assert_recorder_gone(&r, 5, "lab stop");

    // 2. kill -9 of `lab start` as soon as the recorder was spawned: `lab stop` ends it.
    let mut start = s
        .lab()
        .args(["start", "1", "--seed", "8"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let spawned = data_dir.join("truth/run/recorder.workload.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !spawned.exists() {
        assert!(
            Instant::now() < deadline,
            "lab start spawned no recorder in 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.kill().unwrap();
    start.wait().unwrap();
    let r = recorder(&data_dir);
    s.stop();
    assert_recorder_gone(&r, 5, "kill -9 of lab start, then lab stop");

    // 3. kill -9 of the session's processes (supervisor, then workload): it ends by itself.
    s.start(1, 9);
    let r = recorder(&data_dir);
    for f in ["writer.supervisor.json", "writer.workload.json"] {
        let (pid, _) = run_file_id(&data_dir.join("run").join(f));
        // SAFETY: killing the test session's own processes.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert_recorder_gone(&r, 10, "kill -9 of the session's workload and supervisor");
    s.stop();
}

// ---------------------------------------------------------------- lab 3

/// (tid, cpu ticks, last CPU) of every thread, from /proc as `top -H` reads it.
fn thread_ticks(pid: i32) -> Vec<(i32, u64, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid: i32 = e.unwrap().file_name().to_string_lossy().parse().unwrap();
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) else {
            continue;
        };
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        // Fields after the comm start at field 3 (state): utime is 14, stime 15, processor 39.
        let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        out.push((tid, ticks, f[36].parse().unwrap()));
    }
    out
}

fn proc_io(pid: i32) -> BTreeMap<String, u64> {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap_or(0)))
        })
        .collect()
}

/// runqlat's histogram rows (low, high, count) in the printed unit, interpolated p99.
pub(crate) fn runqlat_p99_us(out: &str) -> f64 {
    let rows: Vec<(f64, f64, f64)> = out
        .lines()
        .filter_map(|l| {
            let (range, rest) = l.split_once(':')?;
            let (lo, hi) = range.split_once("->")?;
            let count = rest.split('|').next()?.trim().parse().ok()?;
            Some((
                lo.trim().parse().ok()?,
                hi.trim().parse::<f64>().ok()? + 1.0,
                count,
            ))
        })
        .collect();
    let total: f64 = rows.iter().map(|r| r.2).sum();
    assert!(total > 0.0, "runqlat showed nothing:\n{out}");
    let rank = total * 0.99;
    let mut before = 0.0;
    for (lo, hi, n) in &rows {
        if before + n >= rank && *n > 0.0 {
            return lo + (rank - before) / n * (hi - lo);
        }
        before += n;
    }
    rows.last().unwrap().1
}

fn lab3_student(pid: i32) -> BTreeMap<&'static str, String> {
    let t0 = thread_ticks(pid);
    let io0 = proc_io(pid);
    let p = pid.to_string();
    let outs = tools_for(
        vec![
            ("syscount", vec!["-p".into(), p.clone()]),
            ("runqlat", vec!["-p".into(), p.clone()]),
        ],
        5.0,
    );
    let t1 = thread_ticks(pid);
    let io1 = proc_io(pid);
    let busy: Vec<&(i32, u64, u32)> = t1
        .iter()
        .filter(|(tid, ticks, _)| {
            t0.iter()
                .find(|t| t.0 == *tid)
                .is_some_and(|t| ticks - t.1 >= 3)
        })
        .collect();
    let mut cpus: BTreeMap<u32, usize> = BTreeMap::new();
    for t in &busy {
        *cpus.entry(t.2).or_default() += 1;
    }
    let cpu = cpus
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(c, _)| c)
        .expect("no busy thread");
    let calls = io1["syscr"] + io1["syscw"] - io0["syscr"] - io0["syscw"];
    let bytes = io1["rchar"] + io1["wchar"] - io0["rchar"] - io0["wchar"];
    let rows = syscount_rows(&outs[0]);
    let top = rows
        .iter()
        .max_by_key(|(_, n)| *n)
        .unwrap_or_else(|| panic!("syscount showed nothing:\n{}", outs[0]));
    BTreeMap::from([
        ("threads", busy.len().to_string()),
        ("cpu", format!("cpu{cpu}")),
        ("syscall", top.0.clone()),
        ("bytes", format!("{}", bytes / calls.max(1))),
        ("runqlat_p99", format!("{:.0} us", runqlat_p99_us(&outs[1]))),
        ("problems", "3".to_string()),
    ])
}

#[test]
pub(crate) fn lab3_scripted_student_passes_and_perturbed_answers_fail() {
    let Some(_g) = root_test("labs::lab3_scripted_student_passes_and_perturbed_answers_fail")
    else {
        return;
    };
    let s = Scratch::new("lab3");
    for &seed in lab_tests::seeds(SEEDS) {
        let status = s.start(3, seed);
        let pid = workload_pid(&status);
        std::thread::sleep(Duration::from_millis(500));
        let answers = lab3_student(pid);
        let (code, qs, out) = s.check(3, &answers, None);
        assert_all_pass(3, seed, code, &qs, &out);
        let p99_ms = measured_ms(&qs["runqlat_p99"]);

        let mut bad = answers.clone();
        let threads: u64 = answers["threads"].parse().unwrap();
        let cpu: u32 = answers["cpu"].trim_start_matches("cpu").parse().unwrap();
        bad.insert("threads", (threads + 1).to_string());
        bad.insert("cpu", (cpu + 1).to_string());
        bad.insert(
            "syscall",
            if answers["syscall"] == "getppid" {
                "getpid"
            } else {
                "getppid"
            }
            .to_string(),
        );
        // This time through --answers FILE, the scripted form.
        let file = s.dir.join("answers.txt");
        // 4x above everything the session measured (the checker grades against all of it).
        let recorded_max_ms = qs["runqlat_p99"]["over_time"]["max"]
            .as_f64()
            .map_or(0.0, |ns| ns / 1e6);
        let mut truth_ms = p99_ms;
        let (code, qs, out) = stable_check("runqlat_p99", &mut truth_ms, |t| {
            let off = t.max(recorded_max_ms) * 4.0;
            bad.insert("runqlat_p99", format!("{} us", off * 1e3));
            let text: String = bad
                .iter()
                .map(|(k, v)| format!("{k} = {v}   # perturbed\n"))
                .collect();
            std::fs::write(&file, format!("# lab 3 answers\n{text}")).unwrap();
            let mut c = s.lab();
            c.args(["check", "3", "--json", "--answers"]).arg(&file);
            let (code, out, err) = run(&mut c);
            let v: Value = serde_json::from_str(&out)
                .unwrap_or_else(|e| panic!("lab check --answers: {e}\n{out}\n{err}"));
            let qs: BTreeMap<String, Value> = v["questions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| (q["id"].as_str().unwrap().to_string(), q.clone()))
                .collect();
            (code, qs, out)
        });
        assert_eq!(
            qs["problems"]["answer"],
            Value::String("3".into()),
            "answers file not read:\n{out}"
        );
        assert_ne!(code, 0, "perturbed answers passed lab 3:\n{out}");
        assert_fails(
            3,
            seed,
            &qs,
            &["threads", "cpu", "syscall", "runqlat_p99"],
            &out,
        );
        s.stop();
    }
}

// ---------------------------------------------------------------- lab 2

/// One `execsnoop -t -u UID` line: TIME(s) PCOMM PID PPID RET ARGS.
struct ExecLine {
    t: f64,
    comm: String,
    pid: u32,
    ppid: u32,
}

fn execsnoop_lines(out: &str) -> Vec<ExecLine> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 5 || f[4] != "0" {
                return None;
            }
            Some(ExecLine {
                t: f[0].parse().ok()?,
                comm: f[1].to_string(),
                pid: f[2].parse().ok()?,
                ppid: f[3].parse().ok()?,
            })
        })
        .collect()
}

fn lab2_student(data_dir: &Path, port: u64) -> BTreeMap<&'static str, String> {
    let uid = lab_tests::uid_of("student").to_string();
    let mut snoop = Command::new(bin("execsnoop"))
        .args(["-t", "-u", &uid])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let (code, out, err) = run(Command::new("ssh")
        .arg("-F")
        .arg(data_dir.join("ssh/config"))
        .args([
            "-o",
            "BatchMode=yes",
            "-p",
            &port.to_string(),
            "student@127.0.0.1",
            "echo",
            "hello",
        ]));
    let wall = t.elapsed().as_secs_f64();
    assert_eq!((code, out.trim()), (0, "hello"), "ssh login failed: {err}");
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(snoop.id() as i32, libc::SIGINT) };
    let _ = snoop.wait();
    let mut text = String::new();
    snoop
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let lines = execsnoop_lines(&text);
    assert!(
        lines.len() > 5,
        "execsnoop saw too little of the login:\n{text}"
    );
    // The program before the longest quiet gap is what the login waits for.
    let culprit = lines
        .windows(2)
        .max_by(|a, b| (a[1].t - a[0].t).total_cmp(&(b[1].t - b[0].t)))
        .map(|w| w[0].comm.clone())
        .unwrap();
    let mut children: BTreeMap<u32, usize> = BTreeMap::new();
    for l in &lines {
        *children.entry(l.ppid).or_default() += 1;
    }
    let (ppid, _) = children.into_iter().max_by_key(|(_, n)| *n).unwrap();
    let first_child = lines
        .iter()
        .filter(|l| l.ppid == ppid)
        .map(|l| l.t)
        .fold(f64::MAX, f64::min);
    let parent = lines
        .iter()
        .rfind(|l| l.pid == ppid && l.t <= first_child)
        .map(|l| l.comm.clone())
        .unwrap_or_else(|| panic!("parent {ppid} not in execsnoop's output:\n{text}"));
    BTreeMap::from([
        ("culprit", culprit),
        ("processes", lines.len().to_string()),
        ("parent", parent),
        ("login_time", format!("{wall:.2}s")),
        ("fix", "3".to_string()),
    ])
}

#[test]
pub(crate) fn lab2_scripted_student_passes_and_perturbed_answers_fail() {
    let Some(_g) = root_test("labs::lab2_scripted_student_passes_and_perturbed_answers_fail")
    else {
        return;
    };
    let s = Scratch::new("lab2");
    for &seed in lab_tests::seeds(SEEDS) {
        let status = s.start(2, seed);
        let data_dir = PathBuf::from(status["data_dir"].as_str().unwrap());
        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(s.dir.join("state.json")).unwrap())
                .unwrap();
        let port = state["session"]["vars"]["port"]
            .as_u64()
            .expect("seeded port");
        let answers = lab2_student(&data_dir, port);
        let (code, qs, out) = s.check(2, &answers, None);
        assert_all_pass(2, seed, code, &qs, &out);

        let mut bad = answers.clone();
        let n: f64 = answers["processes"].parse().unwrap();
        let secs: f64 = answers["login_time"].trim_end_matches('s').parse().unwrap();
        bad.insert("culprit", "uname".to_string());
        bad.insert("processes", format!("{}", n * 2.0));
        bad.insert("parent", "sshd".to_string());
        bad.insert("login_time", format!("{}s", secs * 4.0));
        let (code, qs, out) = s.check(2, &bad, Some(2));
        assert_ne!(code, 0, "perturbed answers passed lab 2:\n{out}");
        assert_fails(
            2,
            seed,
            &qs,
            &["culprit", "processes", "parent", "login_time"],
            &out,
        );
        s.stop();
    }
}

// host only: an error message, no lab runs
#[test]
fn check_without_a_running_lab_says_so() {
    if !require_root("labs::check_without_a_running_lab_says_so") {
        return;
    }
    let s = Scratch::new("nolab");
    let (code, out, err) = run(s.lab().args(["check", "1", "--answer", "process=1"]));
    assert_ne!(code, 0, "check with no lab running succeeded:\n{out}");
    assert!(
        err.contains("no lab is running") && err.contains("lab start 1"),
        "unclear message: {err}"
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "expected one line, got: {err}"
    );
}

// host only: answer ids checked against the lab file
#[test]
fn check_rejects_unknown_question_ids() {
    if !require_root("labs::check_rejects_unknown_question_ids") {
        return;
    }
    let s = Scratch::new("badid");
    let (code, _, err) = run(s.lab().args(["check", "1", "--answer", "colour=blue"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("no question \"colour\"") && err.contains("process"),
        "unclear message: {err}"
    );
}

#[test]
fn proctor_reports_perturbing_tools_run_during_a_lab() {
    let Some(_g) = root_test("labs::proctor_reports_perturbing_tools_run_during_a_lab") else {
        return;
    };
    let s = Scratch::new("proctor");
    s.start(3, 7);
    // The first check arms the proctor (a pinned exec counter) and reports nothing yet.
    let (_, _, out) = s.check(3, &BTreeMap::new(), Some(1));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["proctor"],
        Value::Array(vec![]),
        "nothing perturbing ran yet:\n{out}"
    );
    // A program named strace, started from another "terminal" after that check.
    let fake = s.dir.join("strace");
    std::fs::copy("/bin/true", &fake).unwrap();
    assert!(Command::new(&fake).status().unwrap().success());
    let (_, _, out) = s.check(3, &BTreeMap::new(), Some(1));
    let v: Value = serde_json::from_str(&out).unwrap();
    let lines: Vec<&str> = v["proctor"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("strace was started 1 time")),
        "proctor missed strace:\n{out}"
    );
    s.stop();
    let _ = std::fs::remove_dir_all("/sys/fs/bpf/lab-proctor");
}
