//! Labs 4-5 with real bpftrace: the starter tools (tools/bpftrace/*.bt) see the events of
//! workloads driven here, and `lab check 4a..5b --tool` passes every reference solution, fails
//! every broken variant with the right explanation, and leaves no bpftrace behind.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use lab_tests::{cmd, root_test, run};

pub(crate) mod attach;
mod from_labs;
mod hostile;
mod syscalls;

fn repo() -> PathBuf {
    lab_tests::repo_root()
}

/// A scratch directory unique to this test run (tool copies live here, so leftover bpftrace
/// processes are recognisable by their command line).
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lab-bt-test-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// bpftrace processes whose command line mentions `dir`.
fn bpftrace_left(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("bpftrace") && c.contains(&needle))
        .collect()
}

/// Run a starter tool: wait until bpftrace says it attached every probe, run `workload`, then
/// Ctrl-C and return everything it printed.
fn run_starter(name: &str, dir: &Path, workload: impl FnOnce()) -> String {
    let tool = dir.join(name);
    std::fs::copy(repo().join("tools/bpftrace").join(name), &tool).unwrap();
    let traced = attach::start(&[tool.as_os_str()], name);
    workload();
    std::thread::sleep(Duration::from_millis(300));
    let out = traced.stop();
    let (status, err) = (out.status, out.stderr);
    assert!(
        status.success() || status.code().is_none(),
        "{name} failed: {err}"
    );
    assert!(
        !err.lines()
            .any(|l| l.contains("ERROR") && !l.contains("RLIMIT_MEMLOCK")),
        "{name}: {err}"
    );
    out.stdout
}

fn sh(script: &str) {
    let st = Command::new("sh").arg("-c").arg(script).status().unwrap();
    assert!(st.success(), "{script}");
}

#[test]
fn starter_tools_see_the_events_of_a_workload() {
    let Some(_g) = root_test("bpftrace::starter_tools_see_the_events_of_a_workload") else {
        return;
    };
    let dir = scratch("starters");
    let me = std::process::id();

    // execsnoop: N execs of a binary with a unique name.
    let exe = dir.join(format!("uniq-true-{me}"));
    std::fs::copy("/bin/true", &exe).unwrap();
    let n = 3;
    let out = run_starter("execsnoop.bt", &dir, || {
        for _ in 0..n {
            Command::new(&exe).status().unwrap();
        }
    });
    assert_eq!(
        out.matches(&format!("uniq-true-{me}")).count(),
        n,
        "execsnoop.bt:\n{out}"
    );

    // opensnoop: a unique path, opened twice (once missing: ERR 2).
    let file = dir.join(format!("opened-{me}.txt"));
    let out = run_starter("opensnoop.bt", &dir, || {
        let _ = std::fs::File::open(&file);
        std::fs::write(&file, "x").unwrap();
        std::fs::File::open(&file).unwrap();
    });
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(&format!("opened-{me}.txt")))
        .collect();
    assert!(lines.len() >= 3, "opensnoop.bt:\n{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().nth(3) == Some("2")),
        "no ENOENT line: {lines:?}"
    );

    // biolatency and bitesize: direct writes of 64 KiB.
    // On disk: Debian 13's /tmp is tmpfs, where direct writes never reach a block device.
    let blk = lab_tests::disk_dir().join(format!("lab-bt-blk-{me}.dat"));
    let dd = format!(
        "dd if=/dev/zero of={} bs=64k count=40 oflag=direct status=none",
        blk.display()
    );
    let out = run_starter("biolatency.bt", &dir, || sh(&dd));
    let total: u64 = out
        .lines()
        .filter(|l| l.starts_with('['))
        .filter_map(|l| l.split(')').nth(1).or_else(|| l.split(']').nth(1)))
        .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    assert!(
        out.contains("@usecs") && total >= 40,
        "biolatency.bt: {total} I/Os\n{out}"
    );
    let out = run_starter("bitesize.bt", &dir, || sh(&dd));
    let _ = std::fs::remove_file(&blk);
    assert!(out.contains("@kbytes[dd]"), "bitesize.bt:\n{out}");

    // killsnoop: SIGUSR1 (10) to a sleeping child.
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let target = sleeper.id();
    let out = run_starter("killsnoop.bt", &dir, || unsafe {
        libc::kill(target as i32, libc::SIGUSR1);
    });
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(
        out.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 6 && f[3] == "10" && f[4] == target.to_string() && f[5] == "0"
        }),
        "killsnoop.bt: no kill of {target} with signal 10\n{out}"
    );

    // runqlat and syscount: histograms and counts of a busy few hundred ms.
    let out = run_starter("runqlat.bt", &dir, || {
        sh("for i in 1 2 3 4; do (i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done) & done; wait")
    });
    assert!(out.contains("@usecs"), "runqlat.bt:\n{out}");
    let out = run_starter("syscount.bt", &dir, || {
        sh("ls -R /usr/share/doc > /dev/null")
    });
    assert!(
        out.contains("@syscall[") && out.contains("@process["),
        "syscount.bt:\n{out}"
    );

    // vfsstat: one line per second.
    let out = run_starter("vfsstat.bt", &dir, || {
        std::thread::sleep(Duration::from_millis(3300))
    });
    // HH:MM:SS of each per-second line. Stopping the tool may take a while on a busy machine
    // (more lines), and interval timers jitter in a TCG guest (two lines in one second after a
    // late one), so: at least 2 lines, and no more than the seconds they span, plus slack.
    let secs: Vec<u32> = out
        .lines()
        .filter(|l| l.len() > 8 && l.as_bytes()[2] == b':' && l.split_whitespace().count() == 6)
        .filter_map(|l| {
            let t: Vec<u32> = l[..8].split(':').filter_map(|x| x.parse().ok()).collect();
            (t.len() == 3).then(|| t[0] * 3600 + t[1] * 60 + t[2])
        })
        .collect();
    let span = match (secs.first(), secs.last()) {
        (Some(a), Some(b)) => (b + 86_400 - a) % 86_400,
        _ => 0,
    };
    assert!(
        secs.len() >= 2 && secs.len() as u32 <= span + 2,
        "vfsstat.bt: {} per-second lines over {span} s\n{out}",
        secs.len()
    );

    assert!(
        bpftrace_left(&dir).is_empty(),
        "bpftrace left running: {:?}",
        bpftrace_left(&dir)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `lab check EX --tool FILE --json` on a copy of FILE: (exit code, JSON report, seconds taken).
fn check(ex: &str, src: &Path, dir: &Path) -> (i32, serde_json::Value, f64) {
    let tool = dir.join(src.file_name().unwrap());
    std::fs::copy(src, &tool).unwrap();
    let t = Instant::now();
    let (code, stdout, stderr) = run(cmd("lab")
        .args(["check", ex, "--tool"])
        .arg(&tool)
        .arg("--json"));
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{ex}: not JSON ({e}): {stdout}\n{stderr}"));
    (code, json, t.elapsed().as_secs_f64())
}

#[test]
fn reference_solutions_pass() {
    let Some(_g) = root_test("bpftrace::reference_solutions_pass") else {
        return;
    };
    let dir = scratch("solutions");
    for ex in ["4a", "4b", "4c", "4d", "5a", "5b"] {
        let (code, json, _) = check(ex, &repo().join(format!("labs/solutions/{ex}.bt")), &dir);
        assert_eq!(
            json["passed"], true,
            "solution {ex} did not pass:\n{json:#}"
        );
        assert_eq!(code, 0, "{ex}");
        // Every check names what it compared.
        assert!(
            json["checks"].as_array().is_some_and(|c| c.len() >= 3),
            "{json:#}"
        );
    }
    assert!(
        bpftrace_left(&dir).is_empty(),
        "bpftrace left running: {:?}",
        bpftrace_left(&dir)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn broken_variants_fail_with_the_right_explanation() {
    let Some(_g) = root_test("bpftrace::broken_variants_fail_with_the_right_explanation") else {
        return;
    };
    let dir = scratch("broken");
    // (exercise, file, phrase the verdict must contain)
    let cases = [
        ("4a", "4a-usecs.bt", "milliseconds are nsecs/1000000"),
        (
            "4a",
            "4a-no-such-tracepoint.bt",
            "tracepoint not found: block:block_rq_done",
        ),
        ("4b", "4b-no-interval.bt", "interval:s:1"),
        ("4c", "4c-unlink-only.bt", "sys_enter_unlinkat"),
        ("4d", "4d-exec-only.bt", "sched_process_fork"),
        ("5a", "5a-sectors.bt", "512-byte sectors"),
        ("5b", "5b-no-close.bt", "subtract the descriptors closed"),
    ];
    for (ex, file, phrase) in cases {
        let (code, json, _) = check(ex, &repo().join("labs/solutions/broken").join(file), &dir);
        assert_eq!(json["passed"], false, "{file} passed {ex}:\n{json:#}");
        assert_eq!(code, 1, "{file}");
        assert!(
            json.to_string().contains(phrase),
            "{file}: verdict lacks {phrase:?}:\n{json:#}"
        );
    }
    // The unknown tracepoint is reported on its own line of the tool, with a hint.
    let (_, json, _) = check(
        "4a",
        &repo().join("labs/solutions/broken/4a-no-such-tracepoint.bt"),
        &dir,
    );
    assert_eq!(
        json["errors"][0]["source"], "tracepoint:block:block_rq_done",
        "{json:#}"
    );
    assert!(
        json["errors"][0]["hint"]
            .as_str()
            .unwrap()
            .contains("bpftrace -l"),
        "{json:#}"
    );
    assert!(
        bpftrace_left(&dir).is_empty(),
        "bpftrace left running: {:?}",
        bpftrace_left(&dir)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn syntax_error_and_flood_get_their_verdicts_within_the_timeout() {
    let Some(_g) =
        root_test("bpftrace::syntax_error_and_flood_get_their_verdicts_within_the_timeout")
    else {
        return;
    };
    let dir = scratch("limits");
    let (code, json, secs) = check(
        "4a",
        &repo().join("labs/solutions/broken/syntax-error.bt"),
        &dir,
    );
    assert_eq!(
        (code, &json["passed"]),
        (1, &serde_json::json!(false)),
        "{json:#}"
    );
    let e = &json["errors"][0];
    assert!(
        e["message"].as_str().unwrap().contains("syntax error"),
        "{json:#}"
    );
    // bpftrace stumbles on the probe after the unclosed one: that line of the file.
    let src =
        std::fs::read_to_string(repo().join("labs/solutions/broken/syntax-error.bt")).unwrap();
    let second_probe = src
        .lines()
        .position(|l| l.starts_with("tracepoint:block:block_rq_complete"))
        .unwrap()
        + 1;
    assert_eq!(e["line"], second_probe, "{json:#}");
    assert!(secs < 10.0, "syntax error took {secs:.1} s");

    // Prints on every syscall: stopped at the flood limit, reported, nothing left attached.
    let (code, json, secs) = check("4c", &repo().join("labs/solutions/broken/floods.bt"), &dir);
    assert_eq!(code, 1, "{json:#}");
    let text = json.to_string();
    assert!(text.contains("was stopped"), "{json:#}");
    assert!(
        text.contains("bpftrace and its probes are gone"),
        "{json:#}"
    );
    assert!(secs < 20.0, "flood took {secs:.1} s");
    assert!(
        bpftrace_left(&dir).is_empty(),
        "bpftrace left running: {:?}",
        bpftrace_left(&dir)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// host only: bad arguments and a text, nothing loaded
#[test]
fn bad_input_and_the_open_problem() {
    // No root needed: both answer before anything is loaded.
    let (code, _, stderr) =
        run(cmd("lab").args(["check", "4c", "--tool", "/nonexistent/rmsnoop.bt"]));
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--tool /nonexistent/rmsnoop.bt"),
        "{stderr}"
    );

    let tool = scratch("open").join("x.bt");
    std::fs::write(&tool, "BEGIN { exit(); }\n").unwrap();
    let (code, stdout, stderr) = run(cmd("lab").args(["check", "5c", "--tool"]).arg(&tool));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("No automatic verdict"), "{stdout}");
    let _ = std::fs::remove_dir_all(tool.parent().unwrap());
}
