//! The checker's view of the probe library (tools/probes): the same probes the students' tools
//! use, reduced to the plain records the lab checks need. No probe is implemented here.
use std::collections::BTreeMap;

use anyhow::Result;

pub use lab_probes::events::monotonic_ns;
pub use lab_probes::execsnoop::Exec;

/// execsnoop's probe: every exec on the machine.
pub struct ExecTrace(lab_probes::execsnoop::ExecSnoop);

impl ExecTrace {
    pub fn start() -> Result<Self> {
        Ok(Self(lab_probes::execsnoop::ExecSnoop::attach(
            &lab_probes::execsnoop::Config {
                max_args: 0,
                ..Default::default()
            },
        )?))
    }
    /// Successful execs since the last poll.
    pub fn poll(&mut self) -> Result<Vec<Exec>> {
        let mut out = Vec::new();
        self.0.drain(|e| {
            if e.retval == 0 {
                out.push(e);
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// One completed block I/O.
#[derive(Debug, Clone)]
pub struct Bio {
    pub pid: u32,
    pub bytes: u32,
    pub lat_ns: u64,
}

/// One successful open.
#[derive(Debug, Clone)]
pub struct Open {
    pub pid: u32,
    pub path: String,
    /// Opened for writing (O_WRONLY or O_RDWR).
    pub writes: bool,
}

/// biosnoop's probe: completed block I/O with submitter and latency.
pub struct BioTrace(lab_probes::biosnoop::BioSnoop);

impl BioTrace {
    pub fn start() -> Result<Self> {
        Ok(Self(lab_probes::biosnoop::BioSnoop::attach(
            &Default::default(),
        )?))
    }
    pub fn poll(&mut self) -> Result<Vec<Bio>> {
        let mut out = Vec::new();
        self.0.drain(|e| -> Result<()> {
            out.push(Bio {
                pid: e.pid,
                bytes: e.bytes,
                lat_ns: e.lat_ns,
            });
            Ok(())
        })?;
        Ok(out)
    }
}

/// runqlat's probe for a set of processes: their run-queue latency as runqlat prints it (log2
/// microsecond rows) and as the checker grades it (nanosecond log-linear slots, within 1/32).
pub struct RunqHist(lab_probes::runqlat::RunqLat);

impl RunqHist {
    pub fn start(pids: &[i32]) -> Result<Self> {
        let o = lab_probes::runqlat::Options {
            pids: pids.iter().map(|p| *p as u32).collect(),
            fine: true,
            ..Default::default()
        };
        Ok(Self(lab_probes::runqlat::RunqLat::attach(&o)?))
    }
    /// Rows (lo ns, hi ns, count), lowest first: runqlat's log2 rows.
    pub fn hist(&self) -> Result<Vec<(f64, f64, u64)>> {
        let h = lab_probes::hist::merged(self.0.read()?.values());
        Ok(h.slots
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let (lo, hi) = lab_probes::hist::log2_span(i);
                (lo * 1e3, hi * 1e3, *n)
            })
            .collect())
    }
    /// Every wait since attach in nanosecond log-linear slots (Hist::fine_percentile reads it).
    pub fn fine(&self) -> Result<lab_probes::hist::Hist> {
        Ok(lab_probes::hist::merged(self.0.read_fine()?.values()))
    }
}

/// opensnoop's probe, filtered to one process.
pub struct OpenTrace(lab_probes::opensnoop::OpenSnoop);

impl OpenTrace {
    pub fn start(pid: i32) -> Result<Self> {
        let cfg = lab_probes::opensnoop::Config {
            pids: Some(vec![pid as u32]),
            ..Default::default()
        };
        Ok(Self(lab_probes::opensnoop::OpenSnoop::attach(&cfg)?))
    }
    pub fn poll(&mut self) -> Result<Vec<Open>> {
        let mut out = Vec::new();
        self.0.drain(|e| {
            if e.ret >= 0 {
                let acc = e.flags & libc::O_ACCMODE as u64;
                let writes = acc == libc::O_WRONLY as u64 || acc == libc::O_RDWR as u64;
                out.push(Open {
                    pid: e.pid,
                    path: e.path,
                    writes,
                });
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// syscount's probe for one process: calls by syscall name.
pub struct SyscallCounts(lab_probes::syscount::SysCount);

impl SyscallCounts {
    pub fn start(pid: i32) -> Result<Self> {
        let cfg = lab_probes::syscount::Config {
            pids: Some(vec![pid as u32]),
            ..Default::default()
        };
        Ok(Self(lab_probes::syscount::SysCount::attach(&cfg)?))
    }
    pub fn counts(&self) -> Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for (nr, stat) in self.0.counts()? {
            *out.entry(lab_probes::syscount::syscall_name(nr))
                .or_default() += stat.count;
        }
        Ok(out)
    }
}
