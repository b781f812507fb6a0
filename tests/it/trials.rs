//! The short version of `lab-trials` (the kill -9 figure): a few trials of every target.
use lab_tests::{
    root_test,
    trials::{run, table, tools, Target},
};

#[test]
fn kill_9_at_random_moments_leaves_nothing_behind() {
    let Some(_g) = root_test("trials::kill_9_at_random_moments_leaves_nothing_behind") else {
        return;
    };
    let mut targets = vec![Target::Start, Target::Check, Target::DevCheck];
    targets.extend(tools().map(Target::Tool));
    // Seed from the clock (printed): over many CI runs the moments cover the whole window.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let rows = run(&targets, 2, seed, |p| eprintln!("{p}"));
    let t = table(&rows);
    eprintln!("seed {seed}\n{t}");
    let problems: Vec<String> = rows
        .iter()
        .flat_map(|r| r.problems.iter().map(move |p| format!("{}: {p}", r.what)))
        .collect();
    assert!(
        rows.iter().all(|r| r.clean()),
        "kill -9 left something behind (seed {seed}):\n{t}{}",
        problems.join("\n")
    );
}
