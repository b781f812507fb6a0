//! dbslower / mysqld_qslower's user half: find a database server's `query__start` and
//! `query__done` USDT probes (MySQL's and PostgreSQL's names; our `queryserve` workload has
//! them too), attach, and hand back the queries slower than a threshold. Kernel half:
//! tools/ebpf/src/dbslower.rs.
use std::{
    os::fd::{AsFd as _, BorrowedFd},
    path::Path,
};

use anyhow::{bail, Context as _, Result};
use aya::{
    maps::{Array, MapData, RingBuf},
    programs::UProbe,
    Ebpf,
};
use lab_probes_common::dbslower::{QueryEvent, MAX_LOCATIONS};

use crate::{
    events,
    funccount::Matcher,
    perf_link::CookieLink,
    usdt::{self, UsdtProbe},
};

/// What to trace: these processes, or every process running this binary.
#[derive(Debug, Clone)]
pub enum Target {
    Pids(Vec<u32>),
    Binary(String),
}

/// One slow query.
#[derive(Debug, Clone)]
pub struct Query {
    /// When it started (CLOCK_MONOTONIC, ns).
    pub start_ns: u64,
    pub delta_ns: u64,
    pub pid: u32,
    pub query: String,
}

/// Attached probes; detach when dropped (links first, then the programs).
pub struct DbSlower {
    _links: Vec<CookieLink>,
    ring: RingBuf<MapData>,
    bpf: Ebpf,
    /// query__start locations attached, over all processes.
    pub locations: usize,
}

/// The processes whose name (comm) is `name`, as `pidof` finds them.
pub fn pidof(name: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// The probe named `name` among `probes`, or an error saying where it was looked for.
fn one(probes: &[UsdtProbe], name: &str, looked_in: &str) -> Result<UsdtProbe> {
    let found = usdt::select(probes, &Matcher::Glob(name.to_owned()));
    match found.into_iter().next() {
        Some(p) => Ok(p),
        None => bail!(
            "{looked_in}: no USDT probe {name} (a database server built with USDT probes, e.g. MySQL with -DENABLE_DTRACE=1, has one; tplist {looked_in} lists what there is)"
        ),
    }
}

/// Load uprobe program `name`; a copy of its fd (the program stays in `bpf`).
fn loaded_fd(bpf: &mut Ebpf, name: &str) -> Result<std::os::fd::OwnedFd> {
    let prog: &mut UProbe = bpf
        .program_mut(name)
        .with_context(|| format!("program {name} missing"))?
        .try_into()?;
    prog.load()?;
    Ok(prog.fd()?.as_fd().try_clone_to_owned()?)
}

impl DbSlower {
    pub fn attach(target: &Target, min_ns: u64) -> Result<Self> {
        let mut bpf = crate::loader::load_with("dbslower", |l| {
            l.override_global("MIN_NS", &min_ns, true);
        })?;
        // (probe pair, the process it is limited to).
        let mut pairs: Vec<(UsdtProbe, UsdtProbe, Option<u32>)> = Vec::new();
        match target {
            Target::Pids(pids) => {
                for &pid in pids {
                    let probes = usdt::probes(None, Some(pid))?;
                    let at = format!("-p {pid}");
                    pairs.push((
                        one(&probes, "query__start", &at)?,
                        one(&probes, "query__done", &at)?,
                        Some(pid),
                    ));
                }
            }
            Target::Binary(path) => {
                if !Path::new(path).exists() {
                    bail!("-x {path}: no such file");
                }
                let probes = usdt::probes(Some(path), None)?;
                let at = format!("-l {path}");
                pairs.push((
                    one(&probes, "query__start", &at)?,
                    one(&probes, "query__done", &at)?,
                    None,
                ));
            }
        }
        let mut specs: Array<_, lab_probes_common::usdt::UsdtSpec> =
            Array::try_from(bpf.map_mut("SPECS").context("map SPECS missing")?)?;
        let mut locations = 0u32;
        for (start, _, _) in &pairs {
            for loc in &start.locations {
                if locations >= MAX_LOCATIONS {
                    bail!(
                        "more than {MAX_LOCATIONS} query__start locations: trace fewer processes"
                    );
                }
                let spec = loc.kernel_spec().with_context(|| {
                    format!("query__start in {}", usdt::shown_path(&start.path))
                })?;
                if spec.count == 0 {
                    bail!(
                        "query__start in {} has no arguments (the query should be the first)",
                        usdt::shown_path(&start.path)
                    );
                }
                specs.set(locations, spec, 0)?;
                locations += 1;
            }
        }
        let mut links = Vec::new();
        // query__start: cookies number its locations in the order SPECS was filled.
        let fd = loaded_fd(&mut bpf, "dbslower_start")?;
        let mut first = 0u64;
        for (start, _, pid) in &pairs {
            links.extend(usdt::attach(
                fd.as_fd(),
                std::slice::from_ref(start),
                *pid,
                |_, li| first + li as u64,
            )?);
            first += start.locations.len() as u64;
        }
        let fd = loaded_fd(&mut bpf, "dbslower_done")?;
        for (_, done, pid) in &pairs {
            links.extend(usdt::attach(
                fd.as_fd(),
                std::slice::from_ref(done),
                *pid,
                |_, _| 0,
            )?);
        }
        let ring = events::take_ring(&mut bpf)?;
        Ok(Self {
            _links: links,
            ring,
            bpf,
            locations: locations as usize,
        })
    }

    /// Readable when events wait.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }

    /// Call `f` on each waiting slow query.
    pub fn drain(&mut self, mut f: impl FnMut(Query) -> Result<()>) -> Result<usize> {
        events::drain(&mut self.ring, |bytes| {
            let ev: QueryEvent = events::decode(bytes).context("short dbslower record")?;
            f(Query {
                start_ns: ev.start_ns,
                delta_ns: ev.delta_ns,
                pid: ev.pid,
                query: events::cstr(&ev.query),
            })
        })
    }

    pub fn lost(&self) -> Result<u64> {
        events::lost(&self.bpf)
    }
}

crate::events::event_source!(DbSlower => Query);
