//! The workloads make the system calls the labs name, whichever libc built them. Through libc
//! they differ: musl's open() is open(2) where glibc's is openat(2), musl's fork() is fork(2)
//! where glibc's is clone(2). Lab VMs run the static musl payload, developers a glibc build, so
//! a student's tool that traces openat must see the same workload on both. Each build traced:
//! this suite's binaries (glibc here; in a lab-VM guest LAB_TEST_BIN_DIR points at the static
//! payload) and, on a build machine, the static payload too, built as provision/build-static.sh
//! builds it for the VMs (LAB_VM_BIN_DIR reuses one built earlier). Never skipped: a missing
//! payload is built, which takes minutes the first time.
use std::{
    collections::BTreeMap,
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use lab_tests::{root_test, run};

use super::{attach, bpftrace_left, repo, scratch};

/// Syscalls counted: the ones the labs name, and the libc-dependent alternatives to them.
const COUNTED: &[(&str, libc::c_long)] = &[
    ("open", libc::SYS_open),
    ("openat", libc::SYS_openat),
    ("openat2", libc::SYS_openat2),
    ("creat", libc::SYS_creat),
    ("read", libc::SYS_read),
    ("pread64", libc::SYS_pread64),
    ("write", libc::SYS_write),
    ("writev", libc::SYS_writev),
    ("pwrite64", libc::SYS_pwrite64),
    ("fsync", libc::SYS_fsync),
    ("fdatasync", libc::SYS_fdatasync),
    ("fork", libc::SYS_fork),
    ("vfork", libc::SYS_vfork),
    ("clone", libc::SYS_clone),
    ("clone3", libc::SYS_clone3),
];

/// The static payload's directory (see the module comment).
fn static_payload() -> PathBuf {
    if let Some(d) = std::env::var_os("LAB_VM_BIN_DIR") {
        return PathBuf::from(d);
    }
    let script = repo().join("provision/build-static.sh");
    let (code, out, err) = run(Command::new(&script).stdin(Stdio::null()));
    assert_eq!(code, 0, "{} failed:\n{err}", script.display());
    PathBuf::from(out.lines().last().unwrap_or_default().trim())
}

/// The values a lab's `[seed]` table picks `key` from (`key = { pick = ["a", "b"] }`): what the
/// lab may ask about, so what a workload must do.
fn picks(lab: &str, key: &str) -> Vec<String> {
    let path = repo().join("labs").join(lab);
    let text = std::fs::read_to_string(&path).unwrap();
    let prefix = format!("{key} = {{ pick = [");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&prefix))
        .unwrap_or_else(|| panic!("{}: no `{prefix}` line", path.display()));
    let v: Vec<String> = line
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(
        !v.is_empty(),
        "{}: empty pick list for {key}",
        path.display()
    );
    v
}

/// Run `bin` (a workload binary) as `comm` with `args` for `secs` while bpftrace counts its
/// COUNTED syscalls; then SIGKILL it. Returns syscall -> calls.
fn count_syscalls(bin: &Path, comm: &str, args: &[&str], secs: f64) -> BTreeMap<String, u64> {
    let dir = scratch(&format!("sys-{comm}"));
    let link = dir.join(comm);
    std::os::unix::fs::symlink(bin, &link).unwrap();
    // One raw_syscalls probe, by number: a tracepoint per syscall would take seconds to detach
    // on a busy machine.
    let prog = format!(
        "tracepoint:raw_syscalls:sys_enter /comm == \"{comm}\"/ {{ @[args->id] = count(); }}"
    );
    let traced = attach::start(
        &[
            OsStr::new("-f"),
            OsStr::new("json"),
            OsStr::new("-e"),
            OsStr::new(&prog),
        ],
        comm,
    );
    let mut child = Command::new(&link)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let _ = child.kill();
    let _ = child.wait();
    let out = traced.stop();
    let mut counts = BTreeMap::new();
    for line in out.stdout.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(m) = v["data"]["@"].as_object() {
            for (nr, calls) in m {
                let nr: libc::c_long = nr.parse().unwrap_or(-1);
                if let Some((name, _)) = COUNTED.iter().find(|(_, n)| *n == nr) {
                    counts.insert(name.to_string(), calls.as_u64().unwrap_or(0));
                }
            }
        }
    }
    assert!(
        !counts.is_empty(),
        "{comm}: nothing counted:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
    counts
}

fn n(counts: &BTreeMap<String, u64>, call: &str) -> u64 {
    counts.get(call).copied().unwrap_or(0)
}

/// Lab 1's writer: opens through openat (what opensnoop traces), writes with write(2), and syncs
/// with exactly the call the lab asks about. Lab 3's spinner: exactly its seeded call.
fn check_workloads(dir: &Path, tag: &str) {
    let bin = dir.join("lab-workload");
    assert!(bin.exists(), "{} is missing", bin.display());
    let data = scratch(&format!("wl-{tag}"));
    let syncs = picks("01-disk-latency.md", "sync");
    for (i, sync) in syncs.iter().enumerate() {
        let comm = format!("lw{}{tag}{i}", std::process::id() % 100_000);
        let file = data.join("app.log");
        let c = count_syscalls(
            &bin,
            &comm,
            &[
                "appendlog",
                "--file",
                file.to_str().unwrap(),
                "--record-size",
                "256",
                "--sync",
                sync,
                "--gap-us",
                "2000",
                "--dump-every-ms",
                "300",
                "--dump-size",
                "64k",
                "--seed",
                "7",
            ],
            1.5,
        );
        let what = format!("{} appendlog --sync {sync}: {c:?}", bin.display());
        assert!(n(&c, "openat") >= 2, "reopens its log with openat: {what}");
        for other in ["open", "creat", "openat2"] {
            assert_eq!(n(&c, other), 0, "opens with {other}, not openat: {what}");
        }
        assert!(n(&c, sync) >= 10, "syncs with {sync}: {what}");
        for other in syncs.iter().filter(|s| *s != sync) {
            assert_eq!(n(&c, other), 0, "syncs with {other} too: {what}");
        }
        assert!(n(&c, "write") >= 10, "appends with write(2): {what}");
    }
    let calls = picks("03-runqueue-latency.md", "syscall");
    for (i, call) in calls.iter().enumerate() {
        let comm = format!("ls{}{tag}{i}", std::process::id() % 100_000);
        let c = count_syscalls(
            &bin,
            &comm,
            &[
                "spin",
                "--threads",
                "1",
                "--cpu",
                "0",
                "--syscall",
                call,
                "--seed",
                "7",
            ],
            0.4,
        );
        let what = format!("{} spin --syscall {call}: {c:?}", bin.display());
        let mine = n(&c, call);
        assert!(mine >= 1000, "spins on {call}: {what}");
        // Start-up makes a few others (the dynamic loader's pread64s); the spin dwarfs them.
        for other in calls.iter().filter(|s| *s != call) {
            assert!(n(&c, other) * 100 < mine, "spins on {other} too: {what}");
        }
        assert_eq!(n(&c, "open"), 0, "opens with open(2), not openat: {what}");
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// `lab check` run by `lab` from `dir`: the fd leaker opens with openat (the broken 5b variant,
/// which traces only openat, fails for the right reason), and 4d's workers are made by clone(2)
/// (a procsnoop that traces clone passes).
fn check_lab_workloads(dir: &Path, tag: &str) {
    let lab = dir.join("lab");
    let work = scratch(&format!("chk-{tag}"));
    let check = |ex: &str, tool: &Path| {
        let (code, out, err) = run(Command::new(&lab)
            .args(["check", ex, "--tool"])
            .arg(tool)
            .arg("--json"));
        let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| {
            panic!("{} check {ex}: not JSON ({e}): {out}\n{err}", lab.display())
        });
        (code, json)
    };
    let no_close = work.join("5b-no-close.bt");
    std::fs::copy(
        repo().join("labs/solutions/broken/5b-no-close.bt"),
        &no_close,
    )
    .unwrap();
    let (code, json) = check("5b", &no_close);
    assert_eq!(code, 1, "{}: {json:#}", lab.display());
    assert!(
        json.to_string().contains("subtract the descriptors closed"),
        "{}: 5b-no-close.bt (openat only) should fail for counting every open:\n{json:#}",
        lab.display()
    );
    let clones = work.join("clonesnoop.bt");
    std::fs::write(
        &clones,
        "tracepoint:syscalls:sys_exit_clone /args->ret > 0/ { printf(\"%d forked %d\\n\", pid, args->ret); }\n",
    )
    .unwrap();
    let (code, json) = check("4d", &clones);
    assert_eq!(
        (code, &json["passed"]),
        (0, &serde_json::json!(true)),
        "{}: a procsnoop tracing clone(2) should see 4d's workers:\n{json:#}",
        lab.display()
    );
    assert!(bpftrace_left(&work).is_empty(), "bpftrace left running");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn workloads_make_the_syscalls_the_labs_name_whichever_libc_built_them() {
    let Some(_g) =
        root_test("bpftrace::workloads_make_the_syscalls_the_labs_name_whichever_libc_built_them")
    else {
        return;
    };
    let mut builds = vec![("b", lab_tests::bin_dir())];
    if std::env::var_os("LAB_TEST_BIN_DIR").is_none() {
        builds.push(("s", static_payload()));
    }
    for (tag, dir) in &builds {
        check_workloads(dir, tag);
        check_lab_workloads(dir, tag);
    }
}
