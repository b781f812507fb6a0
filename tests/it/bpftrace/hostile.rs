//! Hostile student tools for `lab check 4x --tool`: each gets a verdict within the time limit,
//! `lab check` stays within a memory bound, nothing is left running, and no tool runs with
//! bpftrace's --unsafe (system() is refused).
use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use lab_tests::{bin, root_test};

use super::{bpftrace_left, scratch};

/// `lab check` runs the tool for its exercise's window (a few seconds), then Ctrl-C + 5 s grace;
/// a verdict later than this means something waited on the tool.
const VERDICT_WITHIN: Duration = Duration::from_secs(45);
/// Peak RSS of `lab check` itself (not bpftrace's): it keeps at most a few MiB of a tool's
/// output; a reference solution's check peaks at about 20 MiB.
const RSS_BOUND_KIB: i64 = 64 * 1024;

struct Verdict {
    code: i32,
    json: serde_json::Value,
    secs: f64,
    max_rss_kib: i64,
}

/// Run `lab check EX --tool FILE --json` on `src` written into `dir`; `during` gets the lab
/// check's PID while it runs. Peak RSS is `lab check`'s own VmHWM, sampled until it exits
/// (wait4's ru_maxrss would include bpftrace, which it reaps).
fn hostile(ex: &str, name: &str, src: &str, dir: &Path, during: impl FnOnce(u32)) -> Verdict {
    let tool = dir.join(name);
    std::fs::write(&tool, src).unwrap();
    let out = dir.join(format!("{name}.json"));
    let t = Instant::now();
    let child = Command::new(bin("lab"))
        .args(["check", ex, "--tool"])
        .arg(&tool)
        .arg("--json")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let hwm = std::thread::spawn(move || {
        let mut peak = 0;
        // Until the process is a zombie: its status then has no VmHWM line.
        while let Some(kib) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("VmHWM:")
                        .map(|v| v.trim().trim_end_matches(" kB").parse::<i64>().unwrap_or(0))
                })
            })
        {
            peak = peak.max(kib);
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    during(pid);
    let mut child = child;
    let code = child.wait().unwrap().code().unwrap_or(-1);
    let max_rss_kib = hwm.join().unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: lab check printed no JSON report ({e}): {text:.2000}"));
    Verdict {
        code,
        json,
        secs: t.elapsed().as_secs_f64(),
        max_rss_kib,
    }
}

/// A bpftrace process running a tool from `dir`, once it exists.
fn bpftrace_pid(dir: &Path, within: Duration) -> Option<i32> {
    let needle = dir.to_string_lossy().into_owned();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(c) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains("bpftrace") && c.contains(&needle) {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Processes whose command line contains `needle` (what a tool may have started).
fn running(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

fn assert_bounded(name: &str, v: &Verdict, dir: &Path) {
    assert_eq!(v.code, 1, "{name}: a failed verdict exits 1:\n{:#}", v.json);
    assert_eq!(v.json["passed"], false, "{name}:\n{:#}", v.json);
    assert!(
        v.secs < VERDICT_WITHIN.as_secs_f64(),
        "{name}: verdict after {:.1} s",
        v.secs
    );
    assert!(
        v.max_rss_kib < RSS_BOUND_KIB,
        "{name}: lab check peaked at {} MiB",
        v.max_rss_kib >> 10
    );
    assert!(
        bpftrace_left(dir).is_empty(),
        "{name}: bpftrace left: {:?}",
        bpftrace_left(dir)
    );
    eprintln!(
        "{name}: verdict in {:.1} s, lab check peak RSS {} MiB",
        v.secs,
        v.max_rss_kib >> 10
    );
}

#[test]
fn hostile_tools_get_a_verdict_bounded_in_time_and_memory() {
    let Some(_g) =
        root_test("bpftrace::hostile::hostile_tools_get_a_verdict_bounded_in_time_and_memory")
    else {
        return;
    };
    let dir = scratch("hostile");

    // Towards 100 MB: ~300-byte lines on every syscall of the machine, bpftrace's own write()s
    // included, so it feeds itself as fast as it can print (a timer-driven flood is too slow to
    // trip the cap in a TCG guest, where 1 ms timers fire far less often).
    let x = "x".repeat(60);
    let flood = format!(
        "#!/usr/bin/env bpftrace\ntracepoint:raw_syscalls:sys_enter {{ printf(\"%s%s%s%s\\n\", \"{x}\", \"{x}\", \"{x}\", \"{x}\"); }}\n"
    );
    let v = hostile("4c", "hundred-mb.bt", &flood, &dir, |_| {});
    assert_bounded("hundred-mb.bt", &v, &dir);
    assert!(v.json.to_string().contains("was stopped"), "{:#}", v.json);

    // One gigantic line: a map with thousands of long string keys printed as one JSON record,
    // over and over.
    let giant = "tracepoint:raw_syscalls:sys_enter { @k[nsecs % 50000, \"a-long-key-to-make-the-record-long\"] = count(); }\n\
                 interval:ms:20 { print(@k); }\n";
    let v = hostile("4c", "giant-line.bt", giant, &dir, |_| {});
    assert_bounded("giant-line.bt", &v, &dir);

    // Binary garbage: the bytes other processes write, printed as strings.
    let garbage =
        "tracepoint:syscalls:sys_enter_write { printf(\"%s\\n\", str(args->buf, 48)); }\n";
    let mut writer = Command::new("sh")
        .args([
            "-c",
            "while :; do head -c 4096 /dev/urandom > /dev/null; done",
        ])
        .spawn()
        .unwrap();
    let v = hostile("4c", "garbage.bt", garbage, &dir, |_| {});
    let _ = writer.kill();
    let _ = writer.wait();
    assert_bounded("garbage.bt", &v, &dir);

    // Never exits on Ctrl-C: the tool is stopped (SIGSTOP) once attached, so it can't react.
    let v = hostile(
        "4c",
        "stuck.bt",
        "tracepoint:syscalls:sys_enter_unlinkat { @n = count(); }\n",
        &dir,
        |_| {
            let pid = bpftrace_pid(&dir, Duration::from_secs(20)).expect("bpftrace never started");
            // Once its probe is attached (a perf_event or bpf_link descriptor shows it).
            let attached = || {
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|e| {
                        std::fs::read_link(e.path()).is_ok_and(|t| {
                            let t = t.to_string_lossy();
                            t.contains("perf_event") || t.contains("bpf_link")
                        })
                    })
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while !attached() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            // bpftrace says "attached" right after; the exercise then runs for a few seconds.
            std::thread::sleep(Duration::from_millis(400));
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        },
    );
    assert_bounded("stuck.bt", &v, &dir);
    assert!(
        v.json.to_string().contains("after Ctrl-C: killed"),
        "{:#}",
        v.json
    );

    // system() needs --unsafe, which lab never passes: refused, and nothing it named runs.
    let marker = format!("lab-hostile-{}", std::process::id());
    let v = hostile(
        "4c",
        "system.bt",
        &format!("BEGIN {{ system(\"sleep 300 {marker} &\"); }}\n"),
        &dir,
        |_| {},
    );
    assert_bounded("system.bt", &v, &dir);
    assert!(v.json.to_string().contains("unsafe"), "{:#}", v.json);
    assert!(
        running(&format!("sleep 300 {marker}")).is_empty(),
        "system() ran"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
