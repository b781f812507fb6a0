//! `lab class up`: everything checked first (hosts, network, image, room), then the class
//! provisioned if DIR holds none, the base image stored once per host, and each student's VM
//! made, booted and checked until ready, at most `concurrency` at a time.
use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
    time::Duration,
};

use anyhow::Context as _;

use super::{
    decide::{decide, describe_plan, Decided},
    hosts::AccelChoice,
    journal::{class_name_from, Journal, VmRecord, VmState},
    progress::{Progress, Stage},
    scan::Action,
    vm::Vm,
    ClassDir,
};
use crate::libvirt::HostUri;

pub struct UpOptions {
    pub dir: PathBuf,
    pub students: Option<u16>,
    pub hosts: Option<Vec<HostUri>>,
    pub image: Option<PathBuf>,
    pub vcpus: Option<u32>,
    pub memory_mib: Option<u64>,
    pub disk_bytes: Option<u64>,
    pub network: Option<String>,
    pub accel: AccelChoice,
    pub concurrency: usize,
    pub dry_run: bool,
    /// Per VM, from the moment it is started.
    pub timeout: Duration,
    /// For a class provisioned by `up`.
    pub prefix: String,
    pub ssh_key: Option<PathBuf>,
    pub bin_dir: Option<PathBuf>,
}

/// What `up` ended with.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ready: Vec<String>,
    /// (student, reason)
    pub failed: Vec<(String, String)>,
    /// `--dry-run`: the plan, nothing done.
    pub plan: Option<String>,
    /// VMs made in this run.
    pub created: usize,
}

pub fn up(opts: &UpOptions, progress: &Progress) -> anyhow::Result<Outcome> {
    let d = decide(opts)?;
    for note in d.hosts.iter().filter_map(|h| h.accel_note.as_deref()) {
        progress.note(note);
    }
    if opts.dry_run {
        return Ok(Outcome {
            plan: Some(describe_plan(&d)),
            ..Outcome::default()
        });
    }
    let class = d.class.provision_if_new(opts)?;
    let _lock = class.lock()?;
    let journal = prepare_journal(&class, &d)?;
    store_bases(&d, &journal, progress)?;
    let outcome = run_vms(&class, &d, journal, opts, progress)?;
    class.rewrite_roster_and_cards()?;
    Ok(outcome)
}

/// The journal for this run: made at the first `up`, the new VMs recorded (state Creating)
/// before any of their objects exist.
fn prepare_journal(class: &ClassDir, d: &Decided) -> anyhow::Result<Journal> {
    let mut j = class
        .journal
        .clone()
        .unwrap_or_else(|| Journal::new(&class_name_from(&class.dir), d.settings.clone()));
    j.settings = d.settings.clone();
    for h in &d.hosts {
        if !j.hosts.iter().any(|u| u == h.uri()) {
            j.hosts.push(h.uri().to_string());
        }
    }
    for (student, action) in &d.actions {
        if let Action::Create(i) = action {
            j.vms.insert(
                student.clone(),
                VmRecord {
                    host: d.hosts[*i].uri().to_string(),
                    domain: j.domain_name(student),
                    accel: d.hosts[*i].accel.to_string(),
                    state: VmState::Creating,
                    address: j.vms.get(student).and_then(|r| r.address.clone()),
                    via: d.hosts[*i].via.clone(),
                    reason: None,
                    ready_at: None,
                    timings: Default::default(),
                },
            );
        }
    }
    j.save(&class.dir)?;
    Ok(j)
}

/// The class pool and base image on every host that gets a new VM (hosts in parallel: each
/// upload is bound by its own host's link and disk).
fn store_bases(d: &Decided, j: &Journal, progress: &Progress) -> anyhow::Result<()> {
    let Some(base) = &d.base else { return Ok(()) };
    let pool_name = crate::libvirt::pool::pool_name(&j.class_name);
    std::thread::scope(|scope| {
        let jobs: Vec<_> = d
            .hosts
            .iter()
            .enumerate()
            .filter(|(i, _)| d.actions.iter().any(|(_, a)| *a == Action::Create(*i)))
            .map(|(_, h)| {
                let pool_name = &pool_name;
                scope.spawn(move || -> anyhow::Result<()> {
                    crate::libvirt::pool::ensure(&h.virsh, pool_name)?;
                    base.store(h, pool_name, &|line| progress.note(&line))
                        .with_context(|| format!("{}: storing the base image", h.uri()))
                })
            })
            .collect();
        jobs.into_iter()
            .try_for_each(|j| j.join().expect("no panic in an upload"))
    })
}

fn run_vms(
    class: &ClassDir,
    d: &Decided,
    journal: Journal,
    opts: &UpOptions,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let ssh_opts = class.ssh_options()?;
    let journal = Mutex::new(journal);
    let outcome = Mutex::new(Outcome::default());
    let next = AtomicUsize::new(0);
    let lines: Vec<_> = d
        .actions
        .iter()
        .map(|(s, a)| {
            let (Action::Keep(i) | Action::Create(i)) = a else {
                unreachable!("placed")
            };
            progress.vm(s, &d.hosts[*i].label())
        })
        .collect();
    for l in &lines {
        l.set(Stage::Queued, "");
    }
    std::thread::scope(|scope| {
        for _ in 0..opts.concurrency.clamp(1, d.actions.len().max(1)) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some((student, action)) = d.actions.get(k) else {
                    break;
                };
                let vm = Vm {
                    class,
                    d,
                    student,
                    action,
                    journal: &journal,
                    opts: &ssh_opts,
                    timeout: opts.timeout,
                };
                let result = vm.bring_up(&lines[k]);
                let mut o = outcome.lock().expect("no panics holding it");
                match result {
                    Ok(made) => {
                        o.ready.push(student.clone());
                        o.created += usize::from(made);
                        lines[k].set(Stage::Ready, "");
                    }
                    Err(why) => {
                        lines[k].set(Stage::Failed, &why);
                        o.failed.push((student.clone(), why));
                    }
                }
            });
        }
    });
    journal
        .into_inner()
        .expect("workers done")
        .save(&class.dir)?;
    Ok(outcome.into_inner().expect("workers done"))
}
