//! The exercises' titles, the open problem's text, the reference solutions and the broken
//! variants come from the labs directory: a copy of labs/ with a new solution file, a changed
//! text and a header-less broken variant (LAB_LABS_DIR) shows each without a Rust edit.
use std::path::Path;

use lab_tests::{cmd, run};

use super::{repo, scratch};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn lab(labs: &Path, args: &[&str]) -> (i32, String, String) {
    run(cmd("lab").args(args).env("LAB_LABS_DIR", labs))
}

// host only: files read, nothing loaded
#[test]
fn exercises_and_solutions_come_from_the_labs_directory() {
    let dir = scratch("from-labs");
    let labs = dir.join("labs");
    copy_dir(&repo().join("labs"), &labs);

    // As shipped: no problem between the solution files and the exercise registry.
    let (code, out, err) = lab(&labs, &["dev", "check", "--no-run"]);
    assert_eq!(code, 0, "{out}{err}");

    // A new reference solution is served as it is, and dev check says which exercise it lacks.
    let marker = format!("// 4e reference, test {}", std::process::id());
    std::fs::write(
        labs.join("solutions/4e.bt"),
        format!("{marker}\nBEGIN {{ exit(); }}\n"),
    )
    .unwrap();
    let (code, out, err) = lab(&labs, &["solution", "4e", "--instructor"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&marker), "{out}");
    // A broken variant without its `// exercise:` / `// expect:` header is named.
    std::fs::write(
        labs.join("solutions/broken/4a-bare.bt"),
        "BEGIN { exit(); }\n",
    )
    .unwrap();
    let (code, out, _) = lab(&labs, &["dev", "check", "--no-run"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("labs/solutions/4e.bt: no graded exercise \"4e\""),
        "{out}"
    );
    assert!(
        out.contains("labs/solutions/broken/4a-bare.bt: no leading `// exercise: ...` comment"),
        "{out}"
    );

    // The open problem's title and text are the lab file's.
    let lab5 = labs.join("05-advanced-bpftrace.md");
    let text = std::fs::read_to_string(&lab5).unwrap();
    let (title, hint) = (
        format!("page cache reuse distance, test {}", std::process::id()),
        format!(
            "A hint written in the lab file, test {}.",
            std::process::id()
        ),
    );
    let edited = text
        .replace(
            "time between accesses in the page cache (open problem)",
            &title,
        )
        .replace("Hints:\n", &format!("Hints:\n  - {hint}\n"));
    assert_ne!(edited, text, "lab 5's 5c title or text moved");
    std::fs::write(&lab5, edited).unwrap();
    let (code, out, err) = lab(&labs, &["check", "5c", "--tool", "x.bt", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["title"], title.as_str(), "{v:#}");
    assert!(v["text"].as_str().unwrap().contains(&hint), "{v:#}");
    assert_eq!(v["graded"], false, "{v:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
