//! The slow-query tools, one loop for both: `dbslower` (MySQL or PostgreSQL, BCC's flags) and
//! `mysqld_qslower` (one MySQL PID). Both print BCC's `TIME(s) PID MS QUERY` lines; they differ
//! in the header, in what TIME(s) counts from and in how much of the query they show.
use std::{io::Write as _, time::Duration};

use anyhow::Result;
use lab_probes::dbslower::{DbSlower, Query};

use crate::{
    output,
    runtime::{Runtime, Schedule},
    snoop,
};

/// Where TIME(s) starts.
#[derive(Debug, Clone, Copy)]
pub enum Epoch {
    /// At this CLOCK_MONOTONIC time (dbslower: when tracing began).
    At(u64),
    /// At the first query printed (mysqld_qslower).
    FirstQuery,
}

/// Print `header`, then every slow query until Ctrl-C; `query_max` bytes of each query.
pub fn run(
    name: &str,
    mut probe: DbSlower,
    header: &str,
    epoch: Epoch,
    query_max: usize,
) -> Result<()> {
    let mut out = output::stdout();
    writeln!(out, "{header}")?;
    writeln!(out, "{:<14} {:<7} {:>8} QUERY", "TIME(s)", "PID", "MS")?;
    out.flush()?;
    let mut base = match epoch {
        Epoch::At(ns) => Some(ns),
        Epoch::FirstQuery => None,
    };
    let mut rt = Runtime::new(Schedule::default())?;
    rt.drain_every(Duration::from_millis(100));
    snoop::run(name, &mut rt, &mut probe, &mut out, |q, out| {
        print_query(out, &q, *base.get_or_insert(q.start_ns), query_max)
    })
}

fn print_query(out: &mut output::Out, q: &Query, base: u64, query_max: usize) -> Result<()> {
    let secs = (q.start_ns as i64 - base as i64) as f64 / 1e9;
    let mut text = q.query.as_str();
    if text.len() > query_max {
        let mut end = query_max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text = &text[..end];
    }
    writeln!(
        out,
        "{secs:<14.6} {:<7} {:>8.3} {text}",
        q.pid,
        q.delta_ns as f64 / 1e6
    )?;
    Ok(())
}
