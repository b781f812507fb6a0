//! `lab status` for people: the running lab's workloads (health, CPU, memory, I/O) as a table
//! that fits the screen, then the lab's progress and its latest check, question by question.
//! Drawn from the same document `lab status --json` prints (status_json::StatusDoc).
use super::{Grid, Screen};
use crate::{
    lab::Lab,
    privilege::as_typed,
    status_json::{LabDoc, SessionDoc, StatusDoc},
    term::human_duration,
};

/// The whole report for a running lab (`doc.lab` set); `lab` is its definition (for the order
/// and ids of its questions).
pub fn render(doc: &StatusDoc, lab: Option<&Lab>, screen: Screen) -> String {
    let (Some(id), Some(s)) = (doc.lab, doc.session.as_ref()) else {
        return String::new();
    };
    let st = screen.style;
    let mut out = String::new();
    let head = format!(
        "Lab {id}: {} — running for {} of {} (seed {})",
        s.title,
        human_duration(s.elapsed_secs),
        human_duration(s.duration_secs),
        s.seed
    );
    line(&mut out, &screen.indented(&st.bold(&head), ""));
    for warning in warnings(s, id) {
        line(&mut out, &screen.wrap(&st.warn(&warning), "  ", "  "));
    }
    out.push('\n');
    out.push_str(&workloads(s, screen));
    out.push('\n');
    line(
        &mut out,
        &screen.wrap(&format!("data: {}", s.data_dir), "", "  "),
    );
    if s.workloads
        .iter()
        .any(|w| w.alive && w.read_bytes_per_sec.is_none())
    {
        let why = as_typed("I/O rates need root: sudo lab status");
        line(
            &mut out,
            &screen.indented(&st.dim(&format!("(? {why})")), ""),
        );
    }
    if let Some(l) = doc.labs.iter().find(|l| l.id == id) {
        out.push('\n');
        out.push_str(&progress(l, lab, screen));
    }
    out
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

fn warnings(s: &SessionDoc, id: u32) -> Vec<String> {
    let mut w = Vec::new();
    if !s.same_boot {
        w.push(as_typed("The machine rebooted since this lab started: its workloads are gone. Run: sudo lab stop"));
    }
    if !s.complete {
        w.push(as_typed(&format!(
            "lab start did not finish (interrupted?); run: sudo lab stop && sudo lab start {id}"
        )));
    }
    w
}

fn workloads(s: &SessionDoc, screen: Screen) -> String {
    let st = screen.style;
    let mut grid = Grid::new(
        screen,
        &[
            "workload", "process", "pid", "cpu", "memory", "read/s", "write/s", "state",
        ],
    );
    for w in &s.workloads {
        let unknown = if w.alive { "?" } else { "-" };
        let rate = |v: Option<f64>| v.map_or(unknown.into(), human_bytes);
        let mut state = if w.alive {
            st.ok(&w.health)
        } else {
            st.bad(&w.health)
        };
        if w.alive && w.processes > 1 {
            state.push_str(&st.dim(&format!(" ({} processes)", w.processes)));
        }
        grid.row([
            w.name.clone(),
            w.comm.clone(),
            w.pid.to_string(),
            w.cpu_percent.map_or("-".into(), |c| format!("{c:.0}%")),
            w.memory_bytes.map_or("-".into(), |m| human_bytes(m as f64)),
            rate(w.read_bytes_per_sec),
            rate(w.write_bytes_per_sec),
            state,
        ]);
    }
    let mut out = grid.right(&[2, 3, 4, 5, 6]).keep(&[2, 3, 4, 5, 6]).render();
    for w in &s.workloads {
        for l in &w.log_tail {
            line(
                &mut out,
                &screen.wrap(&st.dim(l), &format!("  {}: ", w.name), "    "),
            );
        }
    }
    out
}

/// "Progress: 3/7 right · hints 1 of 4", then the latest check with a mark per question.
fn progress(l: &LabDoc, lab: Option<&Lab>, screen: Screen) -> String {
    let st = screen.style;
    let mut out = String::new();
    let hints = lab.map_or(String::new(), |lab| {
        format!(" · hints seen: {} of {}", l.hints_used, lab.hints.len())
    });
    let words = match l.progress() {
        p if p == "passed" => st.ok(&p),
        p => p,
    };
    line(
        &mut out,
        &screen.indented(&format!("Progress: {words}{hints}"), ""),
    );
    let Some(at) = l.last_check_at else {
        let next = as_typed(&format!(
            "No check yet: sudo lab check {} when you know.",
            l.id
        ));
        line(&mut out, &screen.indented(&st.dim(&next), ""));
        return out;
    };
    let ago = human_duration(crate::clock::now().saturating_sub(at));
    let ids: Vec<&str> = match lab {
        Some(lab) => lab.questions.iter().map(|q| q.id.as_str()).collect(),
        None => l.answers.iter().map(|a| a.id.as_str()).collect(),
    };
    let marks: Vec<String> = ids
        .iter()
        .filter_map(|id| {
            let a = l.answers.iter().find(|a| a.id == *id);
            let mark = match a {
                Some(a) if a.passed => st.ok("✓"),
                Some(_) => st.bad("✗"),
                // Text and tool questions are not answered through lab check.
                None if lab.is_some_and(|lab| !gradable(lab, id)) => return None,
                None => st.dim("·"),
            };
            // A no-break space: a mark never ends a line without its question.
            Some(format!("{mark}\u{a0}{id}"))
        })
        .collect();
    let text = format!("Latest check, {ago} ago: {}", marks.join("  "));
    line(&mut out, &screen.wrap(&text, "", "  "));
    out
}

fn gradable(lab: &Lab, id: &str) -> bool {
    lab.question(id)
        .is_some_and(|q| !matches!(q.kind, crate::lab::Kind::Text | crate::lab::Kind::Tool))
}

/// "4.0 KiB", "512 B".
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}
