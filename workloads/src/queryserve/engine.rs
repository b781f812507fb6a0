//! The query server's "engine": one in-memory table and the few statements its clients send.
//! - `SELECT * FROM orders WHERE id = N`: an index lookup (microseconds);
//! - `SELECT COUNT(*) FROM orders WHERE note LIKE '%WORD%'`: a full scan of every row (tens of
//!   milliseconds: the slow query dbslower finds);
//! - `SELECT SLEEP(MS)`: waits MS milliseconds (known durations for the tests);
//! - anything else: an error (query__done's status 1).
use crate::common::Rng;

pub struct Table {
    notes: Vec<String>,
}

const WORDS: &[&str] = &[
    "shipped",
    "refund",
    "gift",
    "express",
    "fragile",
    "backorder",
    "priority",
    "return",
];

impl Table {
    pub fn new(rng: &mut Rng, rows: usize) -> Table {
        let notes = (0..rows)
            .map(|i| {
                let w = WORDS[rng.range(0, WORDS.len() as u64 - 1) as usize];
                format!("order {i} {w} note {:x}", rng.next_u64())
            })
            .collect();
        Table { notes }
    }

    /// Run one statement: the rows it returns, or why it failed.
    pub fn run(&self, query: &str) -> Result<usize, String> {
        let q = query.trim().trim_end_matches(';');
        if let Some(ms) = q
            .strip_prefix("SELECT SLEEP(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let ms: u64 = ms
                .trim()
                .parse()
                .map_err(|_| format!("bad SLEEP argument '{ms}'"))?;
            std::thread::sleep(std::time::Duration::from_millis(ms));
            return Ok(1);
        }
        if let Some(id) = q.strip_prefix("SELECT * FROM orders WHERE id = ") {
            let id: usize = id.trim().parse().map_err(|_| format!("bad id '{id}'"))?;
            return Ok(usize::from(self.notes.get(id).is_some()));
        }
        if let Some(pat) = q
            .strip_prefix("SELECT COUNT(*) FROM orders WHERE note LIKE '%")
            .and_then(|r| r.strip_suffix("%'"))
        {
            let n = self.notes.iter().filter(|n| n.contains(pat)).count();
            return Ok(std::hint::black_box(n).min(1));
        }
        Err(format!("unknown statement: {q}"))
    }
}

/// A seeded client's next statement: mostly lookups, one scan in `scan_one_in`.
pub fn next_query(rng: &mut Rng, rows: usize, scan_one_in: u64) -> String {
    if rng.range(1, scan_one_in) == 1 {
        let w = WORDS[rng.range(0, WORDS.len() as u64 - 1) as usize];
        format!("SELECT COUNT(*) FROM orders WHERE note LIKE '%{w}%'")
    } else {
        format!(
            "SELECT * FROM orders WHERE id = {}",
            rng.range(0, rows.max(1) as u64 - 1)
        )
    }
}
