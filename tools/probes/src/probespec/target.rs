//! From a probe's head to where it attaches and what its names mean: kernel functions (typed by
//! BTF, or by the signature the user wrote), user functions (ELF symbols), tracepoints (their
//! format files), USDT probes.
use std::path::PathBuf;

use super::{
    ctype::{Type, Types, LONG},
    scope::{At, Field, Scope},
    spec::{Head, Kind, Param},
    SpecError,
};
use crate::{funccount::elf, probevm::Hook, tracefs};

/// This kernel cannot attach the probe (no kprobes): the tools exit 2 with the message.
pub use crate::funccount::Unsupported;

/// A probe resolved against this machine.
#[derive(Debug, Clone)]
pub struct Target {
    pub hook: Hook,
    pub scope: Scope,
    /// What trace's FUNC column shows: the function, event or USDT probe name.
    pub display: String,
}

/// Resolve `head` (with the signature the user wrote, if any); `pid` finds libraries in a
/// process's mappings. Unknown names are SpecErrors at their position. One target, except for
/// a USDT probe: one per location (each has its own argument specs).
pub fn resolve(
    head: &Head,
    sig: Option<&[Param]>,
    types: &Types,
    pid: Option<u32>,
) -> anyhow::Result<Vec<Target>> {
    Ok(match head.kind {
        Kind::Tracepoint => vec![tracepoint(head, types)?],
        Kind::Usdt => usdt(head, types, pid)?,
        _ if head.lib.is_empty() => vec![kernel(head, sig, types)?],
        _ => vec![user(head, sig, types, pid)?],
    })
}

/// `u:LIB:[PROVIDER:]PROBE`: every location of the USDT probe, in LIB or (no LIB) in what
/// process `pid` maps. A name that is no USDT probe but a function of LIB is traced as the
/// function (a uprobe), as `p:LIB:NAME` would.
fn usdt(head: &Head, types: &Types, pid: Option<u32>) -> anyhow::Result<Vec<Target>> {
    let lib = (!head.lib.is_empty()).then_some(head.lib.as_str());
    let all =
        crate::usdt::probes(lib, pid).map_err(|e| SpecError::at(head.lib_pos, format!("{e:#}")));
    let matcher = crate::funccount::Matcher::Glob(head.func.clone());
    let found = match &all {
        Ok(all) => crate::usdt::select(all, &matcher),
        Err(_) => Vec::new(),
    };
    if found.is_empty() {
        if lib.is_some() {
            let as_function = Head {
                kind: Kind::Entry,
                ..head.clone()
            };
            if let Ok(t) = user(&as_function, None, types, pid) {
                return Ok(vec![t]);
            }
        }
        all?;
        let looked = lib
            .map(|l| format!("-l {l}"))
            .unwrap_or_else(|| format!("-p {}", pid.unwrap_or(0)));
        return Err(SpecError::at(
            head.func_pos,
            format!(
                "no USDT probe '{}' (tplist {looked} lists the probes)",
                head.func
            ),
        )
        .into());
    }
    let mut out = Vec::new();
    for p in found {
        for loc in &p.locations {
            let mut scope = Scope::new(At::Usdt);
            scope.usdt = loc.args.clone();
            scope.usdt_error = loc.arg_error.clone();
            let one = crate::usdt::UsdtProbe {
                locations: vec![loc.clone()],
                ..p.clone()
            };
            out.push(Target {
                hook: Hook::Usdt(Box::new(one)),
                scope,
                display: head.func.clone(),
            });
        }
    }
    Ok(out)
}

fn scope_at(head: &Head) -> Scope {
    let mut s = Scope::new(if head.kind == Kind::Return {
        At::Return
    } else {
        At::Entry
    });
    s.entry_saved = head.kind == Kind::Return;
    s
}

/// Parameters from a signature the user wrote.
fn declared(sig: &[Param], types: &Types) -> Result<Vec<(String, Type)>, SpecError> {
    sig.iter()
        .map(|p| {
            let t = types.named(&p.ty).map_err(|m| SpecError::at(p.ty.pos, m))?;
            Ok((p.name.clone(), t))
        })
        .collect()
}

fn kernel(head: &Head, sig: Option<&[Param]>, types: &Types) -> anyhow::Result<Target> {
    let mut scope = scope_at(head);
    let proto = match types.btf {
        Some(btf) => btf.func(&head.func)?,
        None => None,
    };
    match &proto {
        Some((ret, params)) => {
            scope.ret = types.from_btf(*ret);
            scope.params = params
                .iter()
                .map(|p| (p.name.clone(), types.from_btf(p.type_id)))
                .collect();
        }
        None if !traceable(&head.func) => {
            let renamed = format!("{}_noprof", head.func);
            let hint = if traceable(&renamed) {
                format!(" (renamed {renamed} in Linux 6.10)")
            } else {
                String::new()
            };
            return Err(SpecError::at(
                head.func_pos,
                format!("unknown kernel function '{}'{hint}", head.func),
            )
            .into());
        }
        None => {}
    }
    if let Some(sig) = sig {
        scope.params = declared(sig, types)?;
    }
    let hook = match head.kind {
        Kind::Return => Hook::Kretprobe {
            func: head.func.clone(),
        },
        _ => Hook::Kprobe {
            func: head.func.clone(),
            offset: head.offset,
        },
    };
    Ok(Target {
        hook,
        scope,
        display: head.func.clone(),
    })
}

/// Fail with [`Unsupported`] when this kernel cannot attach `hook` (kprobes missing). Called
/// after the whole spec compiled, so mistakes in it are reported on any kernel.
pub fn check_hook(hook: &Hook) -> Result<(), Unsupported> {
    match hook {
        Hook::Kprobe { func, .. } | Hook::Kretprobe { func } if !crate::funccount::kprobes_available() => {
            Err(Unsupported(format!(
                "'{func}' needs kprobes, and this kernel is built without CONFIG_KPROBES; the lab VMs (Debian 12/13) have them (t: tracepoint and u: user-function probes work here)"
            )))
        }
        _ => Ok(()),
    }
}

/// Whether kprobes could trace kernel function `name` (tracefs' list, else kallsyms).
fn traceable(name: &str) -> bool {
    let root = tracefs::root().unwrap_or_else(|| PathBuf::from(tracefs::TRACEFS));
    let list = std::fs::read_to_string(root.join("available_filter_functions"))
        .or_else(|_| std::fs::read_to_string("/proc/kallsyms"))
        .unwrap_or_default();
    list.lines().any(|l| {
        let mut f = l.split_whitespace();
        let first = f.next();
        first == Some(name)
            || (f.next().is_some_and(|t| matches!(t, "t" | "T")) && f.next() == Some(name))
    })
}

fn user(
    head: &Head,
    sig: Option<&[Param]>,
    types: &Types,
    pid: Option<u32>,
) -> anyhow::Result<Target> {
    let path = elf::resolve_library(&head.lib, pid)
        .map_err(|e| SpecError::at(head.lib_pos, format!("{e:#}")))?;
    let syms = elf::functions(&path)?;
    let Some(sym) = syms.iter().find(|s| s.name == head.func) else {
        return Err(SpecError::at(
            head.func_pos,
            format!("no function '{}' in {}", head.func, path.display()),
        )
        .into());
    };
    let mut scope = scope_at(head);
    scope.ret = LONG;
    if let Some(sig) = sig {
        scope.params = declared(sig, types)?;
    }
    let offset = sym.file_offset + head.offset;
    let hook = match head.kind {
        Kind::Return => Hook::Uretprobe { path, offset },
        _ => Hook::Uprobe { path, offset },
    };
    Ok(Target {
        hook,
        scope,
        display: head.func.clone(),
    })
}

fn tracepoint(head: &Head, types: &Types) -> anyhow::Result<Target> {
    let (root, _) = tracefs::mount_if_missing()?;
    let (cat, event) = (&head.lib, &head.func);
    if !tracefs::tracepoint_exists(&root, cat, event) {
        return Err(SpecError::at(
            head.lib_pos,
            format!(
                "unknown tracepoint {cat}:{event} (see {}/available_events)",
                root.display()
            ),
        )
        .into());
    }
    let mut scope = Scope::new(At::Tracepoint);
    scope.fields = tracefs::fields(&root, cat, event)?
        .into_iter()
        .map(|f| Field {
            ty: types.from_decl(&f.ty, f.size, f.signed),
            name: f.name,
            offset: f.offset,
        })
        .collect();
    let hook = Hook::Tracepoint {
        category: cat.clone(),
        name: event.clone(),
    };
    Ok(Target {
        hook,
        scope,
        display: event.clone(),
    })
}
