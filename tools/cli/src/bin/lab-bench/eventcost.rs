//! Cost per event and events lost for the tools that print one line per event of a loop the
//! bench runs itself: tcpconnect and tcplife (loopback connect()+accept()+close()), ext4slower
//! with threshold 0 (pwrite()+pread() of a file on ext4). Same method as opensnoop's table:
//! the loop untraced, then with each suite's tool attached (output to a file), median of runs.
use std::{
    fmt::Write as _,
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use crate::{measure, report::Report, suites::Suite};

/// One connection per iteration, both ends in this process: connect to the listener the bench
/// passes as descriptor 3, accept, close both. The client closes with SO_LINGER 0 (an RST), so
/// no TIME_WAIT socket is left per iteration: a plain close would hold ~one ephemeral port per
/// connection for 60 s and run the machine out of ports within a few runs.
const TCP_LOOP_C: &str = r#"
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = atol(argv[1]);
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(3, (struct sockaddr *)&addr, &len) != 0) { perror("listener fd 3"); return 1; }
    struct linger rst = { 1, 0 };
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 1; }
        int s = accept(3, NULL, NULL);
        if (s < 0) { perror("accept"); return 1; }
        setsockopt(c, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
        close(c);
        close(s);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
"#;

/// Two small file operations per iteration (a 64-byte pwrite and pread at offset 0) on a file
/// opened once per run: 2n + 1 operations (the open is one) for ext4slower to report.
const FILE_LOOP_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = atol(argv[2]);
    char buf[64] = "lab-bench";
    int fd = open(argv[1], O_RDWR | O_CREAT, 0644);
    if (fd < 0) { perror(argv[1]); return 1; }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (pwrite(fd, buf, sizeof buf, 0) != sizeof buf) { perror("pwrite"); return 1; }
        if (pread(fd, buf, sizeof buf, 0) != sizeof buf) { perror("pread"); return 1; }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    close(fd);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
"#;

/// One call of a function per iteration, for the uprobe tools (trace, funclatency): the
/// function is out of line and does a little work, so the loop is the probe's cost.
const CALL_LOOP_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile long sink;
__attribute__((noinline)) long lab_bench_fn(long i) { sink += i; return sink; }

int main(int argc, char **argv) {
    long n = atol(argv[1]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) lab_bench_fn(i);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
"#;

/// The call loop's function.
pub const CALL_FN: &str = "lab_bench_fn";

/// ext4's superblock magic (statfs f_type).
const EXT4_MAGIC: i64 = 0xEF53;

/// A compiled loop, what it is run with, and how its events show in a tool's output.
pub struct Workload {
    exe: PathBuf,
    arg: Option<PathBuf>,
    /// The listener handed to the TCP loop as descriptor 3.
    listener: Option<std::net::TcpListener>,
    /// A whitespace-separated token every line of this loop's events has (port or file name).
    marker: String,
}

impl Workload {
    fn tcp(work: &Path) -> Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("opening a loopback listener for the TCP loop")?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            exe: crate::measure::compile_c(work, "tcploop", TCP_LOOP_C)?,
            arg: None,
            listener: Some(listener),
            marker: port.to_string(),
        })
    }

    fn calls(work: &Path) -> Result<Self> {
        Ok(Self {
            exe: crate::measure::compile_c(work, "callloop", CALL_LOOP_C)?,
            arg: None,
            listener: None,
            marker: "labev".into(),
        })
    }

    /// The loop's executable (where the uprobe tools attach).
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// The token each of this loop's event lines has.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    fn ext4(work: &Path) -> Result<Self> {
        let name = format!("lab-bench-ext4-file-{}", std::process::id());
        // The work directory (under TMPDIR), else /var/tmp (a disk, where /tmp is tmpfs).
        let dir = [work, Path::new("/var/tmp")]
            .into_iter()
            .find(|d| on_ext4(d))
            .with_context(|| {
                format!(
                    "neither {} nor /var/tmp is on ext4 (set TMPDIR to a directory on ext4)",
                    work.display()
                )
            })?;
        let file = dir.join(&name);
        std::fs::write(&file, [0u8; 64])?;
        Ok(Self {
            exe: crate::measure::compile_c(work, "fileloop", FILE_LOOP_C)?,
            arg: Some(file),
            listener: None,
            marker: name,
        })
    }

    /// Run `n` iterations; ns per iteration as the loop timed itself.
    fn run(&self, n: u64) -> Result<f64> {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = Command::new(&self.exe);
        if let Some(a) = &self.arg {
            cmd.arg(a);
        }
        cmd.arg(n.to_string());
        if let Some(l) = &self.listener {
            let fd = l.as_raw_fd();
            // SAFETY: dup2 is async-signal-safe; the child gets the listener as fd 3.
            unsafe {
                cmd.pre_exec(move || {
                    // dup2 onto itself keeps close-on-exec: clear it by hand then.
                    let rc = if fd == 3 {
                        libc::fcntl(3, libc::F_SETFD, 0)
                    } else {
                        libc::dup2(fd, 3)
                    };
                    if rc < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let out = cmd.output()?;
        if !out.status.success() {
            bail!(
                "{} failed: {}",
                self.exe.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("parsing the loop's ns/iter")
    }

    /// Lines of `text` that are this loop's events.
    pub fn lines_in(&self, text: &str) -> u64 {
        text.lines()
            .filter(|l| l.split_whitespace().any(|t| t == self.marker))
            .count() as u64
    }
}

fn on_ext4(dir: &Path) -> bool {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs fills the zeroed struct for a NUL-terminated path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(path.as_ptr(), &mut st) == 0 && st.f_type as i64 == EXT4_MAGIC }
}

/// The ext4 loop's file may live outside the work directory (in /var/tmp).
impl Drop for Workload {
    fn drop(&mut self) {
        if let Some(f) = &self.arg {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// A tool measured against a loop.
pub struct Case {
    pub tool: &'static str,
    /// What the loop does per iteration, for the table's title.
    what: &'static str,
    /// Events the tool should print per iteration, and per run on top of those.
    per_iter: u64,
    per_run: u64,
    /// Each suite's command line, told to print every event (ext4slower's threshold 0);
    /// None where the suite has no such tool.
    argv: fn(&Suite, &Workload) -> Option<Vec<String>>,
    workload: fn(&Path) -> Result<Workload>,
    /// How many of the loop's events the tool's output shows.
    seen: fn(&Workload, &str) -> u64,
    /// The suite our cost is held against (at most half of its cost).
    peer: &'static str,
}

/// `tool` of `suite` with `extra` arguments.
fn with(suite: &Suite, tool: &str, extra: &[&str]) -> Option<Vec<String>> {
    let mut argv = suite.argv(tool)?;
    argv.extend(extra.iter().map(|a| a.to_string()));
    Some(argv)
}

/// The cases, by tool name.
pub const CASES: &[Case] = &[
    Case {
        tool: "tcpconnect",
        what: "loopback connect()+accept()+close(); one line per connect()",
        per_iter: 1,
        per_run: 0,
        argv: |s, _| with(s, "tcpconnect", &[]),
        workload: Workload::tcp,
        seen: Workload::lines_in,
        peer: "libbpf-tools",
    },
    Case {
        tool: "tcplife",
        what: "loopback connect()+accept()+close(); one line per socket: 2 per connection",
        per_iter: 2,
        per_run: 0,
        argv: |s, _| with(s, "tcplife", &[]),
        workload: Workload::tcp,
        seen: Workload::lines_in,
        peer: "libbpf-tools",
    },
    Case {
        tool: "ext4slower",
        what: "64-byte pwrite()+pread() on ext4 with threshold 0; 2 lines per iteration + the open",
        per_iter: 2,
        per_run: 1,
        argv: |s, _| match s {
            Suite::Ours(_) => with(s, "ext4slower", &["0"]),
            Suite::LibbpfTools => with(s, "ext4slower", &["-m", "0"]),
            Suite::Bpftrace => with(s, "ext4slower", &[]),
        },
        workload: Workload::ext4,
        seen: Workload::lines_in,
        peer: "libbpf-tools",
    },
    Case {
        tool: "trace",
        what: "one call of a function with a uprobe on it; one line per call",
        per_iter: 1,
        per_run: 0,
        argv: crate::multi::trace_cost,
        workload: Workload::calls,
        seen: Workload::lines_in,
        peer: "bpftrace",
    },
    Case {
        tool: "funclatency",
        what: "one call of a function timed by a uprobe and a uretprobe; counted in a histogram",
        per_iter: 1,
        per_run: 0,
        argv: crate::multi::funclatency_cost,
        workload: Workload::calls,
        seen: crate::multi::hist_calls,
        peer: "bpftrace",
    },
];

pub struct Row {
    pub tracer: String,
    pub ns: Option<f64>,
    /// The tool's BPF programs' run time per iteration while the loop ran (kernel.bpf_stats).
    pub bpf_ns: Option<f64>,
    pub expected: u64,
    pub seen: u64,
    pub rss_kib: u64,
    pub note: Option<String>,
}

pub struct EventCost {
    pub tool: &'static str,
    peer: &'static str,
    what: &'static str,
    untraced_ns: Option<f64>,
    iterations: u64,
    runs: u32,
    pub rows: Vec<Row>,
    /// Why the whole table could not be measured.
    note: Option<String>,
}

/// Total run time (ns) of the BPF programs process `pid` holds, from their fdinfo; needs
/// kernel.bpf_stats_enabled (see `BpfStats`). None when it shows no program.
fn bpf_run_ns(pid: i32) -> Option<u64> {
    let mut total = None;
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .ok()?
        .flatten()
    {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        if !text.contains("prog_type:") {
            continue;
        }
        let ns = text
            .lines()
            .find_map(|l| l.strip_prefix("run_time_ns:"))
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(ns) = ns {
            total = Some(total.unwrap_or(0) + ns);
        }
    }
    total
}

/// kernel.bpf_stats_enabled on while it lives (the kernel then times every BPF program run,
/// which adds two clock reads per run to every tracer alike); the old value back when dropped.
pub struct BpfStats(Option<String>);

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    pub fn enable() -> Self {
        let old = std::fs::read_to_string(BPF_STATS).ok();
        if std::fs::write(BPF_STATS, "1").is_err() {
            return Self(None);
        }
        Self(old)
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = std::fs::write(BPF_STATS, old.trim());
        }
    }
}

pub fn run(
    case: &Case,
    suites: &[Suite],
    report: &Report,
    iterations: u64,
    runs: u32,
    work: &Path,
) -> EventCost {
    let mut res = EventCost {
        tool: case.tool,
        peer: case.peer,
        what: case.what,
        untraced_ns: None,
        iterations,
        runs,
        rows: vec![],
        note: None,
    };
    if let Err(e) = measure_case(case, suites, report, work, &mut res) {
        res.note = Some(format!("{e:#}"));
    }
    res
}

fn measure_case(
    case: &Case,
    suites: &[Suite],
    report: &Report,
    work: &Path,
    res: &mut EventCost,
) -> Result<()> {
    let wl = (case.workload)(work)?;
    let (n, runs) = (res.iterations, res.runs);
    wl.run((n / 10).max(1))?;
    let mut untraced = vec![];
    for _ in 0..runs {
        untraced.push(wl.run(n)?);
    }
    // Output to tmpfs: ext4slower 0 writing its lines to an ext4 file would trace its own writes.
    let outdir = Path::new("/dev/shm");
    let outdir = if outdir.is_dir() { outdir } else { work };
    let out = outdir.join(format!(
        "lab-bench-{}-{}.out",
        case.tool,
        std::process::id()
    ));
    let err = work.join(format!("{}.err", case.tool));
    for suite in suites {
        let Some(argv) = (case.argv)(suite, &wl) else {
            continue;
        };
        eprintln!("lab-bench: {} cost per event, {}", case.tool, suite.name());
        let r = measure::spawn_to_files(&argv, &out, &err)?;
        let settle = report
            .ready_of(case.tool, suite)
            .map(|r| (r * 3).max(Duration::from_secs(1)))
            .unwrap_or(Duration::from_secs(3));
        std::thread::sleep(settle);
        if !r.alive() {
            let exit = r.stop(Duration::from_secs(1));
            let _ = std::fs::remove_file(&out);
            res.rows.push(Row {
                tracer: suite.name().into(),
                ns: None,
                bpf_ns: None,
                expected: 0,
                seen: 0,
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
        let mut failed = None;
        let bpf_before = bpf_run_ns(r.tool_pid());
        for _ in 0..runs {
            match wl.run(n) {
                Ok(v) => ns.push(v),
                Err(e) => {
                    failed = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        let bpf_ns = match (bpf_before, bpf_run_ns(r.tool_pid())) {
            (Some(a), Some(b)) if ns.len() == runs as usize => {
                Some(b.saturating_sub(a) as f64 / (n * runs as u64) as f64)
            }
            _ => None,
        };
        let expected = (n * case.per_iter + case.per_run) * runs as u64;
        wait_for_lines(&out, &wl, expected, case.seen);
        let exit = r.stop(Duration::from_secs(30));
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let _ = std::fs::remove_file(&out);
        res.rows.push(Row {
            tracer: suite.name().into(),
            ns: failed.is_none().then(|| crate::median_f(&ns)),
            bpf_ns,
            expected,
            seen: (case.seen)(&wl, &text),
            rss_kib: exit.max_rss_kib,
            note: failed,
        });
    }
    for _ in 0..runs {
        untraced.push(wl.run(n)?);
    }
    res.untraced_ns = Some(crate::median_f(&untraced));
    Ok(())
}

/// Let the tool print what it still has: until all expected lines are in, or their count has
/// not moved for a second (a tool writing to a file through C stdio prints at exit only).
fn wait_for_lines(out: &Path, wl: &Workload, expected: u64, seen: fn(&Workload, &str) -> u64) {
    let count = || seen(wl, &std::fs::read_to_string(out).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut last, mut since) = (count(), Instant::now());
    while Instant::now() < deadline && last < expected {
        std::thread::sleep(Duration::from_millis(250));
        let now = count();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= Duration::from_secs(1) {
            return;
        }
    }
}

impl EventCost {
    /// Our row's verdict against the targets: per-event cost at most half the peer's
    /// (libbpf-tools', or bpftrace's for the uprobe tools; where it runs), 0 lost.
    pub fn target_line(&self) -> String {
        let (Some(base), Some(ours)) = (self.untraced_ns, self.rows.first()) else {
            return format!(
                "- MISS: {} cost per event not measured: {}",
                self.tool,
                self.note.clone().unwrap_or_else(|| "no row".into())
            );
        };
        let Some(ns) = ours.ns else {
            return format!(
                "- MISS: our {} cost run failed: {}",
                self.tool,
                ours.note.clone().unwrap_or_default()
            );
        };
        let lost = ours.expected.saturating_sub(ours.seen);
        let cost = |ns: f64| (ns - base).max(0.0);
        let peer = self
            .rows
            .iter()
            .find(|r| r.tracer == self.peer)
            .and_then(|r| r.ns);
        let peer_bpf = self
            .rows
            .iter()
            .find(|r| r.tracer == self.peer)
            .and_then(|r| r.bpf_ns);
        let bpf = match (ours.bpf_ns, peer_bpf) {
            (Some(a), Some(b)) => format!(" (BPF run time {a:.0} ns vs {b:.0} ns)"),
            _ => String::new(),
        };
        let (cheap_ok, vs) = match peer {
            Some(p) => (
                cost(ns) <= cost(p) / 2.0,
                format!(
                    "{:.0} ns vs {}'s {:.0} ns{bpf}",
                    cost(ns),
                    self.peer,
                    cost(p)
                ),
            ),
            None => (
                true,
                format!("{:.0} ns ({} does not run here)", cost(ns), self.peer),
            ),
        };
        let verdict = if cheap_ok && lost == 0 { "OK" } else { "MISS" };
        format!(
            "- {verdict}: {} cost per iteration <= half {}'s with 0 lost: {vs}, {lost} lost of {}",
            self.tool, self.peer, ours.expected
        )
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n## {}: cost per iteration, events lost\n\n\
             A C loop of {} iterations ({}), run {} times per tracer (median shown), with each\n\
             suite's {} attached (output to a file on tmpfs) and untraced (median of {} runs before\n\
             and after). \"added\" is ns per iteration above untraced; \"BPF ns\" is the run time of the\n\
             tool's BPF programs per iteration while the loop ran (kernel.bpf_stats_enabled, from the\n\
             programs' fdinfo; it includes the other processes' events those programs saw), the part of\n\
             \"added\" that does not depend on how busy the machine is; \"lost\" = events the loop made\n\
             minus the tool's lines for them (the port of the bench's listener, or the file's name).\n",
            self.tool,
            self.iterations,
            self.what,
            self.runs,
            self.tool,
            self.runs * 2
        );
        if let Some(note) = &self.note {
            let _ = writeln!(s, "Not measured: {note}");
            return s;
        }
        let base = self.untraced_ns.unwrap_or(0.0);
        let _ = writeln!(
            s,
            "| tracer | ns per iteration | added | BPF ns | vs untraced | events printed | lost | peak RSS |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(s, "| untraced | {base:.0} | - | - | 1.00x | - | - | - |");
        for r in &self.rows {
            match r.ns {
                Some(ns) => {
                    let _ = writeln!(
                        s,
                        "| {} | {ns:.0} | {:.0} | {} | {:.2}x | {} of {} | {} | {:.1} MiB |",
                        r.tracer,
                        (ns - base).max(0.0),
                        r.bpf_ns.map_or("-".to_owned(), |b| format!("{b:.0}")),
                        ns / base,
                        r.seen,
                        r.expected,
                        r.expected.saturating_sub(r.seen),
                        r.rss_kib as f64 / 1024.0
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "| {} | fails: {} | - | - | - | - | - | - |",
                        r.tracer,
                        r.note.clone().unwrap_or_default().replace('|', "/")
                    );
                }
            }
        }
        s
    }
}
