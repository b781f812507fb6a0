//! `lab class` against a real sshd on loopback: real accounts (made here with useradd, removed
//! after), each with its own progress in /var/lib/lab/USER at a different stage, plus roster
//! entries for a closed port and for a port that accepts and then says nothing. The VMs' side
//! (`lab status --json` as the student, no root) runs for real over SSH with the instructor key.
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use lab_tests::{bin, cmd, require_root, run, sudo_lab};
use serde_json::{json, Value};

/// Seconds of slack over --timeout for the whole run (process start, sorting, printing).
const MARGIN: f64 = 5.0;

/// A loopback sshd, its accounts and their lab state; all removed on drop.
struct Class {
    dir: PathBuf,
    users: Vec<String>,
    sshd: Child,
    port: u16,
}

fn ssh_keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "lab-class-test",
            "-f",
        ])
        .arg(path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Class {
    /// `n` accounts named lc<pid>x<i>, each allowed in with the instructor key only.
    fn new(tag: &str, n: usize) -> Class {
        let dir = std::env::temp_dir().join(format!("lab-class-it-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ssh_keygen(&dir.join("instructor"));
        ssh_keygen(&dir.join("host_ed25519"));
        std::fs::copy(dir.join("instructor.pub"), dir.join("authorized_keys")).unwrap();
        let users: Vec<String> = (0..n)
            .map(|i| format!("lc{}{tag}{i}", std::process::id() % 100_000))
            .collect();
        for u in &users {
            lab_tests::add_account(u, "lab class test");
        }
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM yes\n\
                 AllowUsers {}\nStrictModes no\nUseDNS no\nMaxStartups 100\nMaxSessions 100\n",
                users.join(" ")
            ),
        )
        .unwrap();
        let sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        let c = Class {
            dir,
            users,
            sshd,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    /// Progress for `user` where and as `lab` keeps it: /var/lib/lab/USER (mode 0711) and its
    /// state.json (0600), both owned by the student.
    fn write_state(&self, user: &str, state: &Value) {
        use std::os::unix::fs::{chown, PermissionsExt};
        let uid = lab_tests::uid_of(user);
        let d = Path::new("/var/lib/lab").join(user);
        let f = d.join("state.json");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(&f, serde_json::to_vec_pretty(state).unwrap()).unwrap();
        for (p, mode) in [(&d, 0o711), (&f, 0o600)] {
            chown(p, Some(uid), None).unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    /// A roster as provisioning writes it (name,host,user,password,instance_id), mode 0600.
    fn roster(&self, rows: &[(&str, String, &str)]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let mut text = "name,host,user,password,instance_id\n".to_string();
        for (name, host, user) in rows {
            text.push_str(&format!(
                "{name},{host},{user},pw-{name}-never-used,iid-{name}\n"
            ));
        }
        let p = self.dir.join("roster.csv");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `lab class SUB --class DIR -i KEY --lab-command LAB ...`
    fn lab_class(&self, sub: &str) -> Command {
        let mut c = cmd("lab");
        c.args(["class", sub, "--class"])
            .arg(&self.dir)
            .arg("-i")
            .arg(self.dir.join("instructor"))
            .arg("--lab-command")
            .arg(bin("lab"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }
}

impl Drop for Class {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        for u in &self.users {
            lab_tests::remove_account(u);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn answer(passed: bool, at: u64) -> Value {
    json!({ "passed": passed, "answer": "x", "measured": "y", "at": at })
}

/// The four students of the main test and what each did.
struct Stages {
    roster: PathBuf,
    idle: String,
    stuck: String,
    done: String,
    /// Lab 2: required questions bob's check got right, and the hints he took.
    stuck_passed: u64,
    stuck_hints: u64,
    /// The answers bob's check recorded.
    stuck_answers: usize,
    done_passed_at: [u64; 3],
    /// bob's lab runs (one lab per machine, the proctor is BPF) until the test ends.
    _lab: RunningLab,
    _bpf: std::sync::MutexGuard<'static, ()>,
}

/// A student's running lab, stopped on drop (even after a failed assertion).
struct RunningLab(String);

impl Drop for RunningLab {
    fn drop(&mut self) {
        let _ = run(cmd("lab")
            .env_remove("SUDO_USER")
            .env_remove("LAB_STATE_DIR")
            .args(["stop", "--user", &self.0]));
    }
}

/// bob's lab 2, done for real the way he would: `sudo lab start 2`, two hints, a program named
/// strace run from another terminal, and a check whose answers are all wrong. Only his time on
/// the lab is made up: the session is dated 25 minutes back (the lab plans 20), since a test
/// cannot wait that long. Returns (required questions passed, hints taken, answers recorded).
fn stuck_on_lab2(c: &Class, user: &str) -> (RunningLab, u64, u64, usize) {
    let (code, out, err) = run(sudo_lab(user).args(["start", "2"]));
    let lab = RunningLab(user.to_string());
    assert_eq!(code, 0, "{user}: lab start 2:\n{out}\n{err}");
    let hints = 2;
    for _ in 0..hints {
        let (code, out, err) = run(sudo_lab(user).arg("hint"));
        assert!(
            code == 0 && out.contains("(lab 2)"),
            "{user}: lab hint:\n{out}\n{err}"
        );
    }
    let strace = c.dir.join("strace");
    std::fs::copy("/bin/true", &strace).unwrap();
    assert!(Command::new(&strace).status().unwrap().success());
    let (code, out, err) = run(sudo_lab(user).args([
        "check",
        "2",
        "--json",
        "--answer",
        "culprit=no-such-program",
        "--answer",
        "processes=1",
        "--answer",
        "parent=no-such-parent",
    ]));
    assert_eq!(
        code, 1,
        "{user}: lab check 2 with wrong answers:\n{out}\n{err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let questions = v["questions"].as_array().expect("questions");
    let passed = questions.iter().filter(|q| q["passed"] == true).count() as u64;
    let answered = questions
        .iter()
        .filter(|q| q["answer"].as_str().is_some_and(|a| !a.is_empty()))
        .count();
    let file = Path::new("/var/lib/lab").join(user).join("state.json");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    state["session"]["started_at"] = json!(now() - 25 * 60);
    // Rewritten in place: the file keeps the owner and mode 0600 `lab` gave it.
    std::fs::write(&file, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    (lab, passed, hints, answered)
}

/// Not started; lab 2 running for longer than its 20 minutes with failing checks (for real,
/// `stuck_on_lab2`); labs 1-3 passed (a state file as a runner of state format 1 left it,
/// since passing three labs for real takes minutes); and a roster entry whose port is closed.
fn stages(c: &Class) -> Stages {
    let bpf = lab_tests::bpf_lock();
    let now = now();
    let (idle, stuck, done) = (&c.users[0], &c.users[1], &c.users[2]);
    let (lab, stuck_passed, stuck_hints, stuck_answers) = stuck_on_lab2(c, stuck);
    let done_passed_at = [now - 7200, now - 5000, now - 600];
    let q = |ids: &[&str], at: u64| -> Value {
        ids.iter()
            .map(|i| (i.to_string(), answer(true, at)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    c.write_state(
        done,
        &json!({
            "format": 1,
            "labs": {
                "1": { "time_spent": 800, "questions": q(&["process", "file"], done_passed_at[0]), "passed_at": done_passed_at[0] },
                "2": { "time_spent": 900, "questions": q(&["culprit"], done_passed_at[1]), "passed_at": done_passed_at[1] },
                "3": { "time_spent": 700, "hints_revealed": 1, "questions": q(&["threads"], done_passed_at[2]), "passed_at": done_passed_at[2] },
            },
        }),
    );
    // A port that was free a moment ago: nothing listens, connections are refused.
    let closed = free_port();
    let roster = c.roster(&[
        ("alice", c.host(), idle),
        ("bob", c.host(), stuck),
        ("carol", c.host(), done),
        ("dave", format!("127.0.0.1:{closed}"), idle),
    ]);
    Stages {
        roster,
        idle: idle.clone(),
        stuck: stuck.clone(),
        done: done.clone(),
        stuck_passed,
        stuck_hints,
        stuck_answers,
        done_passed_at,
        _lab: lab,
        _bpf: bpf,
    }
}

fn row<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {rows:#?}"))
}

#[test]
fn class_status_shows_every_student_stuck_first_dead_one_unreachable() {
    if !require_root("class_status_shows_every_student_stuck_first_dead_one_unreachable") {
        return;
    }
    let c = Class::new("st", 3);
    let s = stages(&c);
    let timeout = 8.0;
    let t0 = Instant::now();
    let (code, out, err) =
        run(c
            .lab_class("status")
            .args(["--json", "--timeout", &timeout.to_string()]));
    let took = t0.elapsed().as_secs_f64();
    assert_eq!(code, 0, "lab class status --json:\n{out}\n{err}");
    assert!(
        took < timeout + MARGIN,
        "took {took:.1} s with --timeout {timeout}"
    );
    assert!(
        !out.contains("never-used") && !err.contains("never-used"),
        "a password was shown"
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["schema"], 1);
    let rows = doc["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 4, "{rows:#?}");

    // bob: on lab 2 for 25 min (planned 20), last check failed: first.
    let bob = row(&rows, "bob");
    assert_eq!(rows[0]["name"], "bob", "the stuck student comes first");
    let st = &bob["status"];
    assert_eq!(st["user"], s.stuck.as_str());
    assert_eq!(st["lab"], 2);
    assert!(st["elapsed_secs"].as_u64().unwrap() >= 25 * 60);
    assert_eq!(st["last_check"]["lab"], 2);
    assert_eq!(st["last_check"]["passed"], s.stuck_passed);
    assert_eq!(st["last_check"]["ok"], false);
    assert_eq!(st["hints_used"], s.stuck_hints);
    assert_eq!(st["proctor"]["seen"]["strace"], 1);
    assert_eq!(st["proctor"]["source"], "last_check");
    let help: Vec<&str> = bob["help"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(help[0].starts_with("stuck: on lab 2"), "{help:?}");
    assert!(
        help.iter().any(|h| h.starts_with(&format!(
            "failing checks: lab 2: {}/5 right",
            s.stuck_passed
        ))),
        "{help:?}"
    );
    assert!(help.iter().any(|h| h.contains("strace")), "{help:?}");

    // dave: the closed port, unreachable (refused), next.
    let dave = row(&rows, "dave");
    assert_eq!(rows[1]["name"], "dave");
    assert_eq!(dave["reachable"], false);
    assert!(dave["status"].is_null());
    assert!(
        dave["error"].as_str().unwrap().starts_with("refused"),
        "{dave}"
    );

    // alice: nothing started. carol: labs 1-3 passed, when the test said.
    let alice = row(&rows, "alice");
    assert_eq!(alice["reachable"], true);
    assert!(alice["status"]["lab"].is_null());
    assert_eq!(alice["status"]["user"], s.idle.as_str());
    assert!(alice["status"]["labs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["status"] == "not_started"));
    assert!(alice["help"].as_array().unwrap().is_empty());
    let carol = row(&rows, "carol");
    assert_eq!(carol["status"]["user"], s.done.as_str());
    let passed: Vec<(u64, u64)> = carol["status"]["labs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["status"] == "passed")
        .map(|l| (l["id"].as_u64().unwrap(), l["passed_at"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        passed,
        vec![
            (1, s.done_passed_at[0]),
            (2, s.done_passed_at[1]),
            (3, s.done_passed_at[2])
        ]
    );
    assert_eq!(carol["status"]["hints_used"], 1);
    assert_eq!(carol["status"]["last_check"]["lab"], 3);

    // The table says the same to a person.
    let (code, table, err) = run(c
        .lab_class("status")
        .args(["--timeout", &timeout.to_string()]));
    assert_eq!(code, 0, "{err}");
    // Header, its underline, then those who need help first.
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[2].starts_with("bob ")
            && lines[2].contains("2 ")
            && lines[2].contains(&format!("lab 2: {}/5 right", s.stuck_passed)),
        "{table}"
    );
    assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    assert!(table.contains("  ! bob: stuck: on lab 2"), "{table}");
    let carol_line = lines.iter().find(|l| l.starts_with("carol")).unwrap();
    assert!(carol_line.contains("1,2,3"), "{table}");
    let dave_line = lines.iter().find(|l| l.starts_with("dave")).unwrap();
    assert!(dave_line.contains("refused"), "{table}");
    assert!(
        table.contains("4 students, 3 reachable, 2 may need help"),
        "{table}"
    );
    // The roster keeps its mode.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&s.roster).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_silent_vm_is_cut_off_at_the_timeout() {
    if !require_root("a_silent_vm_is_cut_off_at_the_timeout") {
        return;
    }
    let c = Class::new("to", 1);
    // Accepts TCP connections (the kernel completes them) but never sends an SSH banner.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    c.roster(&[
        ("quiet", format!("127.0.0.1:{silent_port}"), &c.users[0]),
        ("alive", c.host(), &c.users[0]),
    ]);
    let timeout = 3.0;
    let t0 = Instant::now();
    let (code, out, err) = run(c.lab_class("status").args([
        "--json",
        "--timeout",
        &timeout.to_string(),
        "--connect-timeout",
        "30",
    ]));
    let took = t0.elapsed().as_secs_f64();
    assert_eq!(code, 0, "{err}");
    assert!(
        took >= timeout && took < timeout + MARGIN,
        "took {took:.1} s with --timeout {timeout}"
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    let rows = doc["rows"].as_array().unwrap();
    let quiet = row(rows, "quiet");
    assert!(
        quiet["error"].as_str().unwrap().starts_with("timeout"),
        "{quiet}"
    );
    // The other VM answered normally: the slow one held up only itself.
    assert_eq!(row(rows, "alive")["reachable"], true);
    assert!(row(rows, "alive")["elapsed_ms"].as_u64().unwrap() < (timeout * 1000.0) as u64);
    // No ssh child outlives `lab class`.
    let leftover = Command::new("pgrep")
        .args(["-f", &format!("127.0.0.1 -p {silent_port}")])
        .output()
        .unwrap();
    let leftover2 = Command::new("pgrep")
        .args(["-f", &format!("-p {silent_port} --")])
        .output()
        .unwrap();
    assert!(
        leftover.stdout.is_empty() && leftover2.stdout.is_empty(),
        "ssh left running"
    );
    drop(silent);
}

#[test]
fn class_collect_writes_each_students_progress_and_a_csv() {
    if !require_root("class_collect_writes_each_students_progress_and_a_csv") {
        return;
    }
    let c = Class::new("co", 3);
    let s = stages(&c);
    let out = c.dir.join("results");
    let (code, stdout, err) = run(c.lab_class("collect").arg("--out").arg(&out));
    // dave is unreachable: collect says so and exits 1, with everything else written.
    assert_eq!(code, 1, "{stdout}\n{err}");
    assert!(err.contains("dave"), "{err}");
    assert!(stdout.contains("Collected 3 of 4"), "{stdout}");
    for name in ["alice", "bob", "carol", "dave"] {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(v["name"], name);
    }
    let bob: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bob.json")).unwrap()).unwrap();
    assert_eq!(bob["status"]["user"], s.stuck.as_str());
    let mut summary = csv_rows(&out.join("summary.csv"));
    let head = summary.remove(0);
    assert_eq!(summary.len(), 4);
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let get = |name: &str, c: &str| -> String {
        summary.iter().find(|r| r[0] == name).unwrap()[col(c)].clone()
    };
    assert_eq!(get("bob", "current_lab"), "2");
    assert_eq!(get("bob", "last_check_passed"), s.stuck_passed.to_string());
    assert_eq!(get("bob", "hints_used"), s.stuck_hints.to_string());
    assert_eq!(get("bob", "proctor"), "stracex1");
    assert_eq!(get("carol", "labs_passed"), "1 2 3");
    assert_eq!(get("alice", "labs_passed"), "");
    assert_eq!(get("dave", "reachable"), "false");
    assert!(get("dave", "error").starts_with("refused"));
    // answers.csv: every answer the test wrote, per student.
    let answers = csv_rows(&out.join("answers.csv"));
    let count = |name: &str| answers.iter().filter(|r| r[0] == name).count();
    assert_eq!(count("bob"), s.stuck_answers);
    assert_eq!(count("carol"), 4);
    assert_eq!(count("alice"), 0);
    let _ = s.roster;
}

fn csv_rows(p: &Path) -> Vec<Vec<String>> {
    // The fields here hold no commas or quotes except where the test does not look.
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| {
            l.split(',')
                .map(|f| f.trim_matches('"').to_string())
                .collect()
        })
        .collect()
}

#[test]
fn class_serve_page_in_chromium_rows_refresh_and_stays_local() {
    if !require_root("class_serve_page_in_chromium_rows_refresh_and_stays_local") {
        return;
    }
    let c = Class::new("sv", 3);
    let _stages = stages(&c);
    let mut server = c
        .lab_class("serve")
        .args(["--port", "0", "--interval", "1", "--timeout", "8"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lab class serve");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in: {first}"))
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "must bind 127.0.0.1: {first}"
        );
        let Some((_guard, mut b)) = crate::slides::browser_or_skip("class_serve_page") else {
            return;
        };
        b.call("Network.enable", json!({}));
        b.call("Page.navigate", json!({ "url": url }));
        // The first poll takes a moment; the placeholder page refreshes itself until it is there.
        let rows_js = "Array.from(document.querySelectorAll('#class tbody tr')).map(r => \
                       [r.dataset.student, r.className, r.cells[2].textContent, r.cells[3].textContent])";
        let deadline = Instant::now() + Duration::from_secs(30);
        let rows = loop {
            let v = b.eval(&format!(
                "document.querySelector('#class') ? {rows_js} : null"
            ));
            if v.as_array().is_some_and(|a| a.len() == 4) {
                break v;
            }
            assert!(Instant::now() < deadline, "no class table within 30 s: {v}");
            std::thread::sleep(Duration::from_millis(200));
        };
        let rows = rows.as_array().unwrap();
        assert_eq!(rows[0], json!(["bob", "help", "yes", "2"]), "{rows:?}");
        assert_eq!(rows[1][0], "dave");
        assert_eq!(rows[1][2], "refused");
        let names: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
        assert_eq!(names[2..], ["alice", "carol"]);
        // It refreshes by itself: a mark left in this page is gone after a reload.
        b.eval("window.__mark = 1");
        let deadline = Instant::now() + Duration::from_secs(15);
        while b.eval("window.__mark === 1 || !document.querySelector('#class')") == json!(true) {
            assert!(
                Instant::now() < deadline,
                "the page did not refresh within 15 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // Every request the page made (loads and refreshes) went to the server on 127.0.0.1.
        let urls: Vec<String> = b
            .events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .map(|e| {
                e["params"]["request"]["url"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert!(urls.len() >= 2, "requests seen: {urls:?}");
        let origin = url.trim_end_matches('/');
        assert!(
            urls.iter().all(|u| u.starts_with(origin)),
            "a request left {origin}: {urls:?}"
        );
    }));
    let _ = server.kill();
    let _ = server.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn class_watch_redraws_the_table_every_interval() {
    if !require_root("class_watch_redraws_the_table_every_interval") {
        return;
    }
    let c = Class::new("wa", 1);
    c.roster(&[("erin", c.host(), &c.users[0])]);
    let mut watch = c
        .lab_class("watch")
        .args(["--interval", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lab class watch");
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        let mut r = stdout;
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    // Three screens: each starts by clearing the terminal and shows erin's row.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.extend(chunk);
        }
        if String::from_utf8_lossy(&seen)
            .matches("\x1b[H\x1b[2J")
            .count()
            >= 3
        {
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let text = String::from_utf8_lossy(&seen);
    let screens: Vec<&str> = text
        .split("\x1b[H\x1b[2J")
        .filter(|s| !s.is_empty())
        .collect();
    assert!(screens.len() >= 2, "fewer than 2 screens in 30 s:\n{text}");
    for s in &screens[..2] {
        assert!(s.starts_with("lab class watch:"), "{s}");
        assert!(
            s.lines()
                .any(|l| l.starts_with("erin ") && l.contains(" yes ")),
            "{s}"
        );
    }
}

#[test]
fn class_bad_input_is_one_line_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("lab-class-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["status".into()], "--class"),
        (
            vec![
                "status".into(),
                "--class".into(),
                "/nonexistent/class".into(),
            ],
            "not a directory",
        ),
        (
            vec!["status".into(), "--class".into(), dir.display().to_string()],
            "no roster",
        ),
        (
            vec![
                "watch".into(),
                "--class".into(),
                dir.display().to_string(),
                "--interval".into(),
                "0".into(),
            ],
            "--interval 0",
        ),
        (
            vec![
                "status".into(),
                "--roster".into(),
                "/etc/hostname".into(),
                "--timeout=0".into(),
            ],
            "--timeout",
        ),
    ];
    for (args, says) in cases {
        let (code, out, err) = run(cmd("lab").arg("class").args(&args));
        assert_eq!(code, 2, "lab class {args:?}: {out}{err}");
        assert!(
            err.contains(says),
            "lab class {args:?} should mention {says}: {err}"
        );
    }
    std::fs::write(dir.join("roster.csv"), "a,b\n1,2\n").unwrap();
    let (code, _, err) = run(cmd("lab").args(["class", "status", "--class"]).arg(&dir));
    assert_eq!(code, 2);
    assert!(
        err.contains("no name,host header") && err.lines().count() <= 2,
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The VM side of `lab class`: with lab 1 really running, `lab status --json` (schema 1) has the
/// workload's sysinfo figures as root, and the student who owns the state dir reads the same
/// document without root (memory yes; I/O rates null: root's /proc/PID/io is not theirs to
/// read), while the state file stays private (0600).
#[test]
fn status_json_is_versioned_and_readable_without_root() {
    let Some(_g) = lab_tests::root_test("status_json_is_versioned_and_readable_without_root")
    else {
        return;
    };
    let dir = lab_tests::disk_dir().join(format!("lab-class-status-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The student's dir, as /var/lib/lab/USER is: `lab` (root) writes the state file as theirs.
    let nobody = lab_tests::uid_of("nobody");
    std::os::unix::fs::chown(&dir, Some(nobody), None).unwrap();
    let lab = |args: &[&str]| {
        let mut c = cmd("lab");
        c.env("LAB_STATE_DIR", &dir)
            .env("NO_COLOR", "1")
            .env_remove("LAB_LABS_DIR")
            .stdin(Stdio::null())
            .args(args);
        c
    };
    let (code, out, err) = run(&mut lab(&["start", "1", "--seed", "5150"]));
    let result = std::panic::catch_unwind(|| {
        assert_eq!(code, 0, "lab start 1:\n{out}\n{err}");
        let (code, out, err) = run(&mut lab(&["status", "--json"]));
        assert_eq!(code, 0, "{err}");
        let st: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (st["schema"].clone(), st["kind"].clone()),
            (json!(1), json!("lab-status"))
        );
        assert_eq!(st["lab"], 1);
        assert_eq!(st["seed"], 5150);
        assert_eq!(st["duration_secs"], 900);
        let w = &st["workloads"][0];
        assert_eq!(w["alive"], true, "{st}");
        let pid = w["pid"].as_i64().unwrap();
        // Resident memory as the kernel counts it for that process (the tree has at least it).
        let rss_pages: u64 = std::fs::read_to_string(format!("/proc/{pid}/statm"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            w["memory_bytes"].as_u64().unwrap() >= rss_pages * 4096 / 2,
            "{w}"
        );
        assert!(w["cpu_percent"].as_f64().is_some(), "{w}");
        assert!(
            w["write_bytes_per_sec"].as_f64().is_some(),
            "root reads I/O: {w}"
        );
        let labs = st["labs"].as_array().unwrap();
        assert_eq!(labs[0]["status"], "running");
        assert!(labs.iter().skip(1).all(|l| l["status"] == "not_started"));

        // The state file is the student's alone.
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let m = std::fs::metadata(dir.join("state.json")).unwrap();
        assert_eq!((m.permissions().mode() & 0o777, m.uid()), (0o600, nobody));
        // The student, no root: the same document.
        let (code, out, err) = run(Command::new("runuser")
            .args(["-u", "nobody", "--", "env"])
            .arg(format!("LAB_STATE_DIR={}", dir.display()))
            .arg(bin("lab"))
            .args(["status", "--json"]));
        assert_eq!(code, 0, "lab status --json as nobody: {err}");
        let st: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(st["user"], "nobody");
        assert_eq!(st["lab"], 1);
        let w = &st["workloads"][0];
        assert_eq!(w["alive"], true);
        assert!(w["memory_bytes"].as_u64().unwrap() > 0, "{w}");
        assert!(w["write_bytes_per_sec"].is_null(), "{w}");

        // lab list --json: the same labs, same schema.
        let (code, out, _) = run(&mut lab(&["list", "--json"]));
        assert_eq!(code, 0);
        let list: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(list["kind"], "lab-list");
        assert_eq!(list["labs"].as_array().unwrap().len(), labs.len());
        assert_eq!(list["labs"][0]["status"], "running");
    });
    let _ = run(&mut lab(&["stop"]));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// `lab provision cloud-init --ssh-key K.pub` records the key for `lab class`, which then uses
/// K without -i; without --ssh-key, `lab class` says in one line how to add a key. Neither
/// prints a password. Hosts under .invalid never resolve: each row says so, within the timeout.
#[test]
fn class_uses_the_key_recorded_at_provisioning() {
    let root = std::env::temp_dir().join(format!("lab-class-prov-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let bins = root.join("bins");
    std::fs::create_dir_all(&bins).unwrap();
    let mut names = vec!["lab", "lab-workload"];
    names.extend(lab_probes::requirements::TOOLS.iter().map(|t| t.name));
    for n in names {
        std::fs::write(bins.join(n), format!("#!/bin/sh\necho {n}\n")).unwrap();
    }
    ssh_keygen(&root.join("teacher"));
    let provision = |out: &str, key: bool| {
        let mut c = cmd("lab");
        c.args([
            "provision",
            "cloud-init",
            "--students",
            "2",
            "--domain",
            "invalid",
        ])
        .args([
            "--payload-url",
            "http://10.0.2.2:8000/lab-payload.tar.gz",
            "--out",
        ])
        .arg(root.join(out))
        .arg("--bin-dir")
        .arg(&bins);
        if key {
            c.arg("--ssh-key").arg(root.join("teacher.pub"));
        }
        let (code, stdout, err) = run(&mut c);
        assert_eq!(code, 0, "{stdout}{err}");
        stdout
    };
    let said = provision("keyed", true);
    assert!(said.contains("lab class watch --class"), "{said}");
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("keyed/class.json")).unwrap())
            .unwrap();
    assert_eq!(info["identity"], root.join("teacher").to_str().unwrap());
    let passwords: Vec<String> = std::fs::read_to_string(root.join("keyed/roster.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().to_string())
        .collect();

    let timeout = 6.0;
    let status = |dir: &str| {
        let t0 = Instant::now();
        let (code, out, err) = run(cmd("lab")
            .args([
                "class",
                "status",
                "--json",
                "--timeout",
                &timeout.to_string(),
                "--class",
            ])
            .arg(root.join(dir))
            .stdin(Stdio::null()));
        assert!(t0.elapsed().as_secs_f64() < timeout + MARGIN);
        assert_eq!(code, 0, "{err}");
        for p in &passwords {
            assert!(
                !out.contains(p.as_str()) && !err.contains(p.as_str()),
                "password shown"
            );
        }
        (serde_json::from_str::<Value>(&out).unwrap(), err)
    };
    let (doc, err) = status("keyed");
    assert!(
        err.trim().is_empty(),
        "nothing to say with a recorded key: {err}"
    );
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert!(r["host"].as_str().unwrap().ends_with(".invalid"));
        let e = r["error"].as_str().unwrap();
        assert!(
            e.starts_with("unknown host") || e.starts_with("timeout"),
            "{e}"
        );
    }

    provision("plain", false);
    let (doc, err) = status("plain");
    assert_eq!(doc["rows"].as_array().unwrap().len(), 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("provisioned without --ssh-key") && err.contains("ssh-copy-id"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// The short version of the 40-VM benchmark (tests/bench/class-status.sh): 3 hosts. Every host
/// answers in every run, the table has its rows and the target line, and the script leaves no
/// account behind; the timing is the benchmark's to report, not this test's.
#[test]
fn class_status_benchmark_runs_short() {
    if !require_root("class_status_benchmark_runs_short") {
        return;
    }
    let (code, out, err) = run(Command::new("bash")
        .arg(lab_tests::repo_root().join("tests/bench/class-status.sh"))
        .arg("3")
        .arg(bin("lab"))
        .stdin(Stdio::null()));
    assert_eq!(code, 0, "class-status.sh 3:\n{out}\n{err}");
    for run in ["first", "second", "third", "one at a time"] {
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("| {run}")))
            .unwrap_or_else(|| panic!("no row {run}:\n{out}"));
        assert!(
            row.contains("| 3/3 |"),
            "{run}: not every host answered:\n{out}"
        );
    }
    assert!(
        out.lines().any(|l| l.starts_with("- OK: 3 reachable hosts")
            || l.starts_with("- MISSED: 3 reachable hosts")),
        "{out}"
    );
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(
        !passwd.lines().any(|l| l.starts_with("lcb0")),
        "the benchmark left accounts behind"
    );
}
