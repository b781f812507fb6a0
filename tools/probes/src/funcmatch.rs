//! What a funccount-style pattern names on this machine (stackcount, funclatency, funcslower):
//! kernel functions kprobes can trace, tracepoints, functions of a library or executable.
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::{
    funccount::{self, elf, FuncSym, Kind, Matcher, Pattern, MAX_PROBES},
    probespec::target::Unsupported,
    tracefs,
};

/// The hooks a pattern resolves to.
#[derive(Debug, Clone)]
pub enum Matched {
    Kernel(Vec<String>),
    Tracepoints(Vec<(String, String)>),
    User { path: PathBuf, funcs: Vec<FuncSym> },
    Usdt(Vec<crate::usdt::UsdtProbe>),
}

impl Matched {
    pub fn len(&self) -> usize {
        match self {
            Matched::Kernel(v) => v.len(),
            Matched::Tracepoints(v) => v.len(),
            Matched::User { funcs, .. } => funcs.len(),
            Matched::Usdt(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Resolve `text` (already parsed as `pat`); `pid` finds libraries in that process. No match
/// is an error naming the pattern; kernel patterns without kprobes are [`Unsupported`].
pub fn resolve(text: &str, pat: &Pattern, pid: Option<u32>) -> Result<Matched> {
    let m = match &pat.kind {
        Kind::Kernel => {
            if !funccount::kprobes_available() {
                return Err(Unsupported(format!(
                    "'{text}' needs kprobes, and this kernel is built without CONFIG_KPROBES; the lab VMs (Debian 12/13) have them (t: tracepoint and LIB:FUNC user-function patterns work here)"
                ))
                .into());
            }
            let found: Vec<String> = funccount::kprobe_candidates()?
                .into_iter()
                .filter(|f| pat.func.matches(f))
                .collect();
            if found.is_empty() {
                bail!("no kernel functions match '{text}' (of those kprobes can trace)");
            }
            Matched::Kernel(found)
        }
        Kind::Tracepoint => Matched::Tracepoints(tracepoints(text, &pat.library, &pat.func)?),
        Kind::User(lib) => {
            let path = elf::resolve_library(lib, pid)?;
            let funcs: Vec<FuncSym> = elf::functions(&path)?
                .into_iter()
                .filter(|s| pat.func.matches(&s.name))
                .collect();
            if funcs.is_empty() {
                bail!(
                    "no functions in {} match '{}'",
                    path.display(),
                    pat.func.text()
                );
            }
            Matched::User { path, funcs }
        }
        Kind::Usdt(lib) => {
            let lib = (!lib.is_empty()).then_some(lib.as_str());
            if lib.is_none() && pid.is_none() {
                bail!("'{text}' names no library: use u:LIB:PROBE, or -p PID for every object the process maps");
            }
            let all = crate::usdt::probes(lib, pid)?;
            let looked_in = match lib {
                Some(l) => format!("-l {l}"),
                None => format!("-p {}", pid.unwrap_or(0)),
            };
            Matched::Usdt(crate::usdt::select_some(&all, &pat.func, &looked_in)?)
        }
    };
    if m.len() > MAX_PROBES {
        bail!("'{text}' matches {} probes; at most {MAX_PROBES} at once (BCC's limit): narrow the pattern", m.len());
    }
    Ok(m)
}

fn tracepoints(text: &str, cat: &Matcher, name: &Matcher) -> Result<Vec<(String, String)>> {
    let (root, _) = tracefs::mount_if_missing()?;
    let events = root.join("events");
    let mut found = Vec::new();
    for c in funccount::sorted_dir(&events)?
        .into_iter()
        .filter(|c| cat.matches(c))
    {
        for n in funccount::sorted_dir(&events.join(&c))?
            .into_iter()
            .filter(|n| name.matches(n))
        {
            found.push((c.clone(), n));
        }
    }
    if found.is_empty() {
        bail!(
            "no tracepoints match '{text}' (see {}/available_events)",
            root.display()
        );
    }
    Ok(found)
}
