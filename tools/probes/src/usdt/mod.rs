//! USDT (user statically defined tracing) probes: found from the `.note.stapsdt` notes of a
//! binary or library, or of every object a process has mapped; their argument specs decoded
//! into [`UsdtArg`]s; attached as uprobes with the semaphore raised while attached.
//!
//! - [`probes`]: the probes of a target (`-l LIB`, `-p PID`, or both), [`select`] by pattern;
//! - [`UsdtArg`]: an argument as a register, memory or constant, with pt_regs offsets: the
//!   multi-tools' fetch engine compiles it into its own instructions, and
//!   [`UsdtLocation::kernel_spec`] gives the `#[repr(C)]` form our fixed programs read with
//!   `lab_probes_ebpf::usdt::arg` (dbslower's query string);
//! - [`attach`]: one loaded uprobe program at every location of the selected probes, each
//!   with a cookie the program can look its location up by.
mod args;
mod notes;
mod process;

use std::os::fd::BorrowedFd;

use anyhow::{bail, Context as _, Result};
use lab_probes_common::usdt::{
    UsdtArgSpec, UsdtSpec, USDT_ARG_CONST, USDT_ARG_MEM, USDT_ARG_REG, USDT_MAX_ARGS,
};

pub use args::{parse as parse_arg, reg_name, UsdtArg, UsdtLoc, IP};
pub use notes::{probes_in_file, UsdtLocation, UsdtProbe};
pub use process::{probes_of_pid, shown_path};

use crate::{funccount::Matcher, perf_link::CookieLink};

/// The probes of `lib` (a path, or a name found like BCC finds libraries: in the process's
/// mappings with `pid`, else ldconfig's cache, the library directories, PATH), or with no
/// `lib` of every ELF object process `pid` has mapped.
pub fn probes(lib: Option<&str>, pid: Option<u32>) -> Result<Vec<UsdtProbe>> {
    if let Some(p) = pid {
        process::check_pid(p)?;
    }
    match (lib, pid) {
        (Some(lib), _) => {
            let path = crate::funccount::resolve_library(lib, pid)?;
            let probes = probes_in_file(&path)?;
            if probes.is_empty() {
                bail!(
                    "{} has no USDT probes (no .note.stapsdt notes)",
                    path.display()
                );
            }
            Ok(probes)
        }
        (None, Some(p)) => probes_of_pid(p),
        (None, None) => {
            bail!("USDT probes need a binary or library (-l LIB) or a process (-p PID)")
        }
    }
}

/// The probes whose `provider:name` matches `m` (`*`/`?` wildcards, or a regular
/// expression); a pattern without a colon matches the name alone, as BCC's `u:LIB:NAME`.
pub fn select(probes: &[UsdtProbe], m: &Matcher) -> Vec<UsdtProbe> {
    let whole = m.text().contains(':');
    probes
        .iter()
        .filter(|p| {
            if whole {
                m.matches(&p.short_name())
            } else {
                m.matches(&p.name)
            }
        })
        .cloned()
        .collect()
}

/// [`select`] with a wildcard pattern, or an error naming the pattern and where it looked
/// when nothing matches.
pub fn select_some(probes: &[UsdtProbe], m: &Matcher, looked_in: &str) -> Result<Vec<UsdtProbe>> {
    let found = select(probes, m);
    if found.is_empty() {
        bail!(
            "no USDT probe matches '{}' in {looked_in} (tplist {looked_in} lists its probes)",
            m.text()
        );
    }
    Ok(found)
}

impl UsdtArg {
    /// The form the kernel half reads (`lab_probes_ebpf::usdt::arg`).
    pub fn kernel_spec(&self) -> UsdtArgSpec {
        let mut s = UsdtArgSpec {
            size: self.size,
            signed: self.signed.into(),
            ..Default::default()
        };
        match self.loc {
            UsdtLoc::Const(v) => {
                s.kind = USDT_ARG_CONST;
                s.disp = v;
            }
            UsdtLoc::Reg(off) => {
                s.kind = USDT_ARG_REG;
                s.reg = off as u16;
            }
            UsdtLoc::Mem { base, disp, index } => {
                s.kind = USDT_ARG_MEM;
                s.reg = base as u16;
                s.disp = disp;
                if let Some((ix, scale)) = index {
                    s.index = ix as u16;
                    s.scale = scale;
                }
            }
        }
        s
    }
}

impl UsdtLocation {
    /// Every argument in the kernel half's form; an error when the note's specs could not be
    /// decoded.
    pub fn kernel_spec(&self) -> Result<UsdtSpec> {
        if let Some(e) = &self.arg_error {
            bail!("{e}");
        }
        if self.args.len() > USDT_MAX_ARGS {
            bail!(
                "{} arguments; at most {USDT_MAX_ARGS} are read",
                self.args.len()
            );
        }
        let mut spec = UsdtSpec {
            count: self.args.len() as u32,
            ..Default::default()
        };
        for (i, a) in self.args.iter().enumerate() {
            spec.args[i] = a.kernel_spec();
        }
        Ok(spec)
    }
}

/// Attach `prog` (a loaded uprobe program) at every location of `probes`, the cookie of each
/// from `cookie(probe index, location index)`; `pid` limits the probes (and the semaphores)
/// to one process. Dropping the links detaches and lowers the semaphores.
pub fn attach(
    prog: BorrowedFd<'_>,
    probes: &[UsdtProbe],
    pid: Option<u32>,
    mut cookie: impl FnMut(usize, usize) -> u64,
) -> Result<Vec<CookieLink>> {
    let mut links = Vec::new();
    for (pi, p) in probes.iter().enumerate() {
        for (li, loc) in p.locations.iter().enumerate() {
            let link = crate::perf_link::attach_uprobe(
                prog,
                &p.path,
                loc.file_offset,
                p.semaphore_offset,
                pid,
                cookie(pi, li),
            )
            .with_context(|| {
                format!(
                    "attaching to USDT probe {} in {}",
                    p.short_name(),
                    shown_path(&p.path)
                )
            })?;
            links.push(link);
        }
    }
    Ok(links)
}
