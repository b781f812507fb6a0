//! Reading USDT probes from an ELF file's `.note.stapsdt` notes (SystemTap SDT v3, what
//! `<sys/sdt.h>`, the `probe` crate and DTrace-compatible builds such as MySQL's emit).
//!
//! Each note (owner "stapsdt", type 3) holds three addresses, then three strings:
//! the probe's address, the link-time address of `.stapsdt.base`, the semaphore's address (0:
//! none), then provider, name and the argument specs. When the file was prelinked, the
//! `.stapsdt.base` section has moved: the difference moves the probe and its semaphore too.
//! A uprobe attaches by file offset, so each address is turned into one through the loadable
//! segment that holds it.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use object::{
    read::elf::{ElfFile64, FileHeader as _, ProgramHeader as _, SectionHeader as _},
    Endianness, Object as _, ObjectSection as _, ObjectSymbol as _,
};

use super::args::{self, UsdtArg};

const NT_STAPSDT: u32 = 3;

/// One place in the code where a probe fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdtLocation {
    /// Link-time virtual address of the probe's nop.
    pub address: u64,
    /// Where that nop is in the file (what a uprobe attaches to).
    pub file_offset: u64,
    /// The note's argument specs, as written (`-4@%edi 8@-8(%rbp)`).
    pub arg_text: String,
    /// Decoded; empty when `arg_error` says why they could not be.
    pub args: Vec<UsdtArg>,
    pub arg_error: Option<String>,
}

/// A USDT probe of one ELF file: every location of `provider:name` in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdtProbe {
    pub provider: String,
    pub name: String,
    /// The file, as it was found (for a process: through /proc/PID/root).
    pub path: PathBuf,
    /// Link-time address of the semaphore (0: the probe has none).
    pub semaphore: u64,
    /// The semaphore's file offset (the uprobe's reference counter offset); 0: none.
    pub semaphore_offset: u64,
    pub locations: Vec<UsdtLocation>,
}

impl UsdtProbe {
    /// `provider:name`, as tplist prints and patterns match.
    pub fn short_name(&self) -> String {
        format!("{}:{}", self.provider, self.name)
    }

    /// Arguments per location (every location of a probe has the same number).
    pub fn arg_count(&self) -> usize {
        self.locations
            .first()
            .map_or(0, |l| l.arg_text.split_whitespace().count())
    }
}

/// Every USDT probe in the ELF file at `path`, in note order, locations grouped by probe.
pub fn probes_in_file(path: &Path) -> Result<Vec<UsdtProbe>> {
    let data = crate::funccount::elf::map(path)?;
    let elf = ElfFile64::<Endianness>::parse(&*data)
        .with_context(|| format!("{} is not a 64-bit ELF file", path.display()))?;
    let endian = elf.endian();
    let base_addr = elf.section_by_name(".stapsdt.base").map(|s| s.address());
    let loads: Vec<(u64, u64, u64)> = elf
        .elf_program_headers()
        .iter()
        .filter(|p| p.p_type(endian) == object::elf::PT_LOAD)
        .map(|p| {
            (
                p.p_vaddr(endian),
                p.p_filesz(endian).max(p.p_memsz(endian)),
                p.p_offset(endian),
            )
        })
        .collect();
    let file_offset = |addr: u64| {
        loads
            .iter()
            .find(|(va, size, _)| addr >= *va && addr < va + size)
            .map(|(va, _, off)| addr - va + off)
    };
    let mut probes: Vec<UsdtProbe> = Vec::new();
    let sections = elf.elf_header().sections(endian, &*data)?;
    for s in sections.iter() {
        let Some(mut notes) = s.notes(endian, &*data)? else {
            continue;
        };
        while let Some(note) = notes.next()? {
            let Some(n) = parse_note(note.name(), note.n_type(endian), note.desc())? else {
                continue;
            };
            let delta = match base_addr {
                Some(b) if n.base != 0 => b.wrapping_sub(n.base),
                _ => 0,
            };
            let address = n.pc.wrapping_add(delta);
            let Some(off) = file_offset(address) else {
                bail!(
                    "{}: probe {}:{} at {address:#x} is in no loadable segment",
                    path.display(),
                    n.provider,
                    n.name
                );
            };
            let semaphore = if n.sema == 0 {
                0
            } else {
                n.sema.wrapping_add(delta)
            };
            let semaphore_offset = if semaphore == 0 {
                0
            } else {
                file_offset(semaphore).unwrap_or(0)
            };
            let global =
                |sym: &str| symbol_address(&elf, sym).map(|a| a.wrapping_sub(address) as i64);
            let (args, arg_error) = match args::parse_all(&n.args, &global) {
                Ok(a) => (a, None),
                Err(e) => (Vec::new(), Some(format!("{e:#}"))),
            };
            let loc = UsdtLocation {
                address,
                file_offset: off,
                arg_text: n.args.clone(),
                args,
                arg_error,
            };
            match probes
                .iter_mut()
                .find(|p| p.provider == n.provider && p.name == n.name)
            {
                Some(p) => p.locations.push(loc),
                None => probes.push(UsdtProbe {
                    provider: n.provider,
                    name: n.name,
                    path: path.to_path_buf(),
                    semaphore,
                    semaphore_offset,
                    locations: vec![loc],
                }),
            }
        }
    }
    Ok(probes)
}

struct Note {
    pc: u64,
    base: u64,
    sema: u64,
    provider: String,
    name: String,
    args: String,
}

/// A stapsdt note's fields; None for notes of other owners or types.
fn parse_note(owner: &[u8], ty: u32, desc: &[u8]) -> Result<Option<Note>> {
    if owner != b"stapsdt" || ty != NT_STAPSDT {
        return Ok(None);
    }
    if desc.len() < 24 {
        bail!("a stapsdt note of {} bytes is too short", desc.len());
    }
    let word = |i: usize| u64::from_le_bytes(desc[i * 8..i * 8 + 8].try_into().unwrap());
    let mut strings = desc[24..]
        .split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned());
    let (Some(provider), Some(name)) = (strings.next(), strings.next()) else {
        bail!("a stapsdt note without provider and name");
    };
    Ok(Some(Note {
        pc: word(0),
        base: word(1),
        sema: word(2),
        provider,
        name,
        args: strings.next().unwrap_or_default(),
    }))
}

/// A named global's link-time address (.symtab, then .dynsym).
fn symbol_address(elf: &ElfFile64<'_, Endianness>, name: &str) -> Option<u64> {
    elf.symbols()
        .chain(elf.dynamic_symbols())
        .find(|s| s.name() == Ok(name) && s.is_definition())
        .map(|s| s.address())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usdt::UsdtLoc;

    /// Probes in this test binary (the `probe` crate writes SystemTap v3 notes): their
    /// arguments are in registers (`-8@%rax` ...), the lazy one has a semaphore.
    #[inline(never)]
    fn fire(n: i64) -> bool {
        probe::probe!(labtest, plain);
        probe::probe!(labtest, two_args, n, n * 2);
        probe::probe_lazy!(labtest, guarded, n)
    }

    #[test]
    fn reads_this_binarys_probes() {
        assert!(!fire(1), "no tracer: the semaphore is 0");
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let probes = probes_in_file(&exe).unwrap();
        let get = |n: &str| {
            probes
                .iter()
                .find(|p| p.provider == "labtest" && p.name == n)
                .unwrap()
        };
        let plain = get("plain");
        assert_eq!((plain.arg_count(), plain.semaphore), (0, 0));
        let two = get("two_args");
        assert_eq!(two.arg_count(), 2);
        for loc in &two.locations {
            assert_eq!(loc.args.len(), 2, "{loc:?}");
            for a in &loc.args {
                assert!(
                    (a.size, a.signed) == (8, true) && matches!(a.loc, UsdtLoc::Reg(_)),
                    "{a:?}"
                );
            }
            assert!(loc.file_offset > 0 && loc.file_offset <= loc.address);
        }
        let guarded = get("guarded");
        assert!(
            guarded.semaphore != 0 && guarded.semaphore_offset != 0,
            "{guarded:?}"
        );
    }

    #[test]
    fn a_non_elf_file_is_an_error_naming_it() {
        let tmp = std::env::temp_dir().join(format!("lab-usdt-notelf-{}", std::process::id()));
        std::fs::write(&tmp, b"not an ELF file").unwrap();
        let e = probes_in_file(&tmp).unwrap_err().to_string();
        assert!(
            e.contains("not a 64-bit ELF") && e.contains(&*tmp.to_string_lossy()),
            "{e}"
        );
        std::fs::remove_file(&tmp).unwrap();
    }
}
