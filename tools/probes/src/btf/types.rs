//! Whole types out of BTF, for the probe-spec compiler: a function's prototype, any type by id,
//! members with bitfields, and names of types for messages. Read on demand like the rest.
use anyhow::Result;

use super::{Btf, Header, KIND_CONST, KIND_PTR, KIND_RESTRICT, KIND_STRUCT, KIND_TYPEDEF};
use super::{
    KIND_ARRAY, KIND_ENUM, KIND_ENUM64, KIND_FLOAT, KIND_FUNC, KIND_FUNC_PROTO, KIND_FWD, KIND_INT,
    KIND_TYPE_TAG, KIND_UNION, KIND_VOLATILE,
};

/// Kinds indexed by name when asked (structs always are).
pub(super) const INDEXED_KINDS: &[u32] = &[
    KIND_FUNC,
    KIND_TYPEDEF,
    KIND_UNION,
    KIND_ENUM,
    KIND_ENUM64,
    KIND_INT,
    KIND_FLOAT,
];

/// One BTF type, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfType {
    Void,
    Int {
        name: String,
        size: u32,
        signed: bool,
        is_bool: bool,
    },
    Ptr(u32),
    Array {
        elem: u32,
        len: u32,
    },
    Struct {
        name: String,
        size: u32,
        union: bool,
    },
    Enum {
        name: String,
        size: u32,
        signed: bool,
    },
    /// A forward declaration (a struct known by name only).
    Fwd(String),
    Typedef {
        name: String,
        target: u32,
    },
    /// const, volatile, restrict, type tags: the type they qualify.
    Qualified(u32),
    Func {
        name: String,
        proto: u32,
    },
    FuncProto {
        ret: u32,
        params: Vec<Param>,
    },
    Float(u32),
    Other,
}

/// A function parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub type_id: u32,
}

/// A struct or union member; `bit_size` is 0 unless it is a bitfield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub type_id: u32,
    pub bit_offset: u32,
    pub bit_size: u32,
}

impl Btf {
    fn u32s(&self, id: u32, count: usize) -> Vec<u32> {
        let mut b = vec![0u8; count * 4];
        let start = self.types_start + u64::from(self.at[id as usize]) + 12;
        if self.src.read_exact_at(&mut b, start).is_err() {
            return vec![];
        }
        b.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// Type `id`, decoded (Void for id 0 or an unknown id).
    pub fn type_of(&self, id: u32) -> BtfType {
        let Some(h) = self.header(id) else {
            return BtfType::Void;
        };
        let name = || self.name(h.name_off);
        match h.kind {
            KIND_INT => {
                let enc = self.u32s(id, 1).first().copied().unwrap_or(0) >> 24;
                BtfType::Int {
                    name: name(),
                    size: h.size_or_type,
                    signed: enc & 1 != 0,
                    is_bool: enc & 4 != 0,
                }
            }
            KIND_PTR => BtfType::Ptr(h.size_or_type),
            KIND_ARRAY => {
                let v = self.u32s(id, 3);
                BtfType::Array {
                    elem: v.first().copied().unwrap_or(0),
                    len: v.get(2).copied().unwrap_or(0),
                }
            }
            KIND_STRUCT | KIND_UNION => BtfType::Struct {
                name: name(),
                size: h.size_or_type,
                union: h.kind == KIND_UNION,
            },
            KIND_ENUM | KIND_ENUM64 => BtfType::Enum {
                name: name(),
                size: h.size_or_type,
                signed: h.kind_flag,
            },
            KIND_FWD => BtfType::Fwd(name()),
            KIND_TYPEDEF => BtfType::Typedef {
                name: name(),
                target: h.size_or_type,
            },
            KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                BtfType::Qualified(h.size_or_type)
            }
            KIND_FUNC => BtfType::Func {
                name: name(),
                proto: h.size_or_type,
            },
            KIND_FUNC_PROTO => BtfType::FuncProto {
                ret: h.size_or_type,
                params: self.params(id, h),
            },
            KIND_FLOAT => BtfType::Float(h.size_or_type),
            _ => BtfType::Other,
        }
    }

    fn params(&self, id: u32, h: Header) -> Vec<Param> {
        self.u32s(id, h.vlen as usize * 2)
            .chunks_exact(2)
            .map(|p| Param {
                name: self.name(p[0]),
                type_id: p[1],
            })
            .collect()
    }

    /// The id of the type named `name` whose decoded form `want` accepts (structs, and with
    /// [`Btf::vmlinux_with_names`] functions, typedefs, unions, enums, ints).
    pub fn find_named(&self, name: &str, want: impl Fn(&BtfType) -> bool) -> Result<Option<u32>> {
        let offs = self.name_offsets(name)?;
        Ok(self
            .structs
            .iter()
            .chain(self.named.iter())
            .filter(|(n, _)| offs.contains(n))
            .map(|&(_, id)| id)
            .find(|&id| want(&self.type_of(id))))
    }

    /// Kernel function `name`: its return type and parameters, if BTF describes it.
    pub fn func(&self, name: &str) -> Result<Option<(u32, Vec<Param>)>> {
        let Some(id) = self.find_named(name, |t| matches!(t, BtfType::Func { .. }))? else {
            return Ok(None);
        };
        let BtfType::Func { proto, .. } = self.type_of(id) else {
            return Ok(None);
        };
        Ok(match self.type_of(proto) {
            BtfType::FuncProto { ret, params } => Some((ret, params)),
            _ => None,
        })
    }

    /// Member `name` of struct/union `id` (through typedefs and qualifiers), searching inside
    /// anonymous members too; its bit offset is from the start of `id`.
    pub fn find_member(&self, id: u32, name: &str) -> Result<Option<Member>> {
        let offs = self.name_offsets(name)?;
        Ok(self.member_in(id, &offs, 0))
    }

    fn member_in(&self, id: u32, names: &[u32], depth: u32) -> Option<Member> {
        let id = self.strip(id);
        let h = self.header(id)?;
        if depth > 8 || !matches!(h.kind, KIND_STRUCT | KIND_UNION) {
            return None;
        }
        for m in self.u32s(id, h.vlen as usize * 3).chunks_exact(3) {
            let (name_off, type_id, raw) = (m[0], m[1], m[2]);
            let (bit_offset, bit_size) = if h.kind_flag {
                (raw & 0x00ff_ffff, raw >> 24)
            } else {
                (raw, 0)
            };
            if names.contains(&name_off) {
                return Some(Member {
                    type_id,
                    bit_offset,
                    bit_size,
                });
            }
            if name_off == 0 {
                if let Some(inner) = self.member_in(type_id, names, depth + 1) {
                    return Some(Member {
                        bit_offset: bit_offset + inner.bit_offset,
                        ..inner
                    });
                }
            }
        }
        None
    }

    /// Type `id` without typedefs and qualifiers.
    pub fn resolve(&self, id: u32) -> u32 {
        self.strip(id)
    }

    /// The size in bytes of type `id` (0 for void, functions and unknown kinds).
    pub fn size_of(&self, id: u32) -> u32 {
        match self.type_of(self.strip(id)) {
            BtfType::Int { size, .. }
            | BtfType::Struct { size, .. }
            | BtfType::Enum { size, .. }
            | BtfType::Float(size) => size,
            BtfType::Ptr(_) => 8,
            BtfType::Array { elem, len } => self.size_of(elem).saturating_mul(len),
            _ => 0,
        }
    }

    /// Type `id` as C spells it ("struct sock *", "unsigned int", "char[16]"), for messages.
    pub fn type_name(&self, id: u32) -> String {
        self.type_name_depth(id, 0)
    }

    fn type_name_depth(&self, id: u32, depth: u32) -> String {
        if depth > 16 {
            return "...".into();
        }
        match self.type_of(id) {
            BtfType::Void => "void".into(),
            BtfType::Int { name, .. } | BtfType::Typedef { name, .. } => name,
            BtfType::Ptr(t) => format!("{} *", self.type_name_depth(t, depth + 1)),
            BtfType::Array { elem, len } => {
                format!("{}[{len}]", self.type_name_depth(elem, depth + 1))
            }
            BtfType::Struct { name, union, .. } => {
                format!("{} {name}", if union { "union" } else { "struct" })
            }
            BtfType::Enum { name, .. } => format!("enum {name}"),
            BtfType::Fwd(name) => format!("struct {name}"),
            BtfType::Qualified(t) => self.type_name_depth(t, depth + 1),
            BtfType::Func { name, .. } => name,
            BtfType::FuncProto { .. } => "function".into(),
            BtfType::Float(size) => if size == 4 { "float" } else { "double" }.into(),
            BtfType::Other => "?".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_kernel_function_and_struct_members() {
        let Ok(btf) = Btf::vmlinux_with_names() else {
            return;
        };
        let (ret, params) = btf.func("do_sys_openat2").unwrap().expect("do_sys_openat2");
        // long before 6.x's rework, int since.
        assert!(["long", "int"].contains(&btf.type_name(ret).as_str()));
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["dfd", "filename", "how"]);
        assert_eq!(btf.type_name(params[1].type_id), "char *");
        assert_eq!(btf.type_name(params[2].type_id), "struct open_how *");
        let sock = btf
            .find_named("sock", |t| matches!(t, BtfType::Struct { .. }))
            .unwrap()
            .unwrap();
        assert!(btf.find_member(sock, "skc_dport").unwrap().is_none());
        let common = btf
            .find_member(sock, "__sk_common")
            .unwrap()
            .expect("__sk_common");
        let m = btf
            .find_member(common.type_id, "skc_dport")
            .unwrap()
            .expect("skc_dport");
        assert_eq!(btf.type_name(m.type_id), "__be16");
        let task = btf.find_named("task_struct", |_| true).unwrap().unwrap();
        assert!(btf.find_member(task, "no_such_member").unwrap().is_none());
        let gfp = btf
            .find_named("gfp_t", |t| matches!(t, BtfType::Typedef { .. }))
            .unwrap();
        assert_eq!(btf.size_of(gfp.unwrap()), 4);
    }
}
