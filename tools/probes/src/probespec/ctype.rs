//! C types of probe-spec values: from kernel BTF (function parameters, struct members), from
//! tracepoint format files, from type names a user writes (casts, argdist signatures), and the
//! few libc structs BCC's examples use that kernel BTF does not have.
use anyhow::Result;

use super::parse::TypeName;
use crate::btf::{Btf, BtfType};

/// A C type, as much as the compiler needs: sizes, signedness, what pointers point to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Void,
    Int {
        size: u8,
        signed: bool,
    },
    /// Plain `char`: a signed byte; `char *` and `char[N]` print as strings.
    Char,
    Bool,
    Ptr(Box<Type>),
    Array(Box<Type>, u32),
    Struct(Agg),
    /// A tracepoint `__data_loc` string (offset and length in a 32-bit field).
    DataLoc,
}

/// A struct or union: members come from BTF by id, or from a built-in table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agg {
    pub name: String,
    pub size: u32,
    pub union: bool,
    pub src: AggSrc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggSrc {
    Btf(u32),
    /// (member, byte offset, type) of a libc struct kernel BTF lacks.
    Builtin(&'static [(&'static str, u32, Type)]),
}

pub const LONG: Type = Type::Int {
    size: 8,
    signed: true,
};
pub const ULONG: Type = Type::Int {
    size: 8,
    signed: false,
};
pub const INT: Type = Type::Int {
    size: 4,
    signed: true,
};
pub const UINT: Type = Type::Int {
    size: 4,
    signed: false,
};

/// `struct timespec` and `struct timeval` of 64-bit libc (argdist's nanosleep example).
static TIMESPEC: &[(&str, u32, Type)] = &[("tv_sec", 0, LONG), ("tv_nsec", 8, LONG)];
static TIMEVAL: &[(&str, u32, Type)] = &[("tv_sec", 0, LONG), ("tv_usec", 8, LONG)];

impl Type {
    pub fn ptr_to(t: Type) -> Type {
        Type::Ptr(Box::new(t))
    }

    /// Size in bytes (0 for void).
    pub fn size(&self) -> u32 {
        match self {
            Type::Void => 0,
            Type::Int { size, .. } => u32::from(*size),
            Type::Char | Type::Bool => 1,
            Type::Ptr(_) => 8,
            Type::Array(t, n) => t.size().saturating_mul(*n),
            Type::Struct(a) => a.size,
            Type::DataLoc => 4,
        }
    }

    pub fn is_integer(&self) -> bool {
        matches!(self, Type::Int { .. } | Type::Char | Type::Bool)
    }

    /// Integers and pointers: what fits in a register and compares.
    pub fn is_scalar(&self) -> bool {
        self.is_integer() || matches!(self, Type::Ptr(_))
    }

    pub fn is_signed(&self) -> bool {
        matches!(self, Type::Int { signed: true, .. } | Type::Char)
    }

    /// `char *`, `char[N]` or a `__data_loc` string: prints with %s, compares with "...".
    pub fn is_string(&self) -> bool {
        match self {
            Type::Ptr(t) | Type::Array(t, _) => {
                matches!(**t, Type::Char | Type::Int { size: 1, .. })
            }
            Type::DataLoc => true,
            _ => false,
        }
    }

    /// What a pointer or array holds.
    pub fn pointee(&self) -> Option<&Type> {
        match self {
            Type::Ptr(t) | Type::Array(t, _) => Some(t),
            _ => None,
        }
    }
}

impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Type::Void => f.write_str("void"),
            Type::Int { size, signed } => {
                let base = match size {
                    1 => "char",
                    2 => "short",
                    4 => "int",
                    _ => "long",
                };
                if *signed {
                    f.write_str(base)
                } else {
                    write!(f, "unsigned {base}")
                }
            }
            Type::Char => f.write_str("char"),
            Type::Bool => f.write_str("bool"),
            Type::Ptr(t) => write!(f, "{t} *"),
            Type::Array(t, n) => write!(f, "{t}[{n}]"),
            Type::Struct(a) => write!(f, "{} {}", if a.union { "union" } else { "struct" }, a.name),
            Type::DataLoc => f.write_str("__data_loc char[]"),
        }
    }
}

/// Builtin scalar type names: C's, the kernel's and stdint's.
fn builtin(name: &str) -> Option<Type> {
    let int = |size, signed| Some(Type::Int { size, signed });
    match name {
        "void" => Some(Type::Void),
        "char" => Some(Type::Char),
        "bool" | "_Bool" => Some(Type::Bool),
        "u8" | "__u8" | "uint8_t" | "unsigned char" => int(1, false),
        "s8" | "__s8" | "int8_t" | "signed char" => int(1, true),
        "u16" | "__u16" | "uint16_t" | "unsigned short" | "unsigned short int" | "umode_t" => {
            int(2, false)
        }
        "s16" | "__s16" | "int16_t" | "short" | "short int" | "signed short" => int(2, true),
        "u32" | "__u32" | "uint32_t" | "unsigned" | "unsigned int" | "uid_t" | "gid_t"
        | "gfp_t" | "dev_t" | "uint" => int(4, false),
        "s32" | "__s32" | "int32_t" | "int" | "signed" | "signed int" | "pid_t" | "tid_t" => {
            int(4, true)
        }
        "u64"
        | "__u64"
        | "uint64_t"
        | "unsigned long"
        | "unsigned long long"
        | "size_t"
        | "unsigned long int"
        | "unsigned long long int"
        | "sector_t"
        | "ino_t" => int(8, false),
        "s64" | "__s64" | "int64_t" | "long" | "long long" | "long int" | "long long int"
        | "signed long" | "ssize_t" | "loff_t" | "off_t" => int(8, true),
        _ => None,
    }
}

/// A member: (byte offset, type, (bit shift, bit width) when it is a bitfield).
pub type MemberOf = (u32, Type, Option<(u32, u32)>);

/// Resolves type names and BTF ids into [`Type`]s.
pub struct Types<'a> {
    pub btf: Option<&'a Btf>,
}

impl Types<'_> {
    /// The type `tn` names; Err is a message for the user.
    pub fn named(&self, tn: &TypeName) -> Result<Type, String> {
        let words = tn.words.join(" ");
        let mut t = self.base(&words)?;
        for _ in 0..tn.ptrs {
            t = Type::ptr_to(t);
        }
        Ok(t)
    }

    /// A type from the text of a tracepoint format field ("const char *", "char[16]").
    pub fn from_decl(&self, decl: &str, size: u32, signed: bool) -> Type {
        if decl.starts_with("__data_loc") {
            return Type::DataLoc;
        }
        if let Some((elem, n)) = decl.strip_suffix(']').and_then(|d| d.split_once('[')) {
            let elem = self.from_decl(elem.trim(), 0, signed);
            let n = n.parse().unwrap_or_else(|_| size / elem.size().max(1));
            return Type::Array(Box::new(elem), n);
        }
        let words: Vec<&str> = decl
            .split(|c: char| c.is_whitespace() || c == '*')
            .filter(|w| !w.is_empty() && !matches!(*w, "const" | "volatile" | "__user"))
            .collect();
        let ptrs = decl.matches('*').count();
        let base = self.base(&words.join(" ")).ok();
        match base {
            Some(mut t) if ptrs > 0 => {
                for _ in 0..ptrs {
                    t = Type::ptr_to(t);
                }
                t
            }
            _ if ptrs > 0 => Type::ptr_to(Type::Void),
            Some(t) if t.is_integer() && size > 0 && t.size() > size => Type::Int {
                size: size as u8,
                signed,
            },
            Some(t) if !matches!(t, Type::Void) => t,
            _ if size > 0 && size <= 8 && size.is_power_of_two() => Type::Int {
                size: size as u8,
                signed,
            },
            _ => Type::Array(
                Box::new(Type::Int {
                    size: 1,
                    signed: false,
                }),
                size,
            ),
        }
    }

    fn base(&self, words: &str) -> Result<Type, String> {
        if let Some(t) = builtin(words) {
            return Ok(t);
        }
        if words.starts_with("enum ") {
            return Ok(UINT);
        }
        let (tag, name) = match words.split_once(' ') {
            Some((t @ ("struct" | "union"), n)) => (Some(t), n),
            _ => (None, words),
        };
        if let Some(btf) = self.btf {
            let found = btf
                .find_named(name, |t| {
                    matches!(
                        (tag, t),
                        (Some("struct"), BtfType::Struct { union: false, .. })
                            | (Some("union"), BtfType::Struct { union: true, .. })
                            | (None, BtfType::Typedef { .. } | BtfType::Int { .. })
                    )
                })
                .map_err(|e| format!("{e:#}"))?;
            if let Some(id) = found {
                return Ok(self.from_btf(id));
            }
        }
        match (tag, name) {
            (Some("struct"), "timespec") => Ok(builtin_struct("timespec", 16, TIMESPEC)),
            (Some("struct"), "timeval") => Ok(builtin_struct("timeval", 16, TIMEVAL)),
            (Some(tag), _) => Err(format!(
                "unknown type '{tag} {name}' (not in the kernel's BTF)"
            )),
            (None, _) => Err(format!("unknown type '{name}'")),
        }
    }

    /// The type BTF id `id` describes.
    pub fn from_btf(&self, id: u32) -> Type {
        let Some(btf) = self.btf else {
            return Type::Void;
        };
        self.btf_depth(btf, id, 0)
    }

    fn btf_depth(&self, btf: &Btf, id: u32, depth: u32) -> Type {
        if depth > 32 {
            return Type::Void;
        }
        match btf.type_of(id) {
            BtfType::Int {
                name,
                size,
                signed,
                is_bool,
            } => {
                if is_bool {
                    Type::Bool
                } else if name == "char" {
                    Type::Char
                } else {
                    Type::Int {
                        size: size.min(8) as u8,
                        signed,
                    }
                }
            }
            BtfType::Ptr(t) => Type::ptr_to(self.btf_depth(btf, t, depth + 1)),
            BtfType::Array { elem, len } => {
                Type::Array(Box::new(self.btf_depth(btf, elem, depth + 1)), len)
            }
            BtfType::Struct { name, size, union } => Type::Struct(Agg {
                name,
                size,
                union,
                src: AggSrc::Btf(id),
            }),
            BtfType::Enum { size, signed, .. } => Type::Int {
                size: size.min(8) as u8,
                signed,
            },
            BtfType::Typedef { target, .. } | BtfType::Qualified(target) => {
                self.btf_depth(btf, target, depth + 1)
            }
            BtfType::Fwd(name) => Type::Struct(Agg {
                name,
                size: 0,
                union: false,
                src: AggSrc::Builtin(&[]),
            }),
            _ => Type::Void,
        }
    }

    /// Member `name` of `agg`.
    pub fn member(&self, agg: &Agg, name: &str) -> Result<Option<MemberOf>> {
        match &agg.src {
            AggSrc::Builtin(members) => Ok(members
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, off, t)| (*off, t.clone(), None))),
            AggSrc::Btf(id) => {
                let Some(btf) = self.btf else { return Ok(None) };
                let Some(m) = btf.find_member(*id, name)? else {
                    return Ok(None);
                };
                let t = self.from_btf(m.type_id);
                if m.bit_size == 0 && m.bit_offset % 8 == 0 {
                    return Ok(Some((m.bit_offset / 8, t, None)));
                }
                // A bitfield: read the aligned unit holding it, then shift and mask.
                let unit = t.size().clamp(1, 8);
                let width = if m.bit_size == 0 {
                    unit * 8
                } else {
                    m.bit_size
                };
                let start = m.bit_offset / 8 / unit * unit;
                Ok(Some((start, t, Some((m.bit_offset - start * 8, width)))))
            }
        }
    }
}

fn builtin_struct(name: &str, size: u32, members: &'static [(&'static str, u32, Type)]) -> Type {
    Type::Struct(Agg {
        name: name.into(),
        size,
        union: false,
        src: AggSrc::Builtin(members),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probespec::parse::parse_type;

    #[test]
    fn names_without_btf() {
        let t = Types { btf: None };
        let n = |s: &str| t.named(&parse_type(s, 0).unwrap()).unwrap();
        assert_eq!(n("unsigned long"), ULONG);
        assert_eq!(n("u32"), UINT);
        assert!(n("const char *").is_string());
        assert!(n("char*").is_string());
        assert_eq!(n("size_t").size(), 8);
        assert_eq!(n("struct timespec *").pointee().unwrap().size(), 16);
        assert!(t.named(&parse_type("struct nope", 0).unwrap()).is_err());
    }

    #[test]
    fn tracepoint_declarations() {
        let t = Types { btf: None };
        assert_eq!(t.from_decl("int", 8, false), INT);
        assert!(t.from_decl("const char *", 8, false).is_string());
        assert_eq!(t.from_decl("__data_loc char[]", 4, false), Type::DataLoc);
        assert_eq!(t.from_decl("char[16]", 16, true).size(), 16);
        assert!(t.from_decl("char[16]", 16, true).is_string());
        // Unknown typedefs keep the format file's size and sign.
        assert_eq!(t.from_decl("xfs_ino_t", 8, false), ULONG);
    }

    #[test]
    fn btf_members_and_bitfields() {
        let Ok(btf) = Btf::vmlinux_with_names() else {
            return;
        };
        let t = Types { btf: Some(&btf) };
        let Type::Ptr(sock) = t.named(&parse_type("struct sock *", 0).unwrap()).unwrap() else {
            panic!()
        };
        let Type::Struct(sock) = *sock else { panic!() };
        let (off, ty, bits) = t.member(&sock, "sk_type").unwrap().unwrap();
        assert_eq!(
            ty,
            Type::Int {
                size: 2,
                signed: false
            }
        );
        assert!(off > 0 && bits.is_none(), "{off} {bits:?}");
        assert_eq!(t.named(&parse_type("gfp_t", 0).unwrap()).unwrap(), UINT);
    }
}
