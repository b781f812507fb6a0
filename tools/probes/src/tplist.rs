//! tplist's domain: kernel tracepoints (tracefs `events/`) with their fields, and USDT probes
//! of a binary, library or process, printed as BCC's tplist prints them.
use std::{fmt::Write as _, path::Path};

use anyhow::{bail, Context as _, Result};

use crate::{
    funccount::Matcher,
    usdt::{reg_name, shown_path, UsdtArg, UsdtLoc, UsdtProbe},
};

/// Every tracepoint as `category:name`, sorted, that `filter` matches (all without one).
pub fn tracepoints(root: &Path, filter: Option<&Matcher>) -> Result<Vec<(String, String)>> {
    let events = root.join("events");
    let mut out = Vec::new();
    for cat in crate::funccount::sorted_dir(&events)? {
        for name in crate::funccount::sorted_dir(&events.join(&cat)).unwrap_or_default() {
            if filter.is_none_or(|m| m.matches(&format!("{cat}:{name}"))) {
                out.push((cat.clone(), name));
            }
        }
    }
    Ok(out)
}

/// A tracepoint's own fields as `TYPE NAME` declarations from its format file, the common_*
/// header left out (BCC: the last word is the name, the words before it the type).
pub fn fields(root: &Path, category: &str, name: &str) -> Result<Vec<String>> {
    let path = root.join("events").join(category).join(name).join("format");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("field:")?.split(';').next())
        .map(|decl| decl.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.last().is_some_and(|n| !n.starts_with("common_")))
        .map(|w| w.join(" "))
        .collect())
}

/// BCC's words for one argument: `8 unsigned bytes @ di`, `4 signed   bytes @ *(bp - 20)`,
/// `4 unsigned bytes @ 5`.
pub fn describe_arg(a: &UsdtArg) -> String {
    let kind = if a.signed { "signed  " } else { "unsigned" };
    let at = match &a.loc {
        UsdtLoc::Const(v) => v.to_string(),
        UsdtLoc::Reg(r) => reg_name(*r).to_owned(),
        UsdtLoc::Mem { base, disp, index } => {
            let sign = if *disp >= 0 { '+' } else { '-' };
            let ix = match index {
                Some((r, s)) => format!(" + {} * {s}", reg_name(*r)),
                None => String::new(),
            };
            format!("*({} {sign} {}{ix})", reg_name(*base), disp.unsigned_abs())
        }
    };
    format!("{} {kind} bytes @ {at}", a.size)
}

/// tplist's lines for `probes` (each `provider:name` once, the first file's, as BCC):
/// `PATH provider:name`; with `-v` the semaphore and the counts of locations and arguments;
/// with `-vv` every location and its arguments.
pub fn usdt_listing(
    probes: &[UsdtProbe],
    filter: Option<&Matcher>,
    verbosity: u8,
) -> Result<String> {
    let mut out = String::new();
    let mut seen: Vec<String> = Vec::new();
    for p in probes {
        let short = p.short_name();
        if filter.is_some_and(|m| !m.matches(&short)) || seen.contains(&short) {
            continue;
        }
        seen.push(short.clone());
        if verbosity == 0 {
            writeln!(out, "{} {short}", shown_path(&p.path))?;
            continue;
        }
        writeln!(out, "{short} [sema {:#x}]", p.semaphore)?;
        if verbosity == 1 {
            writeln!(out, "  {} location(s)", p.locations.len())?;
            writeln!(out, "  {} argument(s)", p.arg_count())?;
            continue;
        }
        for (i, loc) in p.locations.iter().enumerate() {
            writeln!(
                out,
                "  location #{} {} {:#x}",
                i + 1,
                shown_path(&p.path),
                loc.address
            )?;
            for (j, a) in loc.args.iter().enumerate() {
                writeln!(out, "    argument #{} {}", j + 1, describe_arg(a))?;
            }
            if let Some(e) = &loc.arg_error {
                writeln!(out, "    arguments not decoded: {e}")?;
            }
        }
    }
    if seen.is_empty() {
        if let Some(m) = filter {
            bail!("no USDT probe matches '{}'", m.text());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usdt::parse_arg;

    #[test]
    fn arguments_read_as_bccs() {
        let d = |s: &str| describe_arg(&parse_arg(s, &|_| None).unwrap());
        assert_eq!(d("8@%rdi"), "8 unsigned bytes @ di");
        assert_eq!(d("-4@-20(%rbp)"), "4 signed   bytes @ *(bp - 20)");
        assert_eq!(d("4@$5"), "4 unsigned bytes @ 5");
        assert_eq!(
            d("8@8(%rax,%rdx,8)"),
            "8 unsigned bytes @ *(ax + 8 + dx * 8)"
        );
        assert_eq!(d("-8@%r13"), "8 signed   bytes @ r13");
    }

    #[test]
    fn sched_switch_fields_are_its_own() {
        let Some(root) = crate::tracefs::root() else {
            eprintln!("SKIPPED: no tracefs");
            return;
        };
        let Ok(f) = fields(&root, "sched", "sched_switch") else {
            eprintln!("SKIPPED: sched_switch's format unreadable (not root?)");
            return;
        };
        assert!(f.contains(&"char prev_comm[16]".to_owned()), "{f:?}");
        assert!(f.contains(&"pid_t next_pid".to_owned()), "{f:?}");
        assert!(!f.iter().any(|d| d.contains("common_")), "{f:?}");
    }
}
