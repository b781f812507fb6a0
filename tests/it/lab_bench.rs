//! lab-bench, tiny: the cost-per-event tables of tcpconnect, tcplife and ext4slower run their
//! loops with our tools attached, and our tools print every event the loops made. No figure is
//! checked (speed lives in the benchmark itself, never in a test).
use lab_tests::{cmd, root_test, run};

/// Our row of one tool's table: (events printed, events expected, lost).
fn our_row(report: &str, tool: &str) -> (u64, u64, u64) {
    let title = format!("## {tool}: cost per iteration, events lost");
    let table = report
        .split(&title)
        .nth(1)
        .unwrap_or_else(|| panic!("no '{title}' table:\n{report}"));
    let row = table
        .lines()
        .find(|l| l.starts_with("| lab (ours) |"))
        .unwrap_or_else(|| panic!("no row for our {tool}:\n{table}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | tracer | ns | added | BPF ns | vs untraced | "P of E" | lost | RSS |
    let (p, e) = cells[6]
        .split_once(" of ")
        .unwrap_or_else(|| panic!("events cell of {row}"));
    (
        p.parse().unwrap(),
        e.parse().unwrap(),
        cells[7].parse().unwrap(),
    )
}

#[test]
fn lab_bench_loops_are_traced_with_nothing_lost_by_our_tools() {
    let Some(_g) = root_test("lab_bench_loops") else {
        return;
    };
    let out = std::env::temp_dir().join(format!("lab-bench-smoke-{}.md", std::process::id()));
    let (iters, runs) = (200u64, 1u64);
    let (code, stdout, stderr) = run(cmd("lab-bench")
        .args([
            "--tools",
            "tcpconnect,tcplife,ext4slower",
            "--runs",
            "1",
            "--hold",
            "0",
        ])
        .args(["--overhead-runs", &runs.to_string()])
        .args([
            "--loop-iterations",
            &iters.to_string(),
            "--no-install",
            "--output",
        ])
        .arg(&out));
    assert_eq!(code, 0, "lab-bench failed:\n{stdout}\n{stderr}");
    let report = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    // Per iteration: one connect (tcpconnect), two sockets (tcplife), pwrite+pread (ext4slower,
    // plus the open once per run).
    for (tool, expected) in [
        ("tcpconnect", iters * runs),
        ("tcplife", 2 * iters * runs),
        ("ext4slower", (2 * iters + 1) * runs),
    ] {
        let (printed, exp, lost) = our_row(&report, tool);
        assert_eq!(exp, expected, "{tool}: the bench's expected count");
        assert_eq!(
            (printed, lost),
            (expected, 0),
            "{tool} lost events:\n{report}"
        );
    }
}
