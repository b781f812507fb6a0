//! What a tool printed, from `bpftrace -f json` records: histograms (hist/lhist, keyed or not),
//! maps and scalars, and text (printf, time, join, ...), each with its arrival time.
use serde_json::Value;

use super::student_tool::Line;

/// One bucket: `lo..=hi`; `lo` None = below the lhist range, `hi` None = at or above its max.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub lo: Option<i64>,
    pub hi: Option<i64>,
    pub count: u64,
}

/// One printed histogram (a key of a keyed map prints as its own histogram).
#[derive(Debug, Clone)]
pub struct Hist {
    pub at: f64,
    pub name: String,
    pub key: Option<String>,
    pub buckets: Vec<Bucket>,
}

impl Hist {
    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|b| b.count).sum()
    }

    /// Linear with step 1 (lhist(v, min, max, 1)): every bounded bucket holds one value.
    pub fn is_step1(&self) -> bool {
        let bounded: Vec<_> = self
            .buckets
            .iter()
            .filter_map(|b| Some((b.lo?, b.hi?)))
            .collect();
        !bounded.is_empty() && bounded.iter().all(|(lo, hi)| lo == hi)
    }

    /// Power-of-2 buckets (hist()).
    pub fn is_log2(&self) -> bool {
        self.buckets
            .iter()
            .filter_map(|b| Some((b.lo?, b.hi?)))
            .any(|(lo, hi)| lo > 1 && hi == 2 * lo - 1)
    }
}

/// One printed map entry (or a scalar, key None).
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub key: Option<String>,
    pub value: Value,
}

#[derive(Debug, Clone, Default)]
pub struct Output {
    pub hists: Vec<Hist>,
    pub entries: Vec<Entry>,
    /// Text records in order, with arrival time.
    pub text: Vec<(f64, String)>,
}

impl Output {
    pub fn parse(lines: &[Line], raw: &[String]) -> Self {
        let mut o = Output::default();
        for l in lines {
            let data = &l.json["data"];
            match l.json["type"].as_str().unwrap_or("") {
                "hist" => o.add_hists(l.at, data),
                "map" | "stats" | "value" => o.add_entries(data),
                "attached_probes" | "lost_events" => {}
                _ => {
                    let s = match data {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    o.text.push((l.at, s));
                }
            }
        }
        o.text.extend(raw.iter().map(|s| (f64::MAX, s.clone())));
        o
    }

    fn add_hists(&mut self, at: f64, data: &Value) {
        let Some(obj) = data.as_object() else { return };
        for (name, v) in obj {
            match v {
                Value::Array(b) => self.hists.push(Hist {
                    at,
                    name: name.clone(),
                    key: None,
                    buckets: buckets(b),
                }),
                Value::Object(keys) => {
                    for (k, b) in keys {
                        if let Value::Array(b) = b {
                            self.hists.push(Hist {
                                at,
                                name: name.clone(),
                                key: Some(k.clone()),
                                buckets: buckets(b),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn add_entries(&mut self, data: &Value) {
        let Some(obj) = data.as_object() else {
            self.entries.push(Entry {
                name: String::new(),
                key: None,
                value: data.clone(),
            });
            return;
        };
        for (name, v) in obj {
            match v {
                Value::Object(keys) => {
                    for (k, val) in keys {
                        self.entries.push(Entry {
                            name: name.clone(),
                            key: Some(k.clone()),
                            value: val.clone(),
                        });
                    }
                }
                other => self.entries.push(Entry {
                    name: name.clone(),
                    key: None,
                    value: other.clone(),
                }),
            }
        }
    }

    /// Everything printed, as one text (for "does X appear" checks): text, map keys and values.
    pub fn all_text(&self) -> String {
        let mut s = String::new();
        for (_, t) in &self.text {
            s.push_str(t);
            s.push('\n');
        }
        for e in &self.entries {
            s.push_str(&format!(
                "{}[{}]: {}\n",
                e.name,
                e.key.as_deref().unwrap_or(""),
                e.value
            ));
        }
        for h in &self.hists {
            if let Some(k) = &h.key {
                s.push_str(&format!("{}[{}]\n", h.name, k));
            }
        }
        s
    }
}

fn buckets(arr: &[Value]) -> Vec<Bucket> {
    arr.iter()
        .map(|b| Bucket {
            lo: b["min"].as_i64(),
            hi: b["max"].as_i64(),
            count: b["count"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// Whether `n` appears in `text` as a whole number (not part of a longer number).
pub fn has_number(text: &str, n: u64) -> bool {
    let needle = n.to_string();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(&needle) {
        let start = from + i;
        let end = start + needle.len();
        let before = start == 0 || !bytes[start - 1].is_ascii_digit();
        let after = end == bytes.len() || !bytes[end].is_ascii_digit();
        if before && after {
            return true;
        }
        from = start + 1;
    }
    false
}

/// Numbers in a string, in order (integers and decimals).
pub fn numbers(s: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (c == '.' && !cur.is_empty() && !cur.contains('.')) {
            cur.push(c);
        } else if !cur.is_empty() {
            if let Ok(v) = cur.trim_end_matches('.').parse() {
                out.push(v);
            }
            cur.clear();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_tokens() {
        assert_eq!(numbers("ratio: 12.5 (x3)"), vec![12.5, 3.0]);
        assert!(has_number("pid 1234 forked", 1234));
        assert!(!has_number("pid 12345", 1234));
    }

    #[test]
    fn lhist_shape() {
        let line = |s: &str| Line {
            at: 0.0,
            json: serde_json::from_str(s).unwrap(),
        };
        let o = Output::parse(
            &[line(
                r#"{"type":"hist","data":{"@l":[{"min":0,"max":0,"count":2},{"min":1,"max":1,"count":1},{"min":100,"count":1}]}}"#,
            )],
            &[],
        );
        assert!(o.hists[0].is_step1());
        assert_eq!(o.hists[0].total(), 4);
    }
}
