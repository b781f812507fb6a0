//! Starting a session, in the steps `lab start` shows between: `plan` renders everything first
//! (a template error leaves nothing behind) and checks the disk; `claim` takes the machine and
//! records the session before anything runs (a kill -9 from there on leaves a session that
//! `lab stop` cleans up); `launch` runs the prepare steps and starts the workloads supervised,
//! ending the session again if anything fails; `settle` marks it complete and arms what watches
//! it (proctor, symptom check, truth recorder).
use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;

use super::{prepare, runfiles, spawn, SessionRecord};
use crate::{
    lab::{render::Context, Lab},
    store::{self, State},
};

/// Free space a lab needs for its data: lab 1's log grows to 256 MiB before it is truncated,
/// plus its dumps and the truth recorder's files.
const MIN_FREE_TO_START: u64 = 512 << 20;

/// Everything rendered for one session of a lab, before anything runs.
pub struct Plan {
    pub lab: u32,
    pub seed: u64,
    pub data_dir: PathBuf,
    pub user: String,
    /// The lab text, as markdown.
    pub body: String,
    pub ctx: Context,
    /// (label, lab-workload subcommand, args) per prepare step.
    pub prepare: Vec<(String, String, Vec<String>)>,
    pub workloads: Vec<Workload>,
}

/// One workload to start.
pub struct Workload {
    pub name: String,
    pub comm: String,
    pub run: String,
    pub args: Vec<String>,
}

/// A workload as started: (name, comm, pid).
pub type Started = (String, String, i32);

/// Render lab `lab` for `seed` and check there is room for its data.
pub fn plan(lab: &Lab, seed: u64) -> anyhow::Result<Plan> {
    let data_dir = super::data_dir_for(&store::dir()?, lab.id);
    // After any earlier session's data is gone: a workload on a full disk would die (or stall)
    // mid-lab and be graded; refuse now, before anything is written.
    check_free_space(lab.id, &data_dir)?;
    let user = store::user();
    let ctx = Context::for_seed(lab, seed, &data_dir, &user)?;
    let body = ctx.body(lab)?;
    let prepare = lab
        .prepare
        .iter()
        .map(|s| {
            let label = s.label.clone().unwrap_or_else(|| s.run.clone());
            Ok((label, s.run.clone(), ctx.args(lab, s)?))
        })
        .collect::<anyhow::Result<_>>()?;
    let workloads = lab
        .workloads
        .iter()
        .map(|w| {
            Ok(Workload {
                name: w.name.clone(),
                comm: ctx.comm(lab, w)?,
                run: w.run.clone(),
                args: ctx.args(lab, w)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    spawn::workload_binary()?;
    Ok(Plan {
        lab: lab.id,
        seed,
        data_dir,
        user,
        body,
        ctx,
        prepare,
        workloads,
    })
}

fn check_free_space(id: u32, data_dir: &std::path::Path) -> anyhow::Result<()> {
    // The nearest existing ancestor's file system.
    let Some(fs_dir) = data_dir.ancestors().find(|d| d.exists()) else {
        return Ok(());
    };
    let Some(free) = crate::doctor::system::free_bytes(fs_dir) else {
        return Ok(());
    };
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
    Ok(())
}

/// Clear a stale data dir, claim the machine and record the session (not yet complete).
pub fn claim(plan: &Plan) -> anyhow::Result<SessionRecord> {
    // A stale one from a crash: its recorder (if any) first, it writes there.
    crate::truth::launch::stop(&plan.data_dir)?;
    super::remove_data_dir(&plan.data_dir)?;
    let session = SessionRecord {
        lab: plan.lab,
        seed: plan.seed,
        vars: plan.ctx.seed.clone(),
        data_dir: plan.data_dir.clone(),
        user: plan.user.clone(),
        started_at: crate::clock::now(),
        boot_id: super::procs::boot_id(),
        workloads: plan.workloads.iter().map(|w| w.name.clone()).collect(),
        complete: false,
    };
    // Claim the machine (checked again under its lock: two starts at once cannot both win).
    // `lab dev check`'s reference runs only look: they are not a user's lab.
    if super::proctor::in_dev_session() {
        super::machine::refuse_if_taken(&session.user)?;
    } else {
        super::machine::claim(&session)?;
    }
    State::update(|s| {
        s.session = Some(session.clone());
        s.progress_mut(plan.lab).last_seed = Some(plan.seed);
        Ok(())
    })?;
    Ok(session)
}

/// Run the prepare steps (each reporting to `progress`) and start the workloads; on any failure
/// the session is ended again and the error says whether anything was left behind.
pub fn launch(
    plan: &Plan,
    session: &SessionRecord,
    progress: &mut dyn prepare::Progress,
) -> anyhow::Result<Vec<Started>> {
    match launch_all(plan, session, progress) {
        Ok(s) => Ok(s),
        Err(e) => Err(match super::end::end(session) {
            Ok(_) => e.context(format!(
                "starting lab {} (stopped again, nothing left running)",
                plan.lab
            )),
            Err(c) => e.context(format!(
                "starting lab {}; cleaning up also failed: {c:#}",
                plan.lab
            )),
        }),
    }
}

fn launch_all(
    plan: &Plan,
    session: &SessionRecord,
    progress: &mut dyn prepare::Progress,
) -> anyhow::Result<Vec<Started>> {
    let data_dir = &plan.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    // The answers' raw material: the student's alone (`sessions/` only lets a lab's login
    // user pass through to a data dir its workload opened, lab 2's).
    if let Some(sessions) = data_dir.parent() {
        store::make_private(sessions, store::PASS_THROUGH)?;
    }
    store::make_private(data_dir, store::PRIVATE)?;
    for (label, run, args) in &plan.prepare {
        prepare::run_step(data_dir, label, run, args, plan.seed, progress)?;
    }
    let mut started = Vec::new();
    for w in &plan.workloads {
        let id = spawn::start(data_dir, &w.name, &w.comm, &w.run, &w.args, plan.seed)?;
        started.push((w.name.clone(), w.comm.clone(), id.pid));
    }
    // A workload that dies at once (bad args, missing program) is reported now, not later.
    std::thread::sleep(Duration::from_millis(300));
    let live = super::inspect(session);
    if let Some(dead) = live.workloads.iter().find(|w| !w.alive) {
        let tail = runfiles::log_tail(data_dir, &dead.name, 8).join("\n    ");
        anyhow::bail!(
            "workload {} ({}) {} right after starting; its last output:\n    {tail}",
            dead.name,
            dead.comm,
            dead.health()
        );
    }
    Ok(started)
}

/// What `settle` has to say: the symptom check's line, and warnings (nothing failed for them).
#[derive(Default)]
pub struct Settled {
    pub symptom: Option<String>,
    pub warnings: Vec<String>,
}

/// Mark the session complete, arm the proctor, check the lab's symptom shows on this machine,
/// and start the truth recorder.
pub fn settle(lab: &Lab, session: &SessionRecord) -> anyhow::Result<Settled> {
    State::update(|s| {
        if let Some(sess) = s
            .session
            .as_mut()
            .filter(|x| x.lab == session.lab && x.seed == session.seed)
        {
            sess.complete = true;
        }
        Ok(())
    })?;
    let mut out = Settled::default();
    // The proctor records perturbing tools (strace, gdb...) from now on, surviving `lab` exiting.
    if let Err(e) = super::proctor::arm(session) {
        out.warnings.push(format!("proctor: {e:#}"));
    }
    match crate::checkers::verify_symptom(lab, &super::inspect(session)) {
        Ok(line) => out.symptom = line,
        Err(e) => out.warnings.push(format!("symptom check: {e:#}")),
    }
    // From here on the student investigates: record the workload's truth for `lab check`
    // (after the symptom check, whose boosts change the workload). It runs until `lab stop`.
    if let Err(e) = crate::truth::launch::start(lab, &session.data_dir) {
        out.warnings.push(format!(
            "{e:#}; `lab check` grades against its own trace window only"
        ));
    }
    Ok(out)
}
