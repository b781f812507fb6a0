//! A lab's reference run for `lab dev check`: start the lab, answer every question with what the
//! checker itself measures, and require `lab check` to pass; then stop the lab.
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use super::answer::Expected;
use crate::{
    checkers,
    lab::{Kind, Lab},
};

/// Run the lab's reference answers through the checker: start the lab, answer every question
/// with what the checker itself measures (the reference answers are the measured truths, except
/// questions with a `reference`), and require a pass; then stop the lab. A lab that records its
/// truth over the session answers its recorded metrics with the latest recorded window: like a
/// student's reading, a value the workload really had during the session.
pub fn reference_run(lab: &Lab) -> Result<Option<String>> {
    let Some(checker) = checkers::find(lab) else {
        return Ok(None);
    };
    let exe = std::env::current_exe().context("finding the lab binary")?;
    let run = |args: &[&str]| -> Result<std::process::Output> {
        std::process::Command::new(&exe)
            .args(args)
            .output()
            .with_context(|| format!("running lab {}", args.join(" ")))
    };
    let id = lab.id.to_string();
    let out = run(&["start", &id])?;
    anyhow::ensure!(
        out.status.success(),
        "lab start {id} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let result = (|| -> Result<String> {
        let live = crate::session::require_running(lab.id)?;
        std::thread::sleep(Duration::from_secs(2));
        let measured = checker.measure(lab, &live, None)?;
        let history = if checkers::records(lab) {
            Some(recorded_window(lab, &live)?)
        } else {
            None
        };
        let recorded = checkers::recorded_metrics(lab);
        let mut args: Vec<String> = vec!["check".into(), id.clone(), "--json".into()];
        for q in lab.questions.iter().filter(|q| q.gradable()) {
            let latest = history
                .as_ref()
                .filter(|_| recorded.contains(&q.metric.as_str()))
                .and_then(|h| h.latest(&q.metric));
            let value = match (&q.reference, latest, measured.get(&q.metric)) {
                (Some(r), ..) => {
                    crate::lab::render::Context::for_session(lab, &live.session).render(r)?
                }
                (None, Some(v), _) => reference_answer(q.kind, &Expected::number(v)),
                (None, None, Some(Ok(m))) => reference_answer(q.kind, &m.expected),
                (None, ..) => bail!("question {}: metric {} was not measured", q.id, q.metric),
            };
            args.push("--answer".into());
            args.push(format!("{}={value}", q.id));
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&argv)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "reference answers did not pass:\n{stdout}"
        );
        Ok(format!(
            "all {} answers pass against the traced workload",
            (args.len() - 3) / 2
        ))
    })();
    let _ = run(&["stop"]);
    result.map(Some)
}

/// The session's recording once it holds a window with every recorded metric of the lab's
/// questions (the recorder started with the lab; a window takes 6 s).
fn recorded_window(lab: &Lab, live: &crate::session::Live) -> Result<crate::truth::History> {
    let wanted: Vec<&str> = lab
        .questions
        .iter()
        .map(|q| q.metric.as_str())
        .filter(|m| checkers::recorded_metrics(lab).contains(m))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let s = &live.session;
        let h = crate::truth::History::load(&s.data_dir, s.started_at, crate::clock::now());
        if let Some(h) = h.filter(|h| wanted.iter().all(|m| h.latest(m).is_some())) {
            return Ok(h);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the truth recorder of lab {} recorded no window with {} in 40 s (see {})",
            lab.id,
            wanted.join(", "),
            crate::truth::dir(&s.data_dir).join("logs").display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The measured value written as a student would answer it.
fn reference_answer(kind: Kind, expected: &Expected) -> String {
    match expected {
        Expected::Process { names, .. } => names.first().cloned().unwrap_or_default(),
        Expected::File { path } => path.clone(),
        Expected::Syscall(s) | Expected::Choice(s) => s.clone(),
        Expected::Number { value, .. } => match kind {
            Kind::Duration => format!("{value}ns"),
            Kind::Size => format!("{value}"),
            _ => format!("{value}"),
        },
    }
}
