//! lab-bench: our tools against the peers that run on this machine (libbpf-tools, bpftrace's
//! .bt scripts), side by side in one run: exec -> ready line time, peak RSS, opensnoop's cost per
//! openat()+close() and events lost. Prints the tables and writes them into BENCHMARKS.md.
//! A benchmark command, not a test: figures depend on the machine and how busy it is.
mod app;
mod countcost;
mod eventcost;
mod measure;
mod multi;
mod openloop;
mod report;
mod suites;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context as _, Result};
use lab_tools::help;

use report::{Overhead, Report, StartCell};
use suites::Suite;

const EXAMPLES: &str =
    "    lab-bench                       # everything, write BENCHMARKS.md at the repo root
    lab-bench --runs 9              # median of 9 starts per tool
    lab-bench --hold 0              # SIGINT right at the ready line (empty summaries)
    lab-bench --tools opensnoop     # only opensnoop
    lab-bench --tools tcplife,ext4slower --loop-iterations 5000   # their cost per event, shorter
    lab-bench --output /tmp/b.md    # write the report elsewhere";

/// Benchmark our BPF tools against libbpf-tools and bpftrace on this machine
#[derive(clap::Parser, Debug)]
#[command(
    name = "lab-bench",
    version,
    about = "Benchmark our BPF tools against libbpf-tools and bpftrace on this machine (root)"
)]
struct Args {
    /// starts per tool; the report shows the median
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
    /// openat()+close() iterations per overhead run
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1000..))]
    iterations: u64,
    /// iterations per run of the loops behind tcpconnect's, tcplife's and ext4slower's cost per
    /// event (a connection, or a pwrite()+pread(), each)
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(100..))]
    loop_iterations: u64,
    /// overhead runs per tracer (and untraced, before and after); the median counts
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    overhead_runs: u32,
    /// directory with our tool binaries (default: lab-bench's own directory)
    #[arg(long, value_name = "DIR")]
    ours: Option<PathBuf>,
    /// comma-separated tools to measure (default: the checklist tools)
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    tools: Option<Vec<String>>,
    /// where to write the report (default: BENCHMARKS.md at the repo root)
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// seconds each tool keeps tracing after its ready line, with a small exec/open/disk/CPU
    /// load running, before SIGINT: peak RSS then includes a real final summary (symbolized
    /// stacks, filled histograms), not an empty one
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    hold: f64,
    /// do not apt-get install missing peer suites
    #[arg(long)]
    no_install: bool,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("lab-bench", || bench(&args))
}

fn bench(args: &Args) -> Result<()> {
    anyhow::ensure!(
        unsafe { libc::geteuid() } == 0,
        "needs root to load BPF programs: sudo lab-bench"
    );
    let (ours, tools) = checked_args(args)?;
    let mut notes = if args.no_install {
        vec![]
    } else {
        suites::install_peers()?
    };
    lab_probes::tracefs::mount_if_missing()?;
    let suites = [Suite::Ours(ours), Suite::LibbpfTools, Suite::Bpftrace];
    let work = std::env::temp_dir().join(format!("lab-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    measure::build_rss_wrapper(&work)?;
    anyhow::ensure!(
        (0.0..=60.0).contains(&args.hold),
        "--hold {}: give 0 to 60 seconds",
        args.hold
    );
    let mut report = Report::new(args.runs, args.iterations, args.overhead_runs, args.hold);
    if cfg!(debug_assertions) {
        notes.push(
            "lab-bench is a debug build; measure release builds (cargo build --release --bins)"
                .into(),
        );
    }
    report.notes = notes;

    let hold = Duration::from_secs_f64(args.hold);
    {
        let _load = BackgroundLoad::start(&work)?;
        let _app = match tools.iter().any(|t| app::TOOLS.contains(&t.as_str())) {
            true => Some(app::App::start(&ours_dir(&suites))?),
            false => None,
        };
        for tool in &tools {
            let cells = suites
                .iter()
                .map(|s| start_cell(s, tool, args.runs, hold, &work))
                .collect();
            report.add_start(tool, cells);
        }
    }
    if tools.iter().any(|t| t == "opensnoop") {
        report.overhead = Some(overhead(&suites, &report, args, &work)?);
    }
    if tools.iter().any(|t| t == "funccount") {
        let c = countcost::run(&suites, &report, args.iterations, args.overhead_runs, &work)?;
        report.sections.push(c.markdown());
    }
    cost_tables(&tools, &suites, &mut report, args, &work);
    report.finish();
    let text = report.markdown();
    println!("{text}");
    let path = match &args.output {
        Some(p) => p.clone(),
        None => repo_root().join("BENCHMARKS.md"),
    };
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("lab-bench: wrote {}", path.display());
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// `--ours` (a dir with our opensnoop) and `--tools` (each one lab-bench compares), checked.
fn checked_args(args: &Args) -> Result<(PathBuf, Vec<String>)> {
    let ours = match &args.ours {
        Some(d) => d.clone(),
        None => suites::default_ours_dir()?,
    };
    anyhow::ensure!(
        ours.join("opensnoop").is_file(),
        "--ours {}: no opensnoop there (build with `cargo build --release --bins`)",
        ours.display()
    );
    let tools: Vec<String> = match &args.tools {
        Some(t) => t.clone(),
        None => suites::tools().iter().map(|s| s.to_string()).collect(),
    };
    if let Some(bad) = tools
        .iter()
        .find(|t| !suites::tools().contains(&t.as_str()))
    {
        anyhow::bail!(
            "--tools: '{bad}' is not one of {}",
            suites::tools().join(",")
        );
    }
    Ok((ours, tools))
}

/// The per-event cost tables of the tools measured (BPF programs timed only meanwhile).
fn cost_tables(
    tools: &[String],
    suites: &[Suite],
    report: &mut Report,
    args: &Args,
    work: &std::path::Path,
) {
    let _stats = eventcost::BpfStats::enable();
    for case in eventcost::CASES {
        if tools.iter().any(|t| t == case.tool) {
            let c = eventcost::run(
                case,
                suites,
                report,
                args.loop_iterations,
                args.overhead_runs,
                work,
            );
            report.extra_targets.push(c.target_line());
            report.sections.push(c.markdown());
        }
    }
}

/// Our suite's directory.
fn ours_dir(suites: &[Suite]) -> PathBuf {
    suites
        .iter()
        .find_map(|s| match s {
            Suite::Ours(d) => Some(d.clone()),
            _ => None,
        })
        .expect("our suite is always measured")
}

/// The repo root when run from a checkout (this source's location), else the current directory.
fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    if root.join("Cargo.toml").is_file() {
        root.canonicalize().unwrap_or(root)
    } else {
        PathBuf::from(".")
    }
}

/// Start `tool` of `suite` `runs` times: median time to its ready line and median peak RSS.
fn start_cell(
    suite: &Suite,
    tool: &str,
    runs: u32,
    hold: Duration,
    work: &std::path::Path,
) -> StartCell {
    let Some(argv) = suite.argv(tool) else {
        return StartCell::Missing;
    };
    eprintln!("lab-bench: {} {tool}", suite.name());
    let (mut ready, mut rss) = (vec![], vec![]);
    let err = work.join("stderr");
    for _ in 0..runs {
        let mut r = match measure::spawn_on_pty(&argv, &err) {
            Ok(r) => r,
            Err(e) => return StartCell::Failed(format!("{e:#}")),
        };
        let t = r
            .wait_ready(Duration::from_secs(10))
            .map(|t| t.saturating_sub(multi::ready_offset(tool, suite)));
        if t.is_some() {
            std::thread::sleep(hold);
        }
        let still_running = r.alive();
        let exit = r.stop(Duration::from_secs(20));
        match t {
            Some(t) => {
                ready.push(t);
                rss.push(exit.max_rss_kib);
            }
            None => {
                let why = measure::first_line(&err);
                return StartCell::Failed(if still_running {
                    "no ready line in 10 s (still running)".to_owned()
                } else if why.is_empty() {
                    format!("exited {} with no output", exit.code)
                } else {
                    why
                });
            }
        }
    }
    StartCell::Measured {
        ready: measure::median(&ready).expect("runs >= 1"),
        max_rss_kib: measure::median(&rss).expect("runs >= 1"),
    }
}

/// What the tools trace while they are held: execs, opens, O_DIRECT writes (block I/O), and
/// some CPU, in a shell loop of its own process group; killed (group and all) when dropped.
struct BackgroundLoad(std::process::Child);

impl BackgroundLoad {
    fn start(work: &std::path::Path) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let file = work.join("load.dat");
        let script = format!(
            "while :; do dd if=/dev/zero of='{}' bs=64k count=8 oflag=direct status=none; \
             cat /etc/hostname >/dev/null; i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; done",
            file.display()
        );
        let child = std::process::Command::new("sh")
            .args(["-c", &script])
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .spawn()
            .context("starting the background load (sh)")?;
        Ok(Self(child))
    }
}

impl Drop for BackgroundLoad {
    fn drop(&mut self) {
        // SAFETY: signalling the process group we created.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// opensnoop's cost per openat()+close(), attached vs untraced, and the events it lost.
fn overhead(
    suites: &[Suite],
    report: &Report,
    args: &Args,
    work: &std::path::Path,
) -> Result<Overhead> {
    let lp = openloop::OpenLoop::build(work)?;
    let n = args.iterations;
    lp.run(n / 10)?; // warm the dentry cache and the binary
    let mut untraced = vec![];
    for _ in 0..args.overhead_runs {
        untraced.push(lp.run(n)?);
    }
    let mut rows = vec![];
    for suite in suites {
        let Some(argv) = suite.argv("opensnoop") else {
            continue;
        };
        eprintln!("lab-bench: opensnoop overhead, {}", suite.name());
        let out = work.join("opensnoop.out");
        let err = work.join("opensnoop.err");
        let run = measure::spawn_to_files(&argv, &out, &err)?;
        // Output goes to a file, where C stdio buffers the header: wait well past the ready time
        // measured on the terminal instead of for a line.
        let settle = report
            .ready_of("opensnoop", suite)
            .map(|r| (r * 3).max(Duration::from_secs(1)))
            .unwrap_or(Duration::from_secs(3));
        std::thread::sleep(settle);
        if !run.alive() {
            let exit = run.stop(Duration::from_secs(1));
            rows.push(report::OverheadRow::failed(
                suite.name(),
                format!(
                    "exited {} before the loop: {}",
                    exit.code,
                    measure::first_line(&err)
                ),
            ));
            continue;
        }
        let mut ns = vec![];
        for _ in 0..args.overhead_runs {
            ns.push(lp.run(n)?);
        }
        wait_quiet(&out);
        let exit = run.stop(Duration::from_secs(30));
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let target = lp.target.display().to_string();
        let seen = text.lines().filter(|l| l.contains(&target)).count() as u64;
        let reported = reported_lost(&std::fs::read_to_string(&err).unwrap_or_default());
        rows.push(report::OverheadRow {
            tracer: suite.name().into(),
            ns_per_iter: Some(median_f(&ns)),
            expected: n * args.overhead_runs as u64,
            seen,
            reported_lost: reported,
            max_rss_kib: exit.max_rss_kib,
            note: None,
        });
    }
    for _ in 0..args.overhead_runs {
        untraced.push(lp.run(n)?);
    }
    Ok(Overhead {
        untraced_ns: median_f(&untraced),
        rows,
    })
}

/// Wait until a tracer's output file stops growing (it drained its buffers), at most 60 s.
fn wait_quiet(path: &std::path::Path) {
    let size = || std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = size();
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = size();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Sum of "lost N" / "Lost N events" figures a tool printed on stderr.
fn reported_lost(stderr: &str) -> u64 {
    let re = regex_lite::Regex::new(r"(?i)lost\s+(\d+)").expect("static regex");
    re.captures_iter(stderr)
        .filter_map(|c| c[1].parse::<u64>().ok())
        .sum()
}

fn median_f(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[(s.len() - 1) / 2]
}
