//! Histograms read from the kernel's (key, slot) counting maps, printed exactly as BCC prints
//! them (`print_log2_hist` / `print_linear_hist`), plus percentiles for ground truth.
use std::{collections::BTreeMap, fmt::Write as _, hash::Hash};

use anyhow::Result;
use aya::{Ebpf, Pod};
use lab_probes_common::hist::{CommHistKey, HistKey};

/// Width of BCC's distribution bar.
pub const STARS_MAX: u64 = 40;

/// Counts by slot (index = slot). Log2 slots are BCC's: slot 1 holds 0..1, slot i >= 2 holds
/// [2^(i-1), 2^i - 1]. Linear slots hold the value itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hist {
    pub slots: Vec<u64>,
}

impl Hist {
    pub fn from_slots(slots: Vec<u64>) -> Self {
        Self { slots }
    }

    pub fn add(&mut self, slot: usize, n: u64) {
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, 0);
        }
        self.slots[slot] += n;
    }

    pub fn total(&self) -> u64 {
        self.slots.iter().sum()
    }

    pub fn get(&self, slot: usize) -> u64 {
        self.slots.get(slot).copied().unwrap_or(0)
    }

    /// Add every slot of `other`.
    pub fn merge(&mut self, other: &Hist) {
        for (i, &n) in other.slots.iter().enumerate() {
            self.add(i, n);
        }
    }

    /// Counts added since `earlier` (a snapshot of the same cumulative histogram).
    pub fn since(&self, earlier: &Hist) -> Hist {
        let slots = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, &n)| n.saturating_sub(earlier.get(i)))
            .collect();
        Hist { slots }
    }

    /// The slot holding the most counts (lowest on ties), None when empty.
    pub fn mode(&self) -> Option<usize> {
        let max = *self.slots.iter().max()?;
        (max > 0).then(|| self.slots.iter().position(|&n| n == max).unwrap_or(0))
    }

    /// Mean of a linear histogram (slot = value).
    pub fn linear_mean(&self) -> Option<f64> {
        let t = self.total();
        (t > 0).then(|| {
            self.slots
                .iter()
                .enumerate()
                .map(|(i, &n)| i as f64 * n as f64)
                .sum::<f64>()
                / t as f64
        })
    }

    /// The `p`-th quantile (0 < p <= 1) of a log2 histogram, interpolating linearly inside the
    /// slot that holds it (slot i spans [2^(i-1), 2^i), slot 1 spans [0, 2)).
    pub fn log2_percentile(&self, p: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = (p.clamp(0.0, 1.0) * total as f64).max(f64::MIN_POSITIVE);
        let mut before = 0u64;
        for (i, &n) in self.slots.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if (before + n) as f64 >= rank {
                let (lo, hi) = log2_span(i);
                let f = (rank - before as f64) / n as f64;
                return Some(lo + f * (hi - lo));
            }
            before += n;
        }
        let last = self.slots.iter().rposition(|&n| n > 0)?;
        Some(log2_span(last).1)
    }

    /// The `p`-th quantile (0 < p <= 1) of a log-linear histogram (slots of
    /// lab_probes_common::hist::fine_slot), interpolating inside its slot: within 1/32 of the
    /// true value, where a log2 row leaves a factor of 2.
    pub fn fine_percentile(&self, p: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = (p.clamp(0.0, 1.0) * total as f64).max(f64::MIN_POSITIVE);
        let mut before = 0u64;
        let span = |i: usize| {
            let (lo, hi) = lab_probes_common::hist::fine_span(i as u64);
            (lo as f64, hi as f64)
        };
        for (i, &n) in self.slots.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if (before + n) as f64 >= rank {
                let (lo, hi) = span(i);
                let f = (rank - before as f64) / n as f64;
                return Some(lo + f * (hi - lo));
            }
            before += n;
        }
        let last = self.slots.iter().rposition(|&n| n > 0)?;
        Some(span(last).1)
    }

    pub fn p50(&self) -> Option<f64> {
        self.log2_percentile(0.5)
    }

    pub fn p99(&self) -> Option<f64> {
        self.log2_percentile(0.99)
    }
}

/// Values slot `i` of a log2 histogram covers, as a half-open real interval [lo, hi).
pub fn log2_span(i: usize) -> (f64, f64) {
    match i {
        0 | 1 => (0.0, 2.0),
        _ => (2f64.powi(i as i32 - 1), 2f64.powi(i as i32)),
    }
}

/// The printed row bounds of log2 slot `i` (BCC: "low -> high").
pub fn log2_row_bounds(i: usize) -> (u64, u64) {
    let high = if i >= 64 { u64::MAX } else { (1u64 << i) - 1 };
    let mut low = if i == 0 { 0 } else { (high >> 1) + 1 };
    if low == high {
        low -= 1;
    }
    (low, high)
}

/// BCC's bar: floor(width * val / max) stars, at most `width`.
pub fn stars(val: u64, max: u64, width: u64) -> String {
    if max == 0 {
        return String::new();
    }
    let n = ((width as u128 * val as u128) / max as u128).min(width as u128) as usize;
    "*".repeat(n)
}

/// One log2 histogram in BCC's format; empty when it has no counts above slot 0.
pub fn format_log2(label: &str, h: &Hist) -> String {
    let mut out = String::new();
    let idx_max = h.slots.iter().rposition(|&n| n > 0).unwrap_or(0);
    let val_max = h.slots.iter().copied().max().unwrap_or(0);
    if idx_max == 0 {
        return out;
    }
    let wide = idx_max > 32;
    let width = if wide { STARS_MAX / 2 } else { STARS_MAX };
    if wide {
        let _ = writeln!(out, "               {label:<29} : count     distribution");
    } else {
        let _ = writeln!(out, "     {label:<19} : count     distribution");
    }
    for i in 1..=idx_max {
        let (low, high) = log2_row_bounds(i);
        let val = h.get(i);
        let bar = stars(val, val_max, width);
        if wide {
            let _ = writeln!(out, "{low:>20} -> {high:<20} : {val:<8} |{bar:<20}|");
        } else {
            let _ = writeln!(out, "{low:>10} -> {high:<10} : {val:<8} |{bar:<40}|");
        }
    }
    out
}

/// One linear histogram in BCC's format (`print_linear_hist`); empty when it has no counts.
pub fn format_linear(label: &str, h: &Hist) -> String {
    let mut out = String::new();
    let Some(idx_max) = h.slots.iter().rposition(|&n| n > 0) else {
        return out;
    };
    let val_max = h.slots.iter().copied().max().unwrap_or(0);
    let _ = writeln!(out, "     {label:<13} : count     distribution");
    for i in 0..=idx_max {
        let val = h.get(i);
        let bar = stars(val, val_max, STARS_MAX);
        let _ = writeln!(out, "        {i:<10} : {val:<8} |{bar:<40}|");
    }
    out
}

/// Per-key histograms, each after a "\n<section> = <name>" line, as BCC prints them with a
/// section header. Sections with no counts are left out.
pub fn format_sections<'a>(
    section: &str,
    label: &str,
    linear: bool,
    hists: impl IntoIterator<Item = (String, &'a Hist)>,
) -> String {
    let mut out = String::new();
    for (name, h) in hists {
        if h.total() == 0 {
            continue;
        }
        let _ = write!(out, "\n{section} = {name}\n");
        out += &if linear {
            format_linear(label, h)
        } else {
            format_log2(label, h)
        };
    }
    out
}

/// Sum the (key, slot) counts of a histogram map into one `Hist` per key.
pub fn read_map<K: Pod, G: Ord>(
    bpf: &Ebpf,
    name: &str,
    split: impl Fn(&K) -> (G, usize),
) -> Result<BTreeMap<G, Hist>> {
    let mut out: BTreeMap<G, Hist> = BTreeMap::new();
    for (k, n) in crate::count_map::read::<K>(bpf, name)? {
        let (group, slot) = split(&k);
        out.entry(group).or_default().add(slot, n);
    }
    Ok(out)
}

/// A `HIST` map keyed by `HistKey`, as id -> histogram.
pub fn read_keyed(bpf: &Ebpf) -> Result<BTreeMap<u64, Hist>> {
    read_map::<HistKey, u64>(bpf, "HIST", |k| (k.id, k.slot as usize))
}

/// A `HIST` map keyed by `CommHistKey`, as comm -> histogram.
pub fn read_by_comm(bpf: &Ebpf) -> Result<BTreeMap<String, Hist>> {
    read_map::<CommHistKey, String>(bpf, "HIST", |k| {
        (crate::execcount::comm_str(&k.comm), k.slot as usize)
    })
}

/// Turns cumulative kernel histograms into per-interval ones without clearing the map (so no
/// count is lost between reading and clearing, unlike BCC's `dist.clear()`).
#[derive(Debug)]
pub struct Interval<K> {
    last: BTreeMap<K, Hist>,
}

impl<K: Ord + Clone + Hash> Default for Interval<K> {
    fn default() -> Self {
        Self {
            last: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone + Hash> Interval<K> {
    /// Counts since the previous call (or since attach), only keys with new counts.
    pub fn delta(&mut self, now: BTreeMap<K, Hist>) -> BTreeMap<K, Hist> {
        let mut out = BTreeMap::new();
        for (k, h) in &now {
            let d = match self.last.get(k) {
                Some(prev) => h.since(prev),
                None => h.clone(),
            };
            if d.total() > 0 {
                out.insert(k.clone(), d);
            }
        }
        self.last = now;
        out
    }
}

/// Merge every key's histogram into one.
pub fn merged<'a>(hists: impl IntoIterator<Item = &'a Hist>) -> Hist {
    let mut all = Hist::default();
    for h in hists {
        all.merge(h);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(slots: &[u64]) -> Hist {
        Hist::from_slots(slots.to_vec())
    }

    #[test]
    fn log2_rows_match_bcc_by_hand() {
        // slots 1..=4 hold 1, 0, 4, 2 → max 4: bars of 10, 0, 40 and 20 stars.
        let out = format_log2("usecs", &h(&[0, 1, 0, 4, 2, 0, 0]));
        let want = concat!(
            "     usecs               : count     distribution\n",
            "         0 -> 1          : 1        |**********                              |\n",
            "         2 -> 3          : 0        |                                        |\n",
            "         4 -> 7          : 4        |****************************************|\n",
            "         8 -> 15         : 2        |********************                    |\n",
        );
        assert_eq!(out, want);
    }

    #[test]
    fn leading_zero_rows_are_printed_and_trailing_trimmed() {
        let out = format_log2("msecs", &h(&[0, 0, 0, 0, 0, 3, 0, 0]));
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 1 + 5, "{out}");
        assert_eq!(
            lines[5],
            "        16 -> 31         : 3        |****************************************|"
        );
        assert_eq!(
            lines[1],
            "         0 -> 1          : 0        |                                        |"
        );
    }

    #[test]
    fn bars_round_down_like_bcc() {
        assert_eq!(stars(1, 3, 40).len(), 13);
        assert_eq!(stars(2, 3, 40).len(), 26);
        assert_eq!(stars(3, 3, 40).len(), 40);
        assert_eq!(stars(0, 3, 40).len(), 0);
        assert_eq!(stars(1, 100, 40).len(), 0);
    }

    #[test]
    fn empty_histograms_print_nothing() {
        assert_eq!(format_log2("usecs", &h(&[])), "");
        assert_eq!(format_log2("usecs", &h(&[5])), "");
        assert_eq!(format_linear("runqlen", &h(&[0, 0])), "");
    }

    #[test]
    fn wide_rows_above_slot_32() {
        let mut x = Hist::default();
        x.add(34, 2);
        let out = format_log2("nsecs", &x);
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(
            lines[0],
            format!("               {:<29} : count     distribution", "nsecs")
        );
        assert_eq!(
            lines[34],
            format!(
                "{:>20} -> {:<20} : 2        |{}|",
                1u64 << 33,
                (1u64 << 34) - 1,
                "*".repeat(20)
            )
        );
    }

    #[test]
    fn linear_rows_match_bcc_by_hand() {
        let out = format_linear("runqlen", &h(&[8, 0, 2]));
        let want = concat!(
            "     runqlen       : count     distribution\n",
            "        0          : 8        |****************************************|\n",
            "        1          : 0        |                                        |\n",
            "        2          : 2        |**********                              |\n",
        );
        assert_eq!(out, want);
    }

    #[test]
    fn sections_have_a_blank_line_and_skip_empty() {
        let a = h(&[0, 1]);
        let empty = h(&[0, 0]);
        let out = format_sections(
            "disk",
            "usecs",
            false,
            [("vda".to_string(), &a), ("vdb".to_string(), &empty)],
        );
        assert!(out.starts_with("\ndisk = vda\n     usecs "), "{out}");
        assert!(!out.contains("vdb"));
    }

    #[test]
    fn percentiles_interpolate_inside_the_slot() {
        // 10 values in slot 4 ([8,16)) and 10 in slot 6 ([32,64)).
        let x = h(&[0, 0, 0, 0, 10, 0, 10]);
        assert_eq!(x.log2_percentile(0.25), Some(12.0));
        assert_eq!(x.p50(), Some(16.0));
        assert_eq!(x.log2_percentile(0.75), Some(48.0));
        assert_eq!(x.log2_percentile(1.0), Some(64.0));
        assert!((x.p99().unwrap() - 63.36).abs() < 1e-9);
        assert_eq!(h(&[]).p50(), None);
    }

    #[test]
    fn interval_deltas_and_linear_mean() {
        let mut iv = Interval::default();
        let d1 = iv.delta(BTreeMap::from([(1u64, h(&[0, 2]))]));
        assert_eq!(d1[&1].total(), 2);
        let d2 = iv.delta(BTreeMap::from([(1u64, h(&[0, 2])), (2u64, h(&[0, 0, 3]))]));
        assert!(!d2.contains_key(&1));
        assert_eq!(d2[&2], h(&[0, 0, 3]));
        assert_eq!(h(&[2, 0, 2]).linear_mean(), Some(1.0));
        assert_eq!(h(&[1, 5, 2]).mode(), Some(1));
    }
}
