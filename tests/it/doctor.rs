//! `lab doctor` on this machine: real loads, real tracefs.
use lab_tests::{cmd, require_root, run};

#[test]
fn doctor_reports_this_kernel() {
    if !require_root("doctor_reports_this_kernel") {
        return;
    }
    let (code, out, err) = run(cmd("lab").args(["doctor", "--json"]));
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("doctor --json is JSON");
    let row = |name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no row {name}: {out}"))
    };
    assert_eq!(row("running as root")["verdict"], "ok");
    assert_eq!(row("tracefs")["verdict"], "ok");
    assert_eq!(row("tracepoints")["verdict"], "ok", "{out}");
    assert_eq!(row("BPF tracepoint program")["verdict"], "ok", "{out}");
    // Compare kprobes/fentry with what this kernel really offers, not with constants.
    let kprobe_pmu = std::path::Path::new("/sys/bus/event_source/devices/kprobe/type").exists();
    let kp = row("kprobes");
    if kprobe_pmu {
        assert_eq!(kp["verdict"], "ok", "{kp}");
    } else {
        assert!(
            kp["detail"].as_str().unwrap().contains("compiled out"),
            "{kp}"
        );
    }
    let fe = row("fentry/fexit");
    let fe_detail = fe["detail"].as_str().unwrap();
    assert!(
        fe["verdict"] == "ok" || fe_detail.contains("EPERM") || fe_detail.contains("refused"),
        "{fe}"
    );
    assert!(
        !fe_detail.contains("root"),
        "fentry must not be blamed on root: {fe}"
    );
    // Raw tracepoints exist since 4.17, older than any kernel the tools support.
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut ver = rel
        .trim()
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    if (ver.next().unwrap(), ver.next().unwrap()) >= (4, 17) {
        assert_eq!(row("raw tracepoints")["verdict"], "ok", "{out}");
    }
    assert_eq!(v["all_labs_runnable"].as_bool().unwrap(), code == 0);
}

#[test]
fn doctor_plain_table_names_every_check() {
    let (code, out, _) = run(cmd("lab").arg("doctor").env("NO_COLOR", "1"));
    assert!(code == 0 || code == 1);
    for check in [
        "running as root",
        "kernel version",
        "kernel BTF",
        "tracefs",
        "tracepoints",
        "kprobes",
        "fentry/fexit",
        "raw tracepoints",
        "bpftrace",
        "free disk for labs",
    ] {
        assert!(out.contains(check), "missing row {check}:\n{out}");
    }
    assert!(out.contains("Verdict:"));
    assert!(!out.contains("\x1b["), "NO_COLOR output has escapes");
}

#[test]
fn unknown_flag_is_usage_error() {
    let (code, _, err) = run(cmd("lab").args(["doctor", "--frobnicate"]));
    assert_eq!(code, 2);
    assert!(err.contains("--frobnicate"), "{err}");
    let (code, _, _) = run(cmd("lab").arg("no-such-command"));
    assert_eq!(code, 2);
}
