//! stackcount's user half: attach one program to everything a pattern names (kernel functions,
//! tracepoints, user functions) and read the stack counts per interval.
use std::num::NonZeroU32;

use anyhow::{Context as _, Result};
use aya::{
    maps::{MapData, StackTraceMap},
    programs::{
        uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeScope},
        KProbe, TracePoint, UProbe,
    },
    Ebpf,
};
use lab_probes_common::profile::{StackKey, STACK_KERNEL, STACK_USER};

use crate::{
    funccount::Pattern,
    funcmatch::{self, Matched},
    stacks::{self, RawStack, StackErrors},
};

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Only this process (-p); also where libraries are looked up.
    pub pid: Option<u32>,
    /// Only this CPU (-c).
    pub cpu: Option<u32>,
    pub kernel: bool,
    pub user: bool,
    /// The function part is a regular expression (-r).
    pub regex: bool,
}

pub struct StackCount {
    /// USDT links; dropped before `bpf`.
    _links: Vec<crate::perf_link::CookieLink>,
    bpf: Ebpf,
    /// How many functions, tracepoints or probes were attached.
    pub matched: usize,
    /// What was attached, in words (-v).
    pub path: String,
}

impl StackCount {
    pub fn attach(text: &str, cfg: &Config) -> Result<Self> {
        let pat = Pattern::parse(text, cfg.regex)?;
        let matched = funcmatch::resolve(text, &pat, cfg.pid)?;
        let kinds =
            (if cfg.kernel { STACK_KERNEL } else { 0 }) | (if cfg.user { STACK_USER } else { 0 });
        let (pid, cpu) = (cfg.pid.unwrap_or(0), cfg.cpu.unwrap_or(u32::MAX));
        let mut bpf = crate::loader::load_with("stackcount", |l| {
            l.override_global("TARGET_TGID", &pid, true);
            l.override_global("TARGET_CPU", &cpu, true);
            l.override_global("STACK_KINDS", &kinds, true);
        })?;
        let mut links = Vec::new();
        let path = attach(&mut bpf, &matched, cfg.pid, &mut links)?;
        Ok(Self {
            _links: links,
            bpf,
            matched: matched.len(),
            path,
        })
    }

    /// The stacks counted since the last call (the counts are cleared).
    pub fn take(&mut self) -> Result<Vec<RawStack>> {
        let counts = crate::count_map::read::<StackKey>(&self.bpf, "COUNTS")?;
        let keys: Vec<StackKey> = counts.iter().map(|(k, _)| *k).collect();
        let raw = stacks::with_frames(&self.bpf, counts)?;
        crate::count_map::remove(&mut self.bpf, "COUNTS", &keys)?;
        // Free the stack ids too, so a long run does not fill the stack storage.
        let mut ids: Vec<u32> = keys
            .iter()
            .flat_map(|k| [k.kstack, k.ustack])
            .filter(|&i| i >= 0)
            .map(|i| i as u32)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut st: StackTraceMap<&mut MapData> =
            StackTraceMap::try_from(self.bpf.map_mut("STACKS").context("map STACKS missing")?)?;
        for id in ids {
            let _ = st.remove(&id);
        }
        Ok(raw)
    }

    pub fn errors(&self) -> Result<StackErrors> {
        stacks::read_errors(&self.bpf)
    }
}

fn attach(
    bpf: &mut Ebpf,
    m: &Matched,
    pid: Option<u32>,
    links: &mut Vec<crate::perf_link::CookieLink>,
) -> Result<String> {
    match m {
        Matched::Usdt(probes) => {
            let p: &mut UProbe = bpf
                .program_mut("stackcount_uprobe")
                .context("program missing")?
                .try_into()?;
            p.load()?;
            use std::os::fd::AsFd as _;
            links.extend(crate::usdt::attach(p.fd()?.as_fd(), probes, pid, |_, _| 0)?);
            let locations: usize = probes.iter().map(|p| p.locations.len()).sum();
            Ok(format!("USDT probes ({locations} locations)"))
        }
        Matched::Kernel(funcs) => {
            let p: &mut KProbe = bpf
                .program_mut("stackcount_kprobe")
                .context("program missing")?
                .try_into()?;
            p.load()?;
            let failed = funcs
                .iter()
                .filter(|f| p.attach(f.as_str(), 0).is_err())
                .count();
            anyhow::ensure!(
                failed < funcs.len(),
                "none of the {} matching kernel functions could be probed",
                funcs.len()
            );
            Ok(format!(
                "kprobes on {} kernel functions ({failed} refused)",
                funcs.len() - failed
            ))
        }
        Matched::Tracepoints(tps) => {
            let p: &mut TracePoint = bpf
                .program_mut("stackcount_tp")
                .context("program missing")?
                .try_into()?;
            p.load()?;
            for (c, n) in tps {
                p.attach(c, n)
                    .with_context(|| format!("attaching to tracepoint {c}:{n}"))?;
            }
            Ok(format!("{} tracepoints", tps.len()))
        }
        Matched::User { path, funcs } => {
            let p: &mut UProbe = bpf
                .program_mut("stackcount_uprobe")
                .context("program missing")?
                .try_into()?;
            p.load()?;
            let scope = match pid.and_then(NonZeroU32::new) {
                Some(p) => UProbeScope::OneProcess(p),
                None => UProbeScope::AllProcesses,
            };
            for f in funcs {
                let at = UProbeAttachPoint {
                    location: UProbeAttachLocation::AbsoluteOffset(f.file_offset),
                    cookie: None,
                };
                p.attach(at, path, scope).with_context(|| {
                    format!("attaching a uprobe to {}:{}", path.display(), f.name)
                })?;
            }
            Ok(format!(
                "uprobes on {} functions of {}",
                funcs.len(),
                path.display()
            ))
        }
    }
}
