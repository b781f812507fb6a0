//! trace's user half: compile each probe spec into a probe-VM program (filter, then the values
//! its format prints), load one probevm per probe, and decode its records.
use std::os::fd::{AsFd as _, BorrowedFd};

use anyhow::Result;
use aya::maps::{MapData, RingBuf};
use lab_probes_common::vm::{action, TraceHeader, HEADER_SIZE, MAX_RECORD};

use crate::{
    events::{self, cstr},
    probespec::{
        compile::{Compiler, Slot, SlotKind},
        ctype::Types,
        format::{self, Piece},
        spec,
        target::{self, Target},
        SpecError,
    },
    probevm::{self, Program, Settings},
};

/// trace's options that shape every probe.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Longest string a %s copies (-Z, BCC's default 80).
    pub string_size: u32,
    pub pid: Option<u32>,
    pub tid: Option<u32>,
    pub uid: Option<u32>,
    pub cgroup: Option<u64>,
    pub kernel_stack: bool,
    pub user_stack: bool,
    /// Also trace this process (-S).
    pub include_self: bool,
}

/// A probe spec compiled for this machine.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub spec: String,
    pub target: Target,
    pub program: Program,
    /// The format's pieces (empty: BCC's default action, no message).
    pub pieces: Vec<Piece>,
    /// Where each conversion's value is in the record.
    pub slots: Vec<Slot>,
}

/// Compile `spec`: one program per place it attaches (several for a USDT probe inlined in
/// several places). Errors in the spec are [`SpecError`]s (print with `in_spec`); a kernel
/// lacking the hook is [`target::Unsupported`].
pub fn compile(spec_text: &str, opts: &Options, types: &Types) -> Result<Vec<Compiled>> {
    let s = spec::trace(spec_text)?;
    target::resolve(&s.head, s.sig.as_deref(), types, opts.pid)?
        .into_iter()
        .map(|t| compile_at(spec_text, &s, t, opts, types))
        .collect()
}

fn compile_at(
    spec_text: &str,
    s: &spec::TraceSpec,
    target: Target,
    opts: &Options,
    types: &Types,
) -> Result<Compiled> {
    let mut c = Compiler::new(&target.scope, Types { btf: types.btf }, HEADER_SIZE as u32);
    if let Some(f) = &s.filter {
        c.filter(f)?;
    }
    let mut pieces = Vec::new();
    let mut slots = Vec::new();
    if let Some((fmt, pos)) = &s.format {
        pieces = format::parse(fmt, *pos)?;
        let convs: Vec<_> = format::convs(&pieces).cloned().collect();
        if convs.len() != s.args.len() {
            return Err(SpecError::at(
                *pos,
                format!(
                    "the format has {} conversions but {} arguments follow it",
                    convs.len(),
                    s.args.len()
                ),
            )
            .into());
        }
        for (conv, arg) in convs.iter().zip(&s.args) {
            let slot = if conv.is_string() {
                c.store_string(arg, opts.string_size.max(1), MAX_RECORD as u32)?
            } else {
                c.store_scalar(arg, MAX_RECORD as u32)?
            };
            slots.push(slot);
        }
    }
    let program = c.finish();
    target::check_hook(&target.hook)?;
    Ok(Compiled {
        spec: spec_text.to_owned(),
        target,
        program,
        pieces,
        slots,
    })
}

/// One attached probe and its ring buffer.
pub struct Probe {
    pub compiled: Compiled,
    ring: RingBuf<MapData>,
    loaded: probevm::Loaded,
}

/// One event of a probe: the header and its values, in format order.
#[derive(Debug, Clone)]
pub struct Event {
    pub ts_ns: u64,
    pub tgid: u32,
    pub pid: u32,
    pub uid: u32,
    pub cpu: u32,
    pub kstack: i32,
    pub ustack: i32,
    pub comm: String,
    pub values: Vec<format::Value>,
}

impl Probe {
    pub fn attach(compiled: Compiled, opts: &Options) -> Result<Self> {
        let settings = Settings {
            action: action::EMIT,
            tgid: opts.pid,
            tid: opts.tid,
            uid: opts.uid,
            exclude_tgid: (!opts.include_self).then(std::process::id),
            cgroup: opts.cgroup,
            kernel_stack: opts.kernel_stack,
            user_stack: opts.user_stack,
            ring_bytes: 1 << 20,
        };
        let mut loaded =
            probevm::load_and_attach(&compiled.program, &compiled.target.hook, &settings)?;
        let ring = events::take_ring(&mut loaded.bpf)?;
        Ok(Self {
            compiled,
            ring,
            loaded,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }

    /// Call `f` on each waiting event.
    pub fn drain(&mut self, mut f: impl FnMut(Event)) -> usize {
        let slots = &self.compiled.slots;
        events::drain(&mut self.ring, |bytes| -> Result<(), ()> {
            if let Some(e) = decode(bytes, slots) {
                f(e);
            }
            Ok(())
        })
        .unwrap_or(0)
    }

    /// Events the kernel could not send (ring buffer full).
    pub fn lost(&self) -> Result<u64> {
        events::lost(&self.loaded.bpf)
    }
}

fn decode(bytes: &[u8], slots: &[Slot]) -> Option<Event> {
    let h: TraceHeader = events::decode(bytes)?;
    let values = slots
        .iter()
        .map(|s| {
            let raw = bytes
                .get(s.off as usize..(s.off + s.len) as usize)
                .unwrap_or(&[]);
            match s.kind {
                SlotKind::Str => format::Value::Text(cstr(raw)),
                SlotKind::Scalar(_) => {
                    format::Value::Num(u64::from_le_bytes(raw.try_into().unwrap_or([0; 8])))
                }
            }
        })
        .collect();
    Some(Event {
        ts_ns: h.ts_ns,
        tgid: h.tgid,
        pid: h.pid,
        uid: h.uid,
        cpu: h.cpu,
        kstack: h.kstack,
        ustack: h.ustack,
        comm: cstr(&h.comm),
        values,
    })
}

impl Probe {
    /// The instruction pointers of stack `id` (innermost first); empty when it was lost.
    pub fn stack(&self, id: i32) -> Vec<u64> {
        if id < 0 {
            return Vec::new();
        }
        let Some(map) = self.loaded.bpf.map("STACKS") else {
            return Vec::new();
        };
        let Ok(stacks) = aya::maps::StackTraceMap::<&MapData>::try_from(map) else {
            return Vec::new();
        };
        stacks
            .get(&(id as u32), 0)
            .map(|t| t.frames().iter().map(|f| f.ip).collect())
            .unwrap_or_default()
    }
}
