//! The traced labs' checkers as plug-ins: each lab implements `Checker` once (in its own
//! module, check/labN.rs) and is registered in check.rs's CHECKERS, beside its `mod` line: the
//! one table `lab check`, `lab start`'s symptom check, the session recorder and `lab dev check`
//! consult. Adding a traced lab = a module with a `Checker` + its `mod` line and one row there.
use std::time::Duration;

use anyhow::Result;

use super::Measurements;
use crate::{lab::Lab, session::Live};

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
    fn recorder(&self) -> Result<Box<dyn crate::truth::Source>> {
        anyhow::bail!("this lab records no truth over the session")
    }
}

/// The traced lab `lab`'s checker (labs 4-5 are bpftrace exercises: commands::btcheck).
pub fn find(lab: u32) -> Option<&'static dyn Checker> {
    super::CHECKERS
        .iter()
        .find(|(id, _)| *id == lab)
        .map(|(_, c)| *c)
}
