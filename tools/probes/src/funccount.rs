//! funccount's user half: parse BCC's pattern syntax, find the functions or tracepoints it names,
//! attach one program per hook kind to all of them and read the per-function counts.
//!
//! Hook paths: `t:cat:name` → tracepoints; `p:lib:func` or `lib:func` → uprobes on the ELF
//! symbols of `lib`; `u:lib:probe` → USDT probes of `lib` (uprobes at each location, the
//! semaphore raised while attached); a bare pattern or `k:func`/`p::func` → kprobes, one per
//! function (aya 0.14 has no kprobe.multi link), at most [`MAX_PROBES`] as in BCC.
pub mod elf;
mod ldcache;
mod pattern;

use std::{
    collections::{BTreeMap, HashMap},
    num::NonZeroU32,
    path::{Path, PathBuf},
};

use std::os::fd::AsFd as _;

use anyhow::{bail, Context as _, Result};
use aya::{
    maps::PerCpuHashMap,
    programs::{
        uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeScope},
        KProbe, TracePoint, UProbe,
    },
    Ebpf,
};

pub use elf::{functions, needed, resolve_library, FuncSym};
pub use pattern::{Kind, Matcher, Pattern};

use crate::tracefs;

/// BCC's limit on kernel probes per run (kprobes are costly to create and each one slows its
/// function): more matches is an error asking for a narrower pattern.
pub const MAX_PROBES: usize = 1000;

/// Exit code and message for "this kernel cannot do what the pattern asks" (kprobes missing).
#[derive(Debug)]
pub struct Unsupported(pub String);
impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Unsupported {}

/// Whether this kernel can create kprobes. libbpf-tools scans kallsyms, which lists functions
/// even without CONFIG_KPROBES; the kprobe PMU only exists with it.
pub fn kprobes_available() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe").exists()
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Only this process (tgid); also where `u:` libraries are looked up.
    pub pid: Option<u32>,
    /// The function part of the pattern is a regular expression, not a wildcard.
    pub regex: bool,
}

/// What the tool attached, for its header and `-v`.
#[derive(Debug, Clone)]
pub struct Attached {
    /// Functions or tracepoints probed.
    pub probes: usize,
    /// Matches that could not be probed (kprobes on functions the kernel refuses).
    pub failed: Vec<String>,
    /// The hook path, in words ("tracepoints", "uprobes on /usr/lib/.../libc.so.6", ...).
    pub path: String,
}

/// An attached counter; detaches when dropped.
pub struct FuncCount {
    bpf: Ebpf,
    /// Tracepoint and USDT links with their cookies; dropped before `bpf` (fields drop in order).
    _links: Vec<crate::perf_link::CookieLink>,
    kind: Kind,
    /// Map key → display name (tracepoint id, uprobe index); kprobes use `ksyms`.
    names: HashMap<u64, String>,
    /// Kernel text symbols by address, to name a kprobe's function address.
    ksyms: BTreeMap<u64, String>,
    pub attached: Attached,
}

impl FuncCount {
    pub fn attach(pattern_text: &str, cfg: &Config) -> Result<Self> {
        let pat = Pattern::parse(pattern_text, cfg.regex)?;
        let pid = cfg.pid.unwrap_or(0);
        if let Some(p) = cfg.pid {
            if !Path::new(&format!("/proc/{p}")).exists() {
                bail!("-p {p}: no such process");
            }
        }
        match &pat.kind {
            Kind::Kernel => {
                if !kprobes_available() {
                    return Err(Unsupported(format!(
                        "'{pattern_text}' needs kprobes, and this kernel is built without CONFIG_KPROBES; \
                         the lab VMs (Debian 12/13) have them (t: tracepoint, p: uprobe and u: USDT patterns work here)"
                    ))
                    .into());
                }
            }
            Kind::Tracepoint | Kind::User(_) | Kind::Usdt(_) => {}
        }
        let mut bpf = crate::loader::load_with("funccount", |l| {
            l.override_global("FILTER_PID", &pid, true);
        })?;
        let mut names = HashMap::new();
        let mut ksyms = BTreeMap::new();
        let mut links = Vec::new();
        let attached = match &pat.kind {
            Kind::Tracepoint => {
                attach_tracepoints(&mut bpf, &pat, pattern_text, &mut names, &mut links)?
            }
            Kind::User(lib) => attach_uprobes(&mut bpf, &pat, lib, cfg.pid, &mut names)?,
            Kind::Usdt(lib) => attach_usdt(&mut bpf, &pat, lib, cfg.pid, &mut names, &mut links)?,
            Kind::Kernel => {
                ksyms = kernel_text_symbols()?;
                attach_kprobes(&mut bpf, &pat, pattern_text)?
            }
        };
        Ok(Self {
            _links: links,
            bpf,
            kind: pat.kind,
            names,
            ksyms,
            attached,
        })
    }

    /// Counts so far by function name (summed over CPUs), and reset them (interval output).
    pub fn take(&mut self) -> Result<Vec<(String, u64)>> {
        let mut map: PerCpuHashMap<_, u64, u64> = PerCpuHashMap::try_from(
            self.bpf
                .map_mut("COUNTS")
                .context("map COUNTS missing from object")?,
        )?;
        let mut raw = Vec::new();
        for item in map.iter() {
            let (k, per_cpu) = item?;
            raw.push((k, per_cpu.iter().sum::<u64>()));
        }
        for (k, _) in &raw {
            // Only we delete keys; a miss here would mean a concurrent reader.
            let _ = map.remove(k);
        }
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for (k, n) in raw {
            *out.entry(self.name_of(k)).or_default() += n;
        }
        Ok(out.into_iter().collect())
    }

    fn name_of(&self, key: u64) -> String {
        match self.kind {
            Kind::Kernel => self
                .ksyms
                .range(..=key)
                .next_back()
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| format!("{key:#x}")),
            _ => self
                .names
                .get(&key)
                .cloned()
                .unwrap_or_else(|| format!("[unknown {key}]")),
        }
    }
}

fn attach_tracepoints(
    bpf: &mut Ebpf,
    pat: &Pattern,
    text: &str,
    names: &mut HashMap<u64, String>,
    links: &mut Vec<crate::perf_link::CookieLink>,
) -> Result<Attached> {
    let (root, _) = tracefs::mount_if_missing()?;
    let events = root.join("events");
    let mut found = Vec::new();
    for cat in sorted_dir(&events)? {
        if !pat.library.matches(&cat) {
            continue;
        }
        for name in sorted_dir(&events.join(&cat))? {
            if !pat.func.matches(&name) {
                continue;
            }
            let Ok(id) = std::fs::read_to_string(events.join(&cat).join(&name).join("id")) else {
                continue;
            };
            if let Ok(id) = id.trim().parse::<u64>() {
                found.push((cat.clone(), name, id));
            }
        }
    }
    if found.is_empty() {
        bail!(
            "no tracepoints match '{text}' (see {}/available_events)",
            root.display()
        );
    }
    if found.len() > MAX_PROBES {
        bail!(
            "'{text}' matches {} tracepoints; at most {MAX_PROBES} can be traced at once: narrow the pattern",
            found.len()
        );
    }
    let prog: &mut TracePoint = bpf
        .program_mut("funccount_tp")
        .context("program funccount_tp missing")?
        .try_into()?;
    prog.load()?;
    let fd = prog.fd()?.as_fd();
    for (i, (cat, name, id)) in found.iter().enumerate() {
        links.push(
            crate::perf_link::attach_tracepoint(fd, *id, i as u64)
                .with_context(|| format!("attaching to tracepoint {cat}:{name}"))?,
        );
        names.insert(i as u64, format!("{cat}:{name}"));
    }
    Ok(Attached {
        probes: found.len(),
        failed: Vec::new(),
        path: "tracepoints, one program with a cookie per tracepoint".into(),
    })
}

fn attach_uprobes(
    bpf: &mut Ebpf,
    pat: &Pattern,
    lib: &str,
    pid: Option<u32>,
    names: &mut HashMap<u64, String>,
) -> Result<Attached> {
    let path = resolve_library(lib, pid)?;
    let syms = elf::functions(&path)?;
    let found: Vec<&FuncSym> = syms.iter().filter(|s| pat.func.matches(&s.name)).collect();
    if found.is_empty() {
        bail!(
            "no functions in {} match '{}'",
            path.display(),
            pat.func.text()
        );
    }
    if found.len() > MAX_PROBES {
        bail!(
            "'{}' matches {} functions in {}; at most {MAX_PROBES} can be traced at once: narrow the pattern",
            pat.func.text(),
            found.len(),
            path.display()
        );
    }
    let prog: &mut UProbe = bpf
        .program_mut("funccount_uprobe")
        .context("program funccount_uprobe missing")?
        .try_into()?;
    prog.load()?;
    // The PID filter runs in the program (all threads of the process); attaching per process
    // as well keeps other processes from taking the breakpoint at all.
    let scope = match pid.and_then(NonZeroU32::new) {
        Some(p) => UProbeScope::OneProcess(p),
        None => UProbeScope::AllProcesses,
    };
    for (i, s) in found.iter().enumerate() {
        prog.attach(
            UProbeAttachPoint {
                location: UProbeAttachLocation::AbsoluteOffset(s.file_offset),
                cookie: Some(i as u64),
            },
            &path,
            scope,
        )
        .with_context(|| format!("attaching a uprobe to {}:{}", path.display(), s.name))?;
        names.insert(i as u64, s.name.clone());
    }
    Ok(Attached {
        probes: found.len(),
        failed: Vec::new(),
        path: format!("uprobes on {} (key: attach cookie)", path.display()),
    })
}

/// `u:LIB:PROBE`: one uprobe per location of every matching USDT probe, all locations of a
/// probe counted under its cookie.
fn attach_usdt(
    bpf: &mut Ebpf,
    pat: &Pattern,
    lib: &str,
    pid: Option<u32>,
    names: &mut HashMap<u64, String>,
    links: &mut Vec<crate::perf_link::CookieLink>,
) -> Result<Attached> {
    let lib = (!lib.is_empty()).then_some(lib);
    if lib.is_none() && pid.is_none() {
        bail!("'u::{}' names no library: use u:LIB:PROBE, or -p PID for every object the process maps", pat.func.text());
    }
    let all = crate::usdt::probes(lib, pid)?;
    let looked_in = match (lib, pid) {
        (Some(_), _) => format!("-l {}", crate::usdt::shown_path(&all[0].path)),
        (None, Some(p)) => format!("-p {p}"),
        (None, None) => unreachable!(),
    };
    let found = crate::usdt::select_some(&all, &pat.func, &looked_in)?;
    let prog: &mut UProbe = bpf
        .program_mut("funccount_uprobe")
        .context("program funccount_uprobe missing")?
        .try_into()?;
    prog.load()?;
    links.extend(crate::usdt::attach(
        prog.fd()?.as_fd(),
        &found,
        pid,
        |pi, _| pi as u64,
    )?);
    for (i, p) in found.iter().enumerate() {
        names.insert(i as u64, p.name.clone());
    }
    let locations: usize = found.iter().map(|p| p.locations.len()).sum();
    Ok(Attached {
        probes: found.len(),
        failed: Vec::new(),
        path: format!(
            "USDT probes ({locations} locations, uprobes; key: attach cookie) in {looked_in}"
        ),
    })
}

fn attach_kprobes(bpf: &mut Ebpf, pat: &Pattern, text: &str) -> Result<Attached> {
    let candidates = kprobe_candidates()?;
    let found: Vec<&String> = candidates.iter().filter(|f| pat.func.matches(f)).collect();
    if found.is_empty() {
        bail!("no kernel functions match '{text}' (of those kprobes can trace: available_filter_functions minus the kprobe blacklist)");
    }
    if found.len() > MAX_PROBES {
        bail!(
            "'{text}' matches {} kernel functions; at most {MAX_PROBES} kprobes at once (BCC's limit): narrow the pattern",
            found.len()
        );
    }
    let prog: &mut KProbe = bpf
        .program_mut("funccount_kprobe")
        .context("program funccount_kprobe missing")?
        .try_into()?;
    prog.load()?;
    let mut failed = Vec::new();
    for f in &found {
        if prog.attach(f.as_str(), 0).is_err() {
            failed.push((*f).clone());
        }
    }
    if failed.len() == found.len() {
        bail!(
            "none of the {} kernel functions matching '{text}' could be probed (first: {})",
            found.len(),
            found[0]
        );
    }
    Ok(Attached {
        probes: found.len() - failed.len(),
        failed,
        path: "kprobes, one per function (no kprobe.multi in aya 0.14; key: bpf_get_func_ip)"
            .into(),
    })
}

/// Kernel functions kprobes may trace: tracefs' available_filter_functions (or kallsyms' text
/// symbols where it cannot be read), minus /sys/kernel/debug/kprobes/blacklist, deduplicated.
pub(crate) fn kprobe_candidates() -> Result<Vec<String>> {
    let (root, _) = tracefs::mount_if_missing()?;
    let mut funcs: Vec<String> =
        match std::fs::read_to_string(root.join("available_filter_functions")) {
            Ok(text) => text
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_owned)
                .collect(),
            Err(_) => kernel_text_symbols()?.into_values().collect(),
        };
    let blacklist: std::collections::HashSet<String> =
        std::fs::read_to_string("/sys/kernel/debug/kprobes/blacklist")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
            .collect();
    funcs.retain(|f| !blacklist.contains(f) && !f.starts_with("__ftrace_invalid_address"));
    funcs.sort();
    funcs.dedup();
    Ok(funcs)
}

/// Kernel text symbols (t/T) from /proc/kallsyms by address.
pub(crate) fn kernel_text_symbols() -> Result<BTreeMap<u64, String>> {
    let text = std::fs::read_to_string("/proc/kallsyms").context("reading /proc/kallsyms")?;
    let mut out = BTreeMap::new();
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let (Some(a), Some(t), Some(n)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if !matches!(t, "t" | "T") {
            continue;
        }
        if let Ok(a) = u64::from_str_radix(a, 16) {
            if a != 0 {
                out.entry(a).or_insert_with(|| n.to_owned());
            }
        }
    }
    Ok(out)
}

/// The subdirectories of `dir` by name (tracefs categories and events; tplist too).
pub(crate) fn sorted_dir(dir: &Path) -> Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

/// Where `lib` resolves (for `-v` and bashreadline).
pub fn library_path(lib: &str, pid: Option<u32>) -> Result<PathBuf> {
    resolve_library(lib, pid)
}
