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

mod types;
pub use types::{BtfType, Member, Param};

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_FLOAT: u32 = 16;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// Bytes that follow a type's 12-byte header, by kind (BTF spec, "Type Encoding").
fn extra_len(kind: u32, vlen: u32) -> u32 {
    match kind {
        KIND_INT => 4,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION => vlen * 12,
        KIND_ENUM => vlen * 8,
        KIND_FUNC_PROTO => vlen * 8,
        14 => 4,         // VAR
        15 => vlen * 12, // DATASEC
        17 => 4,         // DECL_TAG
        KIND_ENUM64 => vlen * 12,
        _ => 0, // PTR, FWD, TYPEDEF, qualifiers, FUNC, FLOAT, TYPE_TAG
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
    src: Source,
    types_start: u64,
    strs_start: u64,
    strs_len: u64,
    /// Offset of each type's record in the type section, by type id (id 0 is void).
    at: Vec<u32>,
    /// (name offset, type id) of every named struct, in id order.
    structs: Vec<(u32, u32)>,
    /// (name offset, type id) of every named FUNC, TYPEDEF, UNION and ENUM, in id order: only
    /// when opened with [`Btf::vmlinux_with_names`] (the probe-spec compiler looks them up).
    named: Vec<(u32, u32)>,
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

    /// The kernel's BTF with functions, typedefs, unions and enums indexed by name too.
    pub fn vmlinux_with_names() -> Result<Self> {
        let file = File::open(VMLINUX).with_context(|| {
            format!("reading {VMLINUX} (kernel built without CONFIG_DEBUG_INFO_BTF?)")
        })?;
        Self::index_source(Source::new(file), true).with_context(|| format!("parsing {VMLINUX}"))
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
        Self::index_source(Source::new(file), false)
    }

    fn index_source(src: Source, names: bool) -> Result<Self> {
        let mut hdr = [0u8; 24];
        src.read_exact_at(&mut hdr, 0)
            .context("truncated BTF header")?;
        let u32_at = |o: usize| u32::from_le_bytes(hdr[o..o + 4].try_into().unwrap());
        if u16::from_le_bytes([hdr[0], hdr[1]]) != 0xeb9f {
            bail!("not little-endian BTF (bad magic)");
        }
        let hdr_len = u64::from(u32_at(4));
        let (type_off, type_len) = (u64::from(u32_at(8)), u32_at(12));
        let types_start = hdr_len + type_off;
        let (at, structs, named) = match &src {
            Source::Mapped(m) => {
                let types = usize::try_from(types_start)
                    .ok()
                    .and_then(|s| m.bytes().get(s..))
                    .context("truncated BTF type section")?;
                walk_types(&mut &*types, type_len, names)?
            }
            Source::File(f) => {
                let mut reader = BufReader::with_capacity(64 << 10, f);
                reader.seek(SeekFrom::Start(types_start))?;
                walk_types(&mut reader, type_len, names)?
            }
        };
        Ok(Self {
            types_start,
            strs_start: hdr_len + u64::from(u32_at(16)),
            strs_len: u64::from(u32_at(20)),
            at,
            structs,
            named,
            names: RefCell::default(),
            src,
        })
    }

    fn header(&self, id: u32) -> Option<Header> {
        let off = *self.at.get(id as usize).filter(|_| id != 0)?;
        let mut b = [0u8; 12];
        self.src
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
        if self.src.read_exact_at(&mut b, start).is_err() {
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
    /// 4 KiB per read, so a pass is ~570 reads); later lookups of these names are free. Each
    /// NUL-terminated string is checked once against the wanted set (a [length][first byte]
    /// table rejects almost all of them): one memmem search per name over the 2.3 MB section
    /// was the largest user-space cost of tcplife's start.
    pub fn prefetch(&self, names: &[&str]) -> Result<()> {
        let todo: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !self.names.borrow().contains_key(*n))
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let wanted: HashMap<&[u8], usize> = todo
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_bytes(), i))
            .collect();
        let mut maybe = vec![[false; 256]; 64];
        for n in &todo {
            if let Some(&first) = n.as_bytes().first() {
                maybe[n.len().min(63)][usize::from(first)] = true;
            }
        }
        let mut found = vec![Vec::new(); todo.len()];
        let mut buf = vec![0u8; 64 << 10];
        // buf[..filled] holds strings starting at string offset `base`; a string cut by the end
        // of a read is kept for the next round.
        let (mut filled, mut base) = (0usize, 0u64);
        let mut pos = 0u64;
        while pos < self.strs_len {
            if filled == buf.len() {
                buf.resize(buf.len() * 2, 0); // one string longer than the buffer
            }
            let want = (buf.len() - filled).min((self.strs_len - pos) as usize);
            let n = self
                .src
                .read_at(&mut buf[filled..filled + want], self.strs_start + pos)?;
            if n == 0 {
                bail!("truncated BTF string section");
            }
            pos += n as u64;
            filled += n;
            if filled < buf.len() && pos < self.strs_len {
                continue; // sysfs reads 4 KiB at a time: scan full buffers only
            }
            let mut start = 0;
            for end in memchr::memchr_iter(0, &buf[..filled]) {
                let s = &buf[start..end];
                if !s.is_empty() && maybe[s.len().min(63)][usize::from(s[0])] {
                    if let Some(&i) = wanted.get(s) {
                        found[i].push((base + start as u64) as u32);
                    }
                }
                start = end + 1;
            }
            buf.copy_within(start..filled, 0);
            base += start as u64;
            filled -= start;
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
        while let Ok(n) = self.src.read_at(&mut chunk, at) {
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

/// Each type's record offset by id, (name offset, id) of each named struct, and of each named
/// function, typedef, union and enum (when asked for).
type TypeIndex = (Vec<u32>, Vec<(u32, u32)>, Vec<(u32, u32)>);

/// One record after another through the type section: (offset of each type by id, named
/// structs, other named types). `R` is the mapped section or a buffered reader of the file.
fn walk_types<R: TypeStream>(r: &mut R, type_len: u32, names: bool) -> Result<TypeIndex> {
    let mut at = vec![0];
    let mut structs = Vec::new();
    let mut named = Vec::new();
    let mut p = 0u32;
    let mut rec = [0u8; 12];
    while p < type_len {
        r.next(&mut rec).context("truncated BTF type section")?;
        let h = Header::decode(&rec);
        if h.kind == KIND_STRUCT && h.name_off != 0 {
            structs.push((h.name_off, at.len() as u32));
        } else if names && h.name_off != 0 && types::INDEXED_KINDS.contains(&h.kind) {
            named.push((h.name_off, at.len() as u32));
        }
        at.push(p);
        let extra = extra_len(h.kind, h.vlen);
        r.skip(extra).context("truncated BTF type section")?;
        p = p
            .checked_add(12 + extra)
            .context("BTF type section overflows")?;
    }
    Ok((at, structs, named))
}

trait TypeStream {
    fn next(&mut self, rec: &mut [u8; 12]) -> std::io::Result<()>;
    fn skip(&mut self, n: u32) -> std::io::Result<()>;
}

impl TypeStream for &[u8] {
    fn next(&mut self, rec: &mut [u8; 12]) -> std::io::Result<()> {
        self.read_exact(rec)
    }
    fn skip(&mut self, n: u32) -> std::io::Result<()> {
        *self = self
            .get(n as usize..)
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        Ok(())
    }
}

impl TypeStream for BufReader<&File> {
    fn next(&mut self, rec: &mut [u8; 12]) -> std::io::Result<()> {
        self.read_exact(rec)
    }
    fn skip(&mut self, n: u32) -> std::io::Result<()> {
        self.seek_relative(i64::from(n))
    }
}

/// Where the BTF bytes are read from. Since Linux 6.16 /sys/kernel/btf/vmlinux can be mapped
/// read-only: the kernel maps its own BTF pages (a PFN mapping, so they are not counted in our
/// RSS) and indexing is a walk through memory instead of ~1,300 4 KiB reads. Older kernels (the
/// lab VMs' 6.1 and 6.12) refuse the mmap and are read with pread.
enum Source {
    /// The mapping outlives the descriptor, which is closed.
    Mapped(Mapping),
    File(File),
}

impl Source {
    fn new(file: File) -> Self {
        match Mapping::new(&file) {
            Some(m) => Source::Mapped(m),
            None => Source::File(file),
        }
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
        match self {
            Source::File(f) => f.read_at(buf, off),
            Source::Mapped(m) => {
                let bytes = m.bytes();
                let start = usize::try_from(off).unwrap_or(usize::MAX).min(bytes.len());
                let n = buf.len().min(bytes.len() - start);
                buf[..n].copy_from_slice(&bytes[start..start + n]);
                Ok(n)
            }
        }
    }

    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<()> {
        match self {
            Source::File(f) => f.read_exact_at(buf, off),
            Source::Mapped(_) => {
                if self.read_at(buf, off)? == buf.len() {
                    Ok(())
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                }
            }
        }
    }
}

/// A read-only private mapping of a whole file, unmapped when dropped.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: a read-only mapping owned by this value; nothing aliases it mutably.
unsafe impl Send for Mapping {}

impl Mapping {
    fn new(file: &File) -> Option<Self> {
        use std::os::fd::AsRawFd as _;
        let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: a fresh read-only private mapping of `len` bytes of an open file.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Self { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until drop.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.ptr, self.len) };
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

    /// The pread path (kernels before 6.16, which cannot map the file) finds what the mapped
    /// path finds.
    #[test]
    fn read_and_mapped_sources_agree() {
        let Ok(file) = File::open(VMLINUX) else {
            return;
        };
        let read = Btf::index_source(Source::File(file), false).unwrap();
        let any = Btf::vmlinux().unwrap();
        for (s, m) in [
            ("task_struct", "pid"),
            ("sock", "sk_type"),
            ("file", "f_inode"),
        ] {
            assert_eq!(read.member(s, m).unwrap(), any.member(s, m).unwrap());
        }
        assert_eq!(read.at.len(), any.at.len());
        assert_eq!(read.structs, any.structs);
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
