//! Grading: each gradable question's answer judged against what the checker measured now, and
//! a numeric one also against the session's recording (crate::truth) when the lab keeps one.
use std::collections::BTreeMap;

use super::answer::{judge, Expected};
use crate::{
    checkers::{Measured, Measurements},
    lab::Lab,
};

/// One graded question.
#[derive(Debug)]
pub struct Graded {
    pub id: String,
    pub prompt: String,
    pub required: bool,
    pub answer: Option<String>,
    pub passed: bool,
    /// What accepted the answer: "now" (the fresh window) or "recording" (the session's).
    pub passed_by: Option<&'static str>,
    pub shown: String,
    pub why: String,
    /// Numeric questions of a recording lab: the truth over the last 15 minutes.
    pub over_time: Option<crate::truth::history::OverTime>,
}

pub fn grade(
    lab: &Lab,
    given: &BTreeMap<String, String>,
    measured: &Measurements,
    ctx: &crate::lab::render::Context,
    history: Option<&crate::truth::History>,
) -> Vec<Graded> {
    let mut out = Vec::new();
    for q in lab.questions.iter().filter(|q| q.gradable()) {
        let prompt = ctx.render(&q.prompt).unwrap_or_else(|_| q.prompt.clone());
        let answer = given.get(&q.id).cloned();
        let (mut passed, mut shown, mut why) = match (measured.get(&q.metric), &answer) {
            (None, _) => (
                false,
                "-".into(),
                format!("the checker does not measure {}", q.metric),
            ),
            (Some(Err(reason)), _) => (false, "not measured".into(), reason.clone()),
            (Some(Ok(m)), None) => (false, m.shown.clone(), "not answered".into()),
            (Some(Ok(m)), Some(a)) => {
                match judge(q.kind, q.tolerance, &q.choices, &m.expected, a) {
                    Ok(ok) => {
                        let tol = if q.kind.numeric() && q.tolerance != crate::lab::Tolerance::Exact
                        {
                            format!(" (accepted: {})", q.tolerance)
                        } else {
                            String::new()
                        };
                        (ok, m.shown.clone(), format!("{}{tol}", m.why))
                    }
                    Err(e) => (
                        false,
                        m.shown.clone(),
                        format!("could not read your answer: {e}"),
                    ),
                }
            }
        };
        let fresh = match measured.get(&q.metric) {
            Some(Ok(Measured {
                expected: Expected::Number { value, range },
                ..
            })) => {
                let (lo, hi) = range.unwrap_or((*value, *value));
                Some((*value, lo.min(*value), hi.max(*value)))
            }
            _ => None,
        };
        let over_time = history
            .filter(|_| q.kind.numeric())
            .and_then(|h| h.over_time(q, fresh, answer.as_deref()));
        let mut passed_by = passed.then_some("now");
        // Right at some point of the last 15 minutes counts: what the student could observe.
        if !passed && over_time.as_ref().is_some_and(|o| o.accepted == Some(true)) {
            passed = true;
            passed_by = Some("recording");
            if fresh.is_none() {
                shown = "not measured now".into();
                why = format!("{why}; graded against the session's recording");
            }
        }
        out.push(Graded {
            id: q.id.clone(),
            prompt,
            required: q.required,
            answer,
            passed,
            passed_by,
            shown,
            why,
            over_time,
        });
    }
    out
}
