//! `lab class down`: exactly what `up` made, on every host the class used: the domains that
//! carry this class's mark, then the class's storage pool (overlays, seeds, base image). Nothing
//! without the mark is touched.
use anyhow::Context as _;

use super::{hosts, journal::Journal, ClassDir};
use crate::{
    libvirt::{domain, pool, HostUri, Virsh},
    privilege::usage,
};

/// What `down` would remove on one host.
pub struct HostSurvey {
    pub uri: String,
    /// Err: the host could not be reached (its objects stay).
    pub virsh: Result<Virsh, String>,
    pub domains: Vec<String>,
    pub pool: Option<String>,
    pub volumes: usize,
}

pub struct Survey {
    pub class: ClassDir,
    pub journal: Journal,
    pub hosts: Vec<HostSurvey>,
}

impl Survey {
    pub fn domain_count(&self) -> usize {
        self.hosts.iter().map(|h| h.domains.len()).sum()
    }
}

pub fn survey(class: ClassDir) -> anyhow::Result<Survey> {
    let journal = class.journal.clone().ok_or_else(|| {
        usage(format!(
            "--class {}: no VMs made by `lab class up` there (no vms.json)",
            class.dir.display()
        ))
    })?;
    let pool_name = pool::pool_name(&journal.class_name);
    let mut out = Vec::new();
    for uri in &journal.hosts {
        let mut s = HostSurvey {
            uri: uri.clone(),
            virsh: Err(String::new()),
            domains: Vec::new(),
            pool: None,
            volumes: 0,
        };
        match HostUri::parse(uri).and_then(|u| hosts::connect(&u)) {
            Err(e) => s.virsh = Err(format!("{e:#}")),
            Ok(v) => {
                let prefix = format!("{}-", journal.class_name);
                for name in domain::names(&v)?
                    .into_iter()
                    .filter(|n| n.starts_with(&prefix))
                {
                    if domain::mark(&v, &name).is_some_and(|m| m.class_id == journal.class_id) {
                        s.domains.push(name);
                    }
                }
                if pool::exists(&v, &pool_name) {
                    s.volumes = pool::volumes(&v, &pool_name)?.len();
                    s.pool = Some(pool_name.clone());
                }
                s.virsh = Ok(v);
            }
        }
        out.push(s);
    }
    Ok(Survey {
        class,
        journal,
        hosts: out,
    })
}

/// Remove what the survey found. Err lists hosts that could not be reached: their VMs stay,
/// and so do their entries in vms.json, for the next `down`.
pub fn remove(s: &Survey, say: &dyn Fn(String)) -> anyhow::Result<()> {
    let _lock = s.class.lock()?;
    let mut journal = s.journal.clone();
    let mut unreachable = Vec::new();
    for h in &s.hosts {
        let v = match &h.virsh {
            Ok(v) => v,
            Err(e) => {
                unreachable.push(format!("{}: {e}", h.uri));
                continue;
            }
        };
        for d in &h.domains {
            domain::remove(v, d)?;
            say(format!("{}: removed domain {d}", v.host.label()));
        }
        if let Some(p) = &h.pool {
            pool::remove(v, p).with_context(|| format!("{}: removing pool {p}", h.uri))?;
            say(format!(
                "{}: removed pool {p} ({} volumes)",
                v.host.label(),
                h.volumes
            ));
        }
        forget_addresses(&s.class, &journal, &h.uri);
        journal.vms.retain(|_, r| r.host != h.uri);
        journal.hosts.retain(|u| u != &h.uri);
    }
    if journal.hosts.is_empty() {
        std::fs::remove_file(s.class.dir.join(super::journal::FILE))
            .context("removing vms.json")?;
    } else {
        journal.save(&s.class.dir)?;
    }
    if !unreachable.is_empty() {
        anyhow::bail!(
            "not removed, hosts unreachable (run `lab class down` again when they are back): {}",
            unreachable.join("; ")
        );
    }
    Ok(())
}

/// The removed VMs' addresses leave the class's known_hosts: new VMs may get them.
fn forget_addresses(class: &ClassDir, j: &Journal, uri: &str) {
    let known = class.dir.join("known_hosts");
    if !known.exists() {
        return;
    }
    for ip in j
        .vms
        .values()
        .filter(|r| r.host == uri)
        .filter_map(|r| r.address.as_ref())
    {
        let _ = duct::cmd!("ssh-keygen", "-R", ip, "-f", &known)
            .stdout_null()
            .stderr_null()
            .run();
    }
}
