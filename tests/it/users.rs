//! Two students on one machine (issue 16): two real accounts made here with useradd, the runner
//! run as root with SUDO_USER set the way sudo sets it, and the real per-user state dirs
//! (/var/lib/lab/<user>, no LAB_STATE_DIR). One lab runs per machine; each user's state, data,
//! session and proctor stay theirs.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use lab_tests::{bin, cmd, run, sudo_lab};
use serde_json::Value;

const PROCTOR: &str = "/sys/fs/bpf/lab-proctor";
const MACHINE_RECORD: &str = "/run/lab/active.json";

/// Two fresh accounts; on drop (even after a failed assertion) their labs are stopped and the
/// accounts and state dirs removed.
struct TwoUsers {
    alice: String,
    bob: String,
}

impl TwoUsers {
    fn new() -> TwoUsers {
        let tag = std::process::id() % 100_000;
        let u = TwoUsers {
            alice: format!("labalice{tag}"),
            bob: format!("labbob{tag}"),
        };
        for name in [&u.alice, &u.bob] {
            lab_tests::add_account(name, "lab users test");
        }
        u
    }
}

impl Drop for TwoUsers {
    fn drop(&mut self) {
        for name in [&self.alice, &self.bob] {
            let _ = run(sudo_lab(name).args(["stop", "--user", name]));
            lab_tests::remove_account(name);
        }
    }
}

fn state_dir(user: &str) -> PathBuf {
    Path::new("/var/lib/lab").join(user)
}

/// `lab ...` as `user` without root (runuser: what the student types without sudo).
fn lab_unprivileged(user: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args([
        "-u",
        user,
        "--",
        "env",
        "-u",
        "LAB_STATE_DIR",
        "-u",
        "SUDO_USER",
    ])
    .arg("NO_COLOR=1")
    .arg(bin("lab"))
    .stdin(Stdio::null());
    c
}

fn status_json(c: &mut Command) -> Value {
    let (code, out, err) = run(c.args(["status", "--json"]));
    assert_eq!(code, 0, "lab status --json: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json: {e}: {out}"))
}

/// (pid, start time) of each workload in a `lab status --json`.
fn workload_ids(status: &Value) -> Vec<(i64, u64)> {
    status["workloads"]
        .as_array()
        .expect("workloads")
        .iter()
        .map(|w| {
            (
                w["pid"].as_i64().unwrap(),
                w["start_time"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The same process (PID + start time, /proc/PID/stat field 22) still runs.
fn alive(pid: i64, start_time: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    f[0] != "Z" && f[19].parse::<u64>().ok() == Some(start_time)
}

/// The proctor pin directories of `user`'s sessions.
fn proctors_of(user: &str) -> Vec<PathBuf> {
    std::fs::read_dir(PROCTOR)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{user}-")))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn machine_record_user() -> Option<String> {
    let text = std::fs::read_to_string(MACHINE_RECORD).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["user"].as_str().map(str::to_string)
}

/// alice runs lab 1; bob can neither start beside it, stop it, see it nor read her answers;
/// alice's stop ends everything of hers; then bob starts.
#[test]
fn second_user_is_refused_and_cannot_touch_the_first_users_lab() {
    let Some(_g) =
        lab_tests::root_test("second_user_is_refused_and_cannot_touch_the_first_users_lab")
    else {
        return;
    };
    let users = TwoUsers::new();
    let (alice, bob) = (users.alice.as_str(), users.bob.as_str());

    let (code, out, err) = run(sudo_lab(alice).args(["start", "1", "--seed", "1616"]));
    assert_eq!(code, 0, "alice: lab start 1:\n{out}\n{err}");
    let st = status_json(&mut sudo_lab(alice));
    assert_eq!(
        (st["lab"].clone(), st["user"].as_str()),
        (1.into(), Some(alice))
    );
    let workloads = workload_ids(&st);
    assert!(!workloads.is_empty() && workloads.iter().all(|&(p, t)| alive(p, t)));
    let data_dir = PathBuf::from(st["data_dir"].as_str().unwrap());
    assert!(
        data_dir.starts_with(state_dir(alice)),
        "{}",
        data_dir.display()
    );
    let proctor = proctors_of(alice);
    assert_eq!(proctor.len(), 1, "alice's lab has one proctor: {proctor:?}");
    assert!(proctor[0].join("map").exists() && proctor[0].join("link").exists());
    assert_eq!(machine_record_user().as_deref(), Some(alice));

    // An answer of alice's that bob must never see (the check records it in her state).
    let secret = format!("secretcomm{}", std::process::id());
    let (code, out, err) = run(sudo_lab(alice).args([
        "check",
        "1",
        "--window",
        "1",
        "--answer",
        &format!("process={secret}"),
    ]));
    assert!(code <= 1, "alice: lab check 1:\n{out}\n{err}");
    let alice_state = state_dir(alice).join("state.json");
    assert!(std::fs::read_to_string(&alice_state)
        .unwrap()
        .contains(&secret));

    // bob's start is refused in one line naming alice and her lab; nothing of bob's is written.
    let (code, out, err) = run(sudo_lab(bob).args(["start", "2"]));
    assert_ne!(code, 0, "bob's lab start 2 must be refused:\n{out}\n{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].contains(&format!("{alice}'s lab 1"))
            && lines[0].contains("lab stop")
            && lines[0].contains(&format!("--user {alice}")),
        "{err}"
    );
    assert!(
        !state_dir(bob).exists(),
        "refused start wrote {}",
        state_dir(bob).display()
    );
    assert!(proctors_of(bob).is_empty(), "refused start armed a proctor");
    assert_eq!(machine_record_user().as_deref(), Some(alice));

    // bob's stop: "No lab is running.", alice's workloads, proctor and data untouched.
    let (code, out, err) = run(sudo_lab(bob).arg("stop"));
    assert_eq!(code, 0, "bob: lab stop: {err}");
    assert!(out.contains("No lab is running."), "{out}");
    assert!(
        workloads.iter().all(|&(p, t)| alive(p, t)),
        "bob's stop ended alice's workloads"
    );
    assert!(
        proctor[0].join("map").exists(),
        "bob's stop disarmed alice's proctor"
    );
    assert!(data_dir.is_dir(), "bob's stop removed alice's data");
    assert_eq!(machine_record_user().as_deref(), Some(alice));

    // bob's status, with and without root: no session, none of alice's answers.
    for (how, st) in [
        ("sudo", status_json(&mut sudo_lab(bob))),
        ("no root", status_json(&mut lab_unprivileged(bob))),
    ] {
        assert_eq!(st["user"].as_str(), Some(bob), "{how}: {st}");
        assert!(st["lab"].is_null(), "{how}: bob sees a lab running: {st}");
        assert!(
            !st.to_string().contains(&secret),
            "{how}: bob sees alice's answer"
        );
        assert!(
            st["labs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["answers"] == Value::Array(vec![])),
            "{how}: {st}"
        );
    }
    // bob's plain status says why his `lab start` would be refused.
    let (code, out, err) = run(sudo_lab(bob).arg("status"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{alice}'s lab 1 runs on this machine")),
        "{out}"
    );
    assert!(!out.contains(&secret), "{out}");
    // As bob without root: alice's state dir cannot be listed, her data dir not entered, her
    // state file not read (the state dir only lets lab 2's login user pass through).
    for path in [&state_dir(alice), &data_dir] {
        let (code, out, err) = run(Command::new("runuser")
            .args(["-u", bob, "--", "ls", "-l"])
            .arg(path));
        assert_ne!(code, 0, "bob reads {}: {out}", path.display());
        assert!(err.contains("Permission denied"), "{err}");
    }
    let (code, _, err) = run(Command::new("runuser")
        .args(["-u", bob, "--", "cat"])
        .arg(&alice_state));
    assert!(code != 0 && err.contains("Permission denied"), "{err}");
    // alice herself, without root, reads her own state (what `lab class` asks over SSH).
    let st = status_json(&mut lab_unprivileged(alice));
    assert_eq!(st["lab"], 1, "alice's own status without root: {st}");
    assert!(st.to_string().contains(&secret), "{st}");
    assert!(st["workloads"][0]["alive"].as_bool().unwrap(), "{st}");

    // alice's stop ends everything of hers: processes, proctor, machine record.
    let (code, out, err) = run(sudo_lab(alice).arg("stop"));
    assert_eq!(code, 0, "alice: lab stop: {err}");
    assert!(out.contains("Stopped lab 1"), "{out}");
    assert!(
        workloads.iter().all(|&(p, t)| !alive(p, t)),
        "alice's workloads survive her stop"
    );
    assert!(
        proctors_of(alice).is_empty(),
        "alice's proctor survives her stop"
    );
    assert!(!data_dir.exists());
    assert_ne!(machine_record_user().as_deref(), Some(alice));

    // Now bob can start (and stop) his lab.
    let (code, out, err) = run(sudo_lab(bob).args(["start", "2"]));
    assert_eq!(
        code, 0,
        "bob: lab start 2 after alice stopped:\n{out}\n{err}"
    );
    assert_eq!(machine_record_user().as_deref(), Some(bob));
    assert_eq!(proctors_of(bob).len(), 1);
    // Lab 2's sshd reads its keys in bob's data dir as the login user `student`: bob's private
    // dirs must let it pass, or the checker's own logins fail before anything is graded.
    let (code, out, err) =
        run(sudo_lab(bob).args(["check", "2", "--answer", "culprit=no-such-program"]));
    assert_eq!(
        code, 1,
        "bob: lab check 2 with a wrong answer:\n{out}\n{err}"
    );
    assert!(
        out.contains("measured:") && !err.contains("login"),
        "bob: lab check 2 graded nothing:\n{out}\n{err}"
    );
    let bob_workloads = workload_ids(&status_json(&mut sudo_lab(bob)));
    let (code, _, err) = run(sudo_lab(bob).arg("stop"));
    assert_eq!(code, 0, "bob: lab stop: {err}");
    assert!(bob_workloads.iter().all(|&(p, t)| !alive(p, t)));
    assert!(proctors_of(bob).is_empty());
}

/// An instructor (root) stops a student's lab by name; the state and data dirs are private and
/// owned by their student.
#[test]
fn root_stops_a_users_lab_by_name_and_state_dirs_are_private() {
    let Some(_g) =
        lab_tests::root_test("root_stops_a_users_lab_by_name_and_state_dirs_are_private")
    else {
        return;
    };
    let users = TwoUsers::new();
    let alice = users.alice.as_str();
    // A state dir an older runner made world-readable is fixed up on the next write.
    std::fs::create_dir_all(state_dir(alice)).unwrap();
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    std::fs::set_permissions(state_dir(alice), std::fs::Permissions::from_mode(0o755)).unwrap();

    let (code, out, err) = run(sudo_lab(alice).args(["start", "1", "--seed", "77"]));
    assert_eq!(code, 0, "alice: lab start 1:\n{out}\n{err}");
    let st = status_json(&mut sudo_lab(alice));
    let workloads = workload_ids(&st);
    let data_dir = PathBuf::from(st["data_dir"].as_str().unwrap());
    // The state dir and sessions/ can be passed through (lab 2's login user), not listed; the
    // data dir and the state file are alice's alone.
    for (d, mode) in [
        (state_dir(alice), 0o711),
        (state_dir(alice).join("sessions"), 0o711),
        (data_dir.clone(), 0o700),
        (state_dir(alice).join("state.json"), 0o600),
    ] {
        let m = std::fs::metadata(&d).unwrap();
        assert_eq!(m.mode() & 0o777, mode, "{}", d.display());
        assert_eq!(
            m.uid(),
            lab_tests::uid_of(alice),
            "{} is alice's",
            d.display()
        );
    }

    // Bad --user: one line, exit 2, nothing stopped.
    let (code, _, err) = run(cmd("lab")
        .env_remove("LAB_STATE_DIR")
        .args(["stop", "--user", "../etc"]));
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--user"), "{err}");
    assert!(workloads.iter().all(|&(p, t)| alive(p, t)));

    // root, no SUDO_USER: `lab stop --user alice` ends alice's lab.
    let (code, out, err) = run(cmd("lab")
        .env_remove("SUDO_USER")
        .env_remove("LAB_STATE_DIR")
        .env("NO_COLOR", "1")
        .args(["stop", "--user", alice]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Stopped lab 1"), "{out}");
    assert!(workloads.iter().all(|&(p, t)| !alive(p, t)));
    assert!(proctors_of(alice).is_empty());
    assert_ne!(machine_record_user().as_deref(), Some(alice));
}

/// The machine record as `lab start` writes it, for a lab of `user` whose `lab start` is the
/// process `pid` (started at `start_time`).
fn write_machine_record(user: &str, pid: u32, start_time: u64, boot_id: &str) {
    let record = serde_json::json!({
        "user": user, "lab": 3, "started_at": 1, "boot_id": boot_id,
        "data_dir": state_dir(user).join("sessions/lab-03"),
        "starter": {"pid": pid, "start_time": start_time},
    });
    std::fs::create_dir_all("/run/lab").unwrap();
    std::fs::write(MACHINE_RECORD, record.to_string()).unwrap();
}

fn start_time_of(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let close = stat.rfind(')').unwrap();
    stat[close + 2..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap()
}

/// A record whose lab still has a process refuses `lab start` and `lab dev check`'s reference
/// runs; one whose processes are gone, or from another boot, is taken over (never blocks).
#[test]
fn stale_machine_record_is_taken_over_and_a_live_one_refuses() {
    let Some(_g) =
        lab_tests::root_test("stale_machine_record_is_taken_over_and_a_live_one_refuses")
    else {
        return;
    };
    let users = TwoUsers::new();
    let (alice, bob) = (users.alice.as_str(), users.bob.as_str());
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let boot_id = boot_id.trim();
    struct Cleanup(std::process::Child);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_file(MACHINE_RECORD);
        }
    }
    // bob's "lab start" is a live process of ours.
    let sleeper = Cleanup(Command::new("sleep").arg("600").spawn().unwrap());
    let pid = sleeper.0.id();
    write_machine_record(bob, pid, start_time_of(pid), boot_id);
    let (code, out, err) = run(sudo_lab(alice).args(["start", "1"]));
    assert_ne!(code, 0, "{out}");
    assert!(
        err.trim().lines().count() == 1 && err.contains(&format!("{bob}'s lab 3")),
        "{err}"
    );
    assert!(
        !state_dir(alice).exists(),
        "a refused start wrote alice's state"
    );
    let (code, _, err) = run(sudo_lab(alice).args(["dev", "check", "--lab", "1"]));
    assert_ne!(code, 0);
    assert!(
        err.trim().lines().count() == 1 && err.contains(&format!("{bob}'s lab 3")),
        "{err}"
    );
    assert!(err.contains("--no-run"), "{err}");

    // The same record from another boot: stale, alice starts.
    write_machine_record(bob, pid, start_time_of(pid), "not-this-boot");
    let (code, out, err) = run(sudo_lab(alice).args(["start", "1", "--seed", "3"]));
    assert_eq!(code, 0, "a record of another boot blocks:\n{out}\n{err}");
    assert_eq!(machine_record_user().as_deref(), Some(alice));
    let (code, _, err) = run(sudo_lab(alice).arg("stop"));
    assert_eq!(code, 0, "{err}");

    // Every process of bob's lab gone (its start process ended): stale too.
    drop(sleeper);
    write_machine_record(bob, pid, 12345, boot_id);
    let (code, out, err) = run(sudo_lab(alice).args(["start", "1", "--seed", "4"]));
    assert_eq!(
        code, 0,
        "a record of a lab with no processes blocks:\n{out}\n{err}"
    );
    assert_eq!(machine_record_user().as_deref(), Some(alice));
    let (code, _, err) = run(sudo_lab(alice).arg("stop"));
    assert_eq!(code, 0, "{err}");
    assert!(
        machine_record_user().is_none(),
        "alice's stop leaves the record"
    );
}

/// alice and bob type `sudo lab start 1` at the same moment, three times: each time exactly one
/// lab runs (the claim of /run/lab/active.json is re-checked under its flock), the other start
/// is refused in one line naming the winner, and the loser is left with no session, workload or
/// proctor of theirs.
#[test]
fn two_lab_starts_at_once_start_one_lab() {
    let Some(_g) = lab_tests::root_test("two_lab_starts_at_once_start_one_lab") else {
        return;
    };
    let users = TwoUsers::new();
    let (alice, bob) = (users.alice.as_str(), users.bob.as_str());
    for round in 0..3 {
        let spawn = |user: &str| {
            sudo_lab(user)
                .args(["start", "1", "--seed", &format!("{}", 40 + round)])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(alice), spawn(bob));
        let done: Vec<(&str, std::process::Output)> = vec![
            (alice, a.wait_with_output().unwrap()),
            (bob, b.wait_with_output().unwrap()),
        ];
        let winners: Vec<&str> = done
            .iter()
            .filter(|(_, o)| o.status.success())
            .map(|(u, _)| *u)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {done:#?}");
        let winner = winners[0];
        let (loser, out) = done.iter().find(|(u, _)| *u != winner).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.trim().lines().count() == 1 && err.contains(&format!("{winner}'s lab 1")),
            "round {round}: {loser}'s refusal: {err}"
        );
        assert_eq!(machine_record_user().as_deref(), Some(winner));
        let st = status_json(&mut sudo_lab(loser));
        assert!(
            st["lab"].is_null(),
            "round {round}: {loser} has a session: {st}"
        );
        assert!(
            proctors_of(loser).is_empty(),
            "round {round}: {loser}'s proctor"
        );
        let st = status_json(&mut sudo_lab(winner));
        let workloads = workload_ids(&st);
        assert!(!workloads.is_empty() && workloads.iter().all(|&(p, t)| alive(p, t)));
        let (code, _, err) = run(sudo_lab(winner).arg("stop"));
        assert_eq!(code, 0, "{winner}: lab stop: {err}");
        assert!(workloads.iter().all(|&(p, t)| !alive(p, t)));
        assert!(proctors_of(winner).is_empty());
    }
}
