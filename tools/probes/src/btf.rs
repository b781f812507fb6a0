//! Just enough of the BPF Type Format to find struct member offsets in the running kernel's
//! /sys/kernel/btf/vmlinux (aya 0.14 keeps its BTF member accessors private). Used where a probe
//! must follow kernel pointers (runqlen): offsets are looked up by name at load time, so a
//! renamed or moved field is an error naming it, never a silent wrong read.
use std::collections::HashMap;

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

#[derive(Debug, Clone)]
struct Member {
    name: String,
    type_id: u32,
    bit_offset: u32,
}

#[derive(Debug, Clone)]
struct Type {
    kind: u32,
    name: String,
    /// Referenced type for PTR/TYPEDEF/CONST/...
    type_id: u32,
    members: Vec<Member>,
}

/// The parsed types (id 0 is void).
pub struct Btf {
    types: Vec<Type>,
    structs: HashMap<String, u32>,
}

/// A member found by `Btf::member`: its byte offset in the outer struct and its type id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberAt {
    pub offset: u32,
    pub type_id: u32,
}

impl Btf {
    pub fn vmlinux() -> Result<Self> {
        let data = std::fs::read(VMLINUX).with_context(|| {
            format!("reading {VMLINUX} (kernel built without CONFIG_DEBUG_INFO_BTF?)")
        })?;
        Self::parse(&data).with_context(|| format!("parsing {VMLINUX}"))
    }

    pub fn parse(data: &[u8]) -> Result<Self> {
        let u16_at = |o: usize| -> Result<u16> {
            Ok(u16::from_le_bytes(
                data.get(o..o + 2).context("truncated BTF")?.try_into()?,
            ))
        };
        let u32_at = |o: usize| -> Result<u32> {
            Ok(u32::from_le_bytes(
                data.get(o..o + 4).context("truncated BTF")?.try_into()?,
            ))
        };
        if u16_at(0)? != 0xeb9f {
            bail!("not little-endian BTF (bad magic)");
        }
        let hdr_len = u32_at(4)? as usize;
        let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
        let str_off = u32_at(16)? as usize;
        let types_start = hdr_len + type_off;
        let strs_start = hdr_len + str_off;
        let name = |off: u32| -> String {
            let s = &data[(strs_start + off as usize).min(data.len())..];
            let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
            String::from_utf8_lossy(&s[..end]).into_owned()
        };
        let mut types = vec![Type {
            kind: 0,
            name: String::new(),
            type_id: 0,
            members: vec![],
        }];
        let mut structs = HashMap::new();
        let mut p = types_start;
        while p < types_start + type_len {
            let name_off = u32_at(p)?;
            let info = u32_at(p + 4)?;
            let size_or_type = u32_at(p + 8)?;
            p += 12;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 == 1;
            let mut members = Vec::new();
            let extra = match kind {
                1 => 4,  // INT
                3 => 12, // ARRAY
                KIND_STRUCT | KIND_UNION => {
                    for i in 0..vlen {
                        let m = p + i * 12;
                        let off = u32_at(m + 8)?;
                        members.push(Member {
                            name: name(u32_at(m)?),
                            type_id: u32_at(m + 4)?,
                            bit_offset: if kind_flag { off & 0x00ff_ffff } else { off },
                        });
                    }
                    vlen * 12
                }
                6 => vlen * 8,   // ENUM
                13 => vlen * 8,  // FUNC_PROTO
                14 => 4,         // VAR
                15 => vlen * 12, // DATASEC
                17 => 4,         // DECL_TAG
                19 => vlen * 12, // ENUM64
                _ => 0,          // PTR, FWD, TYPEDEF, quals, FUNC, FLOAT, TYPE_TAG
            };
            p += extra;
            let n = name(name_off);
            if kind == KIND_STRUCT && !n.is_empty() {
                // The first definition wins; later ones are the same struct in a split module.
                structs.entry(n.clone()).or_insert(types.len() as u32);
            }
            types.push(Type {
                kind,
                name: n,
                type_id: size_or_type,
                members,
            });
        }
        Ok(Self { types, structs })
    }

    fn ty(&self, id: u32) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// Follow typedefs and qualifiers.
    fn strip(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.ty(id) {
                Some(t)
                    if matches!(
                        t.kind,
                        KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
                    ) =>
                {
                    id = t.type_id
                }
                _ => break,
            }
        }
        id
    }

    /// Member `member` of `struct name`, searching inside anonymous structs/unions too.
    pub fn member(&self, struct_name: &str, member: &str) -> Result<MemberAt> {
        let id = *self
            .structs
            .get(struct_name)
            .with_context(|| format!("kernel BTF has no struct {struct_name}"))?;
        self.member_of(id, member)
            .with_context(|| format!("kernel BTF: struct {struct_name} has no member '{member}'"))
    }

    /// Whether `struct name` has `member`.
    pub fn has_member(&self, struct_name: &str, member: &str) -> bool {
        self.member(struct_name, member).is_ok()
    }

    fn member_of(&self, id: u32, member: &str) -> Option<MemberAt> {
        let t = self.ty(self.strip(id))?;
        for m in &t.members {
            if m.name == member {
                return Some(MemberAt {
                    offset: m.bit_offset / 8,
                    type_id: m.type_id,
                });
            }
            if m.name.is_empty() {
                if let Some(inner) = self.member_of(m.type_id, member) {
                    return Some(MemberAt {
                        offset: m.bit_offset / 8 + inner.offset,
                        type_id: inner.type_id,
                    });
                }
            }
        }
        None
    }

    /// Name of the struct a member's type is (through typedefs), or that it points to.
    pub fn struct_name(&self, type_id: u32) -> Option<(&str, bool)> {
        let t = self.ty(self.strip(type_id))?;
        if t.kind == KIND_PTR {
            let inner = self.ty(self.strip(t.type_id))?;
            return (inner.kind == KIND_STRUCT).then_some((inner.name.as_str(), true));
        }
        (t.kind == KIND_STRUCT).then_some((t.name.as_str(), false))
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
        assert_eq!(btf.struct_name(se.type_id), Some(("sched_entity", false)));
        let cfs = btf.member("sched_entity", "cfs_rq");
        if let Ok(cfs) = cfs {
            assert_eq!(btf.struct_name(cfs.type_id), Some(("cfs_rq", true)));
        }
        assert!(btf.member("rq", "nr_running").is_ok());
        assert!(btf.member("task_struct", "no_such_member_here").is_err());
    }
}
