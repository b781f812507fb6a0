//! funclatency's and funcslower's user half: attach entry and return probes to every function
//! the patterns name (kernel functions: kprobes; LIB:FUNC: uprobes with a cookie per function),
//! then read the latency histograms or the slow calls.
use std::{
    collections::{BTreeMap, HashMap},
    num::NonZeroU32,
    os::fd::{AsFd as _, BorrowedFd},
};

use anyhow::{bail, Context as _, Result};
use aya::{
    maps::{HashMap as AyaHashMap, MapData, PerCpuArray, PerCpuValues, RingBuf},
    programs::{
        uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeScope},
        KProbe, UProbe,
    },
    Ebpf,
};
use lab_probes_common::{
    funclat::{LatKey, SlowCall, AVG_COUNT, AVG_TOTAL, MAX_HIST_KEYS, MODE_EVENTS, MODE_HIST},
    hist::LOG2_SLOTS,
    profile::{STACK_KERNEL, STACK_USER},
};

use crate::{
    events,
    funccount::{self, Pattern},
    funcmatch::{self, Matched},
    hist::Hist,
};

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub pid: Option<u32>,
    /// funcslower: send calls of at least `min_ns`; else histograms (funclatency).
    pub slow: Option<u64>,
    /// Histogram unit, ns (funclatency -u: 1000, -m: 1000000).
    pub unit_ns: u64,
    /// One histogram per function (-F) / per process.
    pub key_func: bool,
    pub key_tgid: bool,
    pub kernel_stack: bool,
    pub user_stack: bool,
    pub regex: bool,
}

/// Entry and return probes on functions.
pub struct FuncLat {
    bpf: Ebpf,
    ring: Option<RingBuf<MapData>>,
    /// Function id (kernel address or uprobe cookie) -> (its name, the pattern that named it).
    names: HashMap<u64, (String, usize)>,
    /// Functions attached.
    pub matched: usize,
}

/// Entries the histogram map needs: none for funcslower; one per log2 slot of each function
/// when processes share the histograms; BCC's 10240 when each process gets its own.
fn hist_keys(mode: u8, key_tgid: bool, resolved: &[(usize, Matched)]) -> u32 {
    if mode == MODE_EVENTS {
        return 1;
    }
    if key_tgid {
        return MAX_HIST_KEYS;
    }
    let funcs: usize = resolved
        .iter()
        .map(|(_, m)| match m {
            Matched::Kernel(f) => f.len(),
            Matched::User { funcs, .. } => funcs.len(),
            _ => 0,
        })
        .sum();
    (funcs.max(1) * LOG2_SLOTS).min(MAX_HIST_KEYS as usize) as u32
}

impl FuncLat {
    pub fn attach(patterns: &[String], cfg: &Config) -> Result<Self> {
        let mode = if cfg.slow.is_some() {
            MODE_EVENTS
        } else {
            MODE_HIST
        };
        let kinds = (if cfg.kernel_stack { STACK_KERNEL } else { 0 })
            | (if cfg.user_stack { STACK_USER } else { 0 });
        let (pid, unit, min) = (
            cfg.pid.unwrap_or(0),
            cfg.unit_ns.max(1),
            cfg.slow.unwrap_or(0),
        );
        let (kf, kt) = (u8::from(cfg.key_func), u8::from(cfg.key_tgid));
        // Resolve first: a bad pattern fails before anything is loaded, and the histogram map
        // is sized to the functions found (no memory for 10240 keys a run cannot use).
        let mut resolved = Vec::new();
        for (i, text) in patterns.iter().enumerate() {
            let pat = Pattern::parse(text, cfg.regex)?;
            let m = funcmatch::resolve(text, &pat, cfg.pid)?;
            if let Matched::Tracepoints(_) | Matched::Usdt(_) = m {
                bail!("'{text}': tracepoints and USDT probes have no return to time; use a function (FUNC or LIB:FUNC)");
            }
            resolved.push((i, m));
        }
        let hist_keys = hist_keys(mode, cfg.key_tgid, &resolved);
        let mut bpf = crate::loader::load_with("funclat", |l| {
            l.override_global("MODE", &mode, true);
            l.override_global("FILTER_TGID", &pid, true);
            l.override_global("UNIT_NS", &unit, true);
            l.override_global("KEY_FUNC", &kf, true);
            l.override_global("KEY_TGID", &kt, true);
            l.override_global("MIN_NS", &min, true);
            l.override_global("STACK_KINDS", &kinds, true);
            l.map_max_entries("STACKS", if kinds != 0 { 1024 } else { 1 });
            l.map_max_entries("HIST", hist_keys);
            l.map_max_entries(
                "EVENTS",
                if mode == MODE_EVENTS {
                    256 * 1024
                } else {
                    4096
                },
            );
        })?;
        let mut names = HashMap::new();
        for (i, m) in resolved {
            match m {
                Matched::Kernel(funcs) => attach_kernel(&mut bpf, &funcs, i, &mut names)?,
                Matched::User { path, funcs } => {
                    for f in &funcs {
                        let cookie = names.len() as u64;
                        attach_user(&mut bpf, &path, f.file_offset, cookie, cfg.pid)?;
                        names.insert(cookie, (f.name.clone(), i));
                    }
                }
                Matched::Tracepoints(_) | Matched::Usdt(_) => unreachable!("refused above"),
            }
        }
        let ring = if mode == MODE_EVENTS {
            Some(events::take_ring(&mut bpf)?)
        } else {
            None
        };
        let matched = names.len();
        Ok(Self {
            bpf,
            ring,
            names,
            matched,
        })
    }

    /// The function `id` names and the index of the pattern that matched it.
    pub fn function(&self, id: u64) -> (String, usize) {
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| (format!("{id:#x}"), 0))
    }

    /// Histograms per (function, process) since the last call; cleared.
    pub fn take_hists(&mut self) -> Result<BTreeMap<(u64, u32), Hist>> {
        let mut map: AyaHashMap<&mut MapData, LatKey, u64> =
            AyaHashMap::try_from(self.bpf.map_mut("HIST").context("map HIST missing")?)?;
        let mut out: BTreeMap<(u64, u32), Hist> = BTreeMap::new();
        let mut keys = Vec::new();
        for item in map.iter() {
            let (k, n) = item.context("reading HIST")?;
            out.entry((k.func, k.tgid))
                .or_default()
                .add(k.slot as usize, n);
            keys.push(k);
        }
        for k in keys {
            let _ = map.remove(&k);
        }
        Ok(out)
    }

    /// (total ns, calls) since the last call; cleared.
    pub fn take_avg(&mut self) -> Result<(u64, u64)> {
        let mut arr: PerCpuArray<&mut MapData, u64> =
            PerCpuArray::try_from(self.bpf.map_mut("AVG").context("map AVG missing")?)?;
        let total = arr.get(&AVG_TOTAL, 0)?.iter().sum();
        let count = arr.get(&AVG_COUNT, 0)?.iter().sum();
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        for i in [AVG_TOTAL, AVG_COUNT] {
            arr.set(i, PerCpuValues::try_from(vec![0u64; cpus])?, 0)?;
        }
        Ok((total, count))
    }

    /// funcslower: readable when slow calls wait.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.ring.as_ref().map(|r| r.as_fd())
    }

    /// funcslower: call `f` on each waiting slow call.
    pub fn drain(&mut self, mut f: impl FnMut(SlowCall)) {
        if let Some(ring) = &mut self.ring {
            let _ = events::drain(ring, |b| -> Result<(), ()> {
                if let Some(c) = events::decode::<SlowCall>(b) {
                    f(c);
                }
                Ok(())
            });
        }
    }

    pub fn lost(&self) -> Result<u64> {
        events::lost(&self.bpf)
    }

    /// The instruction pointers of stack `id` (funcslower -U/-K).
    pub fn stack(&self, id: i32) -> Vec<u64> {
        if id < 0 {
            return Vec::new();
        }
        let Some(Ok(st)) = self
            .bpf
            .map("STACKS")
            .map(aya::maps::StackTraceMap::<&MapData>::try_from)
        else {
            return Vec::new();
        };
        st.get(&(id as u32), 0)
            .map(|t| t.frames().iter().map(|f| f.ip).collect())
            .unwrap_or_default()
    }
}

fn attach_kernel(
    bpf: &mut Ebpf,
    funcs: &[String],
    pattern: usize,
    names: &mut HashMap<u64, (String, usize)>,
) -> Result<()> {
    let addrs = funccount::kernel_text_symbols()?;
    let by_name: HashMap<&str, u64> = addrs.iter().map(|(a, n)| (n.as_str(), *a)).collect();
    for (prog, ret) in [("funclat_kentry", false), ("funclat_kreturn", true)] {
        let p: &mut KProbe = bpf
            .program_mut(prog)
            .context("program missing")?
            .try_into()?;
        if p.fd().is_err() {
            p.load()?;
        }
        for f in funcs {
            p.attach(f.as_str(), 0).with_context(|| {
                format!(
                    "attaching a {} to {f}",
                    if ret { "kretprobe" } else { "kprobe" }
                )
            })?;
            if let Some(a) = by_name.get(f.as_str()) {
                names.insert(*a, (f.clone(), pattern));
            }
        }
    }
    Ok(())
}

fn attach_user(
    bpf: &mut Ebpf,
    path: &std::path::Path,
    offset: u64,
    cookie: u64,
    pid: Option<u32>,
) -> Result<()> {
    let scope = match pid.and_then(NonZeroU32::new) {
        Some(p) => UProbeScope::OneProcess(p),
        None => UProbeScope::AllProcesses,
    };
    for prog in ["funclat_uentry", "funclat_ureturn"] {
        let p: &mut UProbe = bpf
            .program_mut(prog)
            .context("program missing")?
            .try_into()?;
        if p.fd().is_err() {
            p.load()?;
        }
        let at = UProbeAttachPoint {
            location: UProbeAttachLocation::AbsoluteOffset(offset),
            cookie: Some(cookie),
        };
        p.attach(at, path, scope)
            .with_context(|| format!("attaching to {}:{offset:#x}", path.display()))?;
    }
    Ok(())
}
