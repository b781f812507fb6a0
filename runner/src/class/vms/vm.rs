//! One student's VM through its stages in `lab class up`: made (when it is to be), started,
//! then checked until ready, with each state change written to the class journal.
use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use super::{
    create,
    decide::Decided,
    hosts::Host,
    journal::{Journal, VmRecord, VmState},
    progress::{Stage, VmLine},
    ready,
    scan::Action,
    ClassDir,
};

/// One student's VM through its stages.
pub struct Vm<'a> {
    pub class: &'a ClassDir,
    pub d: &'a Decided,
    pub student: &'a str,
    pub action: &'a Action,
    pub journal: &'a Mutex<Journal>,
    pub opts: &'a crate::class::Options,
    pub timeout: Duration,
}

impl Vm<'_> {
    /// Ok(whether it was made in this run) once ready; Err(why not).
    pub fn bring_up(&self, line: &VmLine) -> Result<bool, String> {
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
        line: &VmLine,
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
