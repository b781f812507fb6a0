//! stackcount's stacks: merged as BCC keys them (by stack, and by process with -P), named with
//! offsets (-s) and addresses (-v), printed in BCC's layout or folded for flame graphs.
use std::{collections::HashMap, io::Write};

use anyhow::Result;
use lab_probes::{
    stacks::{lookup_addrs, Frames, RawStack},
    symbolize::Symbols,
};

/// How stacks are keyed and shown (stackcount's flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct Shown {
    /// -P (or -p): one stack per process.
    pub per_process: bool,
    /// -P without -p: a `comm [pid]` line under each stack.
    pub comm_line: bool,
    /// -s: symbol+offset.
    pub offset: bool,
    /// -v: the raw address before each frame.
    pub address: bool,
    /// -d: a `--` line (folded: `-`) between kernel and user frames.
    pub delimited: bool,
}

/// A counted stack, ready to print: frames are (address, name).
#[derive(Debug, Clone)]
pub struct Counted {
    pub tgid: u32,
    pub comm: String,
    pub kernel: Frames<(u64, String)>,
    pub user: Frames<(u64, String)>,
    pub count: u64,
}

/// Merge raw stacks by (process with -P,) kernel and user stack, then name their frames.
pub fn prepare(raw: Vec<RawStack>, shown: &Shown) -> Vec<Counted> {
    let mut merged: HashMap<(u32, String, Frames<u64>, Frames<u64>), RawStack> = HashMap::new();
    for s in raw {
        let (tgid, comm) = if shown.per_process {
            (s.tgid, s.comm.clone())
        } else {
            (0, String::new())
        };
        merged
            .entry((tgid, comm, s.kernel.clone(), s.user.clone()))
            .and_modify(|m| m.value += s.value)
            .or_insert(s);
    }
    let mut syms = Symbols::default();
    syms.load_kernel(
        merged
            .values()
            .flat_map(|s| lookup_addrs(s.kernel.frames())),
    );
    for s in merged.values() {
        syms.load_user(s.tgid, lookup_addrs(s.user.frames()));
    }
    let mut out: Vec<Counted> = merged
        .into_values()
        .map(|s| Counted {
            tgid: s.tgid,
            comm: s.comm.clone(),
            kernel: named(&s.kernel, shown, |a| syms.kernel(a)),
            user: named(&s.user, shown, |a| syms.user(s.tgid, a)),
            count: s.value,
        })
        .collect();
    // BCC prints in ascending order, the busiest stack last.
    out.sort_by(|a, b| {
        a.count
            .cmp(&b.count)
            .then_with(|| line(a, shown).cmp(&line(b, shown)))
    });
    out
}

fn named(
    f: &Frames<u64>,
    shown: &Shown,
    resolve: impl Fn(u64) -> lab_probes::symbolize::Resolved,
) -> Frames<(u64, String)> {
    match f {
        Frames::NotCollected => Frames::NotCollected,
        Frames::Empty => Frames::Empty,
        Frames::Missed => Frames::Missed,
        Frames::Some(ips) => Frames::Some(
            ips.iter()
                .zip(lookup_addrs(ips))
                .map(|(&ip, at)| {
                    let mut r = resolve(at);
                    r.offset += ip - at;
                    (ip, r.bcc(shown.offset, false))
                })
                .collect(),
        ),
    }
}

/// Print stacks in BCC's layout: frames, `--`, frames, `comm [pid]`, the count, a blank line.
pub fn print(out: &mut impl Write, stacks: &[Counted], shown: &Shown) -> Result<()> {
    for s in stacks {
        frames(out, &s.kernel, "Kernel", shown)?;
        if shown.delimited {
            writeln!(out, "    --")?;
        }
        frames(out, &s.user, "User", shown)?;
        if shown.comm_line {
            writeln!(out, "    {} [{}]", s.comm, s.tgid)?;
        }
        writeln!(out, "    {}\n", s.count)?;
    }
    Ok(())
}

fn frames(
    out: &mut impl Write,
    f: &Frames<(u64, String)>,
    kind: &str,
    shown: &Shown,
) -> Result<()> {
    if matches!(f, Frames::Missed) {
        writeln!(out, "  [Missed {kind} Stack]")?;
    }
    for (ip, name) in f.frames() {
        if shown.address {
            writeln!(out, "  {ip:<16x} {name}")?;
        } else {
            writeln!(out, "  {name}")?;
        }
    }
    Ok(())
}

/// One folded line per stack: `[comm;]user frames outermost first[;-];kernel frames COUNT`.
pub fn folded(stacks: &[Counted], shown: &Shown) -> Vec<String> {
    stacks
        .iter()
        .map(|s| format!("{} {}", line(s, shown), s.count))
        .collect()
}

fn line(s: &Counted, shown: &Shown) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if shown.per_process {
        parts.push(&s.comm);
    }
    match &s.user {
        Frames::Missed => parts.push("[Missed User Stack]"),
        f => parts.extend(f.frames().iter().rev().map(|(_, n)| n.as_str())),
    }
    if shown.delimited {
        parts.push("-");
    }
    match &s.kernel {
        Frames::Missed => parts.push("[Missed Kernel Stack]"),
        f => parts.extend(f.frames().iter().rev().map(|(_, n)| n.as_str())),
    }
    parts.join(";")
}
