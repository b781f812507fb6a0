//! The recording file, `<data_dir>/truth/windows.jsonl`: one JSON line per window, each added
//! with a single append write(2). A reader may catch the last line half-written, never any
//! other: it keeps only newline-terminated lines that parse. Bounded: once the file holds 25 %
//! more than KEEP's worth of lines it is rewritten (temp file + rename, so a reader sees the
//! old file or the new one) down to the last KEEP's worth.
use std::{
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

/// One recorded window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Unix seconds at the window's end.
    pub end: u64,
    /// Window length, seconds.
    pub secs: f64,
    /// Metric name → value in its question's base unit (bytes, ns, count).
    pub metrics: BTreeMap<String, f64>,
    /// Metric name → [lowest, highest] a shorter reading inside the window could measure.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spread: BTreeMap<String, [f64; 2]>,
    /// Metric name → the window's histogram (slot → count, only slots that occur), for
    /// quantiles over a longer stretch than one window (lab 3's p99; see truth::Window::hists).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hists: BTreeMap<String, BTreeMap<u64, u64>>,
}

impl Record {
    /// Unix seconds at the window's middle.
    pub fn mid(&self) -> f64 {
        self.end as f64 - self.secs / 2.0
    }

    /// `metric`'s truth in this window: (value, lowest, highest any reading inside it gives).
    pub fn band(&self, metric: &str) -> Option<(f64, f64, f64)> {
        let v = *self.metrics.get(metric)?;
        let [lo, hi] = self.spread.get(metric).copied().unwrap_or([v, v]);
        Some((v, lo.min(v), hi.max(v)))
    }
}

pub fn path(data_dir: &Path) -> PathBuf {
    super::dir(data_dir).join("windows.jsonl")
}

/// Every whole record in the file, oldest first; None when there is no recording.
pub fn read(path: &Path) -> Option<Vec<Record>> {
    let bytes = std::fs::read(path).ok()?;
    Some(parse(&bytes))
}

fn parse(bytes: &[u8]) -> Vec<Record> {
    // Only newline-terminated lines are whole records.
    let whole = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(i) => &bytes[..=i],
        None => &[],
    };
    whole
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

/// The recorder's end of the file.
pub struct Writer {
    path: PathBuf,
    file: File,
    lines: usize,
    keep: usize,
}

impl Writer {
    /// Open (creating it: its existence tells `lab start` the recorder is attached) for
    /// appending, keeping the last `keep` records.
    pub fn open(path: &Path, keep: usize) -> Result<Writer> {
        let lines = read(path).map_or(0, |r| r.len());
        Ok(Writer {
            file: open_append(path)?,
            path: path.to_path_buf(),
            lines,
            keep: keep.max(1),
        })
    }

    pub fn append(&mut self, r: &Record) -> Result<()> {
        let mut line = serde_json::to_vec(r)?;
        line.push(b'\n');
        // One write(2) (a line is ~200 bytes): never a record split across two writes.
        let n = self
            .file
            .write(&line)
            .with_context(|| format!("appending to {}", self.path.display()))?;
        anyhow::ensure!(
            n == line.len(),
            "short write to {} (disk full?)",
            self.path.display()
        );
        self.lines += 1;
        if self.lines >= self.keep + self.keep / 4 {
            self.compact()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<()> {
        let mut records = read(&self.path).unwrap_or_default();
        records.drain(..records.len().saturating_sub(self.keep));
        let mut text = Vec::new();
        for r in &records {
            text.extend(serde_json::to_vec(r)?);
            text.push(b'\n');
        }
        let tmp = self.path.with_extension("jsonl.tmp");
        std::fs::write(&tmp, &text).with_context(|| tmp.display().to_string())?;
        // No fsync: the recording dies with the session; rename alone keeps readers whole.
        std::fs::rename(&tmp, &self.path).with_context(|| self.path.display().to_string())?;
        self.file = open_append(&self.path)?;
        self.lines = records.len();
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(end: u64, v: f64) -> Record {
        Record {
            end,
            secs: 6.0,
            metrics: BTreeMap::from([("m".to_string(), v)]),
            spread: BTreeMap::new(),
            hists: BTreeMap::new(),
        }
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let mut bytes = Vec::new();
        for r in [rec(1, 1.0), rec(2, 2.0)] {
            bytes.extend(serde_json::to_vec(&r).unwrap());
            bytes.push(b'\n');
        }
        let whole = parse(&bytes);
        assert_eq!(whole, vec![rec(1, 1.0), rec(2, 2.0)]);
        let third = serde_json::to_vec(&rec(3, 3.0)).unwrap();
        for cut in 0..third.len() {
            let mut torn = bytes.clone();
            torn.extend(&third[..cut]);
            assert_eq!(parse(&torn), whole, "cut at {cut}");
        }
    }

    #[test]
    fn the_file_stays_bounded_and_keeps_the_latest() {
        let dir = std::env::temp_dir().join(format!("lab-ring-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("windows.jsonl");
        let _ = std::fs::remove_file(&path);
        let mut w = Writer::open(&path, 8).unwrap();
        assert!(path.exists(), "created on open");
        for i in 0..100 {
            w.append(&rec(i, i as f64)).unwrap();
            let n = read(&path).unwrap().len();
            assert!(n <= 10, "{n} records after {i}");
        }
        let r = read(&path).unwrap();
        assert_eq!(r.last(), Some(&rec(99, 99.0)));
        assert!(r.len() >= 8, "{}", r.len());
        // A reopened writer (a restarted recorder) continues the same file.
        let mut w = Writer::open(&path, 8).unwrap();
        w.append(&rec(100, 100.0)).unwrap();
        assert_eq!(read(&path).unwrap().last(), Some(&rec(100, 100.0)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
