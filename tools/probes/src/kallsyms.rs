//! A kallsyms cut down to the symbols some addresses fall in, for blazesym.
//!
//! blazesym resolves kernel addresses from a kallsyms file, and keeps every symbol of it in
//! memory: ~120k names, 8 MiB of a tool's peak RSS, to name the few hundred addresses a profile
//! holds. Streaming /proc/kallsyms once and keeping, for each address, only the line of the
//! nearest symbol at or below it gives blazesym a file that resolves those addresses exactly as
//! the whole one would (blazesym also takes the nearest symbol at or below, of any type).
use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    os::fd::FromRawFd,
};

use anyhow::{Context as _, Result};

pub const PROC_KALLSYMS: &str = "/proc/kallsyms";

/// The kallsyms lines (in `text`'s format) of the nearest symbol at or below each of `addrs`
/// (sorted, deduplicated). Several lines when symbols share that address.
pub fn nearest_lines(text: impl BufRead, addrs: &[u64]) -> Result<Vec<String>> {
    // Best candidate so far for each address: (symbol address, its lines).
    let mut best: Vec<Option<(u64, Vec<String>)>> = vec![None; addrs.len()];
    let offer =
        |best: &mut Vec<Option<(u64, Vec<String>)>>, lo: u64, hi: u64, s: &(u64, Vec<String>)| {
            let from = addrs.partition_point(|&a| a < lo);
            let to = addrs.partition_point(|&a| a < hi);
            for b in &mut best[from..to] {
                if b.as_ref().is_none_or(|(at, _)| *at < s.0) {
                    *b = Some(s.clone());
                }
            }
        };
    // kallsyms is sorted by address within runs (the core kernel, then each module): while a
    // run ascends, the addresses in [previous symbol, this symbol) belong to the previous one.
    let mut last: Option<(u64, Vec<String>)> = None;
    for line in text.lines() {
        let line = line.context("reading kallsyms")?;
        let Some(s) = line
            .split_ascii_whitespace()
            .next()
            .and_then(|a| u64::from_str_radix(a, 16).ok())
            .filter(|&a| a != 0)
        else {
            continue; // zeroed addresses (kptr_restrict) name nothing, as in blazesym
        };
        match &mut last {
            Some((at, lines)) if *at == s => lines.push(line),
            Some(prev) => {
                // Going down starts a new run: the previous symbol stands for all above it.
                let hi = if s > prev.0 { s } else { u64::MAX };
                offer(&mut best, prev.0, hi, prev);
                last = Some((s, vec![line]));
            }
            None => last = Some((s, vec![line])),
        }
    }
    if let Some(prev) = &last {
        offer(&mut best, prev.0, u64::MAX, prev);
    }
    let mut out: Vec<(u64, Vec<String>)> = best.into_iter().flatten().collect();
    out.sort_by_key(|(at, _)| *at);
    out.dedup_by_key(|(at, _)| *at);
    Ok(out.into_iter().flat_map(|(_, lines)| lines).collect())
}

/// /proc/kallsyms cut down to `addrs` (sorted), as an anonymous in-memory file; pass
/// `/proc/self/fd/<fd>` of it to blazesym. Closed (and gone) when the File drops.
pub fn subset_file(addrs: &[u64]) -> Result<File> {
    let f = File::open(PROC_KALLSYMS).with_context(|| format!("opening {PROC_KALLSYMS}"))?;
    let lines = nearest_lines(BufReader::with_capacity(64 << 10, f), addrs)?;
    // SAFETY: memfd_create returns a new fd we own (or -1, checked).
    let fd = unsafe { libc::memfd_create(c"lab-kallsyms".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("memfd_create for kallsyms");
    }
    let mut file = unsafe { File::from_raw_fd(fd) };
    let mut text = lines.join("\n");
    text.push('\n');
    file.write_all(text.as_bytes())?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
0000000000000000 A fixed_percpu_data
ffffffff81000000 T _stext
ffffffff81000010 t alpha
ffffffff81000010 T alpha_alias
ffffffff81000100 T beta
ffffffff81000200 T gamma
ffffffffc0001000 t mod_one\t[mod]
ffffffffc0002000 t mod_two\t[mod]
ffffffffa0000000 t other_mod_fn\t[other]
";

    fn names(addrs: &[u64]) -> Vec<String> {
        nearest_lines(TEXT.as_bytes(), addrs)
            .unwrap()
            .iter()
            .map(|l| l.split_ascii_whitespace().nth(2).unwrap().to_owned())
            .collect()
    }

    #[test]
    fn keeps_only_the_nearest_symbol_below_each_address() {
        assert_eq!(names(&[0xffffffff81000105]), ["beta"]);
        assert_eq!(names(&[0xffffffff81000100, 0xffffffff810001ff]), ["beta"]);
        // Symbols sharing an address all stay, in kallsyms order.
        assert_eq!(names(&[0xffffffff81000011]), ["alpha", "alpha_alias"]);
        assert_eq!(names(&[0xffffffff81000000]), ["_stext"]);
        // Below every symbol (and zeroed addresses): nothing.
        assert!(names(&[0x1000]).is_empty());
    }

    #[test]
    fn handles_module_runs_out_of_address_order() {
        // "other" is listed last but lies below "mod": the core kernel's last symbol stands
        // for it until then, and gamma must not win over other_mod_fn.
        assert_eq!(names(&[0xffffffffa0000004]), ["other_mod_fn"]);
        assert_eq!(names(&[0xffffffff90000000]), ["gamma"]);
        assert_eq!(names(&[0xffffffffc0002fff]), ["mod_two"]);
        assert_eq!(
            names(&[0xffffffffc0001001, 0xffffffffc0002001]),
            ["mod_one", "mod_two"]
        );
    }

    #[test]
    fn matches_a_full_search_on_this_kernel() {
        let Ok(text) = std::fs::read_to_string(PROC_KALLSYMS) else {
            return;
        };
        let mut syms: Vec<(u64, &str)> = text
            .lines()
            .filter_map(|l| {
                let mut t = l.split_ascii_whitespace();
                let a = u64::from_str_radix(t.next()?, 16)
                    .ok()
                    .filter(|&a| a != 0)?;
                Some((a, t.nth(1)?))
            })
            .collect();
        if syms.len() < 1000 {
            eprintln!("SKIPPED: kallsyms addresses hidden (kptr_restrict)");
            return;
        }
        syms.sort_by_key(|s| s.0);
        // Addresses spread over the whole table, a little past each symbol.
        let mut addrs: Vec<u64> = syms.iter().step_by(997).map(|s| s.0 + 3).collect();
        addrs.sort_unstable();
        addrs.dedup();
        let got = nearest_lines(text.as_bytes(), &addrs).unwrap();
        for a in addrs {
            let at = syms[syms.partition_point(|s| s.0 <= a) - 1].0;
            let want: Vec<&str> = syms.iter().filter(|s| s.0 == at).map(|s| s.1).collect();
            let have: Vec<&str> = got
                .iter()
                .filter(|l| l.starts_with(&format!("{at:016x} ")))
                .map(|l| l.split_ascii_whitespace().nth(2).unwrap())
                .collect();
            let (mut want, mut have) = (want, have);
            want.sort_unstable();
            have.sort_unstable();
            assert_eq!(have, want, "address {a:#x}");
        }
    }
}
