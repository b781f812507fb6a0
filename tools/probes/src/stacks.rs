//! Stack counts as profile and offcputime keep them (`COUNTS` keyed by thread + stack ids, ips in
//! `STACKS`): reading them, symbolizing with blazesym (kernel: /proc/kallsyms; user: the ELF
//! symbols of each process's mappings, PIE included), and printing them BCC-style or folded.
use std::collections::HashMap;

use anyhow::{Context as _, Result};
use aya::{
    maps::{MapData, PerCpuArray, StackTraceMap},
    Ebpf,
};
use lab_probes_common::profile::{errors, StackKey, EFAULT, NOT_COLLECTED};

use crate::{events::cstr, symbolize::Symbols};

/// One side (kernel or user) of a counted stack, as the kernel left it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Frames<T> {
    /// That side was not asked for (-U / -K).
    NotCollected,
    /// No stack of that kind here (user stack of a kernel thread, kernel stack of a sample taken
    /// in user mode): prints nothing.
    Empty,
    /// The id was lost (stack storage full or a hash collision): prints "[Missed ... Stack]".
    Missed,
    /// Innermost frame first.
    Some(Vec<T>),
}

impl<T> Frames<T> {
    pub fn frames(&self) -> &[T] {
        match self {
            Frames::Some(v) => v,
            _ => &[],
        }
    }
}

/// A stack with its count (samples for profile, nanoseconds off CPU for offcputime).
#[derive(Debug, Clone)]
pub struct StackCount<T> {
    /// Thread id.
    pub pid: u32,
    /// Process id.
    pub tgid: u32,
    pub comm: String,
    pub kernel: Frames<T>,
    pub user: Frames<T>,
    pub value: u64,
}

/// Raw stacks: instruction pointers.
pub type RawStack = StackCount<u64>;
/// Symbolized stacks: function names ("[unknown]" where no symbol covers the address).
pub type SymStack = StackCount<String>;

/// Per-CPU error counters of a stack probe (lab_probes_common::profile::errors).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackErrors {
    pub counts_full: u64,
    pub kstack_missed: u64,
    pub ustack_missed: u64,
    pub start_full: u64,
}

impl StackErrors {
    /// Events that did not make it into the counts at all.
    pub fn lost(&self) -> u64 {
        self.counts_full + self.start_full
    }
    /// Stacks counted but without their frames.
    pub fn missed_stacks(&self) -> u64 {
        self.kstack_missed + self.ustack_missed
    }
}

/// Read every counted stack from `bpf`'s `COUNTS` and `STACKS` maps.
pub fn read_counts(bpf: &Ebpf) -> Result<Vec<RawStack>> {
    with_frames(bpf, crate::count_map::read::<StackKey>(bpf, "COUNTS")?)
}

/// `counts` (as read from `COUNTS`) with their frames from `bpf`'s `STACKS`.
pub fn with_frames(bpf: &Ebpf, counts: Vec<(StackKey, u64)>) -> Result<Vec<RawStack>> {
    let stacks: StackTraceMap<&MapData> = StackTraceMap::try_from(
        bpf.map("STACKS")
            .context("map STACKS missing from object")?,
    )?;
    let mut ips_cache: HashMap<u32, Option<Vec<u64>>> = HashMap::new();
    let mut frames = |id: i32| -> Frames<u64> {
        match id {
            NOT_COLLECTED => Frames::NotCollected,
            e if e == -EFAULT => Frames::Empty,
            e if e < 0 => Frames::Missed,
            id => {
                let ips = ips_cache.entry(id as u32).or_insert_with(|| {
                    stacks
                        .get(&(id as u32), 0)
                        .ok()
                        .map(|t| t.frames().iter().map(|f| f.ip).collect())
                });
                match ips {
                    Some(v) => Frames::Some(v.clone()),
                    None => Frames::Missed,
                }
            }
        }
    };
    let mut out = Vec::new();
    for (k, value) in counts {
        if value == 0 {
            continue;
        }
        out.push(StackCount {
            pid: k.pid,
            tgid: k.tgid,
            comm: cstr(&k.comm),
            kernel: frames(k.kstack),
            user: frames(k.ustack),
            value,
        });
    }
    Ok(out)
}

/// Read the `ERRORS` per-CPU array of a stack probe.
pub fn read_errors(bpf: &Ebpf) -> Result<StackErrors> {
    let arr: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(
        bpf.map("ERRORS")
            .context("map ERRORS missing from object")?,
    )?;
    let slot = |i: u32| -> Result<u64> { Ok(arr.get(&i, 0)?.iter().sum()) };
    Ok(StackErrors {
        counts_full: slot(errors::COUNTS_FULL)?,
        kstack_missed: slot(errors::KSTACK_MISSED)?,
        ustack_missed: slot(errors::USTACK_MISSED)?,
        start_full: slot(errors::START_FULL)?,
    })
}

/// Placeholder for an address no symbol covers (BCC's).
pub const UNKNOWN: &str = "[unknown]";

/// Symbolizes raw stacks (names without offsets); caches per kernel address and per (process,
/// address), through [`Symbols`].
#[derive(Default)]
pub struct StackSymbolizer {
    syms: Symbols,
}

impl StackSymbolizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Symbolize all stacks. User stacks need their process alive (its maps are read from
    /// /proc); those of processes gone by now print as "[unknown]", as in BCC.
    pub fn symbolize(&mut self, raw: Vec<RawStack>) -> Vec<SymStack> {
        self.syms
            .load_kernel(raw.iter().flat_map(|s| lookup_addrs(s.kernel.frames())));
        for s in &raw {
            self.syms.load_user(s.tgid, lookup_addrs(s.user.frames()));
        }
        raw.into_iter()
            .map(|s| {
                let tgid = s.tgid;
                let kernel = map_frames(s.kernel, |a| self.syms.kernel(a).bcc(false, false));
                let user = map_frames(s.user, |a| self.syms.user(tgid, a).bcc(false, false));
                StackCount {
                    pid: s.pid,
                    tgid,
                    comm: s.comm,
                    kernel,
                    user,
                    value: s.value,
                }
            })
            .collect()
    }
}

/// The address to look up for each frame: return addresses (every frame but the innermost)
/// point just past their call instruction, possibly into the next function, so look up ip-1.
pub fn lookup_addrs(ips: &[u64]) -> impl Iterator<Item = u64> + '_ {
    ips.iter()
        .enumerate()
        .map(|(i, &ip)| if i == 0 { ip } else { ip.saturating_sub(1) })
}

fn map_frames(f: Frames<u64>, name: impl Fn(u64) -> String) -> Frames<String> {
    match f {
        Frames::NotCollected => Frames::NotCollected,
        Frames::Empty => Frames::Empty,
        Frames::Missed => Frames::Missed,
        Frames::Some(ips) => Frames::Some(lookup_addrs(&ips).map(name).collect()),
    }
}

/// How to print stacks (BCC's -f, -d, -U, -K).
#[derive(Debug, Clone, Copy, Default)]
pub struct StackFormat {
    pub folded: bool,
    /// Separate kernel and user frames ("--", or "-" when folded).
    pub delimited: bool,
}

/// Merge stacks that print the same (same id, comm and frame names), summing their values.
/// `by_process` keys by process id (profile) instead of thread id (offcputime).
pub fn merge(stacks: Vec<SymStack>, by_process: bool) -> Vec<SymStack> {
    let mut map: HashMap<(u32, String, Frames<String>, Frames<String>), SymStack> = HashMap::new();
    for mut s in stacks {
        if by_process {
            s.pid = s.tgid;
        }
        let key = (s.pid, s.comm.clone(), s.kernel.clone(), s.user.clone());
        map.entry(key)
            .and_modify(|m| m.value += s.value)
            .or_insert(s);
    }
    let mut v: Vec<SymStack> = map.into_values().collect();
    // BCC prints in ascending order, the hottest stack last (next to the prompt).
    v.sort_by(|a, b| {
        a.value
            .cmp(&b.value)
            .then_with(|| folded_line(a, false).cmp(&folded_line(b, false)))
    });
    v
}

/// One folded line without the count: `comm;user frames outermost first;kernel frames`.
pub fn folded_line(s: &SymStack, delimited: bool) -> String {
    let mut parts: Vec<&str> = vec![&s.comm];
    match &s.user {
        Frames::Missed => parts.push("[Missed User Stack]"),
        f => parts.extend(f.frames().iter().rev().map(String::as_str)),
    }
    if delimited && matches!(s.user, Frames::Some(_)) && matches!(s.kernel, Frames::Some(_)) {
        parts.push("-");
    }
    match &s.kernel {
        Frames::Missed => parts.push("[Missed Kernel Stack]"),
        f => parts.extend(f.frames().iter().rev().map(String::as_str)),
    }
    parts.join(";")
}

/// Print one stack in BCC's layout: kernel frames, optional "--", user frames, then
/// `-  comm (pid)` and the value on its own line; or one folded line `... value`.
pub fn write_stack(
    out: &mut impl std::io::Write,
    s: &SymStack,
    fmt: StackFormat,
) -> std::io::Result<()> {
    if fmt.folded {
        return writeln!(out, "{} {}", folded_line(s, fmt.delimited), s.value);
    }
    match &s.kernel {
        Frames::Missed => writeln!(out, "    [Missed Kernel Stack]")?,
        f => {
            for name in f.frames() {
                writeln!(out, "    {name}")?;
            }
        }
    }
    if fmt.delimited && matches!(s.user, Frames::Some(_)) && matches!(s.kernel, Frames::Some(_)) {
        writeln!(out, "    --")?;
    }
    match &s.user {
        Frames::Missed => writeln!(out, "    [Missed User Stack]")?,
        f => {
            for name in f.frames() {
                writeln!(out, "    {name}")?;
            }
        }
    }
    writeln!(out, "    {:<16} {} ({})", "-", s.comm, s.pid)?;
    writeln!(out, "        {}\n", s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(kernel: Frames<String>, user: Frames<String>, value: u64) -> SymStack {
        StackCount {
            pid: 7,
            tgid: 7,
            comm: "burn".into(),
            kernel,
            user,
            value,
        }
    }
    fn names(v: &[&str]) -> Frames<String> {
        Frames::Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn folded_puts_outermost_first_and_user_before_kernel() {
        let s = stack(names(&["k_leaf", "k_root"]), names(&["u_leaf", "main"]), 3);
        assert_eq!(folded_line(&s, false), "burn;main;u_leaf;k_root;k_leaf");
        assert_eq!(folded_line(&s, true), "burn;main;u_leaf;-;k_root;k_leaf");
        let s = stack(Frames::Missed, Frames::Empty, 1);
        assert_eq!(folded_line(&s, true), "burn;[Missed Kernel Stack]");
    }

    #[test]
    fn bcc_layout() {
        let s = stack(names(&["k"]), names(&["u"]), 5);
        let mut out = Vec::new();
        write_stack(
            &mut out,
            &s,
            StackFormat {
                folded: false,
                delimited: true,
            },
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "    k\n    --\n    u\n    -                burn (7)\n        5\n\n"
        );
    }

    #[test]
    fn merge_sums_equal_stacks_and_sorts_ascending() {
        let a = stack(Frames::Empty, names(&["f"]), 2);
        let b = StackCount {
            pid: 8,
            ..stack(Frames::Empty, names(&["f"]), 3)
        };
        let c = stack(Frames::Empty, names(&["g"]), 1);
        let m = merge(vec![a, b, c], true);
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].value, 5);
        assert_eq!(m[0].user.frames(), ["g".to_string()]);
    }
}
