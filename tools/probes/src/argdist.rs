//! argdist's user half: a -C spec compiles into a program storing its key (each value cast to
//! its declared type, strings copied) and counted per key; a -H spec into a program leaving its
//! value in r0 for the log2 histogram. One probevm per spec.
use anyhow::{Context as _, Result};
use aya::{
    maps::{MapData, PerCpuArray, PerCpuValues},
    Ebpf,
};
use lab_probes_common::{
    hist::LOG2_SLOTS,
    vm::{action, KEY_SIZE},
};

use crate::{
    events::cstr,
    hist::Hist,
    probespec::{
        compile::{Compiler, Slot, SlotKind},
        ctype::{Type, Types},
        parse::ExprKind,
        spec::{self, ArgdistSpec},
        target::{self, Target},
        SpecError,
    },
    probevm::{self, Program, Settings},
};

/// -C (frequency counts per key) or -H (log2 histogram of one value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Count,
    Hist,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub pid: Option<u32>,
    pub tid: Option<u32>,
    /// Longest string copied into a key (-z, BCC's default 80).
    pub string_size: u32,
}

/// A compiled argdist spec.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub spec: String,
    pub mode: Mode,
    pub parsed: ArgdistSpec,
    /// Where it attaches and the program for each place (several for a USDT probe inlined in
    /// several places: same keys, arguments found differently).
    pub programs: Vec<(Target, Program)>,
    /// Where each key value is (Count).
    pub slots: Vec<Slot>,
}

impl Compiled {
    /// The title BCC prints above the counts: the label, else the spec.
    pub fn title(&self) -> &str {
        self.parsed.label.as_deref().unwrap_or(&self.spec)
    }

    /// How BCC shows value `i` in an EVENT column or histogram header: the expression as
    /// written, `$entry(x)` as `x`.
    pub fn shown(&self, i: usize) -> String {
        let t = &self.parsed.texts[i];
        match t.strip_prefix("$entry(").and_then(|r| r.strip_suffix(')')) {
            Some(p) => p.to_owned(),
            None => t.clone(),
        }
    }
}

/// Compile one -C or -H spec.
pub fn compile(text: &str, mode: Mode, opts: &Options, types: &Types) -> Result<Compiled> {
    let parsed = spec::argdist(text, mode == Mode::Hist)?;
    let sig = (!parsed.sig.is_empty()).then_some(parsed.sig.as_slice());
    let mut programs = Vec::new();
    let mut slots = Vec::new();
    for target in target::resolve(&parsed.head, sig, types, opts.pid)? {
        let (program, s) = compile_at(&parsed, &target, mode, opts, types)?;
        target::check_hook(&target.hook)?;
        programs.push((target, program));
        slots = s;
    }
    Ok(Compiled {
        spec: text.to_owned(),
        mode,
        parsed,
        programs,
        slots,
    })
}

fn compile_at(
    parsed: &ArgdistSpec,
    target: &Target,
    mode: Mode,
    opts: &Options,
    types: &Types,
) -> Result<(Program, Vec<Slot>)> {
    let mut c = Compiler::new(&target.scope, Types { btf: types.btf }, 0);
    if let Some(f) = &parsed.filter {
        c.filter(f)?;
    }
    let mut slots = Vec::new();
    for (tn, e) in &parsed.values {
        let ty = types.named(tn).map_err(|m| SpecError::at(tn.pos, m))?;
        if mode == Mode::Hist {
            c.result_as(e, &ty)?;
            continue;
        }
        let slot = if matches!(&e.kind, ExprKind::Name(n) if n == "$COMM") {
            c.store_comm(e.pos, KEY_SIZE as u32)?
        } else if ty.is_string() {
            c.store_string(e, opts.string_size.max(1), KEY_SIZE as u32)?
        } else {
            c.store_as(e, &ty, KEY_SIZE as u32)?
        };
        slots.push(slot);
    }
    Ok((c.finish(), slots))
}

/// A key value as argdist prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    Signed(i64),
    Unsigned(u64),
    Text(String),
}

impl std::fmt::Display for KeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyValue::Signed(v) => write!(f, "{v}"),
            KeyValue::Unsigned(v) => write!(f, "{v}"),
            KeyValue::Text(t) => f.write_str(t),
        }
    }
}

/// One attached argdist probe (one probevm per place it attaches).
pub struct Probe {
    pub compiled: Compiled,
    loaded: Vec<probevm::Loaded>,
}

impl Probe {
    pub fn attach(compiled: Compiled, opts: &Options) -> Result<Self> {
        let settings = Settings {
            action: if compiled.mode == Mode::Hist {
                action::HIST
            } else {
                action::COUNT
            },
            tgid: opts.pid,
            tid: opts.tid,
            ring_bytes: 4096,
            ..Default::default()
        };
        let loaded = compiled
            .programs
            .iter()
            .map(|(t, p)| probevm::load_and_attach(p, &t.hook, &settings))
            .collect::<Result<_>>()?;
        Ok(Self { compiled, loaded })
    }

    /// Counts per key so far (ascending), cleared unless `keep`.
    pub fn counts(&mut self, keep: bool) -> Result<Vec<(Vec<KeyValue>, u64)>> {
        let mut sums: std::collections::HashMap<[u8; KEY_SIZE], u64> =
            std::collections::HashMap::new();
        for l in &mut self.loaded {
            for (k, n) in take_counts(&mut l.bpf, keep)? {
                *sums.entry(k).or_default() += n;
            }
        }
        let mut out: Vec<(Vec<KeyValue>, u64)> = sums
            .into_iter()
            .map(|(k, n)| {
                (
                    self.compiled
                        .slots
                        .iter()
                        .map(|s| key_value(&k, s))
                        .collect(),
                    n,
                )
            })
            .collect();
        out.sort_by_key(|r| r.1);
        Ok(out)
    }

    /// The histogram so far, cleared unless `keep`.
    pub fn hist(&mut self, keep: bool) -> Result<Hist> {
        let mut h = Hist::from_slots(vec![0; LOG2_SLOTS]);
        for l in &mut self.loaded {
            h.merge(&take_hist(&mut l.bpf, keep)?);
        }
        Ok(h)
    }
}

fn take_counts(bpf: &mut Ebpf, keep: bool) -> Result<Vec<([u8; KEY_SIZE], u64)>> {
    let mut map: aya::maps::HashMap<&mut MapData, [u8; KEY_SIZE], u64> =
        aya::maps::HashMap::try_from(bpf.map_mut("COUNTS").context("map COUNTS missing")?)?;
    let mut raw = Vec::new();
    for item in map.iter() {
        raw.push(item.context("reading COUNTS")?);
    }
    if !keep {
        for (k, _) in &raw {
            let _ = map.remove(k);
        }
    }
    Ok(raw)
}

fn take_hist(bpf: &mut Ebpf, keep: bool) -> Result<Hist> {
    let mut arr: PerCpuArray<&mut MapData, u64> =
        PerCpuArray::try_from(bpf.map_mut("HIST").context("map HIST missing")?)?;
    let mut slots = vec![0u64; LOG2_SLOTS];
    for (i, s) in slots.iter_mut().enumerate() {
        *s = arr.get(&(i as u32), 0)?.iter().sum();
    }
    if !keep {
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        for i in 0..LOG2_SLOTS as u32 {
            arr.set(i, PerCpuValues::try_from(vec![0u64; cpus])?, 0)?;
        }
    }
    Ok(Hist::from_slots(slots))
}

fn key_value(key: &[u8; KEY_SIZE], s: &Slot) -> KeyValue {
    let raw = &key[s.off as usize..(s.off + s.len) as usize];
    match &s.kind {
        SlotKind::Str => KeyValue::Text(cstr(raw)),
        SlotKind::Scalar(ty) => {
            let v = u64::from_le_bytes(raw.try_into().unwrap_or([0; 8]));
            if ty.is_signed() && !matches!(ty, Type::Ptr(_)) {
                KeyValue::Signed(v as i64)
            } else {
                KeyValue::Unsigned(v)
            }
        }
    }
}
