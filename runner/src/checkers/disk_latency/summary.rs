//! The disk-latency numbers of one traced window, computed by one function for both `lab check`'s
//! fresh window and every window the session recorder stores, so a recorded value is exactly
//! what a check at that moment would have measured.
use crate::checkers::{stats::median, traces::Bio};

/// Share of the slowest I/Os that count as the outliers for the questions.
pub const OUTLIER_SHARE: f64 = 0.05;

/// One window's numbers; None where the window had no data I/O to measure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Every block I/O of the workload, cache flushes included.
    pub ios: usize,
    pub bytes: u64,
    /// I/Os carrying data (cache flushes are 0-byte requests and say nothing about sizes).
    pub data: usize,
    pub p50_size: Option<f64>,
    pub p50_lat: Option<f64>,
    /// How many I/Os the slowest OUTLIER_SHARE are.
    pub outliers: usize,
    pub outlier_size: Option<f64>,
    pub outlier_lat: Option<f64>,
    /// The lowest and highest median latency of one burst of large I/Os (one dump's
    /// writeback): what a shorter reading inside this window could have measured.
    pub outlier_lat_bursts: Option<(f64, f64)>,
}

/// Metric names of the recorded windows: the numeric questions' own, plus context for the text.
pub const IO_SIZE: &str = "writer.io_size.p50";
pub const OUTLIER_SIZE: &str = "writer.outlier.size";
pub const OUTLIER_LATENCY: &str = "writer.outlier.latency";
pub const LATENCY_P50: &str = "writer.latency.p50";
pub const IO_COUNT: &str = "writer.io_count";
pub const RECORDED: &[&str] = &[
    IO_SIZE,
    OUTLIER_SIZE,
    OUTLIER_LATENCY,
    LATENCY_P50,
    IO_COUNT,
];

/// A recorded window needs this many data I/Os before its sizes and latencies count: a nearly
/// idle window (the workload paused) would otherwise widen the accepted range with noise.
pub const MIN_RECORDED_IOS: usize = 20;

impl Summary {
    /// The window as recorded (only the count when it saw too little).
    pub fn window(&self) -> crate::truth::Window {
        let mut w = crate::truth::Window::default();
        w.metrics.insert(IO_COUNT.to_string(), self.ios as f64);
        if self.data < MIN_RECORDED_IOS {
            return w;
        }
        for (name, v) in [
            (IO_SIZE, self.p50_size),
            (OUTLIER_SIZE, self.outlier_size),
            (OUTLIER_LATENCY, self.outlier_lat),
            (LATENCY_P50, self.p50_lat),
        ] {
            if let Some(v) = v {
                w.metrics.insert(name.to_string(), v);
            }
        }
        if let (Some((lo, hi)), true) = (self.outlier_lat_bursts, self.outlier_lat.is_some()) {
            w.spread.insert(OUTLIER_LATENCY.to_string(), [lo, hi]);
        }
        w
    }
}

/// Summarize the workload's I/Os of one window.
pub fn summarize(ios: &[Bio]) -> Summary {
    let data: Vec<&Bio> = ios.iter().filter(|b| b.bytes > 0).collect();
    let mut sizes: Vec<f64> = data.iter().map(|b| b.bytes as f64).collect();
    let mut lats: Vec<f64> = data.iter().map(|b| b.lat_ns as f64).collect();
    // Outliers: the slowest few percent of its I/Os (the tail biolatency shows; robust when a
    // busy disk narrows the gap to the typical latency).
    let outliers = slowest(&data, OUTLIER_SHARE);
    // Small I/Os queued behind a dump are slow too, but few and carrying little data: weigh
    // sizes by bytes, and take the latency of the large outliers, as biosnoop's slowest lines show.
    let outlier_size = weighted_median(outliers.iter().map(|b| b.bytes as f64));
    let mut o_lats: Vec<f64> = match outlier_size {
        Some(s) => outliers
            .iter()
            .filter(|b| b.bytes as f64 >= s / 2.0)
            .map(|b| b.lat_ns as f64)
            .collect(),
        None => Vec::new(),
    };
    let cutoff = outliers.iter().map(|b| b.lat_ns as f64).reduce(f64::min);
    let outlier_lat_bursts = match (outlier_size, cutoff) {
        (Some(big), Some(cutoff)) => burst_medians(&data, big / 2.0, cutoff),
        _ => None,
    };
    Summary {
        ios: ios.len(),
        bytes: ios.iter().map(|b| b.bytes as u64).sum(),
        data: data.len(),
        p50_size: median(&mut sizes),
        p50_lat: median(&mut lats),
        outliers: outliers.len(),
        outlier_size,
        outlier_lat: median(&mut o_lats),
        outlier_lat_bursts,
    }
}

/// (lowest, highest) median latency of the bursts of I/Os of at least `min_bytes` that are
/// outliers themselves (median at least `cutoff`, the window's slowest-5 % threshold). A burst
/// is a run of them in completion order: the workload is single-threaded, so one dump's
/// writeback completes as one run between its small records. Why it matters: the outlier
/// latency of a reading is the median over the dumps it saw, which lies between those dumps'
/// own medians; a short reading that caught one slow dump measures that dump, while this
/// window's median over several dumps may be far lower (seen in a TCG guest: biosnoop read
/// 10.7 ms while 6-second windows measured 1.2-2.4 ms). Dumps no slower than the bulk of the
/// I/O are no outliers to a student, and would let the typical latency pass for the outliers'.
fn burst_medians(data: &[&Bio], min_bytes: f64, cutoff: f64) -> Option<(f64, f64)> {
    let mut medians = Vec::new();
    let mut run: Vec<f64> = Vec::new();
    for b in data.iter().map(Some).chain([None]) {
        match b {
            Some(b) if b.bytes as f64 >= min_bytes => run.push(b.lat_ns as f64),
            _ => medians.extend(median(&mut std::mem::take(&mut run)).filter(|m| *m >= cutoff)),
        }
    }
    let lo = medians.iter().copied().reduce(f64::min)?;
    let hi = medians.iter().copied().reduce(f64::max)?;
    Some((lo, hi))
}

/// The slowest `share` of `ios` (at least one when there are any).
pub fn slowest<'a>(ios: &[&'a Bio], share: f64) -> Vec<&'a Bio> {
    let mut v = ios.to_vec();
    v.sort_by_key(|b| std::cmp::Reverse(b.lat_ns));
    let n = ((v.len() as f64 * share).ceil() as usize)
        .max(1)
        .min(v.len());
    v.truncate(n);
    v
}

/// The value at which half of the total (sum of values) lies in values at least as large.
pub fn weighted_median(v: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = v.filter(|x| *x > 0.0).collect();
    v.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = v.iter().sum();
    let mut acc = 0.0;
    for x in &v {
        acc += x;
        if acc >= total / 2.0 {
            return Some(*x);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bio(bytes: u32, lat_us: u64) -> Bio {
        Bio {
            pid: 1,
            bytes,
            lat_ns: lat_us * 1000,
        }
    }

    #[test]
    fn outliers_are_the_big_slow_ones() {
        // 95 small fast writes, 5 big slow ones, and flushes that carry no data.
        let mut ios: Vec<Bio> = (0..95).map(|i| bio(4096, 100 + i)).collect();
        ios.extend((0..5).map(|i| bio(1 << 20, 20_000 + i * 1000)));
        ios.extend((0..10).map(|_| bio(0, 50)));
        let s = summarize(&ios);
        assert_eq!((s.ios, s.data, s.outliers), (110, 100, 5));
        assert_eq!(s.p50_size, Some(4096.0));
        assert_eq!(s.outlier_size, Some((1 << 20) as f64));
        assert_eq!(s.outlier_lat, Some(22_000_000.0));
        let w = s.window();
        assert_eq!(w.metrics[OUTLIER_LATENCY], 22_000_000.0);
        assert_eq!(w.metrics[IO_COUNT], 110.0);
    }

    #[test]
    fn a_short_reading_of_one_slow_dump_lies_within_the_spread() {
        // Five dumps of 4 large writes between small records: one slow, one hardly slower
        // than the records (no outlier to a student).
        let mut ios = Vec::new();
        for dump_us in [2000, 2000, 12000, 2000, 300] {
            ios.extend((0..40).map(|i| bio(4096, 100 + i)));
            ios.extend((0..4).map(|i| bio(1 << 20, dump_us + i)));
        }
        let s = summarize(&ios);
        assert_eq!(
            s.outlier_lat,
            Some(2_003_000.0),
            "the window: mostly fast dumps"
        );
        assert_eq!(s.outlier_lat_bursts, Some((2_002_000.0, 12_002_000.0)));
        // A reading of just the slow dump measures ~12 ms: inside the recorded spread.
        let reading = summarize(&ios[88..132]).outlier_lat.unwrap();
        assert_eq!(reading, 12_002_000.0);
        let (lo, hi) = s.outlier_lat_bursts.unwrap();
        assert!((lo..=hi).contains(&reading), "{reading}");
        assert_eq!(
            s.window().spread[OUTLIER_LATENCY],
            [2_002_000.0, 12_002_000.0]
        );
    }

    #[test]
    fn a_nearly_idle_window_records_only_its_count() {
        let s = summarize(&[bio(4096, 100), bio(1 << 20, 9000)]);
        assert!(s.outlier_lat.is_some(), "the fresh window still measures");
        let w = s.window();
        assert_eq!(w.metrics.keys().collect::<Vec<_>>(), vec![IO_COUNT]);
        assert!(w.spread.is_empty());
        assert_eq!(summarize(&[]).window().metrics[IO_COUNT], 0.0);
    }
}
