//! 4a and 4b: biolatency as a linear 0-100 ms histogram (4b: printed every second). The runner
//! traces every block I/O with its own probe while a seeded mix of sizes runs, and compares the
//! tool's buckets (mass, shape, print cadence) with that truth.
use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result};
use lab_probes::biosnoop::{BioSnoop, Options};

use super::{check, Check, Exercise, Trial};
use crate::exercises::{
    output::{Hist, Output},
    student_tool::Tool,
    workload::{self, Rng},
};

/// `secs`: how long the workload runs (4a 2.5 s; 4b 4.6 s, long enough for 4 interval prints,
/// which is also how the judge tells the two apart).
pub struct BioLat {
    pub secs: f64,
}

struct Run {
    secs: f64,
    bio: Option<BioSnoop>,
    lat_ms: Vec<f64>,
    run_secs: f64,
}

impl Exercise for BioLat {
    fn prepare(&self, _rng: &mut Rng, _dir: &Path) -> Result<Box<dyn Trial>> {
        let bio = BioSnoop::attach(&Options::default()).context("runner's block I/O probe")?;
        Ok(Box::new(Run {
            secs: self.secs,
            bio: Some(bio),
            lat_ms: Vec::new(),
            run_secs: 0.0,
        }))
    }
}

impl Trial for Run {
    fn drive(&mut self, t: &mut Tool, rng: &mut Rng, dir: &Path, since: u64) -> Result<()> {
        let bio = self.bio.as_mut().context("block probe")?;
        let lat_ms = &mut self.lat_ms;
        workload::block_io(rng, dir, self.secs, || {
            drain_bio(bio, lat_ms, since);
            t.pump();
        })?;
        std::thread::sleep(Duration::from_millis(150));
        drain_bio(bio, lat_ms, since);
        self.run_secs = t.elapsed();
        Ok(())
    }

    fn before_stop(&mut self, since: u64) -> Result<()> {
        if let Some(bio) = self.bio.as_mut() {
            drain_bio(bio, &mut self.lat_ms, since);
        }
        Ok(())
    }

    fn after_stop(&mut self) -> Result<()> {
        self.bio = None;
        Ok(())
    }

    fn judge(&self, out: &Output, notes: &mut Vec<String>) -> Vec<Check> {
        judge_bio(&self.lat_ms, self.run_secs, out, notes)
    }
}

/// Latencies of requests issued since `since` (CLOCK_MONOTONIC ns).
fn drain_bio(bio: &mut BioSnoop, lat_ms: &mut Vec<f64>, since: u64) {
    let _ = bio.drain(|b| {
        if b.ts_ns.saturating_sub(b.lat_ns) >= since {
            lat_ms.push(b.lat_ns as f64 / 1e6);
        }
        Ok::<(), ()>(())
    });
}

/// Truth as 1 ms buckets 0..=99 plus slot 100 for >= 100 ms.
fn ms_buckets(lat_ms: &[f64]) -> Vec<f64> {
    let mut b = vec![0.0; 101];
    for &l in lat_ms {
        b[(l.max(0.0) as usize).min(100)] += 1.0;
    }
    b
}

/// A printed linear histogram as slots 0..=100 (below-range counts go to slot 0).
fn tool_buckets(hists: &[&Hist]) -> Vec<f64> {
    let mut b = vec![0.0; 101];
    for h in hists {
        for k in &h.buckets {
            let slot = match (k.lo, k.hi) {
                (Some(lo), _) => lo.clamp(0, 100) as usize,
                (None, _) => 0,
            };
            b[slot] += k.count as f64;
        }
    }
    b
}

/// Largest gap between two cumulative distributions (Kolmogorov-Smirnov distance).
fn ks(a: &[f64], b: &[f64]) -> f64 {
    let (ta, tb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
    if ta == 0.0 || tb == 0.0 {
        return 1.0;
    }
    let (mut ca, mut cb, mut d) = (0.0, 0.0, 0.0f64);
    for i in 0..a.len().min(b.len()) {
        ca += a[i] / ta;
        cb += b[i] / tb;
        d = d.max((ca - cb).abs());
    }
    d
}

fn share(b: &[f64], range: std::ops::RangeInclusive<usize>) -> f64 {
    let t: f64 = b.iter().sum();
    if t == 0.0 {
        0.0
    } else {
        b[range].iter().sum::<f64>() / t
    }
}

fn describe(b: &[f64]) -> String {
    format!(
        "{:.0} I/Os: {:.0}% in [0,1) ms, {:.0}% in [1,10) ms, {:.0}% in [10,100) ms, {:.0}% >= 100 ms",
        b.iter().sum::<f64>(),
        100.0 * share(b, 0..=0),
        100.0 * share(b, 1..=9),
        100.0 * share(b, 10..=99),
        100.0 * share(b, 100..=100)
    )
}

fn judge_bio(lat_ms: &[f64], run_secs: f64, out: &Output, notes: &mut Vec<String>) -> Vec<Check> {
    let truth = ms_buckets(lat_ms);
    let Some(name) = pick_hist(out) else {
        return vec![check(
            false,
            "a histogram is printed",
            "no histogram in the output: expected a map like @ms = lhist(latency_ms, 0, 100, 1)",
        )];
    };
    let mine: Vec<&Hist> = out.hists.iter().filter(|h| h.name == name).collect();
    let mut checks = shape(&name, &mine);
    let prints = prints_of(&mine);
    if run_secs > 4.0 {
        checks.push(cadence(&name, &prints, run_secs));
    }
    checks.extend(mass(&name, &prints, &truth));
    notes.push(format!(
        "latency spread traced by the runner: {}",
        describe(&truth)
    ));
    checks
}

/// Linear buckets of 1 ms over 0-100 ms.
fn shape(name: &str, mine: &[&Hist]) -> Vec<Check> {
    let linear = mine.iter().all(|h| h.is_step1() || h.total() == 0);
    let log2 = mine.iter().any(|h| h.is_log2());
    let too_wide = mine
        .iter()
        .flat_map(|h| &h.buckets)
        .any(|b| b.hi.is_some_and(|hi| hi > 100));
    vec![
        check(
            linear,
            "linear buckets of 1 ms",
            if linear {
                format!("{name} has 1-wide buckets")
            } else if log2 {
                format!("{name} uses power-of-2 buckets (hist()): use lhist(ms, 0, 100, 1)")
            } else {
                format!("{name}'s buckets are wider than 1: use lhist(ms, 0, 100, 1) (step 1)")
            },
        ),
        check(
            !too_wide,
            "range 0-100 ms",
            if too_wide {
                "buckets go beyond 100: use lhist(ms, 0, 100, 1)"
            } else {
                "ok"
            },
        ),
    ]
}

/// The prints, grouped by time: one print() of a keyed map arrives as one record per key.
fn prints_of<'a>(mine: &[&'a Hist]) -> Vec<(f64, Vec<&'a Hist>)> {
    let mut prints: Vec<(f64, Vec<&Hist>)> = Vec::new();
    for h in mine {
        match prints.last_mut() {
            Some((at, v)) if (h.at - *at).abs() < 0.05 => v.push(h),
            _ => prints.push((h.at, vec![h])),
        }
    }
    prints
}

/// 4b: printed once per second while the workload ran.
fn cadence(name: &str, prints: &[(f64, Vec<&Hist>)], run_secs: f64) -> Check {
    let during: Vec<f64> = prints
        .iter()
        .map(|(at, _)| *at)
        .filter(|at| *at <= run_secs + 0.2)
        .collect();
    let expect = run_secs.floor();
    let mut gaps: Vec<f64> = during.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(|a, b| a.total_cmp(b));
    let median = gaps.get(gaps.len() / 2).copied().unwrap_or(0.0);
    let ok = during.len() as f64 >= expect - 1.0
        && during.len() as f64 <= expect + 1.0
        && (0.7..=1.4).contains(&median);
    check(
        ok,
        "printed once per second",
        if during.len() <= 1 {
            format!(
                "{} print(s) of {name} while it ran {run_secs:.1} s; expected about {expect:.0}: add interval:s:1 {{ print({name}); clear({name}); }}",
                during.len()
            )
        } else {
            format!("{} prints in {run_secs:.1} s (expected about {expect:.0}), median gap {median:.2} s (expected 1 s)", during.len())
        },
    )
}

/// Every I/O counted, in the right buckets. Per-interval prints (cleared) add up; cumulative
/// ones end with the total: whichever is nearer the traced count is the tool's.
fn mass(name: &str, prints: &[(f64, Vec<&Hist>)], truth: &[f64]) -> Vec<Check> {
    let summed = tool_buckets(
        &prints
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .collect::<Vec<_>>(),
    );
    let last = prints
        .last()
        .map(|(_, v)| tool_buckets(v))
        .unwrap_or_else(|| vec![0.0; 101]);
    let tt: f64 = truth.iter().sum();
    let pick = |b: &Vec<f64>| (b.iter().sum::<f64>() - tt).abs();
    let got = if pick(&summed) <= pick(&last) {
        summed
    } else {
        last
    };
    let gt: f64 = got.iter().sum();
    let tol = (0.1 * tt).max(8.0);
    let d = ks(&got, truth);
    let mut detail = format!("yours: {}; traced: {}", describe(&got), describe(truth));
    // Values 1000x too small all land in bucket 0; KS alone misses that when most I/O is < 1 ms.
    let (t1, g1) = (share(truth, 1..=100), share(&got, 1..=100));
    let too_small = t1 >= 0.1 && g1 < t1 / 3.0;
    let too_large = share(&got, 10..=100) > share(truth, 10..=100) + 0.3;
    if too_large {
        detail.push_str(". Your values are far too large: nsecs/1000 is microseconds; milliseconds are nsecs/1000000");
    } else if too_small {
        detail.push_str(
            ". Your values are too small: milliseconds are nsecs/1000000 (not /1000000000)",
        );
    }
    vec![
        check(
            gt > 0.0 && (gt - tt).abs() <= tol,
            "every I/O counted",
            format!("{name} holds {gt:.0} I/Os; the runner traced {tt:.0} (tolerance ±{tol:.0})"),
        ),
        check(
            d <= 0.15 && !too_small && !too_large,
            "buckets hold the right mass",
            detail,
        ),
    ]
}

/// The histogram map to judge: the one with 1-wide buckets, else any.
fn pick_hist(out: &Output) -> Option<String> {
    out.hists
        .iter()
        .find(|h| h.is_step1())
        .or_else(|| out.hists.iter().max_by_key(|h| h.total()))
        .map(|h| h.name.clone())
}
