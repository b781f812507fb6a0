//! `lab start N [--seed S]`: show the lab, prepare its data, start its workloads supervised.
use std::{
    io::{BufRead as _, BufReader},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context as _;

use crate::{
    lab::{self, render::Context, seed, Lab},
    privilege,
    screen::Screen,
    session::{self, runfiles, spawn},
    state::{self, Session, State},
    term::{self, Style},
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Lab number (see `lab list`)
    pub lab: String,
    /// Seed for the session's values; the same seed reproduces a session exactly
    #[arg(long)]
    pub seed: Option<u64>,
    /// If another lab is running, stop it without asking
    #[arg(long)]
    pub replace: bool,
}

/// Free space a lab needs for its data: lab 1's log grows to 256 MiB before it is truncated,
/// plus its dumps and the truth recorder's files.
const MIN_FREE_TO_START: u64 = 512 << 20;

/// Free bytes on the file system of `dir`'s nearest existing ancestor, and that ancestor.
fn free_space(dir: &std::path::Path) -> Option<(u64, std::path::PathBuf)> {
    let existing = dir.ancestors().find(|d| d.exists())?;
    Some((super::doctor::free_bytes(existing)?, existing.to_path_buf()))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let id = lab::parse_id(&args.lab).map_err(privilege::usage)?;
    privilege::require_root(&format!("lab start {id}"))?;
    let lab = lab::find(id)?;
    let style = Style::stdout();
    // One lab per machine: another user's live lab refuses this start before anything happens.
    session::machine::refuse_if_taken(&state::user())?;

    if let Some(running) = State::load()?.session {
        let live = session::inspect(&running);
        let anything_alive = live.workloads.iter().any(|w| w.alive);
        if running.lab == id && running.complete && live.same_boot {
            return show_running(&lab, &running, style);
        }
        if running.lab != id && running.complete && anything_alive {
            let question = format!(
                "Lab {} is running; labs compete for the CPU and disk. Stop it and start lab {id}?",
                running.lab
            );
            let stop = args.replace || (term::interactive() && term::confirm(&question)?);
            if !stop {
                anyhow::bail!(
                    "lab {} is running (labs compete for the CPU and disk); stop it first with: sudo lab stop \
                     (or: sudo lab start {id} --replace)",
                    running.lab
                );
            }
        } else {
            eprintln!(
                "Cleaning up an earlier session of lab {} that ended or was interrupted.",
                running.lab
            );
        }
        super::stop::end_session(&running)?;
    }

    let seed = args.seed.unwrap_or_else(seed::fresh);
    let state_dir = state::dir()?;
    let data_dir = session::data_dir_for(&state_dir, id);
    // After any earlier session's data is gone: a workload on a full disk would die (or stall)
    // mid-lab and be graded; refuse now, before anything is written.
    if let Some((free, fs_dir)) = free_space(&data_dir) {
        if free < MIN_FREE_TO_START {
            anyhow::bail!(
                "lab {id} needs {} MiB free for its data in {}, but that file system ({}) has {:.1} MiB free: \
                 free some space, or point LAB_STATE_DIR at a bigger disk",
                MIN_FREE_TO_START >> 20,
                data_dir.display(),
                fs_dir.display(),
                free as f64 / (1u64 << 20) as f64
            );
        }
    }
    let user = state::user();
    // Render everything first: a template error must leave nothing behind.
    let ctx = Context::for_seed(&lab, seed, &data_dir, &user)?;
    let body = ctx.body(&lab)?;
    let prepare: Vec<(String, String, Vec<String>)> = lab
        .prepare
        .iter()
        .map(|s| {
            Ok((
                s.label.clone().unwrap_or_else(|| s.run.clone()),
                s.run.clone(),
                ctx.args(&lab, s)?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let workloads: Vec<(String, String, String, Vec<String>)> = lab
        .workloads
        .iter()
        .map(|w| {
            Ok((
                w.name.clone(),
                ctx.comm(&lab, w)?,
                w.run.clone(),
                ctx.args(&lab, w)?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    spawn::workload_binary()?;

    // A stale one from a crash: its recorder (if any) first, it writes there.
    crate::truth::launch::stop(&data_dir)?;
    session::remove_data_dir(&data_dir)?;
    let session = Session {
        lab: id,
        seed,
        vars: ctx.seed.clone(),
        data_dir: data_dir.clone(),
        user,
        started_at: state::now(),
        boot_id: session::procs::boot_id(),
        workloads: workloads.iter().map(|w| w.0.clone()).collect(),
        complete: false,
    };
    // Claim the machine (checked again under its lock: two starts at once cannot both win).
    // `lab dev check`'s reference runs only look: they are not a user's lab.
    if crate::commands::check::proctor::in_dev_session() {
        session::machine::refuse_if_taken(&session.user)?;
    } else {
        session::machine::claim(&session)?;
    }
    // Record the session before anything runs, so a kill -9 from here on leaves a session
    // that `lab stop` (or the next `lab start`) cleans up.
    State::update(|s| {
        s.session = Some(session.clone());
        s.progress_mut(id).last_seed = Some(seed);
        Ok(())
    })?;

    println!("{}\n", Screen::stdout().markdown(&body));
    let started = (|| -> anyhow::Result<Vec<(String, String, i32)>> {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        // The answers' raw material: the student's alone (`sessions/` only lets a lab's login
        // user pass through to a data dir its workload opened, lab 2's).
        if let Some(sessions) = data_dir.parent() {
            state::make_private(sessions, state::PASS_THROUGH)?;
        }
        state::make_private(&data_dir, state::PRIVATE)?;
        for (label, run, args) in &prepare {
            prepare_step(&data_dir, label, run, args, seed)?;
        }
        let mut started = Vec::new();
        for (name, comm, run, args) in &workloads {
            let id = spawn::start(&data_dir, name, comm, run, args, seed)?;
            started.push((name.clone(), comm.clone(), id.pid));
        }
        // A workload that dies at once (bad args, missing program) is reported now, not later.
        std::thread::sleep(Duration::from_millis(300));
        let live = session::inspect(&session);
        if let Some(dead) = live.workloads.iter().find(|w| !w.alive) {
            let tail = runfiles::log_tail(&data_dir, &dead.name, 8).join("\n    ");
            anyhow::bail!(
                "workload {} ({}) {} right after starting; its last output:\n    {tail}",
                dead.name,
                dead.comm,
                dead.health()
            );
        }
        Ok(started)
    })();
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            let cleanup = super::stop::end_session(&session);
            return Err(match cleanup {
                Ok(_) => e.context(format!(
                    "starting lab {id} (stopped again, nothing left running)"
                )),
                Err(c) => e.context(format!("starting lab {id}; cleaning up also failed: {c:#}")),
            });
        }
    };
    State::update(|s| {
        if let Some(sess) = s.session.as_mut().filter(|x| x.lab == id && x.seed == seed) {
            sess.complete = true;
        }
        Ok(())
    })?;

    // The proctor records perturbing tools (strace, gdb...) from now on, surviving `lab` exiting.
    if let Err(e) = crate::commands::check::proctor::arm(&session) {
        eprintln!("lab: warning: proctor: {e:#}");
    }
    // Make sure the symptom the lab is about really shows on this machine (or say it doesn't).
    match crate::commands::check::verify_symptom(&lab, &session::inspect(&session)) {
        Ok(Some(line)) => println!("{}", Screen::stdout().indented(&line, "")),
        Ok(None) => {}
        Err(e) => eprintln!("lab: warning: symptom check: {e:#}"),
    }
    // From here on the student investigates: record the workload's truth for `lab check`
    // (after the symptom check, whose boosts change the workload). It runs until `lab stop`.
    if let Err(e) = crate::truth::launch::start(&lab, &data_dir) {
        eprintln!("lab: warning: {e:#}; `lab check` grades against its own trace window only");
    }

    println!(
        "{}",
        style.bold(&format!("Lab {id} is running (seed {seed})."))
    );
    for (name, comm, pid) in &started {
        println!("  {name}: {} (pid {pid})", style.code(comm));
    }
    footer(id, lab.hints.len(), style);
    Ok(ExitCode::SUCCESS)
}

fn footer(id: u32, hints: usize, style: Style) {
    let screen = Screen::stdout();
    let mut rows = vec![(
        "Begin:",
        "open another terminal and investigate with the BPF tools (lab tools lists them)"
            .to_string(),
    )];
    if hints > 0 {
        rows.push((
            "Hints:",
            format!(
                "sudo lab hint {}",
                style.dim(&format!("({hints} available)"))
            ),
        ));
    }
    rows.push(("Check:", format!("sudo lab check {id}")));
    rows.push((
        "Status:",
        format!(
            "sudo lab status {}",
            style.dim("(--watch keeps it on screen)")
        ),
    ));
    rows.push((
        "Stop:",
        format!("sudo lab stop {}", style.dim("(progress is kept)")),
    ));
    println!();
    for (what, how) in rows {
        let how = crate::privilege::as_typed(&how);
        println!(
            "{}",
            screen.wrap(&how, &format!("  {what:<8} "), &" ".repeat(11))
        );
    }
}

/// The lab is already running: show it again instead of starting a second copy.
fn show_running(lab: &Lab, running: &Session, style: Style) -> anyhow::Result<ExitCode> {
    let ctx = Context::for_session(lab, running);
    println!("{}\n", Screen::stdout().markdown(&ctx.body(lab)?));
    let live = session::inspect(running);
    let elapsed = state::now().saturating_sub(running.started_at);
    let already = format!(
        "Lab {} is already running (seed {}, started {} ago); not starting a second copy.",
        lab.id,
        running.seed,
        term::human_duration(elapsed)
    );
    println!("{}", Screen::stdout().indented(&style.bold(&already), ""));
    for w in &live.workloads {
        println!(
            "  {}: {} (pid {}) {}",
            w.name,
            style.code(&w.comm),
            w.pid,
            w.health()
        );
    }
    if !live.all_alive() {
        let ended = crate::privilege::as_typed(&format!(
            "Some workloads ended; restart the lab with: sudo lab stop && sudo lab start {}",
            lab.id
        ));
        println!("{}", Screen::stdout().indented(&ended, "  "));
    }
    footer(lab.id, lab.hints.len(), style);
    Ok(ExitCode::SUCCESS)
}

/// Run one prepare step to completion, drawing its `progress DONE TOTAL` lines as a bar.
fn prepare_step(
    data_dir: &std::path::Path,
    label: &str,
    run: &str,
    args: &[String],
    seed: u64,
) -> anyhow::Result<()> {
    let bin = spawn::workload_binary()?;
    let mut argv: Vec<String> = vec![run.to_string()];
    argv.extend(args.iter().cloned());
    argv.extend(["--seed".to_string(), seed.to_string()]);
    let reader = duct::cmd(&bin, &argv)
        .dir(data_dir)
        .stdin_null()
        .stderr_to_stdout()
        .unchecked()
        .before_spawn(|cmd| {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe. A prepare step dies with `lab start` (even
            // on kill -9) instead of writing into a session that is being cleaned up.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            Ok(())
        })
        .reader()
        .with_context(|| format!("{label}: starting lab-workload {run}"))?;
    let bar = indicatif::ProgressBar::new(1); // 0% until the step reports its total
    bar.set_style(
        indicatif::ProgressStyle::with_template("  {msg} [{bar:30}] {percent:>3}%")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    let plain = bar.is_hidden();
    if plain {
        println!("  {label} ...");
    }
    let mut tail: Vec<String> = Vec::new();
    for line in BufReader::new(&reader).lines() {
        let line = line.with_context(|| format!("{label}: reading its output"))?;
        let mut parts = line.split_whitespace();
        if parts.next() == Some("progress") {
            if let (Some(Ok(done)), Some(Ok(total))) = (
                parts.next().map(str::parse::<u64>),
                parts.next().map(str::parse::<u64>),
            ) {
                bar.set_length(total);
                bar.set_position(done);
                continue;
            }
        }
        tail.push(line);
        if tail.len() > 8 {
            tail.remove(0);
        }
    }
    let out = reader
        .try_wait()?
        .context("prepare step output ended but it did not exit")?;
    bar.finish_and_clear();
    if !out.status.success() {
        anyhow::bail!(
            "{label}: lab-workload {run} failed ({}):\n    {}",
            out.status,
            tail.join("\n    ")
        );
    }
    if plain {
        println!("  {label}: done");
    } else {
        println!("  {label}: {}", Style::stdout().ok("done"));
    }
    Ok(())
}
