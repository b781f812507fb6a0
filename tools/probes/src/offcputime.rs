//! offcputime: time threads spend blocked (off CPU), by kernel and user stack, from
//! `sched:sched_switch`. Values are nanoseconds.
use anyhow::Result;
use aya::Ebpf;
use lab_probes_common::offcputime::{
    DEFAULT_STACK_STORAGE, STACK_KERNEL, STACK_USER, THREADS_ALL, THREADS_KERNEL, THREADS_USER,
};

use crate::{
    events,
    requirements::Tracepoint,
    stacks::{self, RawStack, StackErrors},
    tracefs,
};

pub const TRACEPOINTS: &[Tracepoint] = &[("sched", "sched_switch")];

/// Which threads to trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threads {
    #[default]
    All,
    /// No kernel threads (-u).
    User,
    /// Kernel threads only (-k).
    Kernel,
}

#[derive(Debug, Clone)]
pub struct OffCpuOptions {
    /// Only this process (-p).
    pub tgid: Option<u32>,
    /// Only this thread (-t).
    pub tid: Option<u32>,
    pub threads: Threads,
    pub user_stacks: bool,
    pub kernel_stacks: bool,
    /// Count blocks of at least / at most this many microseconds (-m / -M).
    pub min_us: u64,
    pub max_us: u64,
    pub stack_storage: u32,
}

impl Default for OffCpuOptions {
    fn default() -> Self {
        Self {
            tgid: None,
            tid: None,
            threads: Threads::All,
            user_stacks: true,
            kernel_stacks: true,
            min_us: 1,
            max_us: u64::MAX,
            stack_storage: DEFAULT_STACK_STORAGE,
        }
    }
}

/// An attached off-CPU tracer; detaches when dropped.
pub struct OffCpuTime {
    bpf: Ebpf,
}

impl OffCpuTime {
    pub fn attach(opts: &OffCpuOptions) -> Result<Self> {
        anyhow::ensure!(
            opts.user_stacks || opts.kernel_stacks,
            "nothing to record: both user and kernel stacks were excluded"
        );
        anyhow::ensure!(
            opts.stack_storage > 0,
            "--stack-storage-size must be at least 1"
        );
        anyhow::ensure!(
            opts.min_us <= opts.max_us,
            "min block time ({} us) is above max block time ({} us)",
            opts.min_us,
            opts.max_us
        );
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let next_pid = tracefs::fields(&root, "sched", "sched_switch")?
            .into_iter()
            .find(|f| f.name == "next_pid")
            .ok_or_else(|| {
                anyhow::anyhow!("sched:sched_switch has no next_pid field on this kernel")
            })?
            .offset;
        let tgid = opts.tgid.unwrap_or(0);
        let tid = opts.tid.unwrap_or(0);
        let kinds = (if opts.user_stacks { STACK_USER } else { 0 })
            | (if opts.kernel_stacks { STACK_KERNEL } else { 0 });
        let threads = match opts.threads {
            Threads::All => THREADS_ALL,
            Threads::User => THREADS_USER,
            Threads::Kernel => THREADS_KERNEL,
        };
        let (min_us, max_us) = (opts.min_us, opts.max_us);
        let mut bpf = crate::loader::load_with("offcputime", |l| {
            l.override_global("NEXT_PID_OFFSET", &next_pid, true)
                .override_global("TARGET_TGID", &tgid, true)
                .override_global("TARGET_TID", &tid, true)
                .override_global("THREADS", &threads, true)
                .override_global("STACK_KINDS", &kinds, true)
                .override_global("MIN_US", &min_us, true)
                .override_global("MAX_US", &max_us, true)
                .map_max_entries("STACKS", opts.stack_storage);
        })?;
        events::attach_tracepoint(&mut bpf, "offcputime", "sched", "sched_switch")?;
        Ok(Self { bpf })
    }

    /// Off-CPU nanoseconds by thread and stack so far (unsymbolized). Time of threads still
    /// blocked right now is not in it yet (it is added when they wake), as in BCC.
    pub fn stacks(&self) -> Result<Vec<RawStack>> {
        stacks::read_counts(&self.bpf)
    }

    pub fn errors(&self) -> Result<StackErrors> {
        stacks::read_errors(&self.bpf)
    }
}
