//! `lab dev check`: for lab authors. Parses every lab, renders it with several seeds, checks
//! that every workload, tool and metric it names exists, and runs each lab's reference answers
//! through the checker (lab::hooks -> commands::check).
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::ExitCode,
};

use crate::{
    lab::{self, render::Context, Lab},
    session::spawn,
    term::Style,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: DevCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum DevCommand {
    /// Parse and cross-check every lab; run the reference answers through the checker
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Only parse and cross-check; do not start workloads to run reference answers
    #[arg(long)]
    pub no_run: bool,
    /// Only this lab
    #[arg(long)]
    pub lab: Option<String>,
}

/// Set (to the isolated state dir) for the `lab start/check/stop` a reference run makes.
pub const SESSION_ENV: &str = "LAB_DEV_SESSION";

/// Seeds every lab is rendered with (a template may fail only for some values).
const SEEDS: &[u64] = &[1, 2, 3, 42, 999_999];

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        DevCommand::Check(a) => check(a),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let style = Style::stdout();
    let only = args
        .lab
        .as_deref()
        .map(lab::parse_id)
        .transpose()
        .map_err(crate::privilege::usage)?;
    let workloads = workload_subcommands();
    let mut problems = 0usize;
    let mut labs = Vec::new();
    let mut ids = BTreeSet::new();
    for (name, text) in lab::sources()? {
        match lab::format::parse(&name, &text) {
            Ok(l) => {
                if !ids.insert(l.id) {
                    println!(
                        "{} {name}: id {} is used by another lab",
                        style.bad("✗"),
                        l.id
                    );
                    problems += 1;
                }
                labs.push(l);
            }
            Err(e) => {
                println!("{} {e}", style.bad("✗"));
                problems += 1;
            }
        }
    }
    labs.retain(|l| only.is_none_or(|o| o == l.id));
    for l in &labs {
        let found = lab_problems(l, &workloads);
        if found.is_empty() {
            println!(
                "{} {} (lab {}: {}): {} questions, {} hints, {} workloads",
                style.ok("✓"),
                l.source,
                l.id,
                l.title,
                l.questions.len(),
                l.hints.len(),
                l.workloads.len()
            );
        }
        for p in &found {
            println!("{} {p}", style.bad("✗"));
        }
        problems += found.len();
    }
    // The bpftrace exercises' solution files (labs/solutions) against the exercise registry.
    for p in crate::commands::btcheck::solution_problems() {
        println!("{} {p}", style.bad("✗"));
        problems += 1;
    }
    if !args.no_run && !labs.is_empty() {
        // The reference runs start and stop labs: in a state dir of their own, so they never
        // stop (or are stopped by) a lab the student runs, nor record into their progress.
        // Beside another user's lab they would perturb its truth (and it theirs): refused.
        if let Some(a) = crate::session::machine::other_users_lab(&crate::state::user()) {
            anyhow::bail!(
                "{}'s lab {} is running on this machine; the reference runs would perturb it: \
                 check without them (lab dev check --no-run), or run it once that lab is stopped",
                a.user,
                a.lab
            );
        }
        let _own = Isolated::enter()?;
        for l in &labs {
            match crate::lab::hooks::reference_run(l) {
                Ok(Some(summary)) => println!(
                    "{} lab {} reference answers: {summary}",
                    style.ok("✓"),
                    l.id
                ),
                Ok(None) => println!(
                    "{} lab {}: no automatic reference run",
                    style.dim("-"),
                    l.id
                ),
                Err(e) => {
                    println!("{} lab {} reference answers: {e:#}", style.bad("✗"), l.id);
                    problems += 1;
                }
            }
        }
    }
    if problems == 0 {
        println!("All {} labs are fine.", labs.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{problems} problem(s).");
        Ok(ExitCode::from(1))
    }
}

/// A fresh state dir for this `lab dev check` (the runs inherit it as LAB_STATE_DIR); on drop,
/// anything still running in it is stopped and the dir removed.
struct Isolated {
    dir: PathBuf,
    before: Option<std::ffi::OsString>,
}

/// Stop and remove the isolated sessions of `lab dev check` runs that were killed (kill -9
/// skips `Isolated`'s drop, leaving its reference lab running); `lab stop` and every new
/// `lab dev check` call this. Returns how many it cleaned up.
pub fn reap_abandoned() -> usize {
    let Ok(home) = crate::state::dir() else {
        return 0;
    };
    let (Some(parent), Some(name)) = (home.parent(), home.file_name()) else {
        return 0;
    };
    let prefix = format!("{}.dev-check-", name.to_string_lossy());
    let mut n = 0;
    for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = file
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // Still running (a `lab ... dev check` with that PID): not abandoned.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("dev\0check") {
            continue;
        }
        stop_isolated(&e.path());
        n += 1;
    }
    n
}

impl Isolated {
    fn enter() -> anyhow::Result<Isolated> {
        reap_abandoned();
        let home = crate::state::dir()?;
        let dir = PathBuf::from(format!(
            "{}.dev-check-{}",
            home.display(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        let before = std::env::var_os("LAB_STATE_DIR");
        // Single-threaded here; every later state read of this process and its children uses it.
        std::env::set_var("LAB_STATE_DIR", &dir);
        std::env::set_var(SESSION_ENV, &dir);
        Ok(Isolated { dir, before })
    }
}

/// `lab stop` inside an isolated state dir, then remove the dir.
fn stop_isolated(dir: &Path) {
    if let Ok(me) = std::env::current_exe() {
        let _ = std::process::Command::new(me)
            .arg("stop")
            .env("LAB_STATE_DIR", dir)
            .env(SESSION_ENV, dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = std::fs::remove_dir_all(dir);
}

impl Drop for Isolated {
    fn drop(&mut self) {
        stop_isolated(&self.dir);
        match self.before.take() {
            Some(v) => std::env::set_var("LAB_STATE_DIR", v),
            None => std::env::remove_var("LAB_STATE_DIR"),
        }
        std::env::remove_var(SESSION_ENV);
    }
}

/// Every problem with one parsed lab, as "file:line: what".
pub fn lab_problems(l: &Lab, workloads: &Result<BTreeSet<String>, String>) -> Vec<String> {
    let mut out = Vec::new();
    let file_number = std::path::Path::new(&l.source)
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u32>().ok());
    if file_number.is_some_and(|n| n != l.id) {
        out.push(format!(
            "{}:1: id {} does not match the file name's number",
            l.source, l.id
        ));
    }
    for seed in SEEDS {
        let dir = PathBuf::from(format!("/var/lib/lab/author/sessions/lab-{:02}", l.id));
        let ctx = match Context::for_seed(l, *seed, &dir, "author") {
            Ok(c) => c,
            Err(e) => {
                out.push(format!("seed {seed}: {e:#}"));
                break;
            }
        };
        let mut errs = Vec::new();
        let mut try_ = |r: anyhow::Result<String>| {
            if let Err(e) = r {
                errs.push(format!("{e:#} (seed {seed})"));
            }
        };
        try_(ctx.body(l));
        for i in 0..l.hints.len() {
            try_(ctx.hint(l, i));
        }
        for q in &l.questions {
            try_(ctx.render_at(l, q.line, &format!("question {} prompt", q.id), &q.prompt));
            if let Some(r) = &q.reference {
                try_(ctx.render_at(l, q.line, &format!("question {} reference", q.id), r));
            }
        }
        for s in l.prepare.iter().chain(&l.workloads) {
            try_(ctx.args(l, s).map(|a| a.join(" ")));
        }
        for w in &l.workloads {
            try_(ctx.comm(l, w));
        }
        let stop = !errs.is_empty();
        out.extend(errs);
        if stop {
            break; // the same template fails for every seed; say it once
        }
    }
    match workloads {
        Ok(known) => {
            for s in l.prepare.iter().chain(&l.workloads) {
                if !known.contains(&s.run) {
                    out.push(format!(
                        "{}:{}: {}: lab-workload has no subcommand {:?} (it has: {})",
                        l.source,
                        s.line,
                        s.name,
                        s.run,
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        Err(e) if !l.prepare.is_empty() || !l.workloads.is_empty() => {
            out.push(format!("{}: cannot check workloads: {e}", l.source))
        }
        Err(_) => {}
    }
    for t in &l.tools {
        if !tool_exists(t) {
            out.push(format!(
                "{}: tool {t:?} is neither one of our tools, a starter .bt, nor on PATH",
                l.source
            ));
        }
    }
    for q in &l.questions {
        if !crate::lab::hooks::metric_known(l, &q.metric) {
            out.push(format!(
                "{}:{}: question {}: the checker does not know metric {:?}",
                l.source, q.line, q.id, q.metric
            ));
        }
    }
    out
}

/// The subcommands `lab-workload list` prints.
pub fn workload_subcommands() -> Result<BTreeSet<String>, String> {
    let bin = spawn::workload_binary().map_err(|e| e.to_string())?;
    let out = duct::cmd(&bin, ["list"])
        .stderr_null()
        .read()
        .map_err(|e| format!("{} list: {e}", bin.display()))?;
    Ok(out.lines().map(str::to_string).collect())
}

fn tool_exists(name: &str) -> bool {
    if lab_probes::requirements::tool(name).is_some() {
        return true;
    }
    let starters = [
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/bpftrace")),
        PathBuf::from("/usr/local/share/lab/bpftrace"),
    ];
    if starters
        .iter()
        .any(|d| d.join(format!("{name}.bt")).exists())
    {
        return true;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .any(|d| d.join(name).exists() || d.join(format!("{name}.bt")).exists())
}
