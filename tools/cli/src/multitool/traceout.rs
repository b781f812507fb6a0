//! trace's output, as BCC prints it: `PID TID COMM FUNC -` then one line per event, stacks
//! under it, -t/-T/-C columns, -n/-f filters, -M and -A.
use std::io::Write;

use anyhow::Result;
use lab_probes::{
    probespec::format::{self, Value},
    symbolize::Symbols,
    trace::{Event, Probe},
};

use crate::{
    output::{self, Out},
    timefmt,
};

/// How to print (trace's flags).
#[derive(Debug, Clone, Default)]
pub struct TraceView {
    pub time: bool,
    pub timestamp: bool,
    pub unix_timestamp: bool,
    pub print_cpu: bool,
    pub address: bool,
    pub name: Option<String>,
    pub msg_filter: Option<String>,
    pub max_events: Option<u64>,
    pub aggregate: bool,
}

pub struct TraceOut {
    view: TraceView,
    out: Out,
    syms: Symbols,
    printed: u64,
    /// -A: each distinct event text and its count, in first-seen order.
    counts: Vec<(String, u64)>,
    start_mono: u64,
    start_real: f64,
}

impl TraceOut {
    pub fn new(view: &TraceView) -> Self {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Self {
            view: view.clone(),
            out: output::stdout(),
            syms: Symbols::default(),
            printed: 0,
            counts: Vec::new(),
            start_mono: lab_probes::events::monotonic_ns(),
            start_real: real,
        }
    }

    /// The column header; `trivial` when no probe has a format (no "-" column).
    pub fn header(&mut self, trivial: bool) -> Result<()> {
        if self.view.time || self.view.timestamp {
            let w = if self.view.unix_timestamp { 17 } else { 8 };
            write!(self.out, "{:<w$} ", "TIME")?;
        }
        if self.view.print_cpu {
            write!(self.out, "{:<3} ", "CPU")?;
        }
        writeln!(
            self.out,
            "{:<7} {:<7} {:<15} {:<16} {}",
            "PID",
            "TID",
            "COMM",
            "FUNC",
            if trivial { "" } else { "-" }
        )?;
        self.out.flush()?;
        Ok(())
    }

    /// Print what the probes have, oldest first. True once -M events were printed.
    pub fn drain(&mut self, probes: &mut [Probe]) -> Result<bool> {
        let mut batch: Vec<(usize, Event)> = Vec::new();
        for (i, p) in probes.iter_mut().enumerate() {
            p.drain(|e| batch.push((i, e)));
        }
        batch.sort_by_key(|(_, e)| e.ts_ns);
        for (i, e) in batch {
            if self.done() {
                break;
            }
            self.event(&probes[i], e)?;
        }
        self.out.flush()?;
        Ok(self.done())
    }

    fn done(&self) -> bool {
        self.view.max_events.is_some_and(|m| self.printed >= m)
    }

    fn event(&mut self, probe: &Probe, mut e: Event) -> Result<()> {
        if self
            .view
            .name
            .as_ref()
            .is_some_and(|n| !e.comm.contains(n.as_str()))
        {
            return Ok(());
        }
        let c = &probe.compiled;
        self.symbolize_values(c, &mut e);
        let msg = format::render(&c.pieces, &e.values);
        if self
            .view
            .msg_filter
            .as_ref()
            .is_some_and(|f| !msg.contains(f.as_str()))
        {
            return Ok(());
        }
        let mut line = self.columns(&e);
        line.push_str(&format!(
            "{:<7} {:<7} {:<15} {:<16} {msg}\n",
            e.tgid, e.pid, e.comm, c.target.display
        ));
        let stacked = e.kstack != lab_probes_common::profile::NOT_COLLECTED
            || e.ustack != lab_probes_common::profile::NOT_COLLECTED;
        line.push_str(&self.stacks(probe, &e));
        self.printed += 1;
        if self.view.aggregate {
            match self.counts.iter_mut().find(|(s, _)| *s == line) {
                Some((_, n)) => *n += 1,
                None => self.counts.push((line, 1)),
            }
            return Ok(());
        }
        self.out.write_all(line.as_bytes())?;
        if stacked {
            writeln!(self.out)?;
        }
        Ok(())
    }

    /// -t/-T and -C columns.
    fn columns(&self, e: &Event) -> String {
        let mut s = String::new();
        if self.view.time && !self.view.timestamp {
            s.push_str(&format!("{:<8} ", timefmt::hms()));
        } else if self.view.timestamp {
            let off = (e.ts_ns as f64 - self.start_mono as f64) / 1e9;
            if self.view.unix_timestamp {
                let t = format!("{:.6}", off + self.start_real);
                s.push_str(&format!("{:<17} ", &t[..t.len().min(17)]));
            } else {
                let t = format!("{off:.6}");
                s.push_str(&format!("{:<8} ", &t[..t.len().min(8)]));
            }
        }
        if self.view.print_cpu {
            s.push_str(&format!("{:<3} ", e.cpu));
        }
        s
    }

    /// %K and %U values become symbols.
    fn symbolize_values(&mut self, c: &lab_probes::trace::Compiled, e: &mut Event) {
        let convs: Vec<char> = format::convs(&c.pieces).map(|v| v.conv).collect();
        for (conv, v) in convs.iter().zip(e.values.iter_mut()) {
            let Value::Num(addr) = *v else { continue };
            match conv {
                'K' => {
                    self.syms.load_kernel([addr]);
                    *v = Value::Text(self.syms.kernel(addr).bcc(true, false));
                }
                'U' => {
                    self.syms.load_user(e.tgid, [addr]);
                    *v = Value::Text(self.syms.user(e.tgid, addr).bcc(true, true));
                }
                _ => {}
            }
        }
    }

    /// The event's kernel then user stack, one frame per line, as BCC's trace.
    fn stacks(&mut self, probe: &Probe, e: &Event) -> String {
        let mut s = String::new();
        for (id, user) in [(e.kstack, false), (e.ustack, true)] {
            if id == lab_probes_common::profile::NOT_COLLECTED {
                continue;
            }
            if id < 0 {
                s.push_str(&format!("        {id}\n"));
                continue;
            }
            let ips = probe.stack(id);
            if user {
                self.syms.load_user(e.tgid, ips.iter().copied());
            } else {
                self.syms.load_kernel(ips.iter().copied());
            }
            for ip in ips {
                s.push_str("        ");
                if self.view.address {
                    s.push_str(&format!("{ip:16x} "));
                }
                let r = if user {
                    self.syms.user(e.tgid, ip)
                } else {
                    self.syms.kernel(ip)
                };
                s.push_str(&r.bcc(true, true));
                s.push('\n');
            }
        }
        s
    }

    /// At the end: -A's counts, most frequent first.
    pub fn finish(&mut self) -> Result<()> {
        let mut counts = std::mem::take(&mut self.counts);
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        for (line, n) in counts {
            write!(self.out, "{line}-->COUNT {n}\n\n")?;
        }
        self.out.flush()?;
        Ok(())
    }
}
