//! stackcount: the stacks of exactly the calls the workload made, per process with -P, folded
//! with -f (and a flame graph), the same counts as bpftrace's; kernel patterns in the guests.
use std::ffi::OsStr;

use lab_tests::{cmd, root_test, run, RunningTool as Tool};

use super::{have_bpftrace, kprobes, n_calls, tmpdir, workload, Workload};

/// Run stackcount with `args` while the workload runs `work` (it stays until the tool ended,
/// so its frames can be named); the tool's stdout.
fn stackcount_during(args: &[&str], work: &[&str], ready: &str) -> String {
    let mut w = Workload::spawn(work);
    let pid = w.pid();
    let mut a = vec!["-p", pid.as_str()];
    a.extend_from_slice(args);
    let tool = Tool::start("stackcount", &a, ready);
    w.go_and_stay();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (out, _) = tool.stop();
    w.finish();
    out
}

#[test]
fn stackcount_counts_each_call_under_its_user_stack_like_bpftrace() {
    let Some(_g) = root_test("stackcount_counts_each_call_under_its_user_stack_like_bpftrace")
    else {
        return;
    };
    let n = n_calls();
    let exe = workload().display().to_string();
    let mut w = Workload::spawn(&["calls", &n.to_string()]);
    let pid = w.pid();
    let bt = have_bpftrace("stackcount").then(|| {
        let prog = format!("uprobe:{exe}:lab_leaf /pid == {pid}/ {{ @[ustack] = count(); }}");
        crate::bpftrace::attach::start(
            &[OsStr::new("-e"), OsStr::new(&prog)],
            "bpftrace stackcount",
        )
    });
    let pattern = format!("{exe}:lab_leaf");
    let tool = Tool::start(
        "stackcount",
        &["-U", "-p", &pid, &pattern],
        "Tracing 1 functions",
    );
    w.go_and_stay();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (out, _) = tool.stop();
    let theirs = bt.map(|b| b.stop().stdout);
    w.finish();
    // At lab_leaf's first instruction the unwinder goes to main past lab_mid (see trace's test).
    assert!(out.contains("\n  lab_leaf\n  main\n"), "{out}");
    let count: u64 = out
        .lines()
        .rev()
        .find(|l| l.starts_with("    ") && l.trim().parse::<u64>().is_ok())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(count, n, "{out}");
    assert!(out.trim_end().ends_with("Detaching..."), "{out}");
    if let Some(t) = theirs {
        let names = super::bpftrace_frames(&t);
        assert_eq!(names[..2], ["lab_leaf", "main"], "bpftrace: {t}");
        assert!(t.trim_end().ends_with(&format!("]: {n}")), "bpftrace: {t}");
    }
}

#[test]
fn stackcount_folded_per_process_and_flame_graph() {
    let Some(_g) = root_test("stackcount_folded_per_process_and_flame_graph") else {
        return;
    };
    let n = n_calls();
    let dir = tmpdir("stackcount");
    let svg = dir.join("leaf.svg");
    let pattern = format!("{}:lab_leaf", workload().display());
    let mut w = Workload::spawn(&["calls", &n.to_string()]);
    let pid = w.pid();
    // -P without -p: one line per process (the workload is the one calling here). Folded
    // output has no header: ready once the uprobe's perf event is open.
    let child = std::process::Command::new(lab_tests::bin("stackcount"))
        .args([
            "-P",
            "-f",
            "-U",
            "-D",
            "3",
            &pattern,
            "--flamegraph",
            svg.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    super::wait_attached(child.id());
    w.go_and_stay();
    let o = child.wait_with_output().unwrap();
    w.finish();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{err}");
    let ours: Vec<&str> = out.lines().filter(|l| l.starts_with("multee;")).collect();
    assert!(
        ours.len() == 1 && ours[0].ends_with(&format!(";main;lab_leaf {n}")),
        "{out}\n{err}"
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("<svg") && text.contains("lab_leaf"),
        "{}",
        &text[..text.len().min(300)]
    );
    let _ = pid;
}

#[test]
fn stackcount_tracepoint_kernel_stacks_and_bad_patterns() {
    let Some(_g) = root_test("stackcount_tracepoint_kernel_stacks_and_bad_patterns") else {
        return;
    };
    let n = n_calls();
    let dir = tmpdir("stackcount-open").display().to_string();
    let out = stackcount_during(
        &["-K", "t:syscalls:sys_enter_openat"],
        &["open", &n.to_string(), &dir],
        "Tracing 1 functions",
    );
    // Every openat of the workload came through the syscall entry: one stack, n times.
    let counts: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("    ").and_then(|c| c.trim().parse().ok()))
        .collect();
    assert_eq!(counts, [n], "{out}");
    // Before 6.13 (seen on Debian 12's 6.1) a syscall tracepoint hands BPF the user registers,
    // so its kernel stack is empty; newer kernels give the syscall path.
    let (major, minor) = kernel_release();
    let empty = out.contains("Hit Ctrl-C to end.\n\n    ");
    assert!(
        out.contains("  do_syscall_64\n") || ((major, minor) < (6, 13) && empty),
        "{out}"
    );
    for (pat, phrase) in [
        ("t:syscalls:sys_enter_nosuch*", "no tracepoints match"),
        ("c:lab_nosuch*", "no functions in"),
        ("x:y:z:w", "not a pattern"),
    ] {
        let (code, out, err) = run(cmd("stackcount").arg(pat));
        assert_eq!(code, 1, "{pat}: {out}{err}");
        assert!(
            out.is_empty() && err.lines().count() == 1 && err.contains(phrase),
            "{pat}: {err}"
        );
    }
}

/// BCC's smoke test command (kernel function) in the guests; refused in one line here.
#[test]
fn stackcount_kernel_functions_with_kprobes_or_say_why_not() {
    let Some(_g) = root_test("stackcount_kernel_functions_with_kprobes_or_say_why_not") else {
        return;
    };
    if !kprobes() {
        super::refused_without_kprobes("stackcount", &["-i", "1", "vfs_read"]);
        return;
    }
    let n = n_calls();
    let dir = tmpdir("stackcount-kopen").display().to_string();
    let out = stackcount_during(
        &["-K", "do_sys_openat2"],
        &["open", &n.to_string(), &dir],
        "Tracing 1 functions",
    );
    let total: u64 = out
        .lines()
        .filter_map(|l| {
            l.strip_prefix("    ")
                .and_then(|c| c.trim().parse::<u64>().ok())
        })
        .sum();
    assert!(total >= n, "{out}");
    assert!(out.contains("  do_sys_openat2\n"), "{out}");
}

/// This kernel's (major, minor) version, from uname.
fn kernel_release() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = r.trim().split(['.', '-']).map(|p| p.parse().unwrap_or(0));
    (v.next().unwrap_or(0), v.next().unwrap_or(0))
}
