//! Grading a numeric answer against the truth over the session.
//!
//! The rule: an answer is right when it is within the question's tolerance of some value
//! between the smallest and the largest truth measured in the last RECENT (15 minutes): the
//! recorded windows that ended then (each with the spread a shorter reading inside it could
//! give, ring::Record::band), plus `lab check`'s fresh window. A range, not only the windows'
//! own values, because a student's reading (biosnoop for a while, then its slowest lines) never
//! lines up with the recorder's windows, and a median over a stretch spanning several windows
//! lies between those windows' medians: any value in between is one a student could really
//! have measured. Outside the range by more than the tolerance stays wrong.
use std::{collections::BTreeMap, path::Path};

use serde::Serialize;

use super::{ring, RECENT};
use crate::{
    grading::answer::{self, show_ns, show_size, Expected},
    lab::{Kind, Question},
};

/// The recorded windows of the stretch a check grades against.
#[derive(Debug, Clone)]
pub struct History {
    /// Unix seconds: the session's start (minute 1 begins there) and the check's now.
    started_at: u64,
    now: u64,
    records: Vec<ring::Record>,
}

/// One numeric question's truth over the stretch, and where the answer fits in it.
#[derive(Debug, Clone, Serialize)]
pub struct OverTime {
    /// Smallest and largest truth of the stretch (recorded windows and the fresh one), in the
    /// question's base unit (bytes, ns, count).
    pub min: f64,
    pub max: f64,
    /// Recorded windows in the stretch that measured this metric.
    pub windows: usize,
    /// Seconds from the first of them to the check.
    pub span_secs: u64,
    /// The answer is within tolerance of the range (null: no answer, or it could not be read).
    pub accepted: Option<bool>,
    /// Minutes of the session (1 = the first) whose own recorded value accepts the answer, as
    /// [first, last] runs.
    pub fits_minutes: Vec<[u64; 2]>,
    /// The fresh window's value accepts the answer.
    pub fits_now: bool,
    /// The line the check prints.
    pub text: String,
}

impl History {
    /// The recording of the session in `data_dir`, cut to the last RECENT before `now`; None
    /// when the session has no recording.
    pub fn load(data_dir: &Path, started_at: u64, now: u64) -> Option<History> {
        Some(Self::from_records(
            ring::read(&ring::path(data_dir))?,
            started_at,
            now,
        ))
    }

    pub fn from_records(records: Vec<ring::Record>, started_at: u64, now: u64) -> History {
        let since = now.saturating_sub(RECENT.as_secs());
        History {
            started_at,
            now,
            records: records.into_iter().filter(|r| r.end >= since).collect(),
        }
    }

    /// The histograms of `metric` recorded in windows that ended at most `secs` before now,
    /// added up (slot → count); empty when none was recorded.
    pub fn merged_hist(&self, metric: &str, secs: u64) -> BTreeMap<u64, u64> {
        let since = self.now.saturating_sub(secs);
        let mut out = BTreeMap::new();
        for r in self.records.iter().filter(|r| r.end >= since) {
            for (slot, n) in r.hists.get(metric).into_iter().flatten() {
                *out.entry(*slot).or_default() += n;
            }
        }
        out
    }

    /// The latest recorded value of `metric`.
    pub fn latest(&self, metric: &str) -> Option<f64> {
        self.records
            .iter()
            .rev()
            .find_map(|r| r.metrics.get(metric).copied())
    }

    /// `q`'s truth over the stretch and how `answer` compares; None when nothing was recorded
    /// for its metric. `fresh`: the check's own window (value, lowest, highest).
    pub fn over_time(
        &self,
        q: &Question,
        fresh: Option<(f64, f64, f64)>,
        answer: Option<&str>,
    ) -> Option<OverTime> {
        // (window, its value, lowest and highest a reading inside it could give).
        let series: Vec<(&ring::Record, (f64, f64, f64))> = self
            .records
            .iter()
            .filter_map(|r| Some((r, r.band(&q.metric)?)))
            .collect();
        let first = series.first()?.0;
        let bands = series.iter().map(|(_, band)| *band).chain(fresh);
        let (min, max) = bands.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), b| {
            (lo.min(b.1), hi.max(b.2))
        });
        let judge = |truth: Expected| {
            answer.and_then(|a| answer::judge(q.kind, q.tolerance, &q.choices, &truth, a).ok())
        };
        let accepted = judge(Expected::Number {
            value: min,
            range: Some((min, max)),
        });
        let fits = |(v, lo, hi): (f64, f64, f64)| {
            judge(Expected::Number {
                value: v,
                range: Some((lo, hi)),
            }) == Some(true)
        };
        let minutes: Vec<u64> = series
            .iter()
            .filter(|(_, band)| fits(*band))
            .map(|(r, _)| self.minute(r))
            .collect();
        let fits_now = fresh.is_some_and(fits);
        let span_secs = self
            .now
            .saturating_sub((first.end as f64 - first.secs).max(0.0) as u64);
        let mut o = OverTime {
            min,
            max,
            windows: series.len(),
            span_secs,
            accepted,
            fits_minutes: runs(&minutes),
            fits_now,
            text: String::new(),
        };
        o.text = describe(q, &o, fresh.map(|f| f.0), answer, first.secs);
        Some(o)
    }

    /// The session minute (1 = the first) a window's middle falls in.
    fn minute(&self, r: &ring::Record) -> u64 {
        ((r.mid() - self.started_at as f64).max(0.0) / 60.0) as u64 + 1
    }
}

/// Consecutive minutes as [first, last] runs (a window list has each minute ~10 times).
fn runs(minutes: &[u64]) -> Vec<[u64; 2]> {
    let mut out: Vec<[u64; 2]> = Vec::new();
    for &m in minutes {
        match out.last_mut() {
            Some(run) if m <= run[1] + 1 => run[1] = run[1].max(m),
            _ => out.push([m, m]),
        }
    }
    out
}

/// "outlier latency: 600 us–13.65 ms over the last 9 minutes (85 windows of 6 s; now 1.81 ms);
/// your 3ms fits minutes 2–4".
fn describe(
    q: &Question,
    o: &OverTime,
    fresh: Option<f64>,
    answer: Option<&str>,
    window_secs: f64,
) -> String {
    let show = |v: f64| match q.kind {
        Kind::Duration => show_ns(v),
        Kind::Size => show_size(v),
        _ => format!("{v:.0}"),
    };
    let range = if show(o.min) == show(o.max) {
        show(o.min)
    } else {
        format!("{}–{}", show(o.min), show(o.max))
    };
    let span = if o.span_secs >= 90 {
        format!("{} minutes", o.span_secs.div_ceil(60))
    } else {
        format!("{} s", o.span_secs)
    };
    let now = fresh.map_or(String::new(), |v| format!("; now {}", show(v)));
    let mut text = format!(
        "{}: {range} over the last {span} ({} windows of {window_secs:.0} s{now})",
        q.id.replace('_', " "),
        o.windows
    );
    let Some(a) = answer.filter(|_| o.accepted.is_some()) else {
        return text;
    };
    let minutes: Vec<String> = o
        .fits_minutes
        .iter()
        .map(|[a, b]| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect();
    let fits = match (minutes.len(), o.fits_minutes.first()) {
        (1, Some([a, b])) if a == b => format!("minute {}", minutes[0]),
        _ => format!("minutes {}", minutes.join(", ")),
    };
    text += &match (o.accepted == Some(true), minutes.is_empty(), o.fits_now) {
        (false, ..) => format!("; your {a} is outside it"),
        (true, false, false) => format!("; your {a} fits {fits}"),
        (true, false, true) => format!("; your {a} fits {fits} and now"),
        (true, true, true) => format!("; your {a} fits now"),
        (true, true, false) => format!(
            "; your {a} lies between the windows' values (a reading spanning several of them)"
        ),
    };
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::lab::Tolerance;

    const M: &str = "writer.outlier.latency";

    fn question() -> Question {
        Question {
            id: "outlier_latency".into(),
            prompt: String::new(),
            kind: Kind::Duration,
            metric: M.into(),
            required: true,
            tolerance: Tolerance::Factor(2.0),
            choices: Vec::new(),
            reference: None,
            params: Default::default(),
            line: 1,
        }
    }

    /// Windows of 6 s from the session's start (t=0) with these latencies in ms.
    fn history(ms: &[f64], now: u64) -> History {
        let records = ms
            .iter()
            .enumerate()
            .map(|(i, v)| ring::Record {
                end: 6 * (i as u64 + 1),
                secs: 6.0,
                metrics: BTreeMap::from([(M.to_string(), v * 1e6)]),
                ..Default::default()
            })
            .collect();
        History::from_records(records, 0, now)
    }

    #[test]
    fn an_answer_from_any_moment_of_the_stretch_passes_and_says_when() {
        // Minute 1: ~13 ms; minutes 2-3: ~3 ms; minute 4: ~0.6 ms.
        let mut ms = vec![13.0; 10];
        ms.extend([3.0; 20]);
        ms.extend([0.6; 10]);
        let h = history(&ms, 240);
        let o = h
            .over_time(&question(), Some((0.55e6, 0.55e6, 0.55e6)), Some("3ms"))
            .unwrap();
        assert_eq!(o.accepted, Some(true));
        assert_eq!(o.fits_minutes, vec![[2, 3]]);
        assert!(!o.fits_now);
        assert_eq!((o.min, o.max, o.windows), (0.55e6, 13e6, 40));
        assert!(
            o.text.contains("550 us–13.00 ms over the last 4 minutes"),
            "{}",
            o.text
        );
        assert!(o.text.ends_with("your 3ms fits minutes 2–3"), "{}", o.text);
        let o = h
            .over_time(&question(), Some((1e6, 1e6, 1e6)), Some("1.2ms"))
            .unwrap();
        assert_eq!(o.fits_minutes, vec![[4, 4]]);
        assert!(
            o.text.ends_with("your 1.2ms fits minute 4 and now"),
            "{}",
            o.text
        );
        let o = h.over_time(&question(), None, Some("1.5ms")).unwrap();
        assert_eq!(o.fits_minutes, vec![[2, 3]]);
        // Between two far-apart windows: a reading spanning both lands there.
        let h = history(&[13.0, 0.6], 12);
        let o = h.over_time(&question(), None, Some("3ms")).unwrap();
        assert_eq!((o.accepted, o.fits_minutes.len()), (Some(true), 0));
        assert!(o.text.contains("between the windows' values"), "{}", o.text);
    }

    #[test]
    fn beyond_the_whole_range_fails() {
        let h = history(&[13.0, 3.0, 0.6], 20);
        for bad in ["27ms", "100ms", "0.25ms", "1us"] {
            let o = h
                .over_time(&question(), Some((1e6, 1e6, 1e6)), Some(bad))
                .unwrap();
            assert_eq!(o.accepted, Some(false), "{bad}: {}", o.text);
            assert!(
                o.text.ends_with(&format!("your {bad} is outside it")),
                "{}",
                o.text
            );
        }
        // Unreadable: not graded here (the checker says why).
        let o = h.over_time(&question(), None, Some("3")).unwrap();
        assert_eq!(o.accepted, None);
    }

    #[test]
    fn a_window_spread_widens_the_range() {
        // Windows of ~1.2-2.4 ms whose single dumps took up to 11 ms (as in a TCG guest).
        let mut h = history(&[1.2, 2.4, 1.5], 18);
        h.records[1].spread.insert(M.to_string(), [1.0e6, 11.0e6]);
        let o = h.over_time(&question(), None, Some("10.7ms")).unwrap();
        assert_eq!(
            (o.accepted, o.fits_minutes.clone()),
            (Some(true), vec![[1, 1]])
        );
        assert_eq!((o.min, o.max), (1.0e6, 11.0e6));
        let o = h.over_time(&question(), None, Some("23ms")).unwrap();
        assert_eq!(o.accepted, Some(false));
    }

    #[test]
    fn only_the_recent_stretch_counts() {
        // 20 minutes of 13 ms, then 5 of 1 ms: the 13 ms windows older than 15 min drop out.
        let mut ms = vec![13.0; 200];
        ms.extend([1.0; 50]);
        let h = history(&ms, 1500);
        let o = h.over_time(&question(), None, Some("13ms")).unwrap();
        assert_eq!(
            o.accepted,
            Some(true),
            "minutes 6-20 are recent: {}",
            o.text
        );
        let h = history(&ms, 1500 + 20 * 60);
        assert!(h.over_time(&question(), None, Some("13ms")).is_none());
        assert_eq!(h.latest(M), None);
        assert_eq!(history(&ms, 1500).latest(M), Some(1e6));
    }
}
