//! The state file: round trips, migration, atomic and private writes, locks.
use std::{collections::BTreeMap, fs, path::PathBuf};

use super::*;
use crate::clock::now;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lab-state-test-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

#[test]
fn round_trip() {
    let d = scratch("rt");
    let written = update_in(&d, |s| {
        s.session = Some(SessionRecord {
            lab: 1,
            seed: 42,
            vars: [
                ("comm".to_string(), serde_json::json!("logsink")),
                ("size".into(), serde_json::json!(4096)),
            ]
            .into(),
            data_dir: d.join("sessions/lab-01"),
            user: "alice".into(),
            started_at: 1000,
            boot_id: "b".into(),
            workloads: vec!["writer".into()],
            complete: true,
        });
        s.progress_mut(1)
            .record("process", true, "logsink", "logsink (pid 7)");
        s.progress_mut(1).hints_revealed = 2;
        Ok(s.clone())
    })
    .unwrap();
    assert_eq!(load_from(&d).unwrap(), written);
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn format_1_files_are_migrated_keeping_what_passed() {
    let d = scratch("migrate");
    fs::create_dir_all(&d).unwrap();
    let q = |passed: bool, at: u64| serde_json::json!({"passed": passed, "answer": "a", "measured": "m", "at": at});
    let old = serde_json::json!({"format": 1, "labs": {"1": {
        "time_spent": 60, "passed_at": 500,
        "questions": {"process": q(true, 400), "file": q(true, 500), "sync": q(false, 450)}
    }}});
    fs::write(d.join(FILE), old.to_string()).unwrap();
    let s = load_from(&d).unwrap();
    assert_eq!(s.format, FORMAT);
    let p = &s.labs[&1];
    assert_eq!(
        p.ever_passed,
        BTreeMap::from([("file".into(), 500), ("process".into(), 400)])
    );
    assert_eq!(
        (p.time_spent, p.passed_at, p.last_check),
        (60, Some(500), None)
    );
    // Written back in the new format, same content.
    update_in(&d, |_| Ok(())).unwrap();
    let text = fs::read_to_string(d.join(FILE)).unwrap();
    assert!(
        text.contains("\"format\": 2") && text.contains("ever_passed"),
        "{text}"
    );
    assert_eq!(load_from(&d).unwrap(), s);
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn passed_stays_passed_and_best_and_last_show_apart() {
    let ids = ["a", "b", "c"];
    let mut p = LabProgress::default();
    let check = |p: &mut LabProgress, results: &[(&str, bool)]| {
        for (id, ok) in results {
            p.record(id, *ok, "x", "y");
        }
        let passed = results.iter().filter(|r| r.1).count();
        p.last_check = Some(CheckTally {
            passed,
            total: 3,
            at: now(),
        });
        if p.passed_count(ids) == 3 {
            p.passed_at.get_or_insert(now());
        }
    };
    check(&mut p, &[("a", true), ("b", false), ("c", false)]);
    assert_eq!(p.passed_count(ids), 1);
    check(&mut p, &[("a", false), ("b", true)]);
    // a passed once: it counts; the last check alone had 1.
    assert_eq!(p.passed_count(ids), 2);
    assert_eq!(p.last_check.map(|l| l.passed), Some(1));
    check(&mut p, &[("a", true), ("b", true), ("c", true)]);
    assert!(p.passed_at.is_some());
    check(&mut p, &[("a", false), ("b", false), ("c", false)]);
    assert_eq!(p.passed_count(ids), 3, "passed stays passed");
    assert!(
        !p.questions["a"].passed,
        "the latest answer is still shown as it went"
    );
}

#[test]
fn missing_file_is_empty_state() {
    let d = scratch("missing");
    assert_eq!(load_from(&d).unwrap(), State::default());
}

/// Not a test on its own: the writer process for `kill_9_mid_write_leaves_old_or_new`.
#[test]
#[ignore]
fn writer_child() {
    let Some(d) = std::env::var_os("LAB_TEST_WRITER_DIR") else {
        return;
    };
    let d = PathBuf::from(d);
    loop {
        // Big enough (~1.5 MB) that a write takes a while and a kill lands mid-write.
        update_in(&d, |s| {
            let p = s.progress_mut(1);
            let generation = p.time_spent + 1;
            for q in 0..20_000 {
                p.record(
                    &format!("q{q}"),
                    false,
                    &generation.to_string(),
                    "measured value padding",
                );
            }
            p.time_spent = generation;
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn kill_9_mid_write_leaves_old_or_new() {
    let d = scratch("kill9");
    let exe = std::env::current_exe().unwrap();
    let mut last = 0;
    for round in 0..8u64 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "store::tests::writer_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env("LAB_TEST_WRITER_DIR", &d)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Let it write a few generations, then kill it at an arbitrary point. On a busy
        // machine one write takes over a second: the first round waits for one to land.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while last == 0
            && load_from(&d).map_or(true, |s| s.labs.is_empty())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(300 + round * 37));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let s = load_from(&d).expect("state readable after kill -9");
        let Some(p) = s.labs.get(&1) else {
            assert_eq!(last, 0, "state lost after kill -9");
            continue; // killed before its first write completed
        };
        let generation = p.time_spent;
        assert!(generation >= last, "state went backwards");
        assert_eq!(p.questions.len(), 20_000);
        assert!(
            p.questions
                .values()
                .all(|q| q.answer == generation.to_string()),
            "torn state: mixed generations after kill -9"
        );
        last = generation;
    }
    assert!(last > 0, "the writer never completed a write");
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn newer_format_is_refused_by_name() {
    let err = parse(r#"{"format": 3, "labs": {}, "future": true}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("format 3 is newer"), "{err}");
    assert!(err.contains("(2)"), "{err}");
}

#[test]
fn garbage_is_a_clear_error() {
    let d = scratch("garbage");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join(FILE), "{\"format\": 1, \"labs\": {").unwrap();
    let err = format!("{:#}", load_from(&d).unwrap_err());
    assert!(
        err.contains(&d.join(FILE).display().to_string()) && err.contains("unreadable"),
        "{err}"
    );
    // And an update does not overwrite the unreadable file.
    assert!(update_in(&d, |_| Ok(())).is_err());
    assert_eq!(
        fs::read_to_string(d.join(FILE)).unwrap(),
        "{\"format\": 1, \"labs\": {"
    );
    fs::remove_dir_all(&d).unwrap();
}
