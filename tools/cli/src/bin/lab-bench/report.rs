//! The results, the targets they are checked against, and the markdown written to BENCHMARKS.md.
use std::{fmt::Write as _, time::Duration};

use crate::suites::Suite;

/// Targets for our tools (issue 3).
pub const READY_TARGET: Duration = Duration::from_millis(20);
pub const RSS_TARGET_KIB: u64 = 10 * 1024;
pub const SLOWDOWN_TARGET: f64 = 3.0;

const SUITES: [&str; 3] = ["lab (ours)", "libbpf-tools", "bpftrace"];

#[derive(Debug, Clone)]
pub enum StartCell {
    /// This suite has no such tool.
    Missing,
    /// It did not reach a ready line (first line of its stderr, or why).
    Failed(String),
    Measured {
        ready: Duration,
        max_rss_kib: u64,
    },
}

#[derive(Debug, Clone)]
pub struct OverheadRow {
    pub tracer: String,
    pub ns_per_iter: Option<f64>,
    /// openat() calls made while attached, and how many of them the tool printed.
    pub expected: u64,
    pub seen: u64,
    /// What the tool itself said it lost (stderr), if anything.
    pub reported_lost: u64,
    pub max_rss_kib: u64,
    pub note: Option<String>,
}

impl OverheadRow {
    pub fn failed(tracer: &str, why: String) -> Self {
        Self {
            tracer: tracer.into(),
            ns_per_iter: None,
            expected: 0,
            seen: 0,
            reported_lost: 0,
            max_rss_kib: 0,
            note: Some(why),
        }
    }
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.seen)
    }
}

#[derive(Debug, Clone)]
pub struct Overhead {
    pub untraced_ns: f64,
    pub rows: Vec<OverheadRow>,
}

pub struct Report {
    runs: u32,
    iterations: u64,
    overhead_runs: u32,
    hold_secs: f64,
    starts: Vec<(String, Vec<StartCell>)>,
    pub overhead: Option<Overhead>,
    /// Further tables (markdown), appended in order (e.g. funccount's cost per event).
    pub sections: Vec<String>,
    pub notes: Vec<String>,
    /// Target lines of the further tables (one per tool), after the built-in ones.
    pub extra_targets: Vec<String>,
    machine: String,
    load_before: String,
    load_after: String,
}

impl Report {
    pub fn new(runs: u32, iterations: u64, overhead_runs: u32, hold_secs: f64) -> Self {
        Self {
            runs,
            iterations,
            overhead_runs,
            hold_secs,
            starts: vec![],
            overhead: None,
            sections: vec![],
            notes: vec![],
            extra_targets: vec![],
            machine: machine(),
            load_before: loadavg(),
            load_after: String::new(),
        }
    }

    pub fn add_start(&mut self, tool: &str, cells: Vec<StartCell>) {
        self.starts.push((tool.to_owned(), cells));
    }

    pub fn finish(&mut self) {
        self.load_after = loadavg();
    }

    /// The median ready time measured for `tool` of `suite`, if any.
    pub fn ready_of(&self, tool: &str, suite: &Suite) -> Option<Duration> {
        let col = SUITES.iter().position(|s| *s == suite.name())?;
        let (_, cells) = self.starts.iter().find(|(t, _)| t == tool)?;
        match cells.get(col)? {
            StartCell::Measured { ready, .. } => Some(*ready),
            _ => None,
        }
    }

    /// Our figures against the targets: one line each, with the margin of every miss.
    fn targets(&self) -> Vec<String> {
        let mut lines = vec![];
        let ours: Vec<(&str, Duration, u64)> = self
            .starts
            .iter()
            .filter_map(|(t, c)| match c.first()? {
                StartCell::Measured { ready, max_rss_kib } => {
                    Some((t.as_str(), *ready, *max_rss_kib))
                }
                _ => None,
            })
            .collect();
        for (tool, cells) in &self.starts {
            if let Some(StartCell::Failed(why)) = cells.first() {
                lines.push(format!("- MISS: our {tool} did not start: {why}"));
            }
        }
        let slow: Vec<String> = ours
            .iter()
            .filter(|(_, r, _)| *r > READY_TARGET)
            .map(|(t, r, _)| {
                format!(
                    "{t} {} ({:.1}x the target)",
                    ms(*r),
                    r.as_secs_f64() / READY_TARGET.as_secs_f64()
                )
            })
            .collect();
        if slow.is_empty() {
            if let Some((t, r, _)) = ours.iter().max_by_key(|(_, r, _)| *r) {
                lines.push(format!(
                    "- OK: ready <= {}: slowest is {t} at {}",
                    ms(READY_TARGET),
                    ms(*r)
                ));
            }
        } else {
            lines.push(format!(
                "- MISS: ready <= {}: {}",
                ms(READY_TARGET),
                slow.join(", ")
            ));
        }
        let fat: Vec<String> = ours
            .iter()
            .filter(|(_, _, k)| *k > RSS_TARGET_KIB)
            .map(|(t, _, k)| format!("{t} {} (+{})", mib(*k), mib(k - RSS_TARGET_KIB)))
            .collect();
        if fat.is_empty() {
            if let Some((t, _, k)) = ours.iter().max_by_key(|(_, _, k)| *k) {
                lines.push(format!(
                    "- OK: peak RSS <= {}: largest is {t} at {}",
                    mib(RSS_TARGET_KIB),
                    mib(*k)
                ));
            }
        } else {
            lines.push(format!(
                "- MISS: peak RSS <= {}: {}",
                mib(RSS_TARGET_KIB),
                fat.join(", ")
            ));
        }
        if let Some(o) = &self.overhead {
            if let Some(row) = o.rows.iter().find(|r| r.tracer == SUITES[0]) {
                match row.ns_per_iter {
                    Some(ns) => {
                        let ratio = ns / o.untraced_ns;
                        let verdict = if ratio <= SLOWDOWN_TARGET && row.lost() == 0 {
                            "OK"
                        } else {
                            "MISS"
                        };
                        lines.push(format!(
                            "- {verdict}: opensnoop slowdown <= {SLOWDOWN_TARGET:.0}x with 0 lost: {ratio:.2}x, {} lost of {}",
                            row.lost(),
                            row.expected
                        ));
                    }
                    None => lines.push(format!(
                        "- MISS: our opensnoop overhead run failed: {}",
                        row.note.clone().unwrap_or_default()
                    )),
                }
            }
        }
        lines.extend(self.extra_targets.iter().cloned());
        lines
    }

    /// The title, how it was measured, the machine, the targets.
    fn md_header(&self, s: &mut String) {
        let _ = writeln!(
            *s,
            "# Benchmarks: lab's BPF tools vs libbpf-tools and bpftrace\n"
        );
        let _ = writeln!(
            *s,
            "Measured by `lab-bench` (tools/cli/src/bin/lab-bench/) in one run on one machine; rerun with\n\
             `cargo build --release --bins && sudo target/release/lab-bench`. Figures depend on the machine\n\
             and on how busy it is (load average below).\n"
        );
        let _ = writeln!(*s, "- machine: {}", self.machine);
        let _ = writeln!(
            *s,
            "- load average (1, 5, 15 min) before: {}; after: {}",
            self.load_before, self.load_after
        );
        for n in &self.notes {
            let _ = writeln!(*s, "- note: {n}");
        }
        let _ = writeln!(*s, "\n## Targets for our tools\n");
        for l in self.targets() {
            let _ = writeln!(*s, "{l}");
        }
    }

    /// The start-up table.
    fn md_startup(&self, s: &mut String) {
        let _ = writeln!(
            *s,
            "\n## Start-up: exec to ready line, and peak RSS\n\n\
             Median of {} starts per tool. Each tool runs with no options on a pseudo-terminal (as in a shell)\n\
             until its first line of output that means it is tracing (bpftrace's \"Attaching N probes...\" is\n\
             printed before it attaches and does not count), keeps tracing for {} s more while a small load\n\
             runs (a shell loop of dd O_DIRECT writes, execs, opens and CPU), then gets SIGINT; peak RSS is\n\
             the tool's `ru_maxrss` as a small C wrapper that forks it reports (a child of lab-bench\n\
             itself would report lab-bench's own RSS at fork), so it includes printing a real final\n\
             summary (profile and offcputime symbolize their stacks then). \"fails\" shows the tool's first error line,\n\
             or that it printed no ready line (some tools print only at exit); \"-\" means the suite has\n\
             no such tool. A tool that starts may still trace nothing on this kernel (see the shared notes:\n\
             bpftrace's biolatency.bt attaches nothing here).\n",
            self.runs, self.hold_secs
        );
        let _ = writeln!(
            *s,
            "| tool | {} |",
            SUITES.map(|n| format!("{n} ready | {n} RSS")).join(" | ")
        );
        let _ = writeln!(*s, "|---|{}", "---:|---:|".repeat(SUITES.len()));
        for (tool, cells) in &self.starts {
            let row: Vec<String> = cells
                .iter()
                .map(|c| match c {
                    StartCell::Missing => "- | -".to_owned(),
                    StartCell::Failed(why) => format!("fails: {} | -", why.replace('|', "/")),
                    StartCell::Measured { ready, max_rss_kib } => {
                        format!("{} | {}", ms(*ready), mib(*max_rss_kib))
                    }
                })
                .collect();
            let _ = writeln!(*s, "| {tool} | {} |", row.join(" | "));
        }
    }

    /// opensnoop's cost per open, when measured.
    fn md_overhead(&self, s: &mut String) {
        if let Some(o) = &self.overhead {
            let _ = writeln!(
                *s,
                "\n## opensnoop: cost per openat()+close(), events lost\n\n\
                 A C loop of {} openat()+close() of one file, run {} times per tracer (median shown),\n\
                 with each suite's opensnoop attached (no options, output to a file) and untraced (median of\n\
                 {} runs before and after). \"lost\" = opens made minus lines for that file in the output;\n\
                 \"tool says\" is what the tool itself reported lost on stderr.\n",
                self.iterations,
                self.overhead_runs,
                self.overhead_runs * 2
            );
            let _ = writeln!(*s, "| tracer | ns per iteration | vs untraced | events printed | lost | tool says lost | peak RSS |");
            let _ = writeln!(*s, "|---|---:|---:|---:|---:|---:|---:|");
            let _ = writeln!(
                *s,
                "| untraced | {:.0} | 1.00x | - | - | - | - |",
                o.untraced_ns
            );
            for r in &o.rows {
                match r.ns_per_iter {
                    Some(ns) => {
                        let _ = writeln!(
                            *s,
                            "| {} | {:.0} | {:.2}x | {} of {} | {} | {} | {} |",
                            r.tracer,
                            ns,
                            ns / o.untraced_ns,
                            r.seen,
                            r.expected,
                            r.lost(),
                            r.reported_lost,
                            mib(r.max_rss_kib)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            *s,
                            "| {} | fails: {} | - | - | - | - | - |",
                            r.tracer,
                            r.note.clone().unwrap_or_default()
                        );
                    }
                }
            }
        }
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        self.md_header(&mut s);
        self.md_startup(&mut s);
        self.md_overhead(&mut s);
        for extra in &self.sections {
            s.push_str(extra);
        }
        s
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "Linux {}, {cpus} CPUs, {} GiB RAM, {date}",
        kernel.trim(),
        mem_kib / (1024 * 1024)
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
