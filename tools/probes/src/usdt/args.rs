//! USDT argument specs (x86_64): the text a `.note.stapsdt` note carries for each argument,
//! `SIZE@OPERAND` with the operand in AT&T syntax as the compiler chose it:
//! `-4@%edi` (a register), `8@-8(%rbp)` (memory at register + displacement),
//! `8@(%rax,%rdx,8)` (+ index register * scale), `4@$5` (a constant), `-4@counter(%rip)` or
//! `8@sym+16(%rip)` (a global). SIZE is the byte count, negative when the value is signed; a
//! spec without it takes the register's width. Decoded into [`UsdtArg`]: registers as their
//! offsets in the kernel's `struct pt_regs`, which is what a BPF program reads at the probe.
use anyhow::{bail, Result};

/// Where a USDT argument is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsdtLoc {
    Const(i64),
    /// A register: its pt_regs offset.
    Reg(u32),
    /// Memory at register + displacement (+ index register * scale). A global (`sym(%rip)`)
    /// is memory at the probe's own address (pt_regs->ip at a uprobe) + its distance from it.
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

/// x86_64 registers an operand can name: (name, pt_regs offset, width in bytes). The pt_regs
/// layout is the kernel ABI's (arch/x86/include/asm/ptrace.h): r15 at 0 ... ss at 160.
const REGS: &[(&str, u32, u8)] = &[
    ("rax", 80, 8),
    ("eax", 80, 4),
    ("ax", 80, 2),
    ("al", 80, 1),
    ("rbx", 40, 8),
    ("ebx", 40, 4),
    ("bx", 40, 2),
    ("bl", 40, 1),
    ("rcx", 88, 8),
    ("ecx", 88, 4),
    ("cx", 88, 2),
    ("cl", 88, 1),
    ("rdx", 96, 8),
    ("edx", 96, 4),
    ("dx", 96, 2),
    ("dl", 96, 1),
    ("rsi", 104, 8),
    ("esi", 104, 4),
    ("si", 104, 2),
    ("sil", 104, 1),
    ("rdi", 112, 8),
    ("edi", 112, 4),
    ("di", 112, 2),
    ("dil", 112, 1),
    ("rbp", 32, 8),
    ("ebp", 32, 4),
    ("bp", 32, 2),
    ("bpl", 32, 1),
    ("rsp", 152, 8),
    ("esp", 152, 4),
    ("sp", 152, 2),
    ("spl", 152, 1),
    ("r8", 72, 8),
    ("r8d", 72, 4),
    ("r8w", 72, 2),
    ("r8b", 72, 1),
    ("r9", 64, 8),
    ("r9d", 64, 4),
    ("r9w", 64, 2),
    ("r9b", 64, 1),
    ("r10", 56, 8),
    ("r10d", 56, 4),
    ("r10w", 56, 2),
    ("r10b", 56, 1),
    ("r11", 48, 8),
    ("r11d", 48, 4),
    ("r11w", 48, 2),
    ("r11b", 48, 1),
    ("r12", 24, 8),
    ("r12d", 24, 4),
    ("r12w", 24, 2),
    ("r12b", 24, 1),
    ("r13", 16, 8),
    ("r13d", 16, 4),
    ("r13w", 16, 2),
    ("r13b", 16, 1),
    ("r14", 8, 8),
    ("r14d", 8, 4),
    ("r14w", 8, 2),
    ("r14b", 8, 1),
    ("r15", 0, 8),
    ("r15d", 0, 4),
    ("r15w", 0, 2),
    ("r15b", 0, 1),
    ("rip", 128, 8),
];

/// pt_regs offset of the instruction pointer: at a uprobe it holds the probe's address.
pub const IP: u32 = 128;

/// BCC's name for the register at pt_regs offset `off` (`ax`, `bp`, `r13`, `ip`), as tplist -vv
/// prints it.
pub fn reg_name(off: u32) -> &'static str {
    match off {
        80 => "ax",
        40 => "bx",
        88 => "cx",
        96 => "dx",
        104 => "si",
        112 => "di",
        32 => "bp",
        152 => "sp",
        72 => "r8",
        64 => "r9",
        56 => "r10",
        48 => "r11",
        24 => "r12",
        16 => "r13",
        8 => "r14",
        0 => "r15",
        IP => "ip",
        _ => "?",
    }
}

/// A global the operand names (`counter` in `-4@counter+8(%rip)`), resolved by the caller to
/// its distance from the probe.
pub type Resolve<'a> = &'a dyn Fn(&str) -> Option<i64>;

/// Parse every argument of a note's argument string (space-separated specs).
pub fn parse_all(text: &str, global: Resolve<'_>) -> Result<Vec<UsdtArg>> {
    text.split_whitespace().map(|a| parse(a, global)).collect()
}

/// Parse one argument spec; `global` gives a named global's address relative to the probe.
pub fn parse(spec: &str, global: Resolve<'_>) -> Result<UsdtArg> {
    let (size, operand) = match spec.split_once('@') {
        Some((n, op)) => match n.parse::<i8>() {
            Ok(n @ (-8 | -4 | -2 | -1 | 1 | 2 | 4 | 8)) => (Some(n), op),
            _ => bail!("USDT argument '{spec}': size '{n}' is not 1, 2, 4 or 8 (negative: signed)"),
        },
        None => (None, spec),
    };
    let (loc, width) =
        operand_of(operand).map_err(|why| anyhow::anyhow!("USDT argument '{spec}': {why}"))?;
    let loc = match loc {
        Operand::Loc(l) => l,
        Operand::Global { name, disp, base } => {
            if base != IP {
                bail!("USDT argument '{spec}': a named global must be %rip-relative");
            }
            let Some(at) = global(name) else {
                bail!("USDT argument '{spec}': no symbol '{name}' in the binary");
            };
            UsdtLoc::Mem {
                base: IP,
                disp: at + disp,
                index: None,
            }
        }
    };
    let (size, signed) = match size {
        Some(n) => (n.unsigned_abs(), n < 0),
        None => (width.unwrap_or(8), true),
    };
    Ok(UsdtArg { loc, size, signed })
}

enum Operand<'a> {
    Loc(UsdtLoc),
    Global { name: &'a str, disp: i64, base: u32 },
}

fn reg(text: &str) -> Result<(u32, u8), String> {
    let name = text
        .strip_prefix('%')
        .ok_or_else(|| format!("'{text}' is not a register"))?;
    REGS.iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, off, w)| (off, w))
        .ok_or_else(|| format!("unknown register '%{name}' (x86_64 general registers only)"))
}

fn number(text: &str) -> Result<i64, String> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(h) => u64::from_str_radix(h, 16).map(|u| u as i64),
        None => digits.parse::<i64>(),
    }
    .map_err(|_| format!("'{text}' is not a number"))?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// The operand and, for a register operand, the register's width.
fn operand_of(op: &str) -> Result<(Operand<'_>, Option<u8>), String> {
    if let Some(c) = op.strip_prefix('$') {
        return Ok((Operand::Loc(UsdtLoc::Const(number(c)?)), None));
    }
    if op.starts_with('%') {
        let (off, w) = reg(op)?;
        return Ok((Operand::Loc(UsdtLoc::Reg(off)), Some(w)));
    }
    let Some(open) = op.find('(') else {
        return Err(format!("cannot read operand '{op}'"));
    };
    let inner = op[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| format!("'{op}': no closing parenthesis"))?;
    let mut parts = inner.split(',');
    let base = parts
        .next()
        .filter(|b| !b.is_empty())
        .ok_or("no base register")?;
    let (base, _) = reg(base)?;
    let index = match (parts.next(), parts.next()) {
        (None, _) => None,
        (Some(ix), scale) => {
            let scale = match scale.map(number).transpose()? {
                None => 1,
                Some(s @ (1 | 2 | 4 | 8)) => s as u8,
                Some(s) => return Err(format!("scale {s} is not 1, 2, 4 or 8")),
            };
            Some((reg(ix)?.0, scale))
        }
    };
    if parts.next().is_some() {
        return Err(format!("'{op}': too many parts in parentheses"));
    }
    let (name, disp) = displacement(&op[..open])?;
    match name {
        Some(name) if index.is_none() => Ok((Operand::Global { name, disp, base }, None)),
        Some(_) => Err(format!("'{op}': a global with an index register")),
        None => Ok((Operand::Loc(UsdtLoc::Mem { base, disp, index }), None)),
    }
}

/// `-8`, `0x10`, `sym`, `sym+8`, `sym-8`, `8+sym`: the symbol (if any) and the number.
fn displacement(text: &str) -> Result<(Option<&str>, i64), String> {
    if text.is_empty() {
        return Ok((None, 0));
    }
    let starts_numeric =
        |s: &str| s.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
    if starts_numeric(text) {
        // A number, or `8+sym`.
        let end = text[1..].find(['+']).map(|i| i + 1);
        return match end {
            None => Ok((None, number(text)?)),
            Some(i) => Ok((Some(&text[i + 1..]), number(&text[..i])?)),
        };
    }
    match text.find(['+', '-']) {
        None => Ok((Some(text), 0)),
        Some(i) => Ok((Some(&text[..i]), number(&text[i..])?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> UsdtArg {
        parse(s, &|name| (name == "counter").then_some(0x2000)).unwrap()
    }

    #[test]
    fn registers_constants_and_memory() {
        assert_eq!(
            p("-4@%edi"),
            UsdtArg {
                loc: UsdtLoc::Reg(112),
                size: 4,
                signed: true
            }
        );
        assert_eq!(
            p("8@%rax"),
            UsdtArg {
                loc: UsdtLoc::Reg(80),
                size: 8,
                signed: false
            }
        );
        assert_eq!(
            p("1@%r13b"),
            UsdtArg {
                loc: UsdtLoc::Reg(16),
                size: 1,
                signed: false
            }
        );
        assert_eq!(
            p("4@$5"),
            UsdtArg {
                loc: UsdtLoc::Const(5),
                size: 4,
                signed: false
            }
        );
        assert_eq!(
            p("-8@$-1"),
            UsdtArg {
                loc: UsdtLoc::Const(-1),
                size: 8,
                signed: true
            }
        );
        let mem = |base, disp, index| UsdtLoc::Mem { base, disp, index };
        assert_eq!(p("8@-8(%rbp)").loc, mem(32, -8, None));
        assert_eq!(p("-4@0x10(%rsp)").loc, mem(152, 16, None));
        assert_eq!(p("8@(%rax,%rdx,8)").loc, mem(80, 0, Some((96, 8))));
        assert_eq!(p("2@4(%rbx,%rcx)").loc, mem(40, 4, Some((88, 1))));
    }

    #[test]
    fn globals_are_ip_relative() {
        let g = |base, disp| UsdtLoc::Mem {
            base,
            disp,
            index: None,
        };
        assert_eq!(p("-4@counter(%rip)").loc, g(IP, 0x2000));
        assert_eq!(p("8@counter+8(%rip)").loc, g(IP, 0x2008));
        assert_eq!(p("8@8+counter(%rip)").loc, g(IP, 0x2008));
        assert!(parse("4@missing(%rip)", &|_| None)
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }

    #[test]
    fn no_size_takes_the_register_width() {
        assert_eq!(
            p("%eax"),
            UsdtArg {
                loc: UsdtLoc::Reg(80),
                size: 4,
                signed: true
            }
        );
        assert_eq!(
            parse_all("-4@%edi 8@%rsi  -8@$3", &|_| None).unwrap().len(),
            3
        );
    }

    #[test]
    fn bad_specs_name_themselves() {
        for bad in [
            "3@%eax",
            "4@%xmm0",
            "4@",
            "8@-8(%rbp",
            "8@(%rax,%rdx,3)",
            "4@$x",
            "x@%eax",
        ] {
            let e = parse(bad, &|_| None).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }
}
