//! The class as a terminal table, an HTML page (no external assets) and CSV.
use super::Row;
use crate::{
    screen::{Grid, Screen},
    status_json::right,
    term::human_duration,
};

/// The cells of one row, shared by the table, the page and the CSV.
pub struct Cells {
    pub reach: String,
    pub lab: String,
    pub on_lab: String,
    pub passed: String,
    pub passed_when: String,
    pub check: String,
    pub hints: String,
    pub proctor: String,
    pub doctor: String,
}

pub fn cells(r: &Row) -> Cells {
    let s = r.status.as_ref();
    let now = s.map_or(0, |s| s.now);
    let current = r.current();
    Cells {
        reach: if r.status.is_some() {
            "yes".into()
        } else {
            r.error
                .as_deref()
                .map(|e| e.split(':').next().unwrap_or(e).to_string())
                .unwrap_or_else(|| "no".into())
        },
        lab: current.map_or("-".into(), |c| c.0.to_string()),
        on_lab: current.map_or("-".into(), |(_, t, d)| {
            format!("{} / {}", human_duration(t), human_duration(d))
        }),
        passed: {
            let p = r.passed();
            if p.is_empty() {
                "-".into()
            } else {
                p.iter()
                    .map(|x| x.0.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }
        },
        passed_when: r
            .passed()
            .iter()
            .map(|(id, at)| match at {
                Some(at) => format!("{id}: {} ago", human_duration(now.saturating_sub(*at))),
                None => id.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        check: s
            .and_then(|s| s.last_check.as_ref())
            .map_or("-".into(), |c| {
                format!("lab {}: {}", c.lab, right(c.passed, c.required))
            }),
        hints: s.map_or("-".into(), |s| s.hints_used.to_string()),
        proctor: s.map_or("-".into(), |s| {
            if s.proctor.seen.is_empty() {
                "-".into()
            } else {
                s.proctor
                    .seen
                    .iter()
                    .map(|(k, v)| format!("{k}x{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            }
        }),
        doctor: s
            .and_then(|s| s.doctor.as_ref())
            .map_or("-".into(), |d| d.verdict.clone()),
    }
}

const HEAD: [&str; 10] = [
    "student", "host", "reach", "lab", "time", "passed", "check", "hints", "proctor", "doctor",
];

/// The terminal table (fitted to the screen: one line per student unless it is too narrow),
/// then who needs help and why, most urgent first.
pub fn table(rows: &[Row], screen: Screen) -> String {
    let mut grid = Grid::new(screen, &HEAD);
    for r in rows {
        let c = cells(r);
        let name = match r.rank {
            0..=2 => screen.style.bad(&r.name),
            3 => screen.style.warn(&r.name),
            _ => r.name.clone(),
        };
        // Time on the lab / planned, "25m/20m": the page and the CSV have the seconds.
        let on_lab = r.current().map_or("-".into(), |(_, t, d)| {
            format!("{}/{}", minutes(t), minutes(d))
        });
        grid.row([
            name,
            r.host.clone(),
            c.reach,
            c.lab,
            on_lab,
            c.passed,
            c.check,
            c.hints,
            c.proctor,
            c.doctor,
        ]);
    }
    // Proctor flags, doctor failures and why a VM is unreachable are also in the help lines.
    let mut out = grid.keep(&[0, 3, 4, 5, 7]).optional(&[9, 8, 2]).render();
    let help = rows.iter().filter(|r| r.rank < 4).count();
    out.push_str(&format!(
        "{} students, {} reachable, {} may need help\n",
        rows.len(),
        rows.iter().filter(|r| r.status.is_some()).count(),
        help
    ));
    for r in rows.iter().filter(|r| !r.help.is_empty()) {
        let why = format!("{}: {}", r.name, r.help.join("; "));
        let shown = if r.rank <= 2 {
            screen.style.bad(&why)
        } else {
            screen.style.warn(&why)
        };
        out.push_str(&screen.wrap(&shown, "  ! ", "    "));
        out.push('\n');
    }
    out
}

/// "25m", "1h05m".
fn minutes(secs: u64) -> String {
    let m = secs / 60;
    if m >= 60 {
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        format!("{m}m")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The projector page: refreshes itself every `refresh_secs` (a meta refresh, no script, no
/// external asset).
pub fn page(rows: &[Row], refresh_secs: u64, updated: &str) -> String {
    let mut body = String::new();
    for r in rows {
        let c = cells(r);
        let class = match r.rank {
            0..=2 => "help",
            3 => "flag",
            _ => "ok",
        };
        body.push_str(&format!(
            "<tr class=\"{class}\" data-student=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&r.name),
            esc(&r.name),
            esc(&r.host),
            esc(&c.reach),
            esc(&c.lab),
            esc(&c.on_lab),
            esc(&c.passed_when),
            esc(&c.passed),
            esc(&c.check),
            esc(&c.hints),
            esc(&c.proctor),
            esc(&c.doctor),
            esc(&r.help.join("; ")),
        ));
    }
    let help = rows.iter().filter(|r| r.rank < 4).count();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"{refresh_secs}\">\
<title>lab class</title><style>\
body{{font:16px/1.4 system-ui,sans-serif;margin:1.5em;background:#fff;color:#111}}\
table{{border-collapse:collapse;width:100%}}th,td{{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left}}\
th{{background:#f3f3f3}}tr.help td{{background:#fde2e1}}tr.flag td{{background:#fff4d6}}\
.meta{{color:#555}}</style></head><body>\
<h1>Class: {} students, {help} may need help</h1>\
<p class=\"meta\" id=\"updated\">updated {} &middot; refreshes every {refresh_secs} s</p>\
<table id=\"class\"><thead><tr><th>student</th><th>host</th><th>reachable</th><th>lab</th>\
<th>time / planned</th><th>passed</th><th>last check</th><th>hints</th><th>proctor</th>\
<th>doctor</th><th>needs help</th></tr></thead><tbody>\n{body}</tbody></table></body></html>\n",
        rows.len(),
        esc(updated),
    )
}

/// CSV summary, one row per student (for `lab class collect`).
pub fn csv(rows: &[Row]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "name",
        "host",
        "reachable",
        "error",
        "current_lab",
        "time_on_lab_secs",
        "labs_passed",
        "last_check_lab",
        "last_check_passed",
        "last_check_required",
        "hints_used",
        "proctor",
        "doctor",
        "needs_help",
    ])?;
    for r in rows {
        let c = cells(r);
        let s = r.status.as_ref();
        let check = s.and_then(|s| s.last_check.as_ref());
        let current = r.current();
        w.write_record([
            r.name.clone(),
            r.host.clone(),
            r.status.is_some().to_string(),
            r.error.clone().unwrap_or_default(),
            current.map_or(String::new(), |c| c.0.to_string()),
            current.map_or(String::new(), |c| c.1.to_string()),
            r.passed()
                .iter()
                .map(|p| p.0.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            check.map_or(String::new(), |c| c.lab.to_string()),
            check.map_or(String::new(), |c| c.passed.to_string()),
            check.map_or(String::new(), |c| c.required.to_string()),
            s.map_or(String::new(), |s| s.hints_used.to_string()),
            if c.proctor == "-" {
                String::new()
            } else {
                c.proctor
            },
            if c.doctor == "-" {
                String::new()
            } else {
                c.doctor
            },
            r.help.join("; "),
        ])?;
    }
    Ok(w.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::Target;

    /// A student on lab 2 for 25 minutes (planned 20) whose last check got 1 of 5 right.
    fn stuck(name: &str) -> Row {
        let doc = serde_json::json!({
            "schema": 1, "kind": "lab-status", "user": name, "host": "vm", "now": 10_000,
            "lab": 2, "title": "Slow SSH login", "seed": 7, "started_at": 8_500,
            "elapsed_secs": 1_500, "duration_secs": 1_200, "data_dir": "/d", "complete": true,
            "same_boot": true, "workloads": [],
            "labs": [], "hints_used": 2, "proctor": {"seen": {"strace": 1}, "source": "live"},
            "last_check": {"lab": 2, "at": 9_900, "passed": 1, "required": 5, "ok": false},
            "doctor": null
        });
        let mut r = Row::new(&Target {
            name: name.into(),
            host: "127.0.0.1:40022".into(),
            user: name.into(),
            via: None,
        });
        r.status = Some(serde_json::from_value(doc).unwrap());
        r
    }

    #[test]
    fn the_table_fits_80_columns_one_line_per_student_and_says_who_needs_help() {
        let mut dave = stuck("dave");
        dave.status = None;
        dave.error = Some("refused: connection refused".into());
        let mut rows = vec![stuck("bob"), stuck("alice"), dave];
        crate::class::row::sort(&mut rows);
        let out = table(&rows, Screen::plain(80));
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("student") && lines[1].starts_with('─'),
            "{out}"
        );
        assert!(
            lines[2].starts_with("alice ") && lines[3].starts_with("bob "),
            "{out}"
        );
        assert!(
            lines[3].contains("lab 2: 1/5 right") && lines[3].contains(" 25m/20m "),
            "{out}"
        );
        assert!(
            lines[4].starts_with("dave ") && lines[4].contains(" refused "),
            "{out}"
        );
        assert!(
            lines[5].starts_with("3 students"),
            "one line per student:\n{out}"
        );
        assert!(
            out.contains("  ! bob: stuck: on lab 2 for 25m 00s, planned 20m 00s"),
            "{out}"
        );
        // Wider than the screen: still within it, the columns wrapped rather than cut.
        let long = vec![stuck("a-student-with-a-very-long-name")];
        let out = table(&long, Screen::plain(80));
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        assert!(out.contains("1/5"), "{out}");
    }
}
