//! The traced labs' checkers as plug-ins: each implements `Checker` once, in a module named by
//! what it checks, and is registered in CHECKERS under that name. A lab binds its checker by
//! name in its front matter (`checker = "disk_latency"`, labs/FORMAT.md), so the one table here
//! is what `lab check`, `lab start`'s symptom check, the session recorder and `lab dev check`
//! consult. Adding a traced lab = a module with a `Checker` + its `mod` line and one row there.
use std::{collections::BTreeMap, time::Duration};

use anyhow::{bail, Result};

use crate::{grading::answer::Expected, lab::Lab, session::Live};

pub mod disk_latency;
pub mod runqueue;
pub mod ssh_login;
mod stats;
pub mod traces;
mod window;

/// Every checker by the name a lab's front matter gives.
static CHECKERS: &[(&str, &dyn Checker)] = &[
    ("disk_latency", &disk_latency::DiskLatency),
    ("ssh_login", &ssh_login::SshLogin),
    ("runqueue", &runqueue::Runqueue),
];

pub trait Checker: Sync {
    /// Metric names this checker measures (what a lab's questions may ask).
    fn metrics(&self) -> &'static [&'static str];
    /// Trace the running workload for `window` (None: the lab's own) and measure every metric.
    fn measure(&self, lab: &Lab, live: &Live, window: Option<Duration>) -> Result<Measurements>;
    /// After `lab start`: does the lab's symptom show on this machine? One line for the student.
    fn verify_symptom(&self, live: &Live) -> Result<String>;
    /// Metrics its session recorder keeps per window (empty: it records none).
    fn recorded(&self, _lab: &Lab) -> &'static [&'static str] {
        &[]
    }
    /// Its session recorder's source (called only when `recorded` is not empty).
    fn recorder(&self) -> Result<Box<dyn crate::truth::WindowSource>> {
        anyhow::bail!("this lab records no truth over the session")
    }
}

/// One question's measured value, as shown to the student.
#[derive(Debug, Clone)]
pub struct Measured {
    pub expected: Expected,
    /// The measured value in words ("ledgerd (PID 4242)", "4.0 KiB").
    pub shown: String,
    /// One line on how it was measured / why it is the answer.
    pub why: String,
}

/// Measured value per metric name; Err = could not be measured this time (the reason).
pub type Measurements = BTreeMap<String, Result<Measured, String>>;

/// The checker named `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Checker> {
    CHECKERS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// Every checker's name (for error messages and `lab dev check`).
pub fn names() -> impl Iterator<Item = &'static str> {
    CHECKERS.iter().map(|(n, _)| *n)
}

/// The checker `lab` names in its front matter (labs 4-5 name none: their bpftrace exercises
/// are checked by crate::exercises).
pub fn find(lab: &Lab) -> Option<&'static dyn Checker> {
    lab.checker.as_deref().and_then(by_name)
}

/// `find`, or an error naming what is missing, for `lab check N`.
pub fn require(lab: &Lab) -> Result<&'static dyn Checker> {
    match lab.checker.as_deref() {
        None => bail!(
            "lab {} has no traced checks in this runner; its exercises are checked with: lab check {}a --tool FILE.bt",
            lab.id,
            lab.id
        ),
        Some(name) => by_name(name).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: checker {name:?} is not one this runner has ({})",
                lab.source,
                names().collect::<Vec<_>>().join(", ")
            )
        }),
    }
}

/// After `lab start`: confirm the lab's symptom shows on this machine, adjusting the workload's
/// intensity within bounds. Returns a line for the student; `Ok(None)` when the lab has nothing
/// to verify.
pub fn verify_symptom(lab: &Lab, live: &Live) -> Result<Option<String>> {
    find(lab).map(|c| c.verify_symptom(live)).transpose()
}

/// Metrics the lab's session recorder keeps per window (crate::truth); empty: it records none.
pub fn recorded_metrics(lab: &Lab) -> &'static [&'static str] {
    find(lab).map_or(&[], |c| c.recorded(lab))
}

/// Whether `lab start` runs a truth recorder for this lab: some question asks a recorded metric.
pub fn records(lab: &Lab) -> bool {
    let m = recorded_metrics(lab);
    lab.questions.iter().any(|q| m.contains(&q.metric.as_str()))
}

/// The lab's recorder source, for `lab record`.
pub fn open_recorder(lab: &Lab) -> Result<Box<dyn crate::truth::WindowSource>> {
    match find(lab) {
        Some(c) if records(lab) => c.recorder(),
        _ => bail!(
            "lab {} records no truth over the session; nothing to run `lab record` for",
            lab.id
        ),
    }
}

/// Whether the lab's checker measures `metric` (false for a lab with no checker).
pub fn metric_known(lab: &Lab, metric: &str) -> bool {
    find(lab).is_some_and(|c| c.metrics().contains(&metric))
}

#[cfg(test)]
mod tests {
    /// Every shipped lab with traced questions names a checker this runner has, and every
    /// checker is some lab's: the binding is by name, so a typo on either side shows here.
    #[test]
    fn the_shipped_labs_and_the_checkers_name_each_other() {
        let labs = crate::lab::catalog().unwrap();
        for lab in &labs {
            let traced = lab.questions.iter().any(|q| q.gradable());
            assert_eq!(
                super::find(lab).is_some(),
                traced,
                "{}: checker {:?}",
                lab.source,
                lab.checker
            );
            for q in lab.questions.iter().filter(|q| q.gradable()) {
                assert!(
                    super::metric_known(lab, &q.metric),
                    "{}: {}",
                    lab.source,
                    q.metric
                );
            }
        }
        for name in super::names() {
            assert!(
                labs.iter().any(|l| l.checker.as_deref() == Some(name)),
                "checker {name} is no lab's"
            );
        }
    }
}
