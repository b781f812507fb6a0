//! One student's row: what their VM answered (or why it did not) and whether they need help.
use serde::Serialize;

use super::Target;
use crate::status_json::StatusDoc;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub host: String,
    pub user: String,
    /// SSH got through and the command ran.
    pub reachable: bool,
    /// Why there is no status: "refused: ...", "timeout: ...", "auth: ...", ...
    pub error: Option<String>,
    /// How long asking this VM took.
    pub elapsed_ms: u64,
    /// The VM's `lab status --json`, as it answered.
    pub status: Option<StatusDoc>,
    /// Why this student may need help, most urgent first (empty: fine).
    pub help: Vec<String>,
    /// 0 stuck, 1 failing checks, 2 unreachable / no answer, 3 other flags, 4 fine.
    pub rank: u8,
}

impl Row {
    pub fn new(t: &Target) -> Row {
        Row {
            name: t.name.clone(),
            host: t.host.clone(),
            user: t.user.clone(),
            reachable: false,
            error: None,
            elapsed_ms: 0,
            status: None,
            help: Vec::new(),
            rank: 4,
        }
    }

    /// The running lab and how long it has run, seconds.
    pub fn current(&self) -> Option<(u32, u64, u64)> {
        let s = self.status.as_ref()?;
        let session = s.session.as_ref()?;
        Some((s.lab?, session.elapsed_secs, session.duration_secs))
    }

    /// Labs passed, with when.
    pub fn passed(&self) -> Vec<(u32, Option<u64>)> {
        self.status.as_ref().map_or(Vec::new(), |s| {
            s.labs
                .iter()
                .filter(|l| l.status == "passed")
                .map(|l| (l.id, l.passed_at))
                .collect()
        })
    }

    /// Work out `help` and `rank` from what the VM said.
    pub fn assess(&mut self) {
        let mut help: Vec<(u8, String)> = Vec::new();
        if let Some(e) = &self.error {
            help.push((2, format!("no status: {e}")));
        }
        if let Some(s) = &self.status {
            if let (Some(lab), Some(session)) = (s.lab, &s.session) {
                if session.duration_secs > 0 && session.elapsed_secs > session.duration_secs {
                    help.push((
                        0,
                        format!(
                            "stuck: on lab {lab} for {}, planned {}",
                            crate::term::human_duration(session.elapsed_secs),
                            crate::term::human_duration(session.duration_secs)
                        ),
                    ));
                }
                if let Some(c) = s.last_check.as_ref().filter(|c| c.lab == lab && !c.ok) {
                    help.push((
                        1,
                        format!(
                            "failing checks: lab {lab}: {}",
                            crate::status_json::right(c.passed, c.required)
                        ),
                    ));
                }
                if let Some(w) = session.workloads.iter().find(|w| !w.alive) {
                    help.push((3, format!("workload {} {}", w.name, w.health)));
                }
            }
            if !s.proctor.seen.is_empty() {
                let tools: Vec<String> = s.proctor.seen.keys().cloned().collect();
                help.push((3, format!("ran {}", tools.join(", "))));
            }
            if let Some(d) = s.doctor.as_ref().filter(|d| !d.all_labs_runnable) {
                help.push((3, format!("doctor: {}", d.failed.join(", "))));
            }
        }
        help.sort_by_key(|h| h.0);
        self.rank = help.first().map_or(4, |h| h.0);
        self.help = help.into_iter().map(|h| h.1).collect();
    }
}

/// Students who need help first (by rank, then longest on their lab), then by name.
pub fn sort(rows: &mut [Row]) {
    for r in rows.iter_mut() {
        r.assess();
    }
    rows.sort_by(|a, b| {
        a.rank
            .cmp(&b.rank)
            .then_with(|| {
                let t = |r: &Row| r.current().map_or(0, |c| c.1);
                t(b).cmp(&t(a))
            })
            .then_with(|| a.name.cmp(&b.name))
    });
}
