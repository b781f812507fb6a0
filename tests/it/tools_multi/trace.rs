//! trace: every call the workload makes is one line with exactly its arguments, return value or
//! stack; bpftrace on the same run prints the same; bad specs fail in one line.
use std::ffi::OsStr;

use lab_tests::{cmd, root_test, run, RunningTool as Tool};

use super::{have_bpftrace, kprobes, n_calls, tmpdir, workload, Workload};

/// Run trace with `args` while the workload runs `work`; (stdout lines after the header, stderr).
fn trace_during(args: &[&str], work: &[&str]) -> (Vec<String>, String) {
    let w = Workload::spawn(work);
    let pid = w.pid();
    let mut a = vec!["-p", pid.as_str()];
    a.extend_from_slice(args);
    let tool = Tool::start("trace", &a, "PID     TID     COMM");
    w.go();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (out, err) = tool.stop();
    let lines = out.lines().skip(1).map(str::to_owned).collect();
    (lines, err)
}

/// The message column (after PID TID COMM FUNC).
fn msg(line: &str) -> &str {
    line.get(49..).unwrap_or("").trim_end()
}

#[test]
fn trace_uprobe_prints_each_call_with_its_arguments_like_bpftrace() {
    let Some(_g) = root_test("trace_uprobe_prints_each_call_with_its_arguments_like_bpftrace")
    else {
        return;
    };
    let n = n_calls();
    let exe = workload().display().to_string();
    let w = Workload::spawn(&["calls", &n.to_string()]);
    let pid = w.pid();
    let bt = have_bpftrace("trace uprobe").then(|| {
        let prog = format!("uprobe:{exe}:lab_leaf /pid == {pid} && arg0 % 2 == 0/ {{ printf(\"a=%d b=%d\\n\", arg0, arg1); }}");
        crate::bpftrace::attach::start(&[OsStr::new("-e"), OsStr::new(&prog)], "bpftrace uprobe")
    });
    let spec = format!("{exe}:lab_leaf (arg1 % 2 == 0) \"a=%d b=%d\", arg1, arg2");
    let tool = Tool::start("trace", &["-p", &pid, &spec], "PID     TID     COMM");
    w.go();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (out, _) = tool.stop();
    let want: Vec<String> = (0..n)
        .filter(|i| i % 2 == 0)
        .map(|i| format!("a={i} b=7"))
        .collect();
    let lines: Vec<&str> = out.lines().skip(1).collect();
    let got: Vec<&str> = lines.iter().map(|l| msg(l)).collect();
    assert_eq!(got, want, "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&format!("{pid:<7} {pid:<7} multee"))),
        "{out}"
    );
    assert!(
        lines.iter().all(|l| l[32..49].trim() == "lab_leaf"),
        "{out}"
    );
    if let Some(bt) = bt {
        let o = bt.stop();
        let theirs: Vec<&str> = o.stdout.lines().filter(|l| l.starts_with("a=")).collect();
        assert_eq!(theirs, want, "bpftrace: {}", o.stdout);
    }
}

#[test]
fn trace_uretprobe_prints_return_values_and_entry_arguments() {
    let Some(_g) = root_test("trace_uretprobe_prints_return_values_and_entry_arguments") else {
        return;
    };
    let n = n_calls();
    let spec = format!(
        "r:{}:lab_leaf (retval > 20) \"%d -> %ld\", arg1, retval",
        workload().display()
    );
    let (lines, _) = trace_during(&[&spec], &["calls", &n.to_string()]);
    let want: Vec<String> = (0..n)
        .filter(|i| 2 * i + 7 > 20)
        .map(|i| format!("{i} -> {}", 2 * i + 7))
        .collect();
    let got: Vec<&str> = lines.iter().map(|l| msg(l)).collect();
    assert_eq!(got, want, "{lines:#?}");
}

#[test]
fn trace_tracepoints_read_strings_compare_them_and_run_several_probes() {
    let Some(_g) = root_test("trace_tracepoints_read_strings_compare_them_and_run_several_probes")
    else {
        return;
    };
    let n = n_calls();
    let dir = tmpdir("trace-open").display().to_string();
    let f1 = format!("{dir}/f1");
    let enter = format!("t:syscalls:sys_enter_openat (args->filename == \"{f1}\") \"%s %x\", args->filename, args->flags");
    let exit = "t:syscalls:sys_exit_openat (args->ret < 0) \"ret %d\", args->ret";
    let (lines, _) = trace_during(&[&enter, exit], &["open", &n.to_string(), &dir]);
    let opens: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("sys_enter_openat"))
        .map(|l| msg(l))
        .collect();
    let f1_opens = (0..n).filter(|i| i % 3 == 1).count();
    // O_RDONLY | O_CLOEXEC
    assert_eq!(opens, vec![format!("{f1} 80000"); f1_opens], "{lines:#?}");
    let rets: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("sys_exit_openat"))
        .map(|l| msg(l))
        .collect();
    assert_eq!(rets, vec!["ret -2"; n as usize], "{lines:#?}");
}

#[test]
fn trace_user_stacks_show_the_callers_and_max_events_stops() {
    let Some(_g) = root_test("trace_user_stacks_show_the_callers_and_max_events_stops") else {
        return;
    };
    let exe = workload().display().to_string();
    let spec = format!("{exe}:lab_leaf \"%d\", arg1");
    let mut w = Workload::spawn(&["calls", "100"]);
    let pid = w.pid();
    let bt = have_bpftrace("trace -U").then(|| {
        let prog = format!("uprobe:{exe}:lab_leaf /pid == {pid}/ {{ @[ustack(2)] = count(); }}");
        crate::bpftrace::attach::start(&[OsStr::new("-e"), OsStr::new(&prog)], "bpftrace ustack")
    });
    let tool = Tool::start(
        "trace",
        &["-U", "-M", "3", "-p", &pid, &spec],
        "PID     TID     COMM",
    );
    w.go_and_stay();
    let (out, _) = tool.wait_exit();
    let theirs = bt.map(|b| b.stop().stdout);
    w.finish();
    let events: Vec<&str> = out
        .split("\n\n")
        .filter(|e| e.contains("lab_leaf"))
        .collect();
    assert_eq!(events.len(), 3, "{out}");
    // At a function's first instruction its frame pointer is not pushed yet: the unwinder
    // goes from lab_leaf to main, past lab_mid (BCC and bpftrace show the same).
    for (i, e) in events.iter().enumerate() {
        let frames: Vec<&str> = e
            .lines()
            .skip(if i == 0 { 2 } else { 1 })
            .map(str::trim)
            .collect();
        let names: Vec<&str> = frames
            .iter()
            .map(|f| f.split('+').next().unwrap())
            .collect();
        assert_eq!(names[..2], ["lab_leaf", "main"], "{out}");
        assert!(
            frames[0].starts_with("lab_leaf+0x0 ") && frames[0].ends_with("[multee]"),
            "{out}"
        );
    }
    if let Some(t) = theirs {
        let names = super::bpftrace_frames(&t);
        assert_eq!(names, ["lab_leaf", "main"], "bpftrace: {t}");
    }
}

/// Each bad spec: exit 1, nothing on stdout, one line naming the spec and the column.
#[test]
fn trace_bad_specs_fail_in_one_line_naming_the_spec_and_column() {
    let Some(_g) = root_test("trace_bad_specs_fail_in_one_line_naming_the_spec_and_column") else {
        return;
    };
    let exe = workload().display().to_string();
    let cases: Vec<(String, usize, &str)> = vec![
        (
            "r::do_sys_openat2 (retval < ) \"x\"".into(),
            29,
            "expected an expression",
        ),
        (
            "t:syscalls:sys_enter_nosuch".into(),
            3,
            "unknown tracepoint",
        ),
        (
            "t:syscalls:sys_enter_openat \"%s\", args->nosuch".into(),
            35,
            "no field 'nosuch'",
        ),
        (
            format!("{exe}:lab_nosuch"),
            exe.len() + 2,
            "no function 'lab_nosuch'",
        ),
        ("nosuchlib:malloc".into(), 1, "cannot find library"),
        (
            format!("{exe}:lab_leaf \"%d %d\", arg1"),
            exe.len() + 11,
            "2 conversions but 1 arguments",
        ),
        (
            format!("{exe}:lab_leaf (sk->x)"),
            exe.len() + 12,
            "unknown name 'sk'",
        ),
        (
            "t:syscalls:sys_enter_openat (args->filename > \"x\")".into(),
            47,
            "a string literal can only be compared",
        ),
        ("p::nosuch_kernel_fn".into(), 4, "unknown kernel function"),
        (
            "p::do_sys_openat2(struct nosuch *x)".into(),
            19,
            "unknown type 'struct nosuch'",
        ),
        (
            "p::do_sys_openat2 (how->nosuch)".into(),
            20,
            "struct open_how has no member 'nosuch'",
        ),
        ("x:y:z".into(), 1, "probe type must be"),
    ];
    for (spec, col, phrase) in cases {
        let (code, out, err) = run(cmd("trace").arg(&spec));
        assert_eq!(code, 1, "{spec}: {out}{err}");
        assert!(out.is_empty(), "{spec}: {out}");
        assert_eq!(err.lines().count(), 1, "{spec}: {err}");
        assert!(
            err.contains(&format!("probe '{spec}', column {col}: ")) && err.contains(phrase),
            "{spec}: {err}"
        );
    }
}

/// With kprobes (the guests): a kernel function's BTF-typed parameter and return value, for
/// each open the workload makes. Without (this host): refused in one line, exit 2.
#[test]
fn trace_kernel_functions_with_kprobes_or_say_why_not() {
    let Some(_g) = root_test("trace_kernel_functions_with_kprobes_or_say_why_not") else {
        return;
    };
    if !kprobes() {
        super::refused_without_kprobes(
            "trace",
            &["r::do_sys_openat2 (retval < 0) \"ret %d\", retval"],
        );
        return;
    }
    let n = n_calls();
    let dir = tmpdir("trace-kopen").display().to_string();
    let (lines, err) = trace_during(
        &[
            "p::do_sys_openat2 \"%s\", filename",
            "r::do_sys_openat2 (retval < 0) \"ret %d\", retval",
        ],
        &["open", &n.to_string(), &dir],
    );
    let names: Vec<&str> = lines
        .iter()
        .map(|l| msg(l))
        .filter(|m| m.starts_with(&dir))
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("{dir}/f{}", i % 3)).collect();
    assert_eq!(names, want, "{lines:#?}\n{err}");
    let rets = lines.iter().filter(|l| msg(l) == "ret -2").count();
    assert_eq!(rets as u64, n, "{lines:#?}");
}
