//! End-to-end smoke: a real tracepoint program counts exec by comm.
use std::process::Command;

use lab_tests::root_test;

/// Copies /bin/true under a unique name, so its comm is ours alone on the machine.
fn unique_true(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lab-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::copy("/bin/true", &p).unwrap();
    p
}

#[test]
fn exec_count_is_exact() {
    let Some(_g) = root_test("exec_count_is_exact") else {
        return;
    };
    let name = format!("smk{}", std::process::id() % 100_000);
    let exe = unique_true(&name);
    let probe = lab_probes::execcount::ExecCount::attach().expect("attach execcount");
    for _ in 0..5 {
        assert!(Command::new(&exe).status().unwrap().success());
    }
    let counts = probe.counts().unwrap();
    assert_eq!(
        counts.get(&name).copied(),
        Some(5),
        "exec counts for {name}: {counts:?}"
    );
    assert_eq!(probe.dropped().unwrap(), 0);
    drop(probe);
    // Detached: later execs are not counted by anyone (a new probe starts from zero).
    let probe = lab_probes::execcount::ExecCount::attach().unwrap();
    Command::new(&exe).status().unwrap();
    assert_eq!(probe.counts().unwrap().get(&name).copied(), Some(1));
    let _ = std::fs::remove_dir_all(exe.parent().unwrap());
}
