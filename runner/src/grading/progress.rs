//! One check's result kept in the student's progress (the state file): each answer, the tally of
//! the required questions, the first time every one of them passed, and the proctor's counts.
use anyhow::Result;

use super::Graded;
use crate::{lab::Lab, store};

/// Record `report` (lab `lab`'s graded questions) and `proctor_seen` (tool → runs) in the state.
pub fn record(lab: &Lab, report: &[Graded], proctor_seen: Vec<(String, u64)>) -> Result<()> {
    store::State::update(|state| {
        let progress = state.progress_mut(lab.id);
        progress.proctor = proctor_seen.into_iter().collect();
        for r in report.iter().filter(|r| r.answer.is_some()) {
            progress.record(&r.id, r.passed, r.answer.as_deref().unwrap_or(""), &r.shown);
        }
        let required: Vec<&str> = lab
            .questions
            .iter()
            .filter(|q| q.required && q.gradable())
            .map(|q| q.id.as_str())
            .collect();
        progress.last_check = Some(store::CheckTally {
            passed: report
                .iter()
                .filter(|r| r.passed && required.contains(&r.id.as_str()))
                .count(),
            total: required.len(),
            at: crate::clock::now(),
        });
        if progress.passed_count(required.iter().copied()) == required.len()
            && progress.passed_at.is_none()
        {
            progress.passed_at = Some(crate::clock::now());
        }
        Ok(())
    })
}
