//! `lab class ls`: each student's VM: host, domain, libvirt state, address, and whether `up`
//! found it ready (or why not).
use serde::Serialize;

use super::{hosts, journal::VmState, ClassDir};
use crate::libvirt::{domain, HostUri, Virsh};

#[derive(Debug, Clone, Serialize)]
pub struct VmRow {
    pub student: String,
    pub host: String,
    pub domain: String,
    /// libvirt's state (`running`, `shut off`), `missing`, or `unreachable`.
    pub state: String,
    pub address: Option<String>,
    /// `ready`, `failed: why`, `creating`, `booting`, or `not made` (no VM for the student).
    pub up: String,
}

pub fn rows(class: &ClassDir) -> anyhow::Result<Vec<VmRow>> {
    let students: Vec<String> = match (&class.roster, &class.journal) {
        (Some(r), _) => r.iter().map(|s| s.name.clone()).collect(),
        (None, Some(j)) => j.vms.keys().cloned().collect(),
        (None, None) => Vec::new(),
    };
    let mut hosts: Vec<(String, Result<Virsh, String>)> = Vec::new();
    for uri in class.journal.iter().flat_map(|j| j.hosts.iter()) {
        let v = HostUri::parse(uri)
            .and_then(|u| hosts::connect(&u))
            .map_err(|e| format!("{e:#}"));
        hosts.push((uri.clone(), v));
    }
    Ok(students
        .iter()
        .map(|s| {
            let rec = class.journal.as_ref().and_then(|j| j.vms.get(s));
            let Some(r) = rec else {
                return VmRow {
                    student: s.clone(),
                    host: String::new(),
                    domain: String::new(),
                    state: "missing".into(),
                    address: None,
                    up: "not made".into(),
                };
            };
            let v = hosts.iter().find(|(u, _)| *u == r.host).map(|(_, v)| v);
            let state = match v {
                Some(Ok(v)) => domain::state(v, &r.domain).unwrap_or_else(|| "missing".into()),
                _ => "unreachable".into(),
            };
            let host = HostUri::parse(&r.host).map_or(r.host.clone(), |u| u.label());
            VmRow {
                student: s.clone(),
                host,
                domain: r.domain.clone(),
                state,
                address: r.address.clone(),
                up: match r.state {
                    VmState::Ready => "ready".into(),
                    VmState::Failed => format!("failed: {}", r.reason.as_deref().unwrap_or("?")),
                    VmState::Creating => "creating".into(),
                    VmState::Booting => "booting".into(),
                },
            }
        })
        .collect())
}
