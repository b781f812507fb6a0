//! The lab engine end to end: `lab start/status/stop/hint/reset/list/dev check` with real
//! supervised workloads, kill -9 at awkward moments, and the process table checked after.
//! Every test uses its own state dir (LAB_STATE_DIR) and, except the README quick start, the
//! test labs in tests/it/engine_labs (LAB_LABS_DIR), whose workloads are lab-workload selftest.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use lab_tests::{bin, cmd, require_root, root_test, run};
use serde_json::Value;

/// A scratch state dir, removed (after stopping anything left) on drop.
struct Scratch {
    dir: PathBuf,
    labs: Option<PathBuf>,
}

impl Scratch {
    fn new(name: &str, test_labs: bool) -> Scratch {
        let dir = std::env::temp_dir().join(format!("lab-engine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let labs = test_labs.then(|| lab_tests::repo_root().join("tests/it/engine_labs"));
        Scratch { dir, labs }
    }
    fn lab(&self) -> Command {
        let mut c = cmd("lab");
        c.env("LAB_STATE_DIR", &self.dir)
            .env("NO_COLOR", "1")
            .env_remove("LAB_LABS_DIR")
            .stdin(Stdio::null());
        if let Some(l) = &self.labs {
            c.env("LAB_LABS_DIR", l);
        }
        c
    }
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = run(self.lab().args(args));
        assert_eq!(code, 0, "lab {args:?} failed:\n{out}\n{err}");
        out
    }
    fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("status --json")
    }
    fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("state.json")).unwrap())
            .unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = run(self.lab().arg("stop"));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// (pid, ppid, session, comm) of every process now.
fn process_table() -> Vec<(i32, i32, i32, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if rest[0] == "Z" || rest[0] == "X" {
            continue;
        }
        v.push((
            pid,
            rest[1].parse().unwrap(),
            rest[3].parse().unwrap(),
            comm,
        ));
    }
    v
}

/// Every live process whose comm is one of `comms` or that is in a session led by `sids`.
fn leftovers(comms: &[&str], sids: &[i32]) -> Vec<(i32, i32, i32, String)> {
    process_table()
        .into_iter()
        .filter(|(_, _, sid, comm)| {
            comms
                .iter()
                .any(|c| comm.starts_with(&c[..c.len().min(15)]))
                || sids.contains(sid)
        })
        .collect()
}

fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn workload<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == name)
        .unwrap_or_else(|| panic!("no workload {name}: {status}"))
}

fn supervisor_sids(data_dir: &Path) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir(data_dir.join("run")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with(".supervisor.json")
        })
        .filter_map(|e| {
            serde_json::from_slice::<Value>(&std::fs::read(e.path()).ok()?).ok()?["pid"].as_i64()
        })
        .map(|p| p as i32)
        .collect()
}

/// The README quick start: the real lab 1 starts, shows in status, is not started twice,
/// blocks another lab, and `lab stop` leaves nothing running and no data.
#[test]
fn lab1_quick_start_status_and_stop() {
    // The commands lab suggests, as this root user types them: with sudo only when the test
    // itself runs under sudo (its SUDO_USER reaches lab), plain in a root shell.
    let as_typed = |cmd: &str| match std::env::var("SUDO_USER") {
        Ok(u) if !u.is_empty() => format!("sudo {cmd}"),
        _ => cmd.to_owned(),
    };
    let Some(_g) = root_test("lab1_quick_start_status_and_stop") else {
        return;
    };
    let s = Scratch::new("quick", false);
    let out = s.ok(&["start", "1", "--seed", "4242"]);
    assert!(out.contains("Lab 1 is running (seed 4242)"), "{out}");
    // Root in a root shell types `lab stop`; a student using sudo, `sudo lab stop`.
    assert!(out.contains(&as_typed("lab stop")), "{out}");
    assert!(
        !out.contains("```hint"),
        "hints must not be shown with the lab text: {out}"
    );

    let st = s.status();
    assert_eq!(st["lab"], 1);
    assert_eq!(st["seed"], 4242);
    let comm = s.state()["session"]["vars"]["comm"]
        .as_str()
        .unwrap()
        .to_string();
    let data_dir = PathBuf::from(st["data_dir"].as_str().unwrap());
    let w = &st["workloads"][0];
    assert_eq!(w["alive"], true, "{st}");
    assert_eq!(w["comm"], comm.as_str());
    let pid = w["pid"].as_i64().unwrap() as i32;
    // The seeded name is what ps and the kernel show.
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        comm
    );
    assert_eq!(start_time(pid), w["start_time"].as_u64());
    // ps shows the name only: the seeded parameters are not on any command line.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(
        cmdline.iter().filter(|b| **b == 0).count(),
        1,
        "workload argv: {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    let vars = s.state()["session"]["vars"].clone();
    let data_dir_s = st["data_dir"].as_str().unwrap();
    let args = std::fs::read_to_string(Path::new(data_dir_s).join("run/writer.args")).unwrap();
    let options: Vec<&str> = args
        .split('\0')
        .filter(|a| a.starts_with("--") && *a != "--seed")
        .collect();
    assert!(
        !options.is_empty(),
        "lab 1's workload takes seeded options: {args:?}"
    );
    for p in process_table() {
        let line = String::from_utf8_lossy(
            &std::fs::read(format!("/proc/{}/cmdline", p.0)).unwrap_or_default(),
        )
        .replace('\0', " ");
        if line.contains(data_dir_s) || line.contains(&comm) {
            assert!(
                !options.iter().any(|o| line.contains(o)),
                "seeded options visible in ps: {line}"
            );
        }
    }
    // It survived `lab start` exiting, in its own session (not ours).
    let (_, _, sid, _) = process_table().into_iter().find(|p| p.0 == pid).unwrap();
    // SAFETY: getsid(0) for this process.
    assert_ne!(sid, unsafe { libc::getsid(0) });

    // Starting it again shows it and starts no second copy.
    let again = s.ok(&["start", "1"]);
    assert!(again.contains("already running"), "{again}");
    assert_eq!(
        s.status()["workloads"][0]["pid"].as_i64().unwrap() as i32,
        pid
    );
    assert_eq!(
        process_table().iter().filter(|p| p.3 == comm).count(),
        1,
        "a second copy was started"
    );

    // Another lab while this one runs: refused clearly (stdin is not a terminal).
    let (code, _, err) = run(s.lab().args(["start", "3"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("lab 1 is running") && err.contains(&as_typed("lab stop")),
        "{err}"
    );

    let sids = supervisor_sids(&data_dir);
    assert!(!sids.is_empty());
    let stop = s.ok(&["stop"]);
    assert!(stop.contains("Stopped lab 1"), "{stop}");
    assert_eq!(
        leftovers(&[&comm], &sids),
        vec![],
        "processes left after lab stop"
    );
    assert!(
        !data_dir.exists(),
        "data dir {} left behind",
        data_dir.display()
    );
    assert!(s.state()["session"].is_null());
    assert_eq!(
        s.ok(&["status"]).trim(),
        format!(
            "No lab is running. Start one with: {} (lab list shows every lab)",
            as_typed("lab start 1")
        )
    );

    // --seed reproduces the session's values exactly.
    s.ok(&["start", "1", "--seed", "4242"]);
    assert_eq!(s.state()["session"]["vars"], vars);
    s.ok(&["stop"]);
}

/// A tree with children, an orphan reparented to the supervisor and an orphan that escaped
/// into its own session; a workload that ignores SIGTERM. `lab stop` ends all of them.
#[test]
fn stop_ends_whole_trees() {
    let Some(_g) = root_test("stop_ends_whole_trees") else {
        return;
    };
    let s = Scratch::new("trees", true);
    let out = s.ok(&["start", "1", "--seed", "7"]);
    assert!(
        out.contains("preparing test data: done"),
        "plain progress line when not a TTY: {out}"
    );
    let st = s.status();
    let tree = workload(&st, "tree");
    let children = s.state()["session"]["vars"]["children"].as_i64().unwrap() as usize;
    // main + children + the escaped orphan (its own session, found through the subreaper).
    wait_for("the tree to form", Duration::from_secs(5), || {
        workload(&s.status(), "tree")["processes"].as_u64() == Some(children as u64 + 2)
    });
    let comm = tree["comm"].as_str().unwrap().to_string();
    let data_dir = PathBuf::from(st["data_dir"].as_str().unwrap());
    let sids = supervisor_sids(&data_dir);
    let before = leftovers(
        &[&comm, "selftest-child", "selftest-orphan", "stubborn-"],
        &sids,
    );
    assert!(
        before.len() >= children + 2 + 2 + 2,
        "expected the trees in the process table: {before:?}"
    );
    assert!(
        before
            .iter()
            .any(|p| p.3 == "selftest-orphan" && !sids.contains(&p.2)),
        "the escaped orphan is in its own session: {before:?}"
    );

    s.ok(&["stop"]);
    let pids: Vec<i32> = before.iter().map(|p| p.0).collect();
    let left: Vec<_> = process_table()
        .into_iter()
        .filter(|p| pids.contains(&p.0))
        .collect();
    assert_eq!(left, vec![], "lab stop left processes running");
    assert!(!data_dir.exists());
}

/// A workload that exits by itself and one killed with SIGKILL are reported with how they ended.
#[test]
fn dead_workloads_are_reported_with_exit_status() {
    let Some(_g) = root_test("dead_workloads_are_reported_with_exit_status") else {
        return;
    };
    let s = Scratch::new("dead", true);
    s.ok(&["start", "2", "--seed", "11"]);
    let code = s.state()["session"]["vars"]["code"].as_i64().unwrap();
    let victim = workload(&s.status(), "victim")["pid"].as_i64().unwrap() as i32;
    // SAFETY: killing the test's own workload.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    wait_for("both to be reported dead", Duration::from_secs(5), || {
        let st = s.status();
        workload(&st, "shortlived")["alive"] == false && workload(&st, "victim")["alive"] == false
    });
    let st = s.status();
    let short = workload(&st, "shortlived");
    assert_eq!(short["exit_code"].as_i64(), Some(code), "{st}");
    assert_eq!(short["health"], format!("exited with status {code}"));
    let v = workload(&st, "victim");
    assert_eq!(v["exit_signal"].as_i64(), Some(9), "{st}");
    let text = s.ok(&["status"]);
    assert!(
        text.contains(&format!("exited with status {code}")) && text.contains("killed by SIGKILL"),
        "{text}"
    );
    // Starting the lab again shows it (with the dead workloads), without a second copy.
    let again = s.ok(&["start", "2"]);
    assert!(
        again.contains("already running") && again.contains("Some workloads ended"),
        "{again}"
    );
    s.ok(&["stop"]);
}

/// kill -9 of `lab start` while it prepares data, and again while it starts workloads: the
/// session is recorded as incomplete, and `lab stop` (or the next start) leaves nothing.
#[test]
fn kill_9_lab_start_at_awkward_moments() {
    let Some(_g) = root_test("kill_9_lab_start_at_awkward_moments") else {
        return;
    };
    let s = Scratch::new("kill9", true);
    let data_dir = s.dir.join("sessions/lab-03");

    // 1. During the prepare step (the big file is being written).
    let mut child = s
        .lab()
        .args(["start", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the prepare step to start", Duration::from_secs(10), || {
        data_dir.join("big.bin").exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let st = s.status();
    assert_eq!(st["complete"], false, "{st}");
    s.ok(&["stop"]);
    assert!(!data_dir.exists());
    let fills: Vec<_> = process_table()
        .into_iter()
        .filter(|p| p.3 == "lab-workload")
        .collect();
    // The prepare child may outlive lab by a moment; it must not keep writing into the session.
    for (pid, ..) in fills {
        wait_for(
            "the orphaned prepare step to end",
            Duration::from_secs(10),
            || !Path::new(&format!("/proc/{pid}")).exists() || start_time(pid).is_none(),
        );
    }

    // 2. Right after the first workload was recorded, before `lab start` finished.
    let mut child = s
        .lab()
        .args(["start", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first workload", Duration::from_secs(30), || {
        data_dir.join("run/first.workload.json").exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let sids = supervisor_sids(&data_dir);
    assert!(!sids.is_empty());
    std::thread::sleep(Duration::from_millis(300));
    let text = s.ok(&["status"]);
    assert!(text.contains("did not finish"), "{text}");
    // The next start cleans up the interrupted one and starts afresh.
    let out = run(s.lab().args(["start", "3"]));
    assert_eq!(out.0, 0, "{out:?}");
    assert!(out.2.contains("Cleaning up an earlier session"), "{out:?}");
    for sid in &sids {
        assert!(
            !process_table().iter().any(|p| p.2 == *sid),
            "session {sid} of the interrupted start still has processes"
        );
    }
    let sids = supervisor_sids(&data_dir);
    s.ok(&["stop"]);
    assert_eq!(leftovers(&["slow-first", "slow-second"], &sids), vec![]);
}

/// kill -9 of a supervisor: the workload is found again by PID + start time and `lab stop`
/// still ends its whole tree.
#[test]
fn supervisor_killed_then_stop() {
    let Some(_g) = root_test("supervisor_killed_then_stop") else {
        return;
    };
    let s = Scratch::new("supkill", true);
    s.ok(&["start", "1", "--seed", "3"]);
    let data_dir = PathBuf::from(s.status()["data_dir"].as_str().unwrap().to_string());
    let sids = supervisor_sids(&data_dir);
    wait_for("trees", Duration::from_secs(5), || {
        workload(&s.status(), "tree")["processes"].as_u64() >= Some(3)
    });
    // Every process of the trees: the supervisors' sessions and all their descendants,
    // including the orphan that escaped into its own session.
    let table = process_table();
    let mut members: Vec<i32> = table
        .iter()
        .filter(|p| sids.contains(&p.2))
        .map(|p| p.0)
        .collect();
    loop {
        let more: Vec<i32> = table
            .iter()
            .filter(|p| members.contains(&p.1) && !members.contains(&p.0))
            .map(|p| p.0)
            .collect();
        if more.is_empty() {
            break;
        }
        members.extend(more);
    }
    assert!(
        table
            .iter()
            .any(|p| members.contains(&p.0) && p.3 == "selftest-orphan" && !sids.contains(&p.2)),
        "the escaped orphan is part of the tree: {members:?}"
    );
    for sid in &sids {
        // SAFETY: killing the test's own supervisors.
        unsafe { libc::kill(*sid, libc::SIGKILL) };
    }
    std::thread::sleep(Duration::from_millis(200));
    let st = s.status();
    assert_eq!(
        workload(&st, "tree")["alive"],
        true,
        "the workload outlives its supervisor: {st}"
    );
    s.ok(&["stop"]);
    let left: Vec<_> = process_table()
        .into_iter()
        .filter(|p| members.contains(&p.0))
        .collect();
    assert_eq!(
        left,
        vec![],
        "processes left after the supervisor was killed and lab stop ran"
    );
}

/// A recorded PID that now belongs to another process (start time differs) is "gone", and
/// `lab stop` does not touch that process.
#[test]
fn reused_pid_is_treated_as_gone() {
    let Some(_g) = root_test("reused_pid_is_treated_as_gone") else {
        return;
    };
    let s = Scratch::new("reuse", true);
    // An innocent process that got "our" PID.
    let mut innocent = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = innocent.id() as i32;
    let real = start_time(pid).unwrap();
    let data_dir = s.dir.join("sessions/lab-01");
    std::fs::create_dir_all(data_dir.join("run")).unwrap();
    let id = serde_json::json!({"pid": pid, "start_time": real - 1});
    std::fs::write(data_dir.join("run/tree.supervisor.json"), id.to_string()).unwrap();
    std::fs::write(
        data_dir.join("run/tree.workload.json"),
        serde_json::json!({"pid": pid, "start_time": real - 1, "comm": "sleep"}).to_string(),
    )
    .unwrap();
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_string();
    let state = serde_json::json!({
        "format": 1,
        "session": {"lab": 1, "seed": 1, "vars": {}, "data_dir": data_dir, "user": "t", "started_at": 1,
                    "boot_id": boot_id, "workloads": ["tree"], "complete": true},
        "labs": {}
    });
    std::fs::write(s.dir.join("state.json"), state.to_string()).unwrap();

    let st = s.status();
    let w = workload(&st, "tree");
    assert_eq!(w["alive"], false, "{st}");
    assert!(w["health"].as_str().unwrap().starts_with("gone"), "{st}");
    s.ok(&["stop"]);
    assert!(
        innocent.try_wait().unwrap().is_none(),
        "lab stop killed a process that only shares a reused PID"
    );
    innocent.kill().unwrap();
    innocent.wait().unwrap();
}

/// Hints one at a time, list, reset, and a newer state file refused.
#[test]
fn hints_list_reset_and_state_format() {
    let s = Scratch::new("hints", true);
    let (code, _, err) = run(s.lab().arg("hint"));
    assert_eq!(
        code, 2,
        "no running lab and no lab named: usage error: {err}"
    );
    let first = s.ok(&["hint", "1"]);
    assert!(
        first.contains("Hint 1 of 2")
            && first.contains("First hint: stree-")
            && !first.contains("Second"),
        "{first}"
    );
    let second = s.ok(&["hint", "1"]);
    assert!(
        second.contains("Hint 2 of 2") && !second.contains("First"),
        "{second}"
    );
    let all = s.ok(&["hint", "1", "--all"]);
    assert!(
        all.contains("Hint 1 of 2") && all.contains("Hint 2 of 2"),
        "{all}"
    );
    assert_eq!(s.state()["labs"]["1"]["hints_revealed"], 2);

    let list = s.ok(&["list"]);
    assert!(
        list.contains("Engine self-test")
            && list.contains("not started")
            && list.contains("A workload that dies"),
        "{list}"
    );

    if lab_tests::is_root() {
        let (code, _, err) = run(s.lab().args(["reset", "1"]));
        assert_eq!(
            code, 2,
            "reset without --yes and no terminal must refuse: {err}"
        );
        assert!(err.contains("--yes"), "{err}");
        s.ok(&["reset", "1", "--yes"]);
        assert!(s.state()["labs"].get("1").is_none());
    }

    std::fs::write(s.dir.join("state.json"), r#"{"format": 9, "labs": {}}"#).unwrap();
    let (code, _, err) = run(s.lab().arg("list"));
    assert_eq!(code, 1);
    assert!(
        err.contains("state.json") && err.contains("format 9 is newer"),
        "{err}"
    );
}

/// `lab dev check` names file:line for a malformed lab and exits non-zero.
#[test]
fn dev_check_reports_file_and_line() {
    let s = Scratch::new("devcheck", false);
    let labs = s.dir.join("labs");
    std::fs::create_dir_all(&labs).unwrap();
    let good =
        std::fs::read_to_string(lab_tests::repo_root().join("tests/it/engine_labs/02-dies.md"))
            .unwrap();
    std::fs::write(labs.join("02-dies.md"), &good).unwrap();
    std::fs::write(
        labs.join("05-bad.md"),
        good.replace("id = 2", "id = 5")
            .replace("duration = \"1m\"", "duration = \"1m\"\nkind = 3"),
    )
    .unwrap();
    std::fs::write(
        labs.join("06-unknown.md"),
        good.replace("id = 2", "id = 6")
            .replace("run = \"selftest\"", "run = \"no-such-workload\""),
    )
    .unwrap();
    let (code, out, err) = run(s
        .lab()
        .env("LAB_LABS_DIR", &labs)
        .args(["dev", "check", "--no-run"]));
    assert_eq!(code, 1, "{out}{err}");
    let bad_line = good
        .lines()
        .position(|l| l.starts_with("duration"))
        .unwrap()
        + 2;
    assert!(
        out.contains(&format!("05-bad.md:{bad_line}:")) && out.contains("kind"),
        "{out}"
    );
    assert!(
        out.contains("06-unknown.md:") && out.contains("no subcommand \"no-such-workload\""),
        "{out}"
    );
    assert!(
        out.contains("02-dies.md (lab 2"),
        "the good lab is listed as fine: {out}"
    );
    assert!(bin("lab-workload").exists());
}

/// kill -9 of `lab stop` in its SIGTERM grace period (a workload ignores SIGTERM): the session
/// is still recorded, and the next `lab stop` ends what is left.
#[test]
fn kill_9_lab_stop_midway() {
    let Some(_g) = root_test("kill_9_lab_stop_midway") else {
        return;
    };
    let s = Scratch::new("stopkill", true);
    s.ok(&["start", "1", "--seed", "5"]);
    let data_dir = PathBuf::from(s.status()["data_dir"].as_str().unwrap().to_string());
    let sids = supervisor_sids(&data_dir);
    let stubborn = workload(&s.status(), "stubborn")["pid"].as_i64().unwrap() as i32;
    let mut stop = s
        .lab()
        .arg("stop")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    stop.kill().unwrap();
    stop.wait().unwrap();
    assert!(
        start_time(stubborn).is_some(),
        "the SIGTERM-ignoring workload outlives the interrupted stop"
    );
    assert_eq!(s.status()["lab"], 1, "the session is still recorded");
    s.ok(&["stop"]);
    assert_eq!(
        leftovers(&["stubborn-", "stree-", "selftest-"], &sids),
        vec![]
    );
    assert!(!data_dir.exists());
}

/// Not root: `lab start/stop/reset` exit 2 with the sudo command, and write nothing.
#[test]
fn non_root_is_refused_and_nothing_is_written() {
    if !require_root("non_root_is_refused_and_nothing_is_written") {
        return; // needs root to become another user
    }
    let s = Scratch::new("nonroot", false);
    let state_dir = s.dir.join("nobody-state");
    for args in [&["start", "1"][..], &["stop"], &["reset", "--yes"]] {
        let (code, out, err) = run(Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(bin("lab"))
            .args(args)
            .env("LAB_STATE_DIR", &state_dir)
            .stdin(Stdio::null()));
        assert_eq!(code, 2, "lab {args:?} as nobody: {out}{err}");
        assert!(
            err.contains(&format!("sudo lab {}", args.join(" "))),
            "{err}"
        );
        assert!(
            !state_dir.exists(),
            "lab {args:?} wrote {} without root",
            state_dir.display()
        );
    }
}
