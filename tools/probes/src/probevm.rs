//! Loading and attaching the probe VM (tools/ebpf/src/probevm.rs) for one compiled probe: the
//! program, its action and filters go in as read-only globals, then one program of the hook's
//! kind is attached (plus the entry program when a return probe reads entry data).
use std::{num::NonZeroU32, path::PathBuf};

use anyhow::{Context as _, Result};
use aya::{
    programs::{
        uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeScope},
        KProbe, TracePoint, UProbe,
    },
    Ebpf,
};
use lab_probes_common::{
    profile::{STACK_KERNEL, STACK_USER},
    vm::{action, Insn, KEY_SIZE, MAX_INSNS, MAX_STRS},
};

/// A compiled probe program, as the kernel half runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Program {
    pub insns: Vec<Insn>,
    /// String literals (`STREQ` operands).
    pub strs: Vec<u8>,
    /// Bytes of a trace record (header + values).
    pub record_size: u32,
    /// A return probe that reads `$entry(...)`/`$latency`.
    pub need_entry: bool,
}

/// Where a probe attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// One location of a USDT probe (its semaphore raised while attached).
    Usdt(Box<crate::usdt::UsdtProbe>),
    Kprobe {
        func: String,
        offset: u64,
    },
    Kretprobe {
        func: String,
    },
    Uprobe {
        path: PathBuf,
        offset: u64,
    },
    Uretprobe {
        path: PathBuf,
        offset: u64,
    },
    Tracepoint {
        category: String,
        name: String,
    },
}

/// Load-time settings beside the program.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// lab_probes_common::vm::action.
    pub action: u8,
    pub tgid: Option<u32>,
    pub tid: Option<u32>,
    pub uid: Option<u32>,
    /// Never trace this process (the tool itself).
    pub exclude_tgid: Option<u32>,
    pub cgroup: Option<u64>,
    pub kernel_stack: bool,
    pub user_stack: bool,
    /// Ring buffer bytes for EMIT (power of two, >= 4096).
    pub ring_bytes: u32,
}

/// A loaded and attached probe VM; dropping it detaches.
pub struct Loaded {
    /// USDT links (uprobe perf events with the semaphore); dropped before `bpf`.
    _links: Vec<crate::perf_link::CookieLink>,
    pub bpf: Ebpf,
}

/// Load one probe VM for `prog` with `s`, and attach it at `hook`.
pub fn load_and_attach(prog: &Program, hook: &Hook, s: &Settings) -> Result<Loaded> {
    let mut insns = [Insn::default(); MAX_INSNS];
    anyhow::ensure!(
        prog.insns.len() <= MAX_INSNS,
        "the probe compiles to {} instructions, more than the {MAX_INSNS} the kernel half runs",
        prog.insns.len()
    );
    insns[..prog.insns.len()].copy_from_slice(&prog.insns);
    let mut strs = [0u8; MAX_STRS];
    strs[..prog.strs.len()].copy_from_slice(&prog.strs);
    let stacks = (if s.kernel_stack { STACK_KERNEL } else { 0 })
        | (if s.user_stack { STACK_USER } else { 0 });
    let need_entry = u8::from(prog.need_entry);
    let (tgid, tid) = (s.tgid.unwrap_or(0), s.tid.unwrap_or(0));
    let uid = s.uid.unwrap_or(u32::MAX);
    let exclude = s.exclude_tgid.unwrap_or(0);
    let cgroup = s.cgroup.unwrap_or(0);
    let emits = s.action == action::EMIT;
    let mut bpf = crate::loader::load_with("probevm", |l| {
        l.override_global("PROG", &insns, true);
        l.override_global("STRS", &strs, true);
        l.override_global("ACTION", &s.action, true);
        l.override_global("RECORD_SIZE", &prog.record_size, true);
        l.override_global("FILTER_TGID", &tgid, true);
        l.override_global("FILTER_TID", &tid, true);
        l.override_global("FILTER_UID", &uid, true);
        l.override_global("EXCLUDE_TGID", &exclude, true);
        l.override_global("CGROUP_ID", &cgroup, true);
        l.override_global("STACK_KINDS", &stacks, true);
        l.override_global("NEED_ENTRY", &need_entry, true);
        // Maps this probe does not use stay as small as the kernel allows.
        l.map_max_entries("EVENTS", if emits { s.ring_bytes.max(4096) } else { 4096 });
        l.map_max_entries(
            "COUNTS",
            if s.action == action::COUNT {
                lab_probes_common::vm::MAX_KEYS
            } else {
                1
            },
        );
        l.map_max_entries(
            "ENTRIES",
            if prog.need_entry {
                lab_probes_common::vm::MAX_ENTRIES
            } else {
                1
            },
        );
        l.map_max_entries("STACKS", if stacks != 0 { 1024 } else { 1 });
    })?;
    let _ = KEY_SIZE;
    let links = attach(&mut bpf, hook, prog.need_entry, s.tgid)?;
    Ok(Loaded { _links: links, bpf })
}

fn attach(
    bpf: &mut Ebpf,
    hook: &Hook,
    need_entry: bool,
    pid: Option<u32>,
) -> Result<Vec<crate::perf_link::CookieLink>> {
    match hook {
        Hook::Usdt(probe) => {
            let p: &mut UProbe = program(bpf, "vm_uprobe")?;
            p.load()?;
            use std::os::fd::AsFd as _;
            return crate::usdt::attach(
                p.fd()?.as_fd(),
                std::slice::from_ref(probe),
                pid,
                |_, _| 0,
            );
        }
        Hook::Tracepoint { category, name } => {
            let p: &mut TracePoint = program(bpf, "vm_tp")?;
            p.load()?;
            p.attach(category, name)
                .with_context(|| format!("attaching to tracepoint {category}:{name}"))?;
        }
        Hook::Kprobe { func, offset } => {
            let p: &mut KProbe = program(bpf, "vm_kprobe")?;
            p.load()?;
            p.attach(func, *offset)
                .with_context(|| format!("attaching a kprobe to {func}"))?;
        }
        Hook::Kretprobe { func } => {
            if need_entry {
                let p: &mut KProbe = program(bpf, "vm_kentry")?;
                p.load()?;
                p.attach(func, 0)
                    .with_context(|| format!("attaching a kprobe to {func}"))?;
            }
            let p: &mut KProbe = program(bpf, "vm_kretprobe")?;
            p.load()?;
            p.attach(func, 0)
                .with_context(|| format!("attaching a kretprobe to {func}"))?;
        }
        Hook::Uprobe { path, offset } => {
            let p: &mut UProbe = program(bpf, "vm_uprobe")?;
            p.load()?;
            attach_u(p, path, *offset, pid)?;
        }
        Hook::Uretprobe { path, offset } => {
            if need_entry {
                let p: &mut UProbe = program(bpf, "vm_uentry")?;
                p.load()?;
                attach_u(p, path, *offset, pid)?;
            }
            let p: &mut UProbe = program(bpf, "vm_uretprobe")?;
            p.load()?;
            attach_u(p, path, *offset, pid)?;
        }
    }
    Ok(Vec::new())
}

fn program<'a, T>(bpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let p = bpf
        .program_mut(name)
        .with_context(|| format!("program {name} missing from probevm"))?;
    Ok(p.try_into()?)
}

fn attach_u(p: &mut UProbe, path: &std::path::Path, offset: u64, pid: Option<u32>) -> Result<()> {
    let scope = match pid.and_then(NonZeroU32::new) {
        Some(p) => UProbeScope::OneProcess(p),
        None => UProbeScope::AllProcesses,
    };
    p.attach(
        UProbeAttachPoint {
            location: UProbeAttachLocation::AbsoluteOffset(offset),
            cookie: None,
        },
        path,
        scope,
    )
    .with_context(|| format!("attaching a uprobe to {} at {offset:#x}", path.display()))?;
    Ok(())
}

/// One instruction as text, for `-v` (`  3: LOAD r1 = *(r1 + 0x18) [8]`).
pub fn disasm(i: &Insn) -> String {
    use lab_probes_common::vm::op;
    let s = if i.signed != 0 { "s" } else { "u" };
    let bin = |name: &str| format!("r{} = r{} {name} r{}", i.dst, i.a, i.b);
    match i.op {
        op::END => "END".into(),
        op::CONST => format!("r{} = {:#x}", i.dst, i.imm),
        op::FIELD => format!("r{} = ctx[{}] ({s}{})", i.dst, i.off, i.size * 8),
        op::FIELD_ADDR => format!("r{} = &ctx[{}]", i.dst, i.off),
        op::COMM => format!("r{} = $comm", i.dst),
        op::LOAD => format!(
            "r{} = *(r{} + {:#x}) ({s}{})",
            i.dst,
            i.a,
            i.imm,
            i.size * 8
        ),
        op::PID | op::TGID | op::UID | op::GID | op::CPU | op::TASK | op::KTIME => {
            let n = ["$pid", "$tgid", "$uid", "$gid", "$cpu", "$task", "ktime"]
                [(i.op - op::PID) as usize];
            format!("r{} = {n}", i.dst)
        }
        op::ENTRY_ARG => format!("r{} = entry arg{}", i.dst, i.off),
        op::ENTRY_TS => format!("r{} = entry time", i.dst),
        op::ADD => bin("+"),
        op::SUB => bin("-"),
        op::MUL => bin("*"),
        op::DIV => bin(&format!("/{s}")),
        op::MOD => bin(&format!("%{s}")),
        op::AND => bin("&"),
        op::OR => bin("|"),
        op::XOR => bin("^"),
        op::SHL => bin("<<"),
        op::SHR => bin(&format!(">>{s}")),
        op::EQ => bin("=="),
        op::NE => bin("!="),
        op::LT => bin(&format!("<{s}")),
        op::LE => bin(&format!("<={s}")),
        op::LAND => bin("&&"),
        op::LOR => bin("||"),
        op::NOT => format!("r{} = !r{}", i.dst, i.a),
        op::NEG => format!("r{} = -r{}", i.dst, i.a),
        op::BNOT => format!("r{} = ~r{}", i.dst, i.a),
        op::EXT => format!("r{} = ({s}{}) r{}", i.dst, i.size * 8, i.a),
        op::LOG2 => format!("r{} = log2(r{})", i.dst, i.a),
        op::STREQ => format!(
            "r{} = string at r{} == literal[{}..+{}]",
            i.dst, i.a, i.off, i.imm
        ),
        op::FILTER => format!("drop unless r{}", i.a),
        op::STORE => format!("record[{}] = r{} ({} bytes)", i.off, i.a, i.size),
        op::STORE_STR => format!("record[{}] = string at r{} (max {})", i.off, i.a, i.imm),
        op::STORE_BYTES => format!("record[{}] = {} bytes at r{}", i.off, i.imm, i.a),
        op::STORE_COMM => format!("record[{}] = comm", i.off),
        o => format!("op {o}"),
    }
}
