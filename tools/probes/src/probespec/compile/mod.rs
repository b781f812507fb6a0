//! From typed expressions to probe-VM instructions: registers, places (where a value lives
//! until it is needed), loads with the right size and sign, and the record the values go to.
mod expr;
mod names;
mod record;

use lab_probes_common::vm::{op, Insn, MAX_STREQ, MAX_STRS, NREGS};

pub use record::{Slot, SlotKind};

use super::{
    ctype::{Type, Types},
    scope::Scope,
    SpecError,
};
use crate::probevm::Program;

/// Where a value is before it is loaded into a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Already in a register.
    Reg(u8),
    /// In memory at r[base] + off (user or kernel, by address).
    Mem {
        base: u8,
        off: i64,
    },
    /// In the probe's context at this offset: a tracepoint field or a pt_regs slot.
    Ctx(u32),
    /// An argument saved at function entry (1-based).
    EntryArg(u32),
    Const(u64),
}

/// A typed value; `bits` = (shift, width) for a bitfield.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Val {
    pub place: Place,
    pub ty: Type,
    pub bits: Option<(u32, u32)>,
}

impl Val {
    pub fn new(place: Place, ty: Type) -> Self {
        Self {
            place,
            ty,
            bits: None,
        }
    }
}

/// Compiles one probe's filter and values into one program.
pub struct Compiler<'a> {
    pub scope: &'a Scope,
    pub types: Types<'a>,
    insns: Vec<Insn>,
    strs: Vec<u8>,
    used: [bool; NREGS],
    /// `$entry(...)` or `$latency` was used (a return probe then needs its entry program).
    pub need_entry: bool,
    /// Next free byte of the record (trace: after the header; argdist: the key).
    record: u32,
}

pub(crate) fn err<T>(pos: usize, msg: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError::at(pos, msg))
}

impl<'a> Compiler<'a> {
    /// A compiler whose record starts at byte `record_start`.
    pub fn new(scope: &'a Scope, types: Types<'a>, record_start: u32) -> Self {
        Self {
            scope,
            types,
            insns: Vec::new(),
            strs: Vec::new(),
            used: [true, false, false, false, false, false, false, false],
            need_entry: false,
            record: record_start,
        }
    }

    fn emit(&mut self, i: Insn) {
        self.insns.push(i);
    }

    fn op(&mut self, op: u8, dst: u8, a: u8, b: u8) {
        self.emit(Insn {
            op,
            dst,
            a,
            b,
            ..Default::default()
        });
    }

    fn alloc(&mut self, pos: usize) -> Result<u8, SpecError> {
        match self.used.iter().position(|u| !u) {
            Some(r) => {
                self.used[r] = true;
                Ok(r as u8)
            }
            None => err(pos, "expression too complex (the probe VM has 7 registers)"),
        }
    }

    fn release(&mut self, r: u8) {
        if r != 0 {
            self.used[r as usize] = false;
        }
    }

    /// Add a string literal; its offset in the literal table.
    fn literal(&mut self, s: &[u8], pos: usize) -> Result<u32, SpecError> {
        if s.len() > MAX_STREQ {
            return err(
                pos,
                format!("string literals compare at most {MAX_STREQ} bytes"),
            );
        }
        if self.strs.len() + s.len() > MAX_STRS {
            return err(
                pos,
                format!("more than {MAX_STRS} bytes of string literals"),
            );
        }
        let at = self.strs.len() as u32;
        self.strs.extend_from_slice(s);
        Ok(at)
    }

    /// Keep the event only when `e` is true (non-zero).
    pub fn filter(&mut self, e: &super::parse::Expr) -> Result<(), SpecError> {
        let v = self.expr(e)?;
        if !v.ty.is_scalar() {
            return err(
                e.pos,
                format!("a filter must be a number or pointer, not {}", v.ty),
            );
        }
        let r = self.rvalue(v, e.pos)?;
        self.op(op::FILTER, 0, r, 0);
        self.release(r);
        Ok(())
    }

    /// Evaluate `e` into r0 (argdist -H's value).
    pub fn result(&mut self, e: &super::parse::Expr) -> Result<Type, SpecError> {
        let v = self.expr(e)?;
        if !v.ty.is_scalar() {
            return err(e.pos, format!("a histogram needs a number, not {}", v.ty));
        }
        let ty = v.ty.clone();
        let r = self.rvalue(v, e.pos)?;
        self.op(op::OR, 0, r, r);
        self.release(r);
        Ok(ty)
    }

    /// The finished program; `record_size` is the trace record's length.
    pub fn finish(mut self) -> Program {
        self.op(op::END, 0, 0, 0);
        Program {
            insns: self.insns,
            strs: self.strs,
            record_size: self.record.next_multiple_of(8),
            need_entry: self.need_entry,
        }
    }

    /// Load `v` into a register: scalars as their size and sign, arrays and `__data_loc`
    /// strings as their address.
    pub fn rvalue(&mut self, v: Val, pos: usize) -> Result<u8, SpecError> {
        let size = v.ty.size().min(8) as u8;
        let signed = v.ty.is_signed();
        match (&v.ty, v.place) {
            (Type::Struct(a), _) => err(
                pos,
                format!("cannot use a whole struct {} here: name a member", a.name),
            ),
            (Type::Void, _) => err(pos, "this has no value (void)"),
            (Type::DataLoc, Place::Ctx(off)) => {
                let r = self.alloc(pos)?;
                self.load_ctx(r, off, 4, false);
                self.constant(r, pos, 0xffff, |c, r, k| c.op(op::AND, r, r, k))?;
                let base = self.alloc(pos)?;
                self.emit(Insn {
                    op: op::FIELD_ADDR,
                    dst: base,
                    ..Default::default()
                });
                self.op(op::ADD, r, r, base);
                self.release(base);
                Ok(r)
            }
            (Type::Array(..), place) => self.address(place, pos),
            (_, Place::Reg(r)) => Ok(r),
            (_, Place::Const(k)) => {
                let r = self.alloc(pos)?;
                self.emit(Insn {
                    op: op::CONST,
                    dst: r,
                    imm: k,
                    ..Default::default()
                });
                Ok(r)
            }
            (_, Place::Ctx(off)) => {
                let r = self.alloc(pos)?;
                self.load_ctx(r, off, size, signed);
                self.bitfield(r, v.bits, signed, pos)
            }
            (_, Place::EntryArg(n)) => {
                let r = self.alloc(pos)?;
                self.emit(Insn {
                    op: op::ENTRY_ARG,
                    dst: r,
                    off: n,
                    ..Default::default()
                });
                self.ext(r, size, signed);
                Ok(r)
            }
            (_, Place::Mem { base, off }) => {
                self.emit(Insn {
                    op: op::LOAD,
                    dst: base,
                    a: base,
                    size,
                    signed: signed.into(),
                    imm: off as u64,
                    ..Default::default()
                });
                self.bitfield(base, v.bits, signed, pos)
            }
        }
    }

    /// Keep the low `size` bytes of r, sign- or zero-extended (nothing to do for 8).
    fn ext(&mut self, r: u8, size: u8, signed: bool) {
        if size < 8 {
            self.emit(Insn {
                op: op::EXT,
                dst: r,
                a: r,
                size,
                signed: signed.into(),
                ..Default::default()
            });
        }
    }

    /// Convert r to integer type `ty` (C's conversion; pointers and 8-byte types stay).
    fn ext_to(&mut self, r: u8, ty: &Type) {
        match ty {
            Type::Int { size, signed } => self.ext(r, *size, *signed),
            Type::Char => self.ext(r, 1, true),
            Type::Bool => self.ext(r, 1, false),
            _ => {}
        }
    }

    fn load_ctx(&mut self, r: u8, off: u32, size: u8, signed: bool) {
        self.emit(Insn {
            op: op::FIELD,
            dst: r,
            size,
            signed: signed.into(),
            off,
            ..Default::default()
        });
    }

    /// Extract a bitfield from the unit loaded in `r`: shift it to the top, then back down.
    fn bitfield(
        &mut self,
        r: u8,
        bits: Option<(u32, u32)>,
        signed: bool,
        pos: usize,
    ) -> Result<u8, SpecError> {
        let Some((shift, width)) = bits else {
            return Ok(r);
        };
        let up = 64 - shift - width;
        self.constant(r, pos, u64::from(up), |c, r, k| c.op(op::SHL, r, r, k))?;
        self.constant(r, pos, u64::from(64 - width), |c, r, k| {
            c.emit(Insn {
                op: op::SHR,
                dst: r,
                a: r,
                b: k,
                signed: signed.into(),
                ..Default::default()
            })
        })?;
        Ok(r)
    }

    /// Run `f(self, r, k)` with constant `v` in a scratch register k.
    fn constant(
        &mut self,
        r: u8,
        pos: usize,
        v: u64,
        f: impl FnOnce(&mut Self, u8, u8),
    ) -> Result<(), SpecError> {
        let k = self.alloc(pos)?;
        self.emit(Insn {
            op: op::CONST,
            dst: k,
            imm: v,
            ..Default::default()
        });
        f(self, r, k);
        self.release(k);
        Ok(())
    }

    /// The address of the value at `place` (arrays decay; `&x`).
    fn address(&mut self, place: Place, pos: usize) -> Result<u8, SpecError> {
        match place {
            Place::Mem { base, off } => {
                if off != 0 {
                    self.constant(base, pos, off as u64, |c, r, k| c.op(op::ADD, r, r, k))?;
                }
                Ok(base)
            }
            Place::Ctx(off) => {
                let r = self.alloc(pos)?;
                self.emit(Insn {
                    op: op::FIELD_ADDR,
                    dst: r,
                    off,
                    ..Default::default()
                });
                Ok(r)
            }
            _ => err(pos, "cannot take the address of this value"),
        }
    }
}
