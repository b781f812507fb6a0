//! Values stored into the record (trace's event, argdist's key): where each one is and how to
//! read it back.
use lab_probes_common::vm::{op, Insn};

use super::{err, Compiler, Val};
use crate::probespec::{ctype::Type, parse::Expr, SpecError};

/// How a stored value reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotKind {
    /// 8 bytes: the value extended to 64 bits per its type.
    Scalar(Type),
    /// NUL-terminated (or filling the slot) text.
    Str,
}

/// A value in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub off: u32,
    pub len: u32,
    pub kind: SlotKind,
}

impl Compiler<'_> {
    fn reserve(&mut self, len: u32, align: u32, limit: u32, pos: usize) -> Result<u32, SpecError> {
        let off = self.record.next_multiple_of(align);
        if off + len > limit {
            return err(pos, format!("the values need more than the {limit} bytes a record holds (fewer values or a smaller string size)"));
        }
        self.record = off + len;
        Ok(off)
    }

    /// Store the number or pointer `e` (8 bytes).
    pub fn store_scalar(&mut self, e: &Expr, limit: u32) -> Result<Slot, SpecError> {
        let v = self.expr(e)?;
        let ty = match &v.ty {
            Type::Array(t, _) => Type::Ptr(t.clone()),
            Type::DataLoc => Type::ptr_to(Type::Char),
            t if t.is_scalar() => t.clone(),
            t => {
                return err(
                    e.pos,
                    format!("cannot print or count {t} (name a member, or a pointer to it)"),
                )
            }
        };
        let r = self.rvalue(v, e.pos)?;
        self.store_reg(r, ty, limit, e.pos)
    }

    /// Store r (8 bytes) as a value of type `ty`.
    fn store_reg(&mut self, r: u8, ty: Type, limit: u32, pos: usize) -> Result<Slot, SpecError> {
        let off = self.reserve(8, 8, limit, pos)?;
        self.emit(Insn {
            op: op::STORE,
            a: r,
            size: 8,
            off,
            ..Default::default()
        });
        self.release(r);
        Ok(Slot {
            off,
            len: 8,
            kind: SlotKind::Scalar(ty),
        })
    }

    /// Store `e` converted to the integer or pointer type `ty` (argdist's declared types).
    pub fn store_as(&mut self, e: &Expr, ty: &Type, limit: u32) -> Result<Slot, SpecError> {
        let r = self.value_as(e, ty)?;
        self.store_reg(r, ty.clone(), limit, e.pos)
    }

    /// Evaluate `e` as `ty` into r0 (argdist -H: the value to count in the histogram).
    pub fn result_as(&mut self, e: &Expr, ty: &Type) -> Result<(), SpecError> {
        let r = self.value_as(e, ty)?;
        self.op(op::OR, 0, r, r);
        self.release(r);
        Ok(())
    }

    fn value_as(&mut self, e: &Expr, ty: &Type) -> Result<u8, SpecError> {
        if !ty.is_scalar() {
            return err(e.pos, format!("cannot collect a value of type {ty}"));
        }
        let v = self.expr(e)?;
        if !v.ty.is_scalar() && v.ty.pointee().is_none() && v.ty != Type::DataLoc {
            return err(
                e.pos,
                format!("expected a number or pointer, found {}", v.ty),
            );
        }
        let r = self.rvalue(v, e.pos)?;
        self.ext_to(r, ty);
        Ok(r)
    }

    /// Store the text `e` points to or holds, at most `len` bytes (%s, argdist char*).
    pub fn store_string(&mut self, e: &Expr, len: u32, limit: u32) -> Result<Slot, SpecError> {
        let v = self.expr(e)?;
        let (code, len) = match &v.ty {
            Type::Array(_, n) => (op::STORE_BYTES, len.min(v.ty.size().max(*n)).max(1)),
            Type::Struct(a) => {
                return err(e.pos, format!("cannot print struct {} as a string", a.name))
            }
            Type::Void => return err(e.pos, "this has no value (void)"),
            _ => (op::STORE_STR, len),
        };
        let r = self.rvalue(v, e.pos)?;
        let off = self.reserve(len, 1, limit, e.pos)?;
        self.emit(Insn {
            op: code,
            a: r,
            off,
            imm: u64::from(len),
            ..Default::default()
        });
        self.release(r);
        Ok(Slot {
            off,
            len,
            kind: SlotKind::Str,
        })
    }

    /// Store the current task's name (argdist `$COMM`).
    pub fn store_comm(&mut self, pos: usize, limit: u32) -> Result<Slot, SpecError> {
        let off = self.reserve(16, 1, limit, pos)?;
        self.emit(Insn {
            op: op::STORE_COMM,
            off,
            ..Default::default()
        });
        Ok(Slot {
            off,
            len: 16,
            kind: SlotKind::Str,
        })
    }

    /// The type `e` has, without code for it (what %s, -C keys and labels need to know).
    pub fn type_of(&mut self, e: &Expr) -> Result<Type, SpecError> {
        let (insns, strs, used, need_entry) = (
            self.insns.len(),
            self.strs.len(),
            self.used,
            self.need_entry,
        );
        let v: Val = self.expr(e)?;
        self.insns.truncate(insns);
        self.strs.truncate(strs);
        self.used = used;
        self.need_entry = need_entry;
        Ok(v.ty)
    }
}
