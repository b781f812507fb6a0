//! What `lab class up` decides before it makes anything: the class's settings, its hosts
//! (connected and checked), what each student needs, and where the new VMs go. Every bad input
//! is found here, so a refused `up` has created nothing.
use std::path::PathBuf;

use super::{
    create::StoredBase,
    hosts::{self, Host},
    image::BaseImage,
    journal::{class_name_from, Journal, Settings},
    plan,
    scan::{self, Action},
    up::UpOptions,
    ClassDir,
};
use crate::{libvirt::HostUri, privilege::usage};

/// Everything decided before the first object is made.
pub struct Decided {
    pub class: ClassDir,
    pub hosts: Vec<Host>,
    pub settings: Settings,
    pub actions: Vec<(String, Action)>,
    pub base: Option<StoredBase>,
}

pub fn decide(opts: &UpOptions) -> anyhow::Result<Decided> {
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

pub fn describe_plan(d: &Decided) -> String {
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
