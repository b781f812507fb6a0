//! bashreadline's user half: find where bash's readline lives (in the bash binary, or the
//! libreadline it links), attach a uretprobe to `readline_internal_teardown` (bash 5.2+'s
//! readline returns the line from there before bash can change it) or else `readline`, and
//! stream the lines.
use std::{
    os::fd::{AsFd as _, BorrowedFd},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};
use aya::{
    maps::{MapData, RingBuf},
    programs::{
        uprobe::{UProbeAttachLocation, UProbeScope},
        UProbe,
    },
    Ebpf,
};
use lab_probes_common::funccount::ReadlineEvent;

use crate::{
    events,
    funccount::{functions, needed, resolve_library},
};

/// The function whose return value is the line (preferred first).
pub const FUNCTIONS: &[&str] = &["readline_internal_teardown", "readline"];

/// Where the uretprobe goes.
#[derive(Debug, Clone)]
pub struct Target {
    pub path: PathBuf,
    pub function: String,
    pub file_offset: u64,
}

/// Find readline for `bash` (its own symbols, else its DT_NEEDED libreadline), or in `shared`.
pub fn find_target(bash: &Path, shared: Option<&Path>) -> Result<Target> {
    let path = match shared {
        Some(s) => {
            if !s.exists() {
                bail!("-s {}: no such file", s.display());
            }
            s.to_path_buf()
        }
        None => {
            if !bash.exists() {
                bail!("{}: no such file (is bash installed?)", bash.display());
            }
            let own = functions(bash)?;
            if own.iter().any(|f| FUNCTIONS.contains(&f.name.as_str())) {
                bash.to_path_buf()
            } else {
                let lib = needed(bash)?
                    .into_iter()
                    .find(|n| n.starts_with("libreadline.so"))
                    .with_context(|| {
                        format!(
                            "{} has no readline symbol and does not link libreadline: give the library with -s",
                            bash.display()
                        )
                    })?;
                resolve_library("readline", None)
                    .with_context(|| format!("{} needs {lib}", bash.display()))?
            }
        }
    };
    let syms = functions(&path)?;
    for want in FUNCTIONS {
        if let Some(f) = syms.iter().find(|f| f.name == *want) {
            return Ok(Target {
                path,
                function: f.name.clone(),
                file_offset: f.file_offset,
            });
        }
    }
    bail!(
        "{} has neither {} (stripped, or not readline?)",
        path.display(),
        FUNCTIONS.join(" nor ")
    )
}

/// One line a bash returned from readline.
#[derive(Debug, Clone)]
pub struct Line {
    pub pid: u32,
    pub comm: String,
    pub line: String,
}

pub struct BashReadline {
    bpf: Ebpf,
    ring: RingBuf<MapData>,
    pub target: Target,
}

impl BashReadline {
    pub fn attach(target: Target) -> Result<Self> {
        let mut bpf = crate::loader::load("bashreadline")?;
        let prog: &mut UProbe = bpf
            .program_mut("bashreadline")
            .context("program bashreadline missing")?
            .try_into()?;
        prog.load()?;
        prog.attach(
            UProbeAttachLocation::AbsoluteOffset(target.file_offset),
            &target.path,
            UProbeScope::AllProcesses,
        )
        .with_context(|| {
            format!(
                "attaching a uretprobe to {}:{}",
                target.path.display(),
                target.function
            )
        })?;
        let ring = events::take_ring(&mut bpf)?;
        Ok(Self { bpf, ring, target })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }

    /// Lines dropped because the ring buffer was full.
    pub fn lost(&self) -> Result<u64> {
        events::lost(&self.bpf)
    }

    pub fn drain(&mut self, mut f: impl FnMut(Line) -> Result<()>) -> Result<usize> {
        events::drain(&mut self.ring, |bytes| {
            let e: ReadlineEvent = events::decode(bytes).context("short bashreadline record")?;
            f(Line {
                pid: e.pid,
                comm: events::cstr(&e.comm),
                line: events::cstr(&e.line),
            })
        })
    }
}

events::event_source!(BashReadline => Line);
