//! What already exists of a class on its hosts: its domains, found by their mark only. A domain
//! with a class VM's name but not this class's mark is someone else's: `up` refuses to touch it.
use std::collections::BTreeMap;

use super::{
    hosts::Host,
    journal::{Journal, VmState},
};
use crate::{libvirt::domain, privilege::usage};

/// What `up` does for one student.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Its domain exists (host index): start it if needed and check it.
    Keep(usize),
    /// Make its objects on this host (index): new, or a never-ready failure made again.
    Create(usize),
    /// New: a host is still to be chosen.
    Place,
}

/// Every class domain on `hosts`, by student: (host index, domain state).
pub fn existing(
    hosts: &[Host],
    class_name: &str,
    class_id: Option<&str>,
    students: &[String],
) -> anyhow::Result<BTreeMap<String, (usize, String)>> {
    let mut found = BTreeMap::new();
    let prefix = format!("{class_name}-");
    for (i, h) in hosts.iter().enumerate() {
        for name in domain::names(&h.virsh)?
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
        {
            let student = &name[prefix.len()..];
            let ours = domain::mark(&h.virsh, &name)
                .filter(|m| Some(m.class_id.as_str()) == class_id && m.student == student);
            match ours {
                Some(m) => {
                    let state = domain::state(&h.virsh, &name).unwrap_or_default();
                    found.insert(m.student, (i, state));
                }
                None if students.iter().any(|s| s == student) => {
                    return Err(usage(format!(
                        "{}: domain '{name}' exists but is not this class's (no lab class mark with this class's id): rename the class directory, or remove that domain yourself if it is a leftover",
                        h.uri()
                    )))
                }
                None => {}
            }
        }
    }
    Ok(found)
}

/// The action for each student, from what exists and what the journal remembers.
pub fn actions(
    students: &[String],
    found: &BTreeMap<String, (usize, String)>,
    journal: Option<&Journal>,
    hosts: &[Host],
) -> Vec<(String, Action)> {
    let host_of = |uri: &str| hosts.iter().position(|h| h.uri() == uri);
    students
        .iter()
        .map(|s| {
            let rec = journal.and_then(|j| j.vms.get(s));
            let action = match (found.get(s), rec) {
                // Failed before it ever was ready: nothing of a student's is on it yet.
                (Some((i, _)), Some(r)) if r.state == VmState::Failed && r.ready_at.is_none() => {
                    Action::Create(*i)
                }
                // A killed `up` left it half made.
                (Some((i, _)), Some(r)) if r.state == VmState::Creating => Action::Create(*i),
                (Some((i, _)), _) => Action::Keep(*i),
                (None, Some(r)) => host_of(&r.host).map_or(Action::Place, Action::Create),
                (None, None) => Action::Place,
            };
            (s.clone(), action)
        })
        .collect()
}
