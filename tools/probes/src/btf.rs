//! Just enough of the BPF Type Format to find struct member offsets in the running kernel's
//! /sys/kernel/btf/vmlinux (aya 0.14 keeps its BTF member accessors private). Used where a probe
//! must follow kernel pointers (runqlen): offsets are looked up by name at load time, so a
//! renamed or moved field is an error naming it, never a silent wrong read.
//!
//! Lean on purpose: vmlinux BTF is ~5.5 MB (3 MB of types, 2.3 MB of strings) and a tool needs a
//! handful of members. One streamed pass indexes where each type record starts; records and
//! strings are then read on demand with pread, and a name is matched as string-section offsets
//! found by streaming the strings once per name. Parsing it all into Strings cost runqlen 40 ms
//! and 20 MiB.
use std::{
    cell::RefCell,
    collections::HashMap,
    fs::File,
    io::{BufReader, Read, Seek, SeekFrom},
    os::unix::fs::FileExt,
    path::Path,
};

use anyhow::{bail, Context as _, Result};

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

const KIND_PTR: u32 = 2;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_TYPE_TAG: u32 = 18;

/// Bytes that follow a type's 12-byte header, by kind (BTF spec, "Type Encoding").
fn extra_len(kind: u32, vlen: u32) -> u32 {
    match kind {
        1 => 4,  // INT
        3 => 12, // ARRAY
        KIND_STRUCT | KIND_UNION => vlen * 12,
        6 => vlen * 8,   // ENUM
        13 => vlen * 8,  // FUNC_PROTO
        14 => 4,         // VAR
        15 => vlen * 12, // DATASEC
        17 => 4,         // DECL_TAG
        19 => vlen * 12, // ENUM64
        _ => 0,          // PTR, FWD, TYPEDEF, qualifiers, FUNC, FLOAT, TYPE_TAG
    }
}

/// A type's header.
#[derive(Debug, Clone, Copy)]
struct Header {
    name_off: u32,
    kind: u32,
    vlen: u32,
    kind_flag: bool,
    /// Referenced type for PTR/TYPEDEF/CONST/..., size for STRUCT/UNION.
    size_or_type: u32,
}

impl Header {
    fn decode(b: &[u8; 12]) -> Self {
        let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let info = u(4);
        Self {
            name_off: u(0),
            kind: (info >> 24) & 0x1f,
            vlen: info & 0xffff,
            kind_flag: info >> 31 == 1,
            size_or_type: u(8),
        }
    }
}

/// An indexed BTF file; types and names are read from it on demand.
pub struct Btf {
    file: File,
    types_start: u64,
    strs_start: u64,
    strs_len: u64,
    /// Offset of each type's record in the type section, by type id (id 0 is void).
    at: Vec<u32>,
    /// (name offset, type id) of every named struct, in id order.
    structs: Vec<(u32, u32)>,
    /// Offsets in the string section where each looked-up name occurs.
    names: RefCell<HashMap<String, Vec<u32>>>,
}

/// A member found by `Btf::member`: its byte offset in the outer struct and its type id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberAt {
    pub offset: u32,
    pub type_id: u32,
}

impl Btf {
    pub fn vmlinux() -> Result<Self> {
        Self::open(Path::new(VMLINUX)).with_context(|| {
            format!("reading {VMLINUX} (kernel built without CONFIG_DEBUG_INFO_BTF?)")
        })
    }

    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Self::index(file).with_context(|| format!("parsing {}", path.display()))
    }

    /// Index BTF from an open file (a memfd in the fuzz target; `open` names the path in errors).
    pub fn from_file(file: File) -> Result<Self> {
        Self::index(file)
    }

    fn index(file: File) -> Result<Self> {
        let mut hdr = [0u8; 24];
        file.read_exact_at(&mut hdr, 0)
            .context("truncated BTF header")?;
        let u32_at = |o: usize| u32::from_le_bytes(hdr[o..o + 4].try_into().unwrap());
        if u16::from_le_bytes([hdr[0], hdr[1]]) != 0xeb9f {
            bail!("not little-endian BTF (bad magic)");
        }
        let hdr_len = u64::from(u32_at(4));
        let (type_off, type_len) = (u64::from(u32_at(8)), u32_at(12));
        let types_start = hdr_len + type_off;
        let mut reader = BufReader::with_capacity(64 << 10, &file);
        reader.seek(SeekFrom::Start(types_start))?;
        let mut at = vec![0];
        let mut structs = Vec::new();
        let mut p = 0u32;
        let mut rec = [0u8; 12];
        while p < type_len {
            reader
                .read_exact(&mut rec)
                .context("truncated BTF type section")?;
            let h = Header::decode(&rec);
            if h.kind == KIND_STRUCT && h.name_off != 0 {
                structs.push((h.name_off, at.len() as u32));
            }
            at.push(p);
            let extra = extra_len(h.kind, h.vlen);
            reader.seek_relative(i64::from(extra))?;
            p += 12 + extra;
        }
        Ok(Self {
            types_start,
            strs_start: hdr_len + u64::from(u32_at(16)),
            strs_len: u64::from(u32_at(20)),
            at,
            structs,
            names: RefCell::default(),
            file,
        })
    }

    fn header(&self, id: u32) -> Option<Header> {
        let off = *self.at.get(id as usize).filter(|_| id != 0)?;
        let mut b = [0u8; 12];
        self.file
            .read_exact_at(&mut b, self.types_start + u64::from(off))
            .ok()?;
        Some(Header::decode(&b))
    }

    /// (name offset, type id, bit offset) of each member of struct/union `id`.
    fn members(&self, id: u32) -> Vec<(u32, u32, u32)> {
        let Some(h) = self.header(id) else {
            return vec![];
        };
        if !matches!(h.kind, KIND_STRUCT | KIND_UNION) {
            return vec![];
        }
        let mut b = vec![0u8; h.vlen as usize * 12];
        let start = self.types_start + u64::from(self.at[id as usize]) + 12;
        if self.file.read_exact_at(&mut b, start).is_err() {
            return vec![];
        }
        b.chunks_exact(12)
            .map(|m| {
                let u = |i: usize| u32::from_le_bytes(m[i..i + 4].try_into().unwrap());
                let off = u(8);
                (
                    u(0),
                    u(4),
                    if h.kind_flag { off & 0x00ff_ffff } else { off },
                )
            })
            .collect()
    }

    /// Where `name` occurs in the string section (usually once: vmlinux strings are deduped).
    fn name_offsets(&self, name: &str) -> Result<Vec<u32>> {
        self.prefetch(&[name])?;
        Ok(self.names.borrow()[name].clone())
    }

    /// Find where each of `names` occurs in one pass over the string section (sysfs hands out
    /// 4 KiB per read, so a pass is ~570 reads); later lookups of these names are free.
    pub fn prefetch(&self, names: &[&str]) -> Result<()> {
        let todo: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !self.names.borrow().contains_key(*n))
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        // Search for "\0name\0" in windows that overlap by the longest needle.
        let needles: Vec<Vec<u8>> = todo
            .iter()
            .map(|n| [&[0u8][..], n.as_bytes(), &[0]].concat())
            .collect();
        let finders: Vec<_> = needles.iter().map(memchr::memmem::Finder::new).collect();
        let mut found = vec![Vec::new(); todo.len()];
        let keep = needles.iter().map(Vec::len).max().unwrap_or(1) - 1;
        let mut buf = vec![0u8; (64 << 10).max(keep * 2)];
        let (mut filled, mut base) = (0usize, 0u64); // base: string offset of buf[0]
        let mut pos = 0u64;
        while pos < self.strs_len {
            let want = (buf.len() - filled).min((self.strs_len - pos) as usize);
            let n = self
                .file
                .read_at(&mut buf[filled..filled + want], self.strs_start + pos)?;
            if n == 0 {
                bail!("truncated BTF string section");
            }
            pos += n as u64;
            filled += n;
            if filled < buf.len() && pos < self.strs_len {
                continue; // sysfs reads 4 KiB at a time: search full windows only
            }
            for (finder, found) in finders.iter().zip(&mut found) {
                for i in finder.find_iter(&buf[..filled]) {
                    let off = (base + i as u64 + 1) as u32;
                    if !found.contains(&off) {
                        found.push(off);
                    }
                }
            }
            if filled > keep {
                buf.copy_within(filled - keep..filled, 0);
                base += (filled - keep) as u64;
                filled = keep;
            }
        }
        let mut names = self.names.borrow_mut();
        for (name, offs) in todo.into_iter().zip(found) {
            names.insert(name.to_owned(), offs);
        }
        Ok(())
    }

    /// The string at `off` in the string section.
    fn name(&self, off: u32) -> String {
        let mut out = Vec::new();
        let mut chunk = [0u8; 64];
        let mut at = self.strs_start + u64::from(off);
        while let Ok(n) = self.file.read_at(&mut chunk, at) {
            if n == 0 {
                break;
            }
            match chunk[..n].iter().position(|&b| b == 0) {
                Some(end) => {
                    out.extend_from_slice(&chunk[..end]);
                    break;
                }
                None => out.extend_from_slice(&chunk[..n]),
            }
            at += n as u64;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Follow typedefs and qualifiers.
    fn strip(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.header(id) {
                Some(h)
                    if matches!(
                        h.kind,
                        KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
                    ) =>
                {
                    id = h.size_or_type
                }
                _ => break,
            }
        }
        id
    }

    /// The first struct named `name` (later ones are the same struct in a split module).
    fn struct_id(&self, name: &str) -> Result<Option<u32>> {
        let offs = self.name_offsets(name)?;
        Ok(self
            .structs
            .iter()
            .find(|(n, _)| offs.contains(n))
            .map(|&(_, id)| id))
    }

    /// Member `member` of `struct name`, searching inside anonymous structs/unions too.
    pub fn member(&self, struct_name: &str, member: &str) -> Result<MemberAt> {
        self.prefetch(&[struct_name, member])?;
        let id = self
            .struct_id(struct_name)?
            .with_context(|| format!("kernel BTF has no struct {struct_name}"))?;
        let names = self.name_offsets(member)?;
        self.member_of(id, &names, 0)
            .with_context(|| format!("kernel BTF: struct {struct_name} has no member '{member}'"))
    }

    /// Whether `struct name` has `member`.
    pub fn has_member(&self, struct_name: &str, member: &str) -> bool {
        self.member(struct_name, member).is_ok()
    }

    fn member_of(&self, id: u32, names: &[u32], depth: u32) -> Option<MemberAt> {
        if depth > 8 {
            return None;
        }
        for (name_off, type_id, bit_offset) in self.members(self.strip(id)) {
            if names.contains(&name_off) {
                return Some(MemberAt {
                    offset: bit_offset / 8,
                    type_id,
                });
            }
            if name_off == 0 {
                if let Some(inner) = self.member_of(type_id, names, depth + 1) {
                    return Some(MemberAt {
                        offset: bit_offset / 8 + inner.offset,
                        type_id: inner.type_id,
                    });
                }
            }
        }
        None
    }

    /// Name of the struct a member's type is (through typedefs), or that it points to.
    pub fn struct_name(&self, type_id: u32) -> Option<(String, bool)> {
        let h = self.header(self.strip(type_id))?;
        if h.kind == KIND_PTR {
            let inner = self.header(self.strip(h.size_or_type))?;
            return (inner.kind == KIND_STRUCT).then(|| (self.name(inner.name_off), true));
        }
        (h.kind == KIND_STRUCT).then(|| (self.name(h.name_off), false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_task_struct_members_in_this_kernel() {
        let Ok(btf) = Btf::vmlinux() else {
            eprintln!("SKIPPED: no {VMLINUX}");
            return;
        };
        let se = btf.member("task_struct", "se").unwrap();
        assert_eq!(
            btf.struct_name(se.type_id),
            Some(("sched_entity".into(), false))
        );
        let cfs = btf.member("sched_entity", "cfs_rq");
        if let Ok(cfs) = cfs {
            assert_eq!(btf.struct_name(cfs.type_id), Some(("cfs_rq".into(), true)));
        }
        assert!(btf.member("rq", "nr_running").is_ok());
        assert!(btf.member("task_struct", "no_such_member_here").is_err());
        assert!(btf.member("no_such_struct_here", "se").is_err());
    }

    /// Members nested in anonymous structs/unions: sk_buff begins with
    /// `union { struct { next; prev; union { dev; dev_scratch; }; }; rbnode; ... }` (since 4.x).
    #[test]
    fn finds_members_nested_in_anonymous_unions() {
        let Ok(btf) = Btf::vmlinux() else { return };
        let at = |m| btf.member("sk_buff", m).unwrap().offset;
        assert_eq!(
            (at("next"), at("prev"), at("dev"), at("dev_scratch")),
            (0, 8, 16, 16)
        );
        let dev = btf.member("sk_buff", "dev").unwrap();
        assert_eq!(
            btf.struct_name(dev.type_id),
            Some(("net_device".into(), true))
        );
        let pid = btf.member("task_struct", "pid").unwrap();
        assert_eq!(
            btf.member("task_struct", "tgid").unwrap().offset,
            pid.offset + 4
        );
    }
}
