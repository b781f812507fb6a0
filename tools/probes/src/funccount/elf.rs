//! User-space function symbols for uprobes: finding a library or executable the way BCC does,
//! and listing its function symbols with their file offsets (what a uprobe attaches to).
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use object::{Object as _, ObjectSegment as _, ObjectSymbol as _, SymbolKind};

/// A function in an ELF file.
#[derive(Debug, Clone)]
pub struct FuncSym {
    pub name: String,
    pub address: u64,
    /// Where the function's first instruction is in the file.
    pub file_offset: u64,
}

/// Defined function symbols of `path` (.symtab and .dynsym), one per address (the first name
/// in symbol-table order wins, so aliases are probed once), sorted by name.
pub fn functions(path: &Path) -> Result<Vec<FuncSym>> {
    let data = map(path)?;
    let file = object::File::parse(&*data)
        .with_context(|| format!("{} is not an ELF file", path.display()))?;
    let segments: Vec<(u64, u64, u64)> = file
        .segments()
        .map(|s| (s.address(), s.size(), s.file_range().0))
        .collect();
    let mut by_addr = std::collections::BTreeMap::new();
    for sym in file.symbols().chain(file.dynamic_symbols()) {
        if sym.kind() != SymbolKind::Text || !sym.is_definition() || sym.address() == 0 {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        if name.is_empty() {
            continue;
        }
        let addr = sym.address();
        let Some(&(seg, _, off)) = segments
            .iter()
            .find(|(a, size, _)| addr >= *a && addr < a + size)
        else {
            continue;
        };
        by_addr.entry(addr).or_insert_with(|| FuncSym {
            name: name.to_owned(),
            address: addr,
            file_offset: addr - seg + off,
        });
    }
    let mut v: Vec<FuncSym> = by_addr.into_values().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// A read-only mapping of a file: only the pages the parser touches (headers, symbol tables,
/// notes) are read, so a 100 MB mysqld costs little memory, and libc's symbols are listed
/// without copying its 2 MB first (a third of funclatency's start-up when it was read whole).
pub(crate) fn map(path: &Path) -> Result<memmap2::Mmap> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: a private read-only mapping; a file rewritten under us could change the bytes
    // parsed, which the parser bounds-checks like any untrusted input.
    unsafe { memmap2::Mmap::map(&f) }.with_context(|| format!("mapping {}", path.display()))
}

/// Names of the shared libraries `path` needs (DT_NEEDED).
pub fn needed(path: &Path) -> Result<Vec<String>> {
    let data = map(path)?;
    let file = object::read::elf::ElfFile64::<object::Endianness>::parse(&*data)
        .with_context(|| format!("{} is not a 64-bit ELF file", path.display()))?;
    let endian = file.endian();
    let mut out = Vec::new();
    use object::read::elf::{Dyn as _, FileHeader as _, SectionHeader as _};
    let sections = file.elf_header().sections(endian, &*data)?;
    for s in sections.iter() {
        let Some((dyns, link)) = s.dynamic(endian, &*data)? else {
            continue;
        };
        let strings = sections.strings(endian, &*data, link)?;
        for d in dyns {
            if d.tag32(endian) == Some(object::elf::DT_NEEDED as i32) {
                if let Ok(name) = d.string(endian, strings) {
                    out.push(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
    }
    Ok(out)
}

/// Find library or executable `lib` like BCC: a path as given; with a PID, the process's
/// mappings (`/proc/PID/maps`: libNAME.so*, or NAME itself); otherwise the ldconfig cache, the
/// standard library directories, then PATH for an executable named NAME.
pub fn resolve_library(lib: &str, pid: Option<u32>) -> Result<PathBuf> {
    if lib.contains('/') {
        let p = PathBuf::from(lib);
        if !p.exists() {
            bail!("library or executable {lib} does not exist");
        }
        return Ok(p);
    }
    let so = format!("lib{lib}.so");
    let is_it = |file: &str| file == lib || file.starts_with(&format!("{so}.")) || file == so;
    if let Some(pid) = pid {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .with_context(|| format!("-p {pid}: reading /proc/{pid}/maps"))?;
        for l in maps.lines() {
            let Some(path) = l.split_whitespace().nth(5) else {
                continue;
            };
            let file = path.rsplit('/').next().unwrap_or(path);
            if path.starts_with('/') && is_it(file) {
                // Through the process's root, so a library in a container resolves too.
                return Ok(PathBuf::from(format!("/proc/{pid}/root{path}")));
            }
        }
    }
    let cache = std::fs::read("/etc/ld.so.cache").unwrap_or_default();
    if let Some((_, path)) = super::ldcache::x86_64_libraries(&cache)
        .into_iter()
        .find(|(name, _)| is_it(name))
    {
        return Ok(PathBuf::from(path));
    }
    for dir in [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
    ] {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut hits: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|f| f != lib && is_it(f)))
            .map(|e| e.path())
            .collect();
        hits.sort();
        if let Some(p) = hits.into_iter().next() {
            return Ok(p);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(lib);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!("cannot find library or executable '{lib}' (give its path, or -p PID of a process using it)")
}
