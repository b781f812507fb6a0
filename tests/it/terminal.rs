//! What a student sees, in a real terminal (issue 24): lab 1 driven through tmux at 80x24 and
//! 120x40 as a student types it (start, hint, an interactive check answered with send-keys, one
//! choice typed as words, status, tools, list, a BCC tool, a tool run without root, the status
//! watch), read back with capture-pane: no line wider than the pane, no raw markdown, tables
//! aligned, answers graded. Then the same commands piped: plain text, 80 columns.
//! `LAB_TERMINAL_CAPTURES=DIR` also writes the 80-column screens there (docs/terminal/).
mod look;
mod tmux;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use lab_tests::{bin, bin_dir, cmd, root_test, run};
use serde_json::Value;
use tmux::{Shown, Tmux};

const SEED: &str = "2424";
const CHOICE_IN_WORDS: &str = "eliminate the fsync per record";
const CHOICE_TAKEN: &str = "→ choice 6: eliminate the sync (fsync/fdatasync) per record";
const STATUS_HEAD: &[&str] = &[
    "workload", "process", "pid", "cpu", "memory", "read/s", "write/s", "state",
];
const TOOLS_HEAD: &[&str] = &["category", "tool", "status", "what it shows"];
const LIST_HEAD: &[&str] = &["lab", "title", "planned", "spent", "progress"];
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// A state dir on disk (lab 1's writer must reach the block layer); stops the lab when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = lab_tests::disk_dir().join(format!("lab-it-terminal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn lab(&self) -> std::process::Command {
        let mut c = cmd("lab");
        c.env("LAB_STATE_DIR", &self.0)
            .env_remove("NO_COLOR")
            .env_remove("COLUMNS")
            .env_remove("LAB_LABS_DIR");
        c
    }
    /// A seeded value of the running session ("comm", "file", "sync").
    fn seeded(&self, key: &str) -> String {
        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(self.0.join("state.json")).unwrap())
                .unwrap();
        let v = &state["session"]["vars"][key];
        v.as_str().map_or_else(|| v.to_string(), str::to_string)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = run(self.lab().arg("stop"));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Keep a screen for docs/terminal/ when asked to, under the command line that made it.
fn keep(name: &str, typed: &str, shown: &Shown) {
    if let Some(dir) = std::env::var_os("LAB_TERMINAL_CAPTURES") {
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!("$ {typed}\n{}\n", shown.text.trim_end());
        std::fs::write(Path::new(&dir).join(name), text).unwrap();
    }
}

/// A lab command's screen: it ran, fits the pane, holds no raw markdown.
fn looks_right(t: &Tmux, shown: &Shown, what: &str) {
    assert_eq!(shown.code, 0, "{what} failed:\n{}", shown.text);
    look::fits(&shown.text, t.width, what);
    look::no_markup(&shown.text, what);
}

#[test]
fn lab1_as_a_student_sees_it_at_80x24_and_120x40() {
    let Some(_g) = root_test("terminal::lab1_as_a_student_sees_it_at_80x24_and_120x40") else {
        return;
    };
    let s = Scratch::new();
    let state = s.0.display().to_string();
    let env = [("LAB_STATE_DIR", state.as_str())];
    let mut t = Tmux::start("80", 80, 24, &bin_dir(), &env);

    let start = t.run(&format!("lab start 1 --seed {SEED}"), SECS(90));
    looks_right(&t, &start, "lab start 1");
    assert!(start.text.contains("Suggested tools") && start.text.contains("Lab 1 is running"));
    assert!(
        look::bordered(&start.text, "lab start 1") >= 1,
        "{}",
        start.text
    );
    keep(
        "01-lab-start-1.txt",
        &format!("lab start 1 --seed {SEED}"),
        &start,
    );

    let hint = t.run("lab hint", SECS(10));
    looks_right(&t, &hint, "lab hint");
    assert!(hint.text.contains("Hint 1 of 4"), "{}", hint.text);
    keep("02-lab-hint.txt", "lab hint", &hint);

    let check = check_in_words(&mut t, &s);
    keep("03-lab-check-1.txt", "lab check 1", &check);
    common_screens(&mut t, "80", &s);
    watch(&mut t);
    colour_only_without_no_color(&mut t);

    let mut wide = Tmux::start("120", 120, 40, &bin_dir(), &env);
    let again = wide.run("lab start 1", SECS(30));
    looks_right(&wide, &again, "lab start 1 (running) at 120");
    assert!(again.text.contains("already running") && look::bordered(&again.text, "120") >= 1);
    let hint = wide.run("lab hint", SECS(10));
    looks_right(&wide, &hint, "lab hint at 120");
    check_by_number(&mut wide, &s);
    common_screens(&mut wide, "120", &s);
    drop((t, wide));

    piped(&s);
}

/// `lab check 1` answered as a student types: a size with a unit it cannot read (asked again),
/// an ambiguous choice (asked again, with the choices), then the choice in the student's words.
fn check_in_words(t: &mut Tmux, s: &Scratch) -> Shown {
    let n = t.begin("lab check 1");
    let answers = [
        ("Which process causes the disk I/O", s.seeded("comm")),
        ("Which file does it write to", s.seeded("file")),
        ("typical size of its disk I/O", "4 parsecs".into()),
        ("unknown size unit", "4K".into()),
        ("Which system call", s.seeded("sync")),
        ("How large are the disk I/Os", "1M".into()),
        ("How long does an outlier I/O take", "16 ms".into()),
        ("Which change would help", "I/O".into()),
        ("fits several choices", CHOICE_IN_WORDS.into()),
    ];
    for (asked, typed) in answers {
        t.wait_for(asked, SECS(30), |screen| screen.contains(asked));
        t.type_line(&typed);
    }
    let check = t.finish(n, SECS(90));
    assert!(
        check.code <= 1,
        "lab check 1 failed to run:\n{}",
        check.text
    );
    look::fits(&check.text, t.width, "lab check 1");
    look::no_markup(&check.text, "lab check 1");
    assert!(check.text.contains(CHOICE_TAKEN), "{}", check.text);
    // The choices are listed again under the ambiguous answer.
    assert!(
        check.text.matches("6. eliminate the sync").count() >= 2,
        "{}",
        check.text
    );
    for right in ["process", "file", "sync", "fix"] {
        assert!(
            check.text.contains(&format!("✓ {right} ")),
            "{right} not graded right:\n{}",
            check.text
        );
    }
    for graded in ["io_size", "outlier_size", "outlier_latency"] {
        let mark = |m: &str| check.text.contains(&format!("{m} {graded} "));
        assert!(
            mark("✓") || mark("✗"),
            "{graded} not graded:\n{}",
            check.text
        );
    }
    check
}

/// At 120 columns: the process by its PID, the fix by its number, the rest skipped with Enter.
fn check_by_number(t: &mut Tmux, s: &Scratch) {
    let status: Value = serde_json::from_str(&run(s.lab().args(["status", "--json"])).1).unwrap();
    let pid = status["workloads"][0]["pid"].as_i64().unwrap();
    let n = t.begin("lab check 1");
    t.wait_for("the first question", SECS(30), |sc| {
        sc.contains("(name or PID)")
    });
    t.type_line(&format!("PID {pid}"));
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(300));
        t.type_line("");
    }
    t.wait_for("the choices", SECS(30), |sc| {
        sc.contains("Which change would help")
    });
    t.type_line("6");
    let check = t.finish(n, SECS(90));
    look::fits(&check.text, t.width, "lab check 1 at 120");
    assert!(
        check.text.contains("→ choice 6:") && check.text.contains("✓ fix "),
        "{}",
        check.text
    );
    assert!(
        check.text.contains("✓ process ") && check.text.contains("(no answer)"),
        "{}",
        check.text
    );
}

/// lab status, lab tools, lab list, biolatency, and a tool run without root.
fn common_screens(t: &mut Tmux, size: &str, s: &Scratch) {
    let status = t.run("lab status", SECS(20));
    looks_right(t, &status, "lab status");
    look::grid(&status.text, STATUS_HEAD, "lab status");
    assert!(status.text.contains("Latest check"), "{}", status.text);
    let tools = t.run("lab tools", SECS(20));
    looks_right(t, &tools, "lab tools");
    look::grid(&tools.text, TOOLS_HEAD, "lab tools");
    let list = t.run("lab list", SECS(20));
    looks_right(t, &list, "lab list");
    look::grid(&list.text, LIST_HEAD, "lab list");
    assert!(list.text.contains("right, running"), "{}", list.text);
    let bio = t.run("biolatency -m 1 2", SECS(30));
    assert_eq!(bio.code, 0, "{}", bio.text);
    look::fits(&bio.text, t.width, "biolatency -m 1 2");
    assert!(bio.text.contains("msecs"), "{}", bio.text);
    let unprivileged = t.run(
        &format!(
            "setpriv --reuid=65534 --regid=65534 --clear-groups {} -m 1 2",
            nobody_can_run(&s.0, "biolatency").display()
        ),
        SECS(20),
    );
    assert_eq!(unprivileged.code, 1, "{}", unprivileged.text);
    assert_eq!(
        unprivileged.text.trim(),
        "biolatency: needs root (CAP_BPF and CAP_PERFMON): run it with sudo",
        "a tool without root at {size}"
    );
    if size == "80" {
        for (name, typed, shown) in [
            ("04-lab-status.txt", "lab status", &status),
            ("05-lab-list.txt", "lab list", &list),
            ("06-lab-tools.txt", "lab tools", &tools),
            ("07-biolatency.txt", "biolatency -m 1 2", &bio),
            (
                "08-biolatency-as-nobody.txt",
                "setpriv --reuid=nobody ... biolatency -m 1 2",
                &unprivileged,
            ),
        ] {
            keep(name, typed, shown);
        }
    }
}

/// A copy of one of our tools that any account can run (the build dir may not be reachable).
fn nobody_can_run(scratch: &Path, tool: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let to = dir.join(tool);
    std::fs::copy(bin(tool), &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
    to
}

/// `lab status --watch` redraws in place (the time moves on) and q gives the shell back.
fn watch(t: &mut Tmux) {
    let n = t.begin("lab status --watch --interval 1");
    let running_for = |screen: &str| {
        screen
            .lines()
            .find(|l| l.contains("running for"))
            .map(str::to_string)
    };
    let first = t.wait_for("the watch", SECS(20), |sc| {
        sc.contains("refreshes every 1 s")
    });
    look::fits(&first, t.width, "lab status --watch");
    look::grid(&first, STATUS_HEAD, "lab status --watch");
    let was = running_for(&first).expect("the lab's line");
    t.wait_for("a refresh", SECS(10), |sc| {
        running_for(sc).is_some_and(|l| l != was)
    });
    t.press("q");
    let done = t.finish(n, SECS(10));
    assert_eq!(done.code, 0, "{}", done.text);
    assert!(
        !t.screen().contains("refreshes every"),
        "the watch screen stayed:\n{}",
        t.screen()
    );
}

/// Colour on the terminal; none with NO_COLOR.
fn colour_only_without_no_color(t: &mut Tmux) {
    // The screen of the last command, with its colours as escape sequences.
    let last = |t: &Tmux| {
        let h = t.history(true);
        h[h.rfind("@begin-").unwrap()..].to_string()
    };
    t.run("lab list", SECS(20));
    let coloured = last(t);
    assert!(
        coloured.contains("\x1b[1m"),
        "no bold on the terminal:\n{coloured:?}"
    );
    t.run("NO_COLOR=1 lab list", SECS(20));
    let plain = last(t);
    assert!(
        !plain.contains("\x1b[1m") && !plain.contains("\x1b[3"),
        "colour with NO_COLOR:\n{plain:?}"
    );
}

/// The same commands into a pipe: plain text at 80 columns, tables still aligned; a choice that
/// fits no single choice fails at once, listing them.
fn piped(s: &Scratch) {
    for (args, head) in [
        (&["start", "1"][..], None),
        (&["hint"], None),
        (&["status"], Some(STATUS_HEAD)),
        (&["tools"], Some(TOOLS_HEAD)),
        (&["list"], Some(LIST_HEAD)),
    ] {
        let what = format!("lab {} | cat", args.join(" "));
        let (code, out, err) = run(s.lab().args(args));
        assert_eq!(code, 0, "{what}: {err}");
        look::plain(&out, &what);
        look::fits(&out, 80, &what);
        look::no_markup(&out, &what);
        if let Some(h) = head {
            look::grid(&out, h, &what);
        }
    }
    let (code, out, err) = run(s.lab().args(["check", "1", "--answer", "fix=I/O"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("fits several choices (3, 4)") && err.contains("6. eliminate the sync"),
        "{err}"
    );
    let answer = format!("fix={CHOICE_IN_WORDS}");
    let (code, out, err) = run(s.lab().args(["check", "1", "--answer", &answer]));
    assert!(code <= 1, "{out}{err}");
    look::plain(&out, "lab check 1 --answer | cat");
    look::fits(&out, 80, "lab check 1 --answer | cat");
    assert!(
        err.contains(&format!("--answer {answer}: choice 6: ")) && out.contains("✓ fix "),
        "{out}{err}"
    );
}
