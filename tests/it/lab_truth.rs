//! Ground truth that holds on a noisy machine (issue 15), lab 3: the run-queue latency p99 from
//! log-linear slots and the session's recorded minute, stable from check to check; and a truth
//! that changes mid-session grades an answer from either phase right, saying when each held.
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use lab_tests::{require_root, root_test};
use serde_json::Value;

use crate::labs::{measured_ms, runqlat_p99_us, tool_for, workload_pid, Scratch};

/// The CPU the workload's threads are pinned to (its busy threads allow only one).
fn pinned_cpu(pid: i32) -> usize {
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(e.unwrap().path().join("status")).unwrap_or_default();
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim();
        if let Ok(cpu) = list.parse() {
            return cpu;
        }
    }
    panic!("no thread of {pid} is pinned to one CPU");
}

/// A real-time thread pinned to `cpu` that keeps it for SPIN, then lets go for REST, over and
/// over: every wake-up of the workload's threads during a spin waits until the spin ends, so
/// its run-queue latency p99 rises to about SPIN whatever else the machine runs (an ordinary
/// nice -15 hog raised it only ~2x here, less than the noise of a busy shared CI host). REST
/// keeps the CPU's kernel threads and RT throttling happy.
struct Hog {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Hog {
    const SPIN: Duration = Duration::from_millis(150);
    const REST: Duration = Duration::from_millis(30);

    fn start(cpu: usize) -> Hog {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            // SAFETY: affinity and scheduling policy of the calling thread only.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                let mut p: libc::sched_param = std::mem::zeroed();
                p.sched_priority = 10;
                assert_eq!(
                    libc::sched_setscheduler(0, libc::SCHED_FIFO, &p),
                    0,
                    "SCHED_FIFO for the hog: {}",
                    std::io::Error::last_os_error()
                );
            }
            while !s.load(Ordering::Relaxed) {
                let t = Instant::now();
                while t.elapsed() < Self::SPIN {
                    std::hint::spin_loop();
                }
                std::thread::sleep(Self::REST);
            }
        });
        Hog {
            stop,
            threads: vec![thread],
        }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The graded answer fits session minute `m` (one of its [first, last] runs holds it).
fn fits(q: &Value, m: u64) -> bool {
    q["over_time"]["fits_minutes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r[0].as_u64() <= Some(m) && Some(m) <= r[1].as_u64())
}

fn p99_question(qs: &BTreeMap<String, Value>) -> &Value {
    &qs["runqlat_p99"]
}

/// The recorded windows' own p99s (ms) that ended in the last `secs`.
fn recorded_p99s(s: &Scratch, secs: u64) -> Vec<f64> {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("state.json")).unwrap()).unwrap();
    let data_dir = state["session"]["data_dir"].as_str().unwrap();
    let text = std::fs::read_to_string(format!("{data_dir}/truth/windows.jsonl")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["end"].as_u64().unwrap_or(0) + secs >= now)
        .filter_map(|r| r["metrics"]["runqlat.p99"].as_f64())
        .map(|ns| ns / 1e6)
        .collect()
}

fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let mid = s[s.len() / 2];
    (s[0] / mid, s[s.len() - 1] / mid, mid)
}

/// Ten `lab check 3` in a row on one workload: every reported p99 within ±10 % of their median.
/// What moves them on a shared machine is the machine itself (other load on the workload's CPU
/// moves the real p99), so a run in which the recorder's own windows over the same minutes
/// moved more than the checks may is repeated, at most twice, and then reported.
///
/// Ignored by default: on the shared 2-core build host (load 10-15) the workload's real p99
/// drifted 60 -> 117 ms within two minutes, so this can only report "machine too busy" there;
/// `runqlat_fine_p99_of_known_waits_is_within_5_percent` proves the estimator deterministically.
#[test]
#[ignore = "needs a machine whose run-queue latency holds still for ~3 minutes; run with --ignored"]
fn lab3_ten_checks_report_the_same_p99() {
    let Some(_g) = root_test("lab_truth::lab3_ten_checks_report_the_same_p99") else {
        return;
    };
    let s = Scratch::new("truth-p99");
    s.start(3, 21);
    // A recorded minute first, as a student's investigation gives it.
    std::thread::sleep(Duration::from_secs(30));
    let mut last = String::new();
    for attempt in 0..3 {
        let t0 = Instant::now();
        let mut p99s = Vec::new();
        for _ in 0..10 {
            let (_, qs, out) = s.check(3, &BTreeMap::new(), None);
            let q = p99_question(&qs);
            assert!(
                q["over_time"]["windows"].as_u64() >= Some(1),
                "lab 3 records its p99 over the session:\n{out}"
            );
            p99s.push(measured_ms(q));
        }
        let (lo, hi, mid) = spread(&p99s);
        eprintln!("attempt {attempt}: p99s {p99s:.2?} ms: {lo:.3}..{hi:.3} of {mid:.2} ms");
        if lo >= 0.9 && hi <= 1.1 {
            return;
        }
        // The real p99 of the stretch, window by window (each rests on ~5 s of waits only):
        // when their one-minute medians moved this much, the machine moved the truth.
        let windows = recorded_p99s(&s, t0.elapsed().as_secs() + 60);
        let half = windows.len() / 2;
        let (a, b) = (
            spread(&windows[..half.max(1)]).2,
            spread(&windows[half..]).2,
        );
        last = format!(
            "p99s {p99s:.2?} ms; recorded windows {windows:.2?} ms (median {a:.2} then {b:.2})"
        );
        assert!(
            !(0.9..=1.1).contains(&(b / a)),
            "the checks spread more than ±10 % while the recorded truth held still: {last}"
        );
        eprintln!("the machine moved the truth meanwhile ({a:.2} -> {b:.2} ms); again");
    }
    panic!("the p99 kept moving more than ±10 % over 10 checks (machine too busy?): {last}");
}

/// The workload's run-queue latency rises for a while (a real-time hog on its CPU from minute 2
/// on): an answer read in minute 1 and one read in minute 2 both pass, each saying
/// when it held; an answer far beyond both phases fails.
#[test]
fn lab3_truth_changing_mid_session_grades_either_phase() {
    let Some(_g) = root_test("lab_truth::lab3_truth_changing_mid_session_grades_either_phase")
    else {
        return;
    };
    let s = Scratch::new("truth-phases");
    let status = s.start(3, 33);
    let started = Instant::now();
    let pid = workload_pid(&status);
    let cpu = pinned_cpu(pid);
    let p = pid.to_string();
    let read = || runqlat_p99_us(&tool_for("runqlat", &["-p", &p], 5.0)) / 1e3;

    // Minute 1: the workload alone; the student reads runqlat near its end.
    std::thread::sleep(Duration::from_secs(45).saturating_sub(started.elapsed()));
    let quiet = read();
    // Minute 2 and on: the hog.
    std::thread::sleep(Duration::from_secs(62).saturating_sub(started.elapsed()));
    let hog = Hog::start(cpu);
    std::thread::sleep(Duration::from_secs(105).saturating_sub(started.elapsed()));
    let busy = read();
    eprintln!("runqlat p99 read: {quiet:.2} ms alone, {busy:.2} ms with the hog");
    assert!(
        busy > quiet * 1.5,
        "the hog did not raise the p99 ({quiet:.2} -> {busy:.2} ms): no second phase to test"
    );

    let grade = |ms: f64| {
        let a = BTreeMap::from([("runqlat_p99", format!("{:.0}us", ms * 1e3))]);
        let (_, qs, out) = s.check(3, &a, None);
        (p99_question(&qs).clone(), out)
    };
    let (q, out) = grade(busy);
    assert_eq!(
        q["passed"],
        Value::Bool(true),
        "the hog phase's p99:\n{out}"
    );
    assert!(
        fits(&q, 2),
        "minute 2 held {busy:.2} ms: {}\n{out}",
        q["over_time"]["fits_minutes"]
    );
    let (q, out) = grade(quiet);
    assert_eq!(q["passed"], Value::Bool(true), "minute 1's p99:\n{out}");
    if busy > quiet * 4.0 {
        assert_eq!(q["passed_by"], "recording", "only minute 1 held it:\n{out}");
    }
    let text = q["over_time"]["text"].as_str().unwrap();
    assert!(fits(&q, 1), "minute 1 held {quiet:.2} ms: {text}");
    assert!(text.contains("fits minute"), "says when it held: {text}");
    let max = q["over_time"]["max"].as_f64().unwrap() / 1e6;
    drop(hog);

    // Beyond everything the session measured: wrong.
    let (q, out) = grade(max * 4.0);
    assert_eq!(
        q["passed"],
        Value::Bool(false),
        "4x the largest p99 passed:\n{out}"
    );
    s.stop();
}

/// Waits of a known length, made with real-time priorities so the machine's other (ordinary)
/// load cannot lengthen them: a high-priority thread wakes a lower-priority one on the same CPU
/// and keeps that CPU for `hold`, so every wake-up of the second waits `hold` in the run queue.
/// runqlat's probe in log-linear slots (what `lab check 3` grades with) gives their p99 within
/// 5 %; the log2 row runqlat prints spans 2×.
#[test]
fn runqlat_fine_p99_of_known_waits_is_within_5_percent() {
    let Some(_g) = root_test("lab_truth::runqlat_fine_p99_of_known_waits_is_within_5_percent")
    else {
        return;
    };
    use std::sync::{Condvar, Mutex};
    // Just above a log2 row boundary (8.192 ms), where the issue saw 2x jumps.
    let hold = Duration::from_micros(9_000);
    let cpu = 1 % std::thread::available_parallelism().map_or(1, |n| n.get());
    let probe = lab_probes::runqlat::RunqLat::attach(&lab_probes::runqlat::Options {
        pids: vec![std::process::id()],
        fine: true,
        ..Default::default()
    })
    .expect("attaching runqlat's probe");
    let pin = move |prio: i32| {
        // SAFETY: affinity and scheduling policy of the calling thread only.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            // Zeroed then set: musl's sched_param has more fields than glibc's.
            let mut p: libc::sched_param = std::mem::zeroed();
            p.sched_priority = prio;
            assert_eq!(
                libc::sched_setscheduler(0, libc::SCHED_FIFO, &p),
                0,
                "SCHED_FIFO: {}",
                std::io::Error::last_os_error()
            );
        }
    };
    let turn = Arc::new((Mutex::new(0u64), Condvar::new()));
    let done = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (turn, done) = (turn.clone(), done.clone());
        std::thread::spawn(move || {
            pin(10);
            let (m, cv) = &*turn;
            let mut seen = 0;
            while !done.load(Ordering::Relaxed) {
                let g = cv
                    .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(100), |n| {
                        *n == seen
                    })
                    .unwrap()
                    .0;
                seen = *g;
            }
        })
    };
    let holder = {
        let (turn, done) = (turn.clone(), done.clone());
        std::thread::spawn(move || {
            pin(20);
            let t = Instant::now();
            let mut held = Vec::new();
            while t.elapsed() < Duration::from_secs(4) {
                let (m, cv) = &*turn;
                *m.lock().unwrap() += 1;
                cv.notify_one();
                // The waiter is runnable now; this thread keeps the CPU for `hold`.
                let start = Instant::now();
                while start.elapsed() < hold {
                    std::hint::spin_loop();
                }
                held.push(start.elapsed());
                std::thread::sleep(Duration::from_millis(3));
            }
            done.store(true, Ordering::Relaxed);
            held
        })
    };
    let held = holder.join().unwrap();
    waiter.join().unwrap();
    let fine = lab_probes::hist::merged(probe.read_fine().unwrap().values());
    let rows = lab_probes::hist::merged(probe.read().unwrap().values());
    drop(probe);
    // The waiter's waits are half of all (the holder's own are microseconds): their p99 is
    // the p98 of all, their p50 the p75.
    let (p98, p75) = (
        fine.fine_percentile(0.98).unwrap() / 1e6,
        fine.fine_percentile(0.75).unwrap() / 1e6,
    );
    let want = hold.as_secs_f64() * 1e3;
    let spun = held.iter().max().unwrap().as_secs_f64() * 1e3;
    let log2 = rows.log2_percentile(0.98).unwrap() / 1e3;
    eprintln!(
        "{} waits of {want:.2} ms (held up to {spun:.2} ms): p99 {p98:.3} ms, median {p75:.3} ms; log2 rows say {log2:.2} ms",
        held.len()
    );
    assert!(
        fine.total() as usize >= held.len(),
        "waits missed: {fine:?}"
    );
    assert!(
        (want * 0.95..=spun * 1.05).contains(&p75),
        "median wait {p75:.3} ms, held {want:.2}..{spun:.2} ms"
    );
    assert!(
        (want * 0.95..=spun * 1.05).contains(&p98),
        "p99 {p98:.3} ms not within 5 % of {want:.2}..{spun:.2} ms"
    );
}

/// `lab dev check` runs its reference labs in a state dir of its own: a student's lab running
/// on the machine (same state dir, as when one user does both) keeps running untouched, with
/// its state, and the student's `lab stop` afterwards finds nothing of the dev check.
#[test]
fn dev_check_leaves_a_running_student_lab_untouched() {
    let Some(_g) = root_test("lab_truth::dev_check_leaves_a_running_student_lab_untouched") else {
        return;
    };
    let s = Scratch::new("truth-devcheck");
    let status = s.start(3, 5);
    let pid = workload_pid(&status);
    let state_before = std::fs::read_to_string(s.dir.join("state.json")).unwrap();
    let session_before: Value =
        serde_json::from_str::<Value>(&state_before).unwrap()["session"].clone();

    let (code, out, err) = lab_tests::run(s.lab().args(["dev", "check", "--lab", "3"]));
    assert_eq!(code, 0, "lab dev check 3 failed:\n{out}\n{err}");
    assert!(out.contains("lab 3 reference answers: all"), "{out}");

    // The student's workload is the same process, still running; the state still names it.
    let (_, st, _) = lab_tests::run(s.lab().args(["status", "--json"]));
    let st: Value = serde_json::from_str(&st).unwrap();
    assert_eq!(
        workload_pid(&st),
        pid,
        "the student's workload changed:\n{st}"
    );
    assert_eq!(st["workloads"][0]["alive"], true, "{st}");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        state["session"], session_before,
        "the student's session changed"
    );
    assert!(
        state["labs"]["3"]["last_check"].is_null(),
        "the dev check's checks went into the student's progress: {state}"
    );
    // Nothing of the dev check is left next to the student's state.
    let parent = s.dir.parent().unwrap();
    let name = s.dir.file_name().unwrap().to_string_lossy().to_string();
    let leftovers: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(&format!("{name}.dev-check-")))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    // The student's check still works against the same workload.
    let (_, qs, out) = s.check(3, &BTreeMap::new(), Some(2));
    assert!(
        qs["threads"]["measured"].as_str().is_some_and(|m| m != "0"),
        "{out}"
    );
    s.stop();
}

/// Disk load beside a lab: 1 MiB writes, each synced, about 4 MiB/s, in a file of its own.
struct IoHog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    path: std::path::PathBuf,
}

impl IoHog {
    fn start() -> IoHog {
        use std::io::{Seek as _, Write as _};
        let path = lab_tests::disk_dir().join(format!("lab-it-iohog-{}", std::process::id()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, path) = (stop.clone(), path.clone());
            std::thread::spawn(move || {
                let mut f = std::fs::File::create(&path).unwrap();
                let chunk = vec![0x5a; 1 << 20];
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    f.write_all(&chunk).unwrap();
                    f.sync_data().unwrap();
                    n += 1;
                    if n.is_multiple_of(64) {
                        f.rewind().unwrap();
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        };
        IoHog {
            stop,
            thread: Some(thread),
            path,
        }
    }
}

impl Drop for IoHog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The figure: labs 1-3's scripted students (5 seeds each, right answers must pass and
/// perturbed ones fail) with a CPU hog (a busy thread per CPU, unpinned) and an I/O hog running
/// all along. Long (~10 min): `--ignored` (LAB_FIGURE_LABS=1,3 for some labs only).
#[test]
#[ignore = "the figure for issue 15: ~10 minutes; run with --ignored"]
fn scripted_students_pass_beside_cpu_and_io_hogs() {
    if !require_root("lab_truth::scripted_students_pass_beside_cpu_and_io_hogs") {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_hogs: Vec<JoinHandle<()>> = (0..cpus)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let io = IoHog::start();
    let mut failed = Vec::new();
    for &(lab, test) in crate::labs::SCRIPTED {
        // LAB_FIGURE_LABS=1,3 runs only those labs.
        if std::env::var("LAB_FIGURE_LABS")
            .is_ok_and(|only| !only.split(',').any(|l| l.trim() == lab.to_string()))
        {
            continue;
        }
        let t = Instant::now();
        let r = std::panic::catch_unwind(test);
        eprintln!(
            "FIGURE lab {lab}: 5 seeds with CPU and I/O hogs: {} in {:.0} s",
            if r.is_ok() {
                "0 false fails, 0 false passes"
            } else {
                "FAILED (see the panic above)"
            },
            t.elapsed().as_secs_f64()
        );
        if r.is_err() {
            failed.push(lab);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in cpu_hogs {
        let _ = h.join();
    }
    drop(io);
    assert!(failed.is_empty(), "labs {failed:?} failed beside the hogs");
}
