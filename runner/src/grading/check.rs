//! One `lab check` of a traced lab: measure with the lab's checker, grade the answers against
//! that and the session's recording, read the proctor, and keep the result in the progress.
use std::{collections::BTreeMap, time::Duration};

use anyhow::Result;

use super::Graded;
use crate::{checkers, lab::Lab, session::proctor, session::Live};

/// What a check found.
pub struct Checked {
    pub report: Vec<Graded>,
    /// The proctor's lines (perturbing tools run during the lab); empty when none ran.
    pub proctor: Vec<String>,
    /// What the student should know but that graded anyway.
    pub warnings: Vec<String>,
}

impl Checked {
    /// Every required question passed.
    pub fn passed(&self) -> bool {
        self.report.iter().filter(|r| r.required).all(|r| r.passed)
    }
}

/// Check `given` (question id → answer) for the running `lab`, tracing for `window` (None: the
/// checker's own).
pub fn check(
    lab: &Lab,
    live: &Live,
    given: &BTreeMap<String, String>,
    ctx: &crate::lab::render::Context,
    window: Option<Duration>,
) -> Result<Checked> {
    let measured = checkers::require(lab)?.measure(lab, live, window)?;
    // The truth over the session (labs whose checker records one, from `lab start` on).
    let s = &live.session;
    let history = crate::truth::History::load(&s.data_dir, s.started_at, crate::clock::now());
    let mut warnings = Vec::new();
    if checkers::records(lab) && crate::truth::launch::running(&s.data_dir).is_none() {
        warnings.push(format!("the session's truth recorder is not running, so sizes and latencies are graded against this check's window only; to record again: sudo lab stop && sudo lab start {}", lab.id));
    }
    let report = super::grade(lab, given, &measured, ctx, history.as_ref());
    let proctor =
        proctor::report(s).unwrap_or_else(|e| vec![format!("proctor unavailable: {e:#}")]);
    // Kept in the progress so `lab status` (and the instructor's `lab class`) show it without root.
    let seen = if proctor::armed(s) {
        proctor::counts(s).unwrap_or_default()
    } else {
        Vec::new()
    };
    super::progress::record(lab, &report, seen)?;
    Ok(Checked {
        report,
        proctor,
        warnings,
    })
}
