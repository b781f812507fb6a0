//! Smoke probe: how many times each comm was exec'd while attached (sched:sched_process_exec).
use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aya::{
    maps::{PerCpuArray, PerCpuHashMap},
    programs::{links::FdLink, trace_point::TracePointLinkId, TracePoint},
    Ebpf,
};
use lab_probes_common::execcount::CommKey;

use crate::tracefs;

/// An attached exec counter; detaches when dropped.
pub struct ExecCount {
    bpf: Ebpf,
    link: TracePointLinkId,
}

impl ExecCount {
    pub fn attach() -> Result<Self> {
        let (root, _) = tracefs::mount_if_missing()?;
        anyhow::ensure!(
            tracefs::tracepoint_exists(&root, "sched", "sched_process_exec"),
            "tracepoint sched:sched_process_exec does not exist on this kernel"
        );
        let mut bpf = crate::load("execcount")?;
        let prog: &mut TracePoint = bpf
            .program_mut("execcount")
            .context("program execcount missing from object")?
            .try_into()?;
        prog.load().context("verifier rejected execcount")?;
        let link = prog
            .attach("sched", "sched_process_exec")
            .context("attaching sched:sched_process_exec")?;
        Ok(Self { bpf, link })
    }

    /// Keep counting after this process exits: pin the map as `dir/map` and the link as
    /// `dir/link` (`dir` must exist on a bpffs). Removing both pins detaches the program.
    pub fn pin(mut self, dir: &std::path::Path) -> Result<()> {
        let prog: &mut TracePoint = self
            .bpf
            .program_mut("execcount")
            .context("program execcount missing from object")?
            .try_into()?;
        let link: FdLink = prog
            .take_link(self.link)?
            .try_into()
            .context("this kernel has no BPF links for tracepoints (needs 5.15+)")?;
        self.bpf
            .map("EXEC_COUNTS")
            .context("map EXEC_COUNTS")?
            .pin(dir.join("map"))
            .context("pinning the exec count map")?;
        link.pin(dir.join("link"))
            .context("pinning the exec count link")?;
        Ok(())
    }

    /// Exec counts so far, by comm.
    pub fn counts(&self) -> Result<BTreeMap<String, u64>> {
        let map: PerCpuHashMap<_, CommKey, u64> =
            PerCpuHashMap::try_from(self.bpf.map("EXEC_COUNTS").context("map EXEC_COUNTS")?)?;
        let mut out = BTreeMap::new();
        for item in map.iter() {
            let (k, per_cpu) = item?;
            *out.entry(comm_str(&k.comm)).or_default() += per_cpu.iter().sum::<u64>();
        }
        Ok(out)
    }

    /// Execs not counted because the map was full.
    pub fn dropped(&self) -> Result<u64> {
        let arr: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.bpf.map("DROPPED").context("map DROPPED")?)?;
        Ok(arr.get(&0, 0)?.iter().sum())
    }
}

/// A NUL-padded kernel comm as a string.
pub fn comm_str(comm: &[u8]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}
