//! profile: CPU-clock sampling of kernel and user stacks on every online CPU (perf_event).
use anyhow::{bail, Context as _, Result};
use aya::{
    programs::perf_event::{
        PerfEvent, PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent,
    },
    Ebpf,
};
use lab_probes_common::profile::{DEFAULT_STACK_STORAGE, STACK_KERNEL, STACK_USER};

use crate::stacks::{self, RawStack, StackErrors};

/// How often to sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Samples per second per CPU (BCC's -F).
    Frequency(u64),
    /// One sample every N ns of CPU time (BCC's -c, for the cpu-clock event).
    Period(u64),
}

#[derive(Debug, Clone)]
pub struct ProfileOptions {
    pub sampling: Sampling,
    /// Only this process (-p).
    pub tgid: Option<u32>,
    /// Only this thread (-L).
    pub tid: Option<u32>,
    pub user_stacks: bool,
    pub kernel_stacks: bool,
    /// Count the idle task too (-I).
    pub include_idle: bool,
    /// Distinct stacks kept (--stack-storage-size).
    pub stack_storage: u32,
    /// Only this CPU (-C).
    pub cpu: Option<u32>,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        Self {
            sampling: Sampling::Frequency(49),
            tgid: None,
            tid: None,
            user_stacks: true,
            kernel_stacks: true,
            include_idle: false,
            stack_storage: DEFAULT_STACK_STORAGE,
            cpu: None,
        }
    }
}

/// An attached sampler; detaches when dropped.
pub struct Profile {
    bpf: Ebpf,
}

impl Profile {
    pub fn attach(opts: &ProfileOptions) -> Result<Self> {
        if !opts.user_stacks && !opts.kernel_stacks {
            bail!("nothing to sample: both user and kernel stacks were excluded");
        }
        if opts.stack_storage == 0 {
            bail!("--stack-storage-size must be at least 1");
        }
        let cpus = match opts.cpu {
            Some(c) => vec![c],
            None => aya::util::online_cpus()
                .map_err(|(path, e)| anyhow::anyhow!("reading {path}: {e}"))?,
        };
        let tgid = opts.tgid.unwrap_or(0);
        let tid = opts.tid.unwrap_or(0);
        let kinds = (if opts.user_stacks { STACK_USER } else { 0 })
            | (if opts.kernel_stacks { STACK_KERNEL } else { 0 });
        let idle = opts.include_idle as u8;
        let mut bpf = crate::loader::load_with("profile", |l| {
            l.override_global("TARGET_TGID", &tgid, true)
                .override_global("TARGET_TID", &tid, true)
                .override_global("STACK_KINDS", &kinds, true)
                .override_global("INCLUDE_IDLE", &idle, true)
                .map_max_entries("STACKS", opts.stack_storage);
        })?;
        let prog: &mut PerfEvent = bpf
            .program_mut("profile")
            .context("program profile missing from object")?
            .try_into()?;
        prog.load().context("verifier rejected profile")?;
        let policy = match opts.sampling {
            Sampling::Frequency(f) => SamplePolicy::Frequency(f),
            Sampling::Period(p) => SamplePolicy::Period(p),
        };
        for cpu in cpus {
            prog.attach(
                PerfEventConfig::Software(SoftwareEvent::CpuClock),
                PerfEventScope::AllProcessesOneCpu { cpu },
                policy,
                false,
            )
            .with_context(|| {
                format!("attaching the cpu-clock sampler on CPU {cpu} (perf_event_open)")
            })?;
        }
        Ok(Self { bpf })
    }

    /// Sample counts by thread and stack so far (unsymbolized).
    pub fn stacks(&self) -> Result<Vec<RawStack>> {
        stacks::read_counts(&self.bpf)
    }

    pub fn errors(&self) -> Result<StackErrors> {
        stacks::read_errors(&self.bpf)
    }
}
