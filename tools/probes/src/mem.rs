//! The memory tools' user halves: cachestat (page-cache hit/miss counters through kprobes),
//! oomkill (OOM kills: kprobe oom_kill_process as BCC, else tracepoint oom:mark_victim) and
//! drsnoop (direct and memcg reclaim latency from vmscan tracepoints). Kernel halves:
//! tools/ebpf/src/{cachestat,oomkill,drsnoop}.rs.
use std::{collections::HashSet, io::BufRead as _};

use anyhow::{bail, Context as _, Result};
use aya::{
    maps::{MapData, PerCpuArray, RingBuf},
    programs::KProbe,
    Ebpf,
};
use lab_probes_common::mem::{
    OomEvent, OomOffsets, ReclaimEvent, CS_ACCESSED, CS_ADDED, CS_BUFFER_DIRTY, CS_DIRTIED,
    RECLAIM_MEMCG,
};

use crate::{btf::Btf, capabilities, events, requirements::Tracepoint, tracefs};

// ---------------------------------------------------------------------------------------------
// cachestat

/// Candidates per counter, first existing one wins: folio-era names (5.16+) before the old
/// ones, which on 5.16+ still exist but as wrappers few callers use (libbpf-tools' MISSES ≈ 0).
pub const CACHESTAT_FUNCS: [(&str, &[&str]); 4] = [
    ("accessed", &["folio_mark_accessed", "mark_page_accessed"]),
    ("buffer_dirty", &["mark_buffer_dirty"]),
    ("added", &["filemap_add_folio", "add_to_page_cache_lru"]),
    (
        "dirtied",
        &[
            "folio_account_dirtied",
            "__folio_mark_dirty",
            "account_page_dirtied",
        ],
    ),
];

/// Why cachestat cannot count on this kernel, or None when it can.
pub fn cachestat_unsupported() -> Option<String> {
    (!capabilities::kprobes_compiled_in()).then(|| {
        "this kernel has no kprobes (CONFIG_KPROBES off) and no tracepoint counts page-cache hits, so hits, misses and the ratio cannot be measured here; run cachestat on a kernel with kprobes (the lab VMs)".to_owned()
    })
}

/// Function names in /proc/kallsyms (text symbols).
fn kernel_functions(wanted: &[&str]) -> Result<HashSet<String>> {
    let f = std::fs::File::open("/proc/kallsyms").context("reading /proc/kallsyms")?;
    let mut found = HashSet::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        let mut it = line.split_whitespace();
        let (_, kind, name) = (it.next(), it.next(), it.next());
        if let (Some(k), Some(n)) = (kind, name) {
            if matches!(k, "t" | "T") && wanted.contains(&n) {
                found.insert(n.to_owned());
            }
        }
    }
    Ok(found)
}

/// Cumulative page-cache counters (calls of the hooked functions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    pub accessed: u64,
    pub buffer_dirty: u64,
    pub added: u64,
    pub dirtied: u64,
}

impl CacheCounts {
    pub fn since(&self, e: &CacheCounts) -> CacheCounts {
        CacheCounts {
            accessed: self.accessed - e.accessed,
            buffer_dirty: self.buffer_dirty - e.buffer_dirty,
            added: self.added - e.added,
            dirtied: self.dirtied - e.dirtied,
        }
    }

    /// (hits, misses, dirties) as BCC computes them: accesses minus buffer dirtyings are
    /// page-cache reads and writes, insertions minus dirtyings are pages read in from disk, and
    /// hits are the accesses left over. Unlike BCC, misses are not capped at the accesses:
    /// filemap_read marks only the first folio of each batch accessed, so one large read counts
    /// one access for up to 15 pages read in.
    pub fn hits_misses_dirties(&self) -> (u64, u64, u64) {
        let total = self.accessed.saturating_sub(self.buffer_dirty);
        let misses = self.added.saturating_sub(self.dirtied);
        (total.saturating_sub(misses), misses, self.dirtied)
    }
}

pub struct CacheStat {
    bpf: Ebpf,
    /// The kernel function behind each counter (accessed, buffer_dirty, added, dirtied).
    pub functions: Vec<String>,
}

impl CacheStat {
    pub fn attach() -> Result<Self> {
        if let Some(why) = cachestat_unsupported() {
            bail!(why);
        }
        let all: Vec<&str> = CACHESTAT_FUNCS
            .iter()
            .flat_map(|(_, c)| c.iter().copied())
            .collect();
        let have = kernel_functions(&all)?;
        let mut bpf = crate::loader::load("cachestat")?;
        let mut functions = Vec::new();
        for ((what, candidates), prog) in
            CACHESTAT_FUNCS
                .iter()
                .zip(["cs_accessed", "cs_buffer_dirty", "cs_added", "cs_dirtied"])
        {
            let Some(func) = candidates.iter().find(|c| have.contains(**c)) else {
                bail!(
                    "none of {} is a kernel function here (checked /proc/kallsyms); cachestat cannot count '{what}'",
                    candidates.join(", ")
                );
            };
            let p: &mut KProbe = bpf
                .program_mut(prog)
                .with_context(|| format!("program {prog} missing from object"))?
                .try_into()?;
            p.load()
                .with_context(|| format!("verifier rejected {prog}"))?;
            p.attach(*func, 0)
                .with_context(|| format!("attaching a kprobe to {func}"))?;
            functions.push((*func).to_owned());
        }
        Ok(Self { bpf, functions })
    }

    pub fn read(&self) -> Result<CacheCounts> {
        let arr: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.bpf.map("COUNTS").context("map COUNTS")?)?;
        let sum = |i| -> Result<u64> { Ok(arr.get(&i, 0)?.iter().sum()) };
        Ok(CacheCounts {
            accessed: sum(CS_ACCESSED)?,
            buffer_dirty: sum(CS_BUFFER_DIRTY)?,
            added: sum(CS_ADDED)?,
            dirtied: sum(CS_DIRTIED)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// oomkill

pub const OOM_TRACEPOINTS: &[Tracepoint] = &[("oom", "mark_victim")];

#[derive(Debug, Clone)]
pub struct OomKill {
    pub trigger_pid: u32,
    pub trigger_comm: String,
    pub victim_pid: u32,
    pub victim_comm: String,
    pub pages: Option<u64>,
}

/// Which hook oomkill uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomHook {
    Kprobe,
    Tracepoint,
}

pub struct OomSnoop {
    bpf: Ebpf,
    ring: RingBuf<MapData>,
    pub hook: OomHook,
}

impl OomSnoop {
    /// `force`: None = kprobe on oom_kill_process where kprobes exist, else oom:mark_victim.
    pub fn attach(force: Option<OomHook>) -> Result<Self> {
        let hook = force.unwrap_or(if capabilities::kprobes_compiled_in() {
            OomHook::Kprobe
        } else {
            OomHook::Tracepoint
        });
        let mut bpf = match hook {
            OomHook::Kprobe => {
                if !capabilities::kprobes_compiled_in() {
                    bail!("this kernel has no kprobes (CONFIG_KPROBES off): use the oom:mark_victim tracepoint (--hook tracepoint)");
                }
                let btf = Btf::vmlinux()?;
                btf.prefetch(&[
                    "oom_control",
                    "chosen",
                    "totalpages",
                    "task_struct",
                    "tgid",
                    "comm",
                ])?;
                let offs = OomOffsets {
                    oc_chosen: btf.member("oom_control", "chosen")?.offset,
                    oc_totalpages: btf.member("oom_control", "totalpages")?.offset,
                    task_tgid: btf.member("task_struct", "tgid")?.offset,
                    task_comm: btf.member("task_struct", "comm")?.offset,
                };
                let mut bpf = crate::loader::load_with("oomkill", |l| {
                    l.override_global("OFFS", &offs, true);
                })?;
                let p: &mut KProbe = bpf
                    .program_mut("oomkill_kprobe")
                    .context("program oomkill_kprobe missing")?
                    .try_into()?;
                p.load().context("verifier rejected oomkill_kprobe")?;
                p.attach("oom_kill_process", 0)
                    .context("attaching a kprobe to oom_kill_process")?;
                bpf
            }
            OomHook::Tracepoint => {
                let root = events::require_tracepoints(OOM_TRACEPOINTS)?;
                let fields = tracefs::fields(&root, "oom", "mark_victim")?;
                let at = |n: &str| fields.iter().find(|f| f.name == n).map(|f| f.offset);
                let pid = at("pid").context("oom:mark_victim has no pid field")?;
                let comm = at("comm").unwrap_or(0);
                let vm = at("total_vm").unwrap_or(0);
                let mut bpf = crate::loader::load_with("oomkill", |l| {
                    l.override_global("PID_OFF", &pid, true)
                        .override_global("COMM_OFF", &comm, true)
                        .override_global("TOTAL_VM_OFF", &vm, true);
                })?;
                events::attach_tracepoint(&mut bpf, "oomkill_mark_victim", "oom", "mark_victim")?;
                bpf
            }
        };
        let ring = events::take_ring(&mut bpf)?;
        Ok(Self { bpf, ring, hook })
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd as _;
        self.ring.as_fd()
    }

    pub fn drain(&mut self, mut f: impl FnMut(OomKill) -> Result<()>) -> Result<usize> {
        let tracepoint = self.hook == OomHook::Tracepoint;
        // SAFETY: sysconf has no preconditions.
        let page_kb = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64 / 1024).max(1);
        events::drain(&mut self.ring, |b| {
            let ev: OomEvent = events::decode(b).context("short oomkill record")?;
            let mut victim_comm = events::cstr(&ev.victim_comm);
            if victim_comm.is_empty() {
                // 6.1's mark_victim has no comm: the victim may still be in /proc.
                victim_comm = std::fs::read_to_string(format!("/proc/{}/comm", ev.victim_pid))
                    .map(|s| s.trim_end().to_owned())
                    .unwrap_or_else(|_| "?".into());
            }
            f(OomKill {
                trigger_pid: ev.trigger_pid,
                trigger_comm: events::cstr(&ev.trigger_comm),
                victim_pid: ev.victim_pid,
                victim_comm,
                // The tracepoint records the victim's total_vm in kB.
                pages: (ev.has_pages != 0).then_some(if tracepoint {
                    ev.pages / page_kb
                } else {
                    ev.pages
                }),
            })
        })
    }

    pub fn lost(&self) -> Result<u64> {
        events::lost(&self.bpf)
    }
}

// ---------------------------------------------------------------------------------------------
// drsnoop

pub const DRSNOOP_TRACEPOINTS: &[Tracepoint] = &[
    ("vmscan", "mm_vmscan_direct_reclaim_begin"),
    ("vmscan", "mm_vmscan_direct_reclaim_end"),
];
const MEMCG_TPS: [&str; 2] = [
    "mm_vmscan_memcg_reclaim_begin",
    "mm_vmscan_memcg_reclaim_end",
];

#[derive(Debug, Clone)]
pub struct Reclaim {
    pub end_ns: u64,
    pub delta_ns: u64,
    pub pages: u64,
    pub pid: u32,
    pub tid: u32,
    pub memcg: bool,
    pub comm: String,
}

pub struct DrSnoop {
    bpf: Ebpf,
    ring: RingBuf<MapData>,
    /// Whether memcg reclaim is traced too (the kernel has its tracepoints and it was asked).
    pub memcg: bool,
}

impl DrSnoop {
    pub fn attach(pid: Option<u32>, tid: Option<u32>, with_memcg: bool) -> Result<Self> {
        let root = events::require_tracepoints(DRSNOOP_TRACEPOINTS)?;
        let nr = tracefs::field_offset(
            &root,
            "vmscan",
            "mm_vmscan_direct_reclaim_end",
            "nr_reclaimed",
        )?;
        let memcg = with_memcg
            && MEMCG_TPS
                .iter()
                .all(|t| tracefs::tracepoint_exists(&root, "vmscan", t));
        if memcg && tracefs::field_offset(&root, "vmscan", MEMCG_TPS[1], "nr_reclaimed")? != nr {
            bail!(
                "vmscan:{}'s nr_reclaimed is not where the direct reclaim end's is",
                MEMCG_TPS[1]
            );
        }
        let (p, t) = (pid.unwrap_or(0), tid.unwrap_or(0));
        let mut bpf = crate::loader::load_with("drsnoop", |l| {
            l.override_global("FILTER_PID", &p, true)
                .override_global("FILTER_TID", &t, true)
                .override_global("NR_RECLAIMED_OFF", &nr, true);
        })?;
        let mut ends = vec![("vmscan", "mm_vmscan_direct_reclaim_end")];
        if memcg {
            ends.push(("vmscan", MEMCG_TPS[1]));
        }
        events::attach_tracepoints(&mut bpf, "drsnoop_end", &ends)?;
        events::attach_tracepoint(
            &mut bpf,
            "drsnoop_direct_begin",
            "vmscan",
            "mm_vmscan_direct_reclaim_begin",
        )?;
        if memcg {
            events::attach_tracepoint(&mut bpf, "drsnoop_memcg_begin", "vmscan", MEMCG_TPS[0])?;
        }
        let ring = events::take_ring(&mut bpf)?;
        Ok(Self { bpf, ring, memcg })
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd as _;
        self.ring.as_fd()
    }

    pub fn drain(&mut self, mut f: impl FnMut(Reclaim) -> Result<()>) -> Result<usize> {
        events::drain(&mut self.ring, |b| {
            let ev: ReclaimEvent = events::decode(b).context("short drsnoop record")?;
            f(Reclaim {
                end_ns: ev.end_ns,
                delta_ns: ev.delta_ns,
                pages: ev.pages,
                pid: ev.pid,
                tid: ev.tid,
                memcg: ev.kind == RECLAIM_MEMCG,
                comm: events::cstr(&ev.comm),
            })
        })
    }

    pub fn lost(&self) -> Result<u64> {
        events::lost(&self.bpf)
    }
}

crate::events::event_source!(OomSnoop => OomKill);
crate::events::event_source!(DrSnoop => Reclaim);
