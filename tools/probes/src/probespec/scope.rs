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

/// Where a USDT argument is (its note's argument spec, x86_64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsdtLoc {
    Const(i64),
    /// A register: its pt_regs offset.
    Reg(u32),
    /// Memory at register + displacement (+ index register * scale).
    Mem {
        base: u32,
        disp: i64,
        index: Option<(u32, u8)>,
    },
}

/// One USDT argument: where, and its size and signedness (`-4@%edi`: 4 bytes, signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdtArg {
    pub loc: UsdtLoc,
    pub size: u8,
    pub signed: bool,
}

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

/// The pt_regs offset of x86_64 register `name` (any width: rax, eax, ax, al) and its size.
pub fn register(name: &str) -> Option<(u32, u8)> {
    const REGS: &[(u32, [&str; 4])] = &[
        (80, ["rax", "eax", "ax", "al"]),
        (40, ["rbx", "ebx", "bx", "bl"]),
        (88, ["rcx", "ecx", "cx", "cl"]),
        (96, ["rdx", "edx", "dx", "dl"]),
        (104, ["rsi", "esi", "si", "sil"]),
        (112, ["rdi", "edi", "di", "dil"]),
        (32, ["rbp", "ebp", "bp", "bpl"]),
        (152, ["rsp", "esp", "sp", "spl"]),
        (72, ["r8", "r8d", "r8w", "r8b"]),
        (64, ["r9", "r9d", "r9w", "r9b"]),
        (56, ["r10", "r10d", "r10w", "r10b"]),
        (48, ["r11", "r11d", "r11w", "r11b"]),
        (24, ["r12", "r12d", "r12w", "r12b"]),
        (16, ["r13", "r13d", "r13w", "r13b"]),
        (8, ["r14", "r14d", "r14w", "r14b"]),
        (0, ["r15", "r15d", "r15w", "r15b"]),
        (128, ["rip", "eip", "ip", ""]),
    ];
    REGS.iter().find_map(|(off, names)| {
        names
            .iter()
            .position(|n| !n.is_empty() && *n == name)
            .map(|i| (*off, [8, 4, 2, 1][i]))
    })
}
