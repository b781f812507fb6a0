//! Addresses to symbols with offset and module, as BCC's `sym(addr, pid, show_module=True,
//! show_offset=True)` prints them (`do_sys_openat2+0x5 [kernel]`, `malloc+0x0 [libc.so.6]`):
//! trace's stacks, %K and %U. Resolved in batches and cached; kernel addresses through a
//! kallsyms cut down to them (see kallsyms.rs).
use std::{collections::HashMap, os::fd::AsRawFd as _};

use blazesym::{
    symbolize::{
        source::{Kernel, Process, Source},
        Input, Symbolized, Symbolizer,
    },
    MaybeDefault, Pid,
};

/// A resolved address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The function, or None where no symbol covers the address.
    pub name: Option<String>,
    pub offset: u64,
    /// File name of the module ("kernel" for the kernel).
    pub module: String,
}

impl Resolved {
    /// BCC's rendering: `name[+0xOFF][ [module]]`, `[unknown]` without a symbol.
    pub fn bcc(&self, offset: bool, module: bool) -> String {
        let mut s = match &self.name {
            Some(n) if offset => format!("{n}+0x{:x}", self.offset),
            Some(n) => n.clone(),
            None => crate::stacks::UNKNOWN.to_owned(),
        };
        if module && !self.module.is_empty() {
            s.push_str(&format!(" [{}]", self.module));
        }
        s
    }
}

/// Cached kernel and per-process symbols.
pub struct Symbols {
    /// For processes: blazesym caches the files it parsed (a library many processes map).
    inner: Symbolizer,
    kernel: HashMap<u64, Resolved>,
    user: HashMap<(u32, u64), Resolved>,
}

impl Default for Symbols {
    fn default() -> Self {
        Self {
            inner: Symbolizer::new(),
            kernel: HashMap::new(),
            user: HashMap::new(),
        }
    }
}

impl Symbols {
    /// Resolve kernel addresses not resolved yet (one kallsyms pass for all of them).
    pub fn load_kernel(&mut self, addrs: impl IntoIterator<Item = u64>) {
        let mut todo: Vec<u64> = addrs
            .into_iter()
            .filter(|a| !self.kernel.contains_key(a))
            .collect();
        todo.sort_unstable();
        todo.dedup();
        if todo.is_empty() {
            return;
        }
        let resolved = match crate::kallsyms::subset_file(&todo) {
            Ok(file) => {
                let src = Source::Kernel(Kernel {
                    kallsyms: MaybeDefault::Some(
                        format!("/proc/self/fd/{}", file.as_raw_fd()).into(),
                    ),
                    vmlinux: MaybeDefault::None,
                    debug_syms: false,
                    ..Default::default()
                });
                // A fresh symbolizer: blazesym caches by path, and the next cut may reuse
                // this fd number.
                resolve(&Symbolizer::new(), &src, &todo, "kernel")
            }
            Err(_) => vec![unknown("kernel"); todo.len()],
        };
        self.kernel.extend(todo.into_iter().zip(resolved));
    }

    /// Resolve addresses of process `tgid` not resolved yet (its mappings must still exist).
    pub fn load_user(&mut self, tgid: u32, addrs: impl IntoIterator<Item = u64>) {
        let mut todo: Vec<u64> = addrs
            .into_iter()
            .filter(|a| !self.user.contains_key(&(tgid, *a)))
            .collect();
        todo.sort_unstable();
        todo.dedup();
        if todo.is_empty() {
            return;
        }
        let mut p = Process::new(Pid::from(tgid));
        p.debug_syms = false;
        let resolved = resolve(&self.inner, &Source::Process(p), &todo, "");
        self.user
            .extend(todo.into_iter().map(|a| (tgid, a)).zip(resolved));
    }

    pub fn kernel(&self, addr: u64) -> Resolved {
        self.kernel
            .get(&addr)
            .cloned()
            .unwrap_or_else(|| unknown("kernel"))
    }

    pub fn user(&self, tgid: u32, addr: u64) -> Resolved {
        self.user
            .get(&(tgid, addr))
            .cloned()
            .unwrap_or_else(|| unknown(""))
    }
}

fn unknown(module: &str) -> Resolved {
    Resolved {
        name: None,
        offset: 0,
        module: module.to_owned(),
    }
}

fn resolve(sym: &Symbolizer, src: &Source, addrs: &[u64], module: &str) -> Vec<Resolved> {
    match sym.symbolize(src, Input::AbsAddr(addrs)) {
        Ok(v) => v
            .into_iter()
            .map(|s| match s {
                Symbolized::Sym(sym) => Resolved {
                    name: Some(sym.name.into_owned()),
                    offset: sym.offset as u64,
                    module: if module.is_empty() {
                        sym.module
                            .as_deref()
                            .map(|m| {
                                std::path::Path::new(m)
                                    .file_name()
                                    .unwrap_or(m)
                                    .to_string_lossy()
                                    .into_owned()
                            })
                            .unwrap_or_default()
                    } else {
                        module.to_owned()
                    },
                },
                Symbolized::Unknown(_) => unknown(module),
            })
            .collect(),
        Err(_) => vec![unknown(module); addrs.len()],
    }
}
