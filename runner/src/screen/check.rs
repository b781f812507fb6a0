//! `lab check`'s results in words: a traced lab's graded questions, and an exercise's verdict on
//! the student's bpftrace tool; wrapped to the screen with hanging indents, bpftrace's source
//! lines kept verbatim.
use super::Screen;
use crate::{exercises::Outcome, grading::Graded, lab::Lab, privilege::as_typed};

/// Each question with its mark, the answer, what was measured and why; then the proctor's lines
/// and the verdict.
pub fn report(
    lab: &Lab,
    passed: bool,
    report: &[Graded],
    proctor: &[String],
    screen: Screen,
) -> String {
    let st = screen.style;
    let mut out = vec![st.heading(&format!("Lab {}: {}", lab.id, lab.title))];
    let detail = |text: &str| screen.indented(text, "    ");
    for r in report {
        let head = format!("{} {}", st.bold(&r.id), st.dim(&r.prompt));
        out.push(screen.wrap(&head, &format!("{} ", mark(r.passed, screen)), "    "));
        let ans = r.answer.as_deref().unwrap_or("(no answer)");
        out.push(detail(&format!(
            "your answer: {ans} · measured: {}",
            r.shown
        )));
        if let Some(o) = &r.over_time {
            out.push(detail(&format!("over the session: {}", o.text)));
        }
        out.push(detail(&st.dim(&as_typed(&r.why))));
    }
    for p in proctor {
        out.push(screen.wrap(p, &format!("{} ", st.warn("!")), "  "));
    }
    let n = report.iter().filter(|r| r.passed).count();
    let last = if passed {
        st.ok(&format!(
            "Lab {} passed: {n}/{} right.",
            lab.id,
            report.len()
        ))
    } else {
        as_typed(&format!("{n}/{} right; the lab passes when every required answer is. Try again: sudo lab check {}", report.len(), lab.id))
    };
    out.push(screen.indented(&last, ""));
    lines(out)
}

/// An open exercise: its text (lab markdown), and that nothing grades it.
pub fn open(id: &str, title: &str, text: &str, screen: Screen) -> String {
    lines(vec![
        screen.indented(&format!("lab check {id}: {title}"), ""),
        String::new(),
        screen.markdown(text),
        String::new(),
        "No automatic verdict for this exercise.".into(),
    ])
}

/// An exercise's verdict: bpftrace's errors (with the line of the tool), each check, notes.
pub fn exercise(r: &Outcome, screen: Screen) -> String {
    let st = screen.style;
    let head = format!(
        "lab check {}: {} ({}, seed {})",
        r.exercise, r.title, r.tool, r.seed
    );
    let mut out = vec![screen.indented(&head, "")];
    for e in &r.errors {
        let at = e.line.map_or(String::new(), |n| format!(" at line {n}"));
        out.push(screen.wrap(&e.message, &format!("  bpftrace error{at}: "), "      "));
        if let (Some(n), Some(src)) = (e.line, &e.source) {
            // The student's own line, as written: never wrapped.
            out.push(format!("      {n:>4} | {}", src.trim_end()));
        }
        out.push(screen.wrap(&as_typed(&e.hint), "      hint: ", "            "));
    }
    for c in &r.checks {
        let text = format!("{}: {}", c.what, as_typed(&c.detail));
        out.push(screen.wrap(&text, &format!("  {} ", mark(c.ok, screen)), "    "));
    }
    for n in &r.notes {
        out.push(screen.wrap(&as_typed(n), "  note: ", "        "));
    }
    out.push(match r.passed {
        Some(true) => st.ok("PASSED"),
        Some(false) => st.bad("FAILED"),
        None => "not graded automatically".into(),
    });
    lines(out)
}

fn mark(ok: bool, screen: Screen) -> String {
    if ok {
        screen.style.ok("✓")
    } else {
        screen.style.bad("✗")
    }
}

fn lines(v: Vec<String>) -> String {
    let mut s = v.join("\n");
    s.push('\n');
    s
}
