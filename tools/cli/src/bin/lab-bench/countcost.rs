//! funccount's cost per event: the open loop with each suite's `funccount t:syscalls:
//! sys_enter_openat` (bpftrace: its one-liner equivalent) attached, against untraced. A counting
//! tool prints no per-event output, so this is the cost of the probe and the in-kernel count.
use std::{fmt::Write as _, path::Path, time::Duration};

use anyhow::Result;

use crate::{measure, openloop::OpenLoop, report::Report, suites::Suite};

pub struct Row {
    tracer: String,
    ns: Option<f64>,
    /// openat() calls the loop made while attached, and the count the tool printed (which also
    /// includes other processes' openat()s: >= made means nothing was missed).
    made: u64,
    counted: Option<u64>,
    rss_kib: u64,
    note: Option<String>,
}

pub struct CountCost {
    untraced_ns: f64,
    iterations: u64,
    runs: u32,
    rows: Vec<Row>,
}

pub fn run(
    suites: &[Suite],
    report: &Report,
    iterations: u64,
    runs: u32,
    work: &Path,
) -> Result<CountCost> {
    let lp = OpenLoop::build(work)?;
    lp.run(iterations / 10)?;
    let mut untraced = vec![];
    for _ in 0..runs {
        untraced.push(lp.run(iterations)?);
    }
    let mut rows = vec![];
    for suite in suites {
        let Some(argv) = suite.argv("funccount") else {
            continue;
        };
        eprintln!("lab-bench: funccount cost, {}", suite.name());
        let out = work.join("funccount.out");
        let err = work.join("funccount.err");
        let r = measure::spawn_to_files(&argv, &out, &err)?;
        let settle = report
            .ready_of("funccount", suite)
            .map(|r| (r * 3).max(Duration::from_secs(1)))
            .unwrap_or(Duration::from_secs(3));
        std::thread::sleep(settle);
        if !r.alive() {
            let exit = r.stop(Duration::from_secs(1));
            rows.push(Row {
                tracer: suite.name().into(),
                ns: None,
                made: 0,
                counted: None,
                rss_kib: 0,
                note: Some(format!(
                    "exited {} before the loop: {}",
                    exit.code,
                    measure::first_line(&err)
                )),
            });
            continue;
        }
        let mut ns = vec![];
        for _ in 0..runs {
            ns.push(lp.run(iterations)?);
        }
        let exit = r.stop(Duration::from_secs(30));
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        rows.push(Row {
            tracer: suite.name().into(),
            ns: Some(median(&ns)),
            made: iterations * runs as u64,
            counted: openat_count(&text),
            rss_kib: exit.max_rss_kib,
            note: None,
        });
    }
    for _ in 0..runs {
        untraced.push(lp.run(iterations)?);
    }
    Ok(CountCost {
        untraced_ns: median(&untraced),
        iterations,
        runs,
        rows,
    })
}

/// The sys_enter_openat count in funccount's table ("syscalls:sys_enter_openat  N") or
/// bpftrace's map ("@[tracepoint:syscalls:sys_enter_openat]: N").
fn openat_count(text: &str) -> Option<u64> {
    text.lines().rev().find_map(|l| {
        let l = l.trim();
        if !l.contains("syscalls:sys_enter_openat") {
            return None;
        }
        l.rsplit([' ', ':']).next()?.trim().parse().ok()
    })
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[(s.len() - 1) / 2]
}

impl CountCost {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n## funccount t:syscalls:sys_enter_openat: cost per openat()+close(), calls missed\n\n\
             The same C loop ({} openat()+close(), {} runs per tracer, median shown) with each suite's\n\
             funccount counting the sys_enter_openat tracepoint (libbpf-tools has no funccount; bpftrace's\n\
             equivalent is `tracepoint:syscalls:sys_enter_openat {{ @[probe] = count(); }}`). The count\n\
             printed at Ctrl-C includes other processes' openat()s, so \"counted >= made\" means none missed.\n",
            self.iterations, self.runs
        );
        let _ = writeln!(
            s,
            "| tracer | ns per iteration | vs untraced | counted (made) | peak RSS |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        let _ = writeln!(s, "| untraced | {:.0} | 1.00x | - | - |", self.untraced_ns);
        for r in &self.rows {
            match r.ns {
                Some(ns) => {
                    let counted = r
                        .counted
                        .map_or("no count printed".to_owned(), |c| c.to_string());
                    let _ = writeln!(
                        s,
                        "| {} | {ns:.0} | {:.2}x | {counted} ({}) | {:.1} MiB |",
                        r.tracer,
                        ns / self.untraced_ns,
                        r.made,
                        r.rss_kib as f64 / 1024.0
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "| {} | fails: {} | - | - | - |",
                        r.tracer,
                        r.note.clone().unwrap_or_default().replace('|', "/")
                    );
                }
            }
        }
        s
    }
}
