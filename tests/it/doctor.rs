//! `lab doctor` on this machine: real loads, real tracefs.
use lab_tests::{cmd, require_root, run};

// The runner is a binary, so its tested-kernels parser and matcher come in as source: the
// README check and doctor's row then read runner/data/tested-kernels.tsv the same way.
#[allow(dead_code)]
#[path = "../../runner/src/doctor/tested.rs"]
mod tested;

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
        "tested kernels",
        "free disk for labs",
    ] {
        assert!(out.contains(check), "missing row {check}:\n{out}");
    }
    assert!(out.contains("Verdict:"));
    assert!(!out.contains("\x1b["), "NO_COLOR output has escapes");
}

// host only: flag parsing
#[test]
fn unknown_flag_is_usage_error() {
    let (code, _, err) = run(cmd("lab").args(["doctor", "--frobnicate"]));
    assert_eq!(code, 2);
    assert!(err.contains("--frobnicate"), "{err}");
    let (code, _, _) = run(cmd("lab").arg("no-such-command"));
    assert_eq!(code, 2);
}

/// Doctor's "tested kernels" row and JSON fields say what the data file says for this machine's
/// kernel and bpftrace; on the 6.18 dev host that is its own row. Needs no root.
#[test]
fn doctor_says_whether_this_kernel_is_tested() {
    let (code, out, err) = run(cmd("lab").args(["doctor", "--json"]));
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("doctor --json is JSON");
    let row = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == "tested kernels")
        .cloned()
        .unwrap_or_else(|| panic!("no tested kernels row: {out}"));
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let bpftrace = std::process::Command::new("bpftrace")
        .arg("--version")
        .output()
        .ok()
        // doctor takes the first line of stdout, or of stderr when stdout is empty
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            let text = String::from_utf8_lossy(&text).into_owned();
            text.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty());
    let want = tested::compare(
        &tested::rows(tested::TSV),
        release.trim(),
        bpftrace.as_deref(),
    );
    assert_eq!(row["detail"], want.detail.as_str(), "{row}");
    assert_eq!(v["kernel_tested"], want.kernel_tested, "{out}");
    assert_eq!(v["bpftrace_tested"], want.bpftrace_tested, "{out}");
    let ok = want.kernel_tested && want.bpftrace_tested;
    assert_eq!(
        row["verdict"],
        if ok { "ok" } else { "warn" },
        "never a failure: {row}"
    );
    if tested::major_minor(&release) == Some((6, 18)) && bpftrace.is_some() {
        assert_eq!(
            row["detail"],
            "tested: Debian 12 dev host (6.18, bpftrace 0.17)"
        );
        assert_eq!(v["kernel_tested"], true);
    }
}

/// README.md's "Tested kernels" table is runner/data/tested-kernels.tsv, cell for cell.
// host only: two files compared
#[test]
fn readme_tested_kernels_table_equals_data_file() {
    // Compiled in: the check is about the source tree, wherever the test binary runs.
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## Tested kernels\n")
        .nth(1)
        .expect("README.md has a '## Tested kernels' section");
    let section = section.split("\n## ").next().unwrap();
    let table: Vec<Vec<&str>> = section
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter(|l| !l.replace(['|', '-', ' '], "").is_empty()) // the | --- | line
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect()
        })
        .collect();
    assert_eq!(
        table,
        tested::cells(tested::TSV),
        "README.md's Tested kernels table differs from runner/data/tested-kernels.tsv"
    );
}

/// A lab's row comes from its `tools` list: a copy of the labs with a lab naming a program that
/// is nowhere makes that lab (and only it) not runnable, naming the command.
#[test]
fn doctor_derives_a_labs_needs_from_its_tools() {
    if !require_root("doctor::doctor_derives_a_labs_needs_from_its_tools") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lab-doctor-needs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let labs = lab_tests::repo_root().join("labs");
    for e in std::fs::read_dir(&labs).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    let missing = format!("no-such-program-{}", std::process::id());
    let lab3 = dir.join("03-runqueue-latency.md");
    let text = std::fs::read_to_string(&lab3).unwrap();
    let edited = text.replacen("tools = [", &format!("tools = [\"{missing}\", "), 1);
    assert_ne!(edited, text);
    std::fs::write(&lab3, edited).unwrap();
    let doctor = |labs: &std::path::Path| {
        let (_, out, err) = run(cmd("lab")
            .args(["doctor", "--json"])
            .env("LAB_LABS_DIR", labs));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{err}"));
        v["labs"].as_array().unwrap().clone()
    };
    let (before, after) = (doctor(&labs), doctor(&dir));
    assert_eq!(before.len(), after.len());
    // The working copy's verdict is not the machine's: `lab status` (and `lab class`) must not
    // report this made-up missing command as the VM's.
    let saved = std::fs::read_to_string("/var/lib/lab/doctor.json").unwrap_or_default();
    assert!(
        !saved.contains(&missing),
        "lab doctor with LAB_LABS_DIR overwrote the machine's verdict"
    );
    for (b, a) in before.iter().zip(&after) {
        let name = a["name"].as_str().unwrap();
        let extra: Vec<&serde_json::Value> = a["missing"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter(|x| x.as_str().unwrap().contains(&missing))
                    .collect()
            })
            .unwrap_or_default();
        if name.starts_with("lab 3 ") {
            assert_eq!(a["runnable"], false, "{a}");
            assert_eq!(extra.len(), 1, "{a}");
            assert_eq!(extra[0], format!("command {missing}").as_str(), "{a}");
        } else {
            assert_eq!(a, b, "only lab 3 changed");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
