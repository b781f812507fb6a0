//! What names mean at one probe: the function's parameters and return value (BTF, or the
//! signature the user wrote), a tracepoint's fields, a USDT probe's arguments.
use super::ctype::{Type, LONG};

/// Where the probe fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Function entry (kprobe, uprobe): parameters are in registers.
    Entry,
    /// Function return (kretprobe, uretprobe): `retval`; parameters only as saved at entry.
    Return,
    Tracepoint,
    Usdt,
}

pub use crate::usdt::{UsdtArg, UsdtLoc};

/// A tracepoint field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub offset: u32,
    pub ty: Type,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub at: At,
    /// Parameters in order (arg1 is the first); names may be empty.
    pub params: Vec<(String, Type)>,
    pub ret: Type,
    pub fields: Vec<Field>,
    pub usdt: Vec<UsdtArg>,
    /// A return probe whose entry arguments and time are saved (`$entry(name)`, `$latency`).
    pub entry_saved: bool,
    /// Why this USDT location's arguments could not be decoded, if they could not.
    pub usdt_error: Option<String>,
}

impl Scope {
    pub fn new(at: At) -> Self {
        Self {
            at,
            params: Vec::new(),
            ret: LONG,
            fields: Vec::new(),
            usdt: Vec::new(),
            entry_saved: false,
            usdt_error: None,
        }
    }

    /// The 1-based position and type of parameter `name`.
    pub fn param(&self, name: &str) -> Option<(u32, Type)> {
        self.params
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| (i as u32 + 1, self.params[i].1.clone()))
    }

    /// The type of argument `n` (1-based): the parameter's, else a register-sized long.
    pub fn arg_type(&self, n: u32) -> Type {
        self.params
            .get(n as usize - 1)
            .map(|(_, t)| t.clone())
            .unwrap_or(LONG)
    }
}

/// pt_regs offsets of the first six integer arguments on x86_64 (di, si, dx, cx, r8, r9).
pub const ARG_REGS: [u32; 6] = [112, 104, 96, 88, 72, 64];
/// pt_regs offset of the return value (ax).
pub const RET_REG: u32 = 80;
