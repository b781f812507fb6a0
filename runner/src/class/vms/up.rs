//! `lab class up`: everything checked first (hosts, network, image, room), then the class
//! provisioned if DIR holds none, the base image stored once per host, and each student's VM
//! made, booted and checked until ready, at most `concurrency` at a time.
use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;

use super::{
    create::{self, StoredBase},
    hosts::{self, AccelChoice, Host},
    image::BaseImage,
    journal::{class_name_from, Journal, Settings, VmRecord, VmState},
    plan,
    progress::{Progress, Stage},
    ready,
    scan::{self, Action},
    ClassDir,
};
use crate::{libvirt::HostUri, privilege::usage};

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

/// Everything decided before the first object is made.
struct Decided {
    class: ClassDir,
    hosts: Vec<Host>,
    settings: Settings,
    actions: Vec<(String, Action)>,
    base: Option<StoredBase>,
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

fn decide(opts: &UpOptions) -> anyhow::Result<Decided> {
    let class = ClassDir::open(&opts.dir)?;
    let students = class.student_names(opts.students, &opts.prefix)?;
    let journal = class.journal.as_ref();
    let settings = merge_settings(opts, journal)?;
    let hosts = open_hosts(opts, journal, &settings.network)?;
    let class_name = journal.map_or_else(|| class_name_from(&opts.dir), |j| j.class_name.clone());
    let found = scan::existing(
        &hosts,
        &class_name,
        journal.map(|j| j.class_id.as_str()),
        &students,
    )?;
    let mut actions = scan::actions(&students, &found, journal, &hosts);
    let making = actions.iter().any(|(_, a)| !matches!(a, Action::Keep(_)));
    let base = if making {
        let image = opts
            .image
            .clone()
            .or_else(|| journal.map(|j| PathBuf::from(&j.settings.image)))
            .ok_or_else(|| usage("--image FILE: needed to create VMs (a Debian 12/13 genericcloud .qcow2, or the directory provision/vm/build-image.sh prints)"))?;
        let base = StoredBase::new(BaseImage::open(&image)?)?;
        if settings.disk_bytes < base.image.virtual_size {
            return Err(usage(format!(
                "--disk {} GiB: smaller than the image's own disk ({} GiB); give at least that",
                settings.disk_bytes >> 30,
                base.image.virtual_size.div_ceil(1 << 30)
            )));
        }
        Some(base)
    } else {
        None
    };
    place_new(
        &mut actions,
        &hosts,
        opts,
        &class_name,
        &settings,
        base.as_ref(),
    )?;
    Ok(Decided {
        class,
        hosts,
        settings: Settings {
            image: base.as_ref().map_or(settings.image.clone(), |b| {
                b.image.disk.display().to_string()
            }),
            direct_kernel_boot: base.as_ref().is_some_and(|b| b.kernel.is_some()),
            ..settings
        },
        actions,
        base,
    })
}

/// The settings for this run: the journal's for a class that has VMs, with explicit flags
/// that contradict them refused.
fn merge_settings(opts: &UpOptions, journal: Option<&Journal>) -> anyhow::Result<Settings> {
    let Some(j) = journal.filter(|j| !j.vms.is_empty()) else {
        return Ok(Settings {
            vcpus: opts.vcpus.unwrap_or(2),
            memory_mib: opts.memory_mib.unwrap_or(2048),
            disk_bytes: opts.disk_bytes.unwrap_or(10 << 30),
            network: opts.network.clone().unwrap_or_else(|| "default".into()),
            image: String::new(),
            direct_kernel_boot: false,
        });
    };
    let s = &j.settings;
    let clash = |flag: &str, given: String, made: String| {
        usage(format!(
            "{flag} {given}: this class's VMs were made with {made}; run `lab class down` first to change it, or leave the flag out"
        ))
    };
    if let Some(v) = opts.vcpus.filter(|v| *v != s.vcpus) {
        return Err(clash("--vcpus", v.to_string(), s.vcpus.to_string()));
    }
    if let Some(m) = opts.memory_mib.filter(|m| *m != s.memory_mib) {
        return Err(clash(
            "--memory",
            format!("{m}M"),
            format!("{}M", s.memory_mib),
        ));
    }
    if let Some(b) = opts.disk_bytes.filter(|b| *b != s.disk_bytes) {
        return Err(clash(
            "--disk",
            format!("{}G", b >> 30),
            format!("{}G", s.disk_bytes >> 30),
        ));
    }
    if let Some(n) = opts.network.as_ref().filter(|n| **n != s.network) {
        return Err(clash("--network", n.clone(), s.network.clone()));
    }
    Ok(s.clone())
}

/// Connect to the hosts to place on (--hosts, else the journal's, else the local libvirt) and
/// to every host the class already uses.
fn open_hosts(
    opts: &UpOptions,
    journal: Option<&Journal>,
    network: &str,
) -> anyhow::Result<Vec<Host>> {
    let mut uris: Vec<HostUri> = match (&opts.hosts, journal) {
        (Some(h), _) => h.clone(),
        (None, Some(j)) if !j.hosts.is_empty() => j
            .hosts
            .iter()
            .map(|u| HostUri::parse(u))
            .collect::<anyhow::Result<_>>()?,
        _ => vec![HostUri::parse("qemu:///system")?],
    };
    for u in journal.map(|j| j.hosts.as_slice()).unwrap_or_default() {
        if !uris.iter().any(|x| &x.uri == u) {
            uris.push(HostUri::parse(u)?);
        }
    }
    let hosts: Vec<Host> = uris
        .iter()
        .map(|u| hosts::open(hosts::connect(u)?, network, opts.accel))
        .collect::<anyhow::Result<_>>()?;
    hosts::refuse_duplicates(&hosts, network)?;
    Ok(hosts)
}

/// Choose hosts for the new students; refuse a class that does not fit.
fn place_new(
    actions: &mut [(String, Action)],
    hosts: &[Host],
    opts: &UpOptions,
    class_name: &str,
    s: &Settings,
    base: Option<&StoredBase>,
) -> anyhow::Result<()> {
    let new: Vec<usize> = (0..actions.len())
        .filter(|&i| actions[i].1 == Action::Place)
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let base = base.expect("an image is opened whenever a VM is to be made");
    // --hosts limits where new VMs go; hosts only in the journal keep what they have.
    let candidates: Vec<usize> = (0..hosts.len())
        .filter(|&i| {
            opts.hosts
                .as_ref()
                .is_none_or(|h| h.iter().any(|u| u.uri == hosts[i].uri()))
        })
        .collect();
    let pool_name = crate::libvirt::pool::pool_name(class_name);
    let base_bytes = base.image.file_size
        + base
            .image
            .kernel
            .as_ref()
            .map_or(0, |(k, i)| file_len(k) + file_len(i));
    let seed_bytes = file_len(&opts.dir.join(crate::provision::payload::FILE_NAME)).max(64 << 20);
    let mut rooms = Vec::new();
    let mut costs = Vec::new();
    for &i in &candidates {
        let used = actions
            .iter()
            .filter(|(_, a)| matches!(a, Action::Keep(h) | Action::Create(h) if *h == i))
            .count() as u32
            * s.vcpus;
        rooms.push(hosts::room(
            &hosts[i], &pool_name, &base.disk, base_bytes, used,
        )?);
        costs.push(hosts::cost(
            hosts[i].accel,
            s.memory_mib,
            s.vcpus,
            seed_bytes,
        ));
    }
    // One cost for the plan: the dearest host's (TCG's overhead where any host lacks KVM).
    let cost = *costs
        .iter()
        .max_by_key(|c| c.memory_kib)
        .expect("at least one host");
    let placed = plan::place(new.len(), &rooms, &cost).map_err(usage)?;
    for (k, &i) in new.iter().enumerate() {
        actions[i].1 = Action::Create(candidates[placed[k]]);
    }
    Ok(())
}

fn file_len(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

fn describe_plan(d: &Decided) -> String {
    let mut out = String::from("Plan (--dry-run: nothing created):\n");
    for (i, h) in d.hosts.iter().enumerate() {
        let on: Vec<&str> = d
            .actions
            .iter()
            .filter(|(_, a)| matches!(a, Action::Keep(x) | Action::Create(x) if *x == i))
            .map(|(s, _)| s.as_str())
            .collect();
        let new = d
            .actions
            .iter()
            .filter(|(_, a)| matches!(a, Action::Create(x) if *x == i))
            .count();
        out += &format!(
            "  {:<28} {:>3} VMs ({} new), {} vCPUs, {} MiB; host has {} CPUs, {} MiB free; {}\n",
            h.uri(),
            on.len(),
            new,
            on.len() as u32 * d.settings.vcpus,
            on.len() as u64 * d.settings.memory_mib,
            h.node.cpus,
            h.node.free_kib / 1024,
            if h.accel == "kvm" { "KVM" } else { "TCG" }
        );
        if !on.is_empty() {
            out += &format!("      {}\n", on.join(" "));
        }
    }
    out
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

/// One student's VM through its stages.
struct Vm<'a> {
    class: &'a ClassDir,
    d: &'a Decided,
    student: &'a str,
    action: &'a Action,
    journal: &'a Mutex<Journal>,
    opts: &'a crate::class::Options,
    timeout: Duration,
}

impl Vm<'_> {
    /// Ok(whether it was made in this run) once ready; Err(why not).
    fn bring_up(&self, line: &super::progress::VmLine) -> Result<bool, String> {
        let (Action::Keep(i) | Action::Create(i)) = *self.action else {
            unreachable!("placed")
        };
        let host = &self.d.hosts[i];
        let domain = self
            .journal
            .lock()
            .expect("no panics")
            .domain_name(self.student);
        let fresh = matches!(self.action, Action::Create(_));
        let result = self
            .make_and_start(host, &domain, fresh, line)
            .and_then(|()| {
                let probe = ready::Probe {
                    host,
                    domain: &domain,
                    student: self.student,
                    user: &self.class.user_of(self.student),
                    opts: self.opts,
                    deadline: Instant::now() + self.timeout,
                    fresh,
                };
                ready::wait(&probe, line, &|ip| {
                    self.record(|r| r.address = Some(ip.to_string()))
                })
                .map_err(|(_, why)| why)
            });
        let timings = line.timings();
        self.record(|r| r.timings = timings);
        match &result {
            Ok(_) => self.record(|r| {
                r.state = VmState::Ready;
                r.reason = None;
                r.ready_at.get_or_insert_with(unix_now);
            }),
            Err(why) => self.record(|r| {
                r.state = VmState::Failed;
                r.reason = Some(why.clone());
            }),
        }
        result.map(|_| fresh)
    }

    fn make_and_start(
        &self,
        host: &Host,
        domain: &str,
        fresh: bool,
        line: &super::progress::VmLine,
    ) -> Result<(), String> {
        if fresh {
            let base = self.d.base.as_ref().expect("an image for every VM made");
            line.set(Stage::Creating, "");
            let j = self.journal.lock().expect("no panics").clone();
            create::create(&self.class.dir, &j, self.student, host, base)
                .map_err(|e| format!("{e:#}"))?;
            self.record(|r| r.state = VmState::Booting);
            line.set(Stage::Defined, "");
        }
        if crate::libvirt::domain::state(&host.virsh, domain).as_deref() != Some("running") {
            crate::libvirt::domain::start(&host.virsh, domain).map_err(|e| format!("{e:#}"))?;
        }
        Ok(())
    }

    fn record(&self, f: impl FnOnce(&mut VmRecord)) {
        let mut j = self.journal.lock().expect("no panics");
        if let Some(r) = j.vms.get_mut(self.student) {
            f(r);
        }
        // A failed save loses only progress notes: the domains themselves are the truth.
        let _ = j.save(&self.class.dir);
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
