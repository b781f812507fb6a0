//! Typing and code for each kind of expression, with C's conversions.
use lab_probes_common::vm::{op, Insn};

use super::{err, Compiler, Place, Val};
use crate::probespec::{
    ctype::{Type, INT, LONG, UINT, ULONG},
    parse::{Expr, ExprKind},
    SpecError,
};

/// C's usual arithmetic conversions for two integer types (LP64).
fn common(a: &Type, b: &Type) -> Type {
    let promote = |t: &Type| match t {
        Type::Int { size: 8, signed } => Type::Int {
            size: 8,
            signed: *signed,
        },
        Type::Int {
            size: 4,
            signed: false,
        } => UINT,
        Type::Ptr(_) => ULONG,
        _ => INT,
    };
    let (a, b) = (promote(a), promote(b));
    let (
        Type::Int {
            size: sa,
            signed: ga,
        },
        Type::Int {
            size: sb,
            signed: gb,
        },
    ) = (&a, &b)
    else {
        return LONG;
    };
    let size = (*sa).max(*sb);
    let signed = if sa == sb {
        *ga && *gb
    } else if sa > sb {
        *ga
    } else {
        *gb
    };
    Type::Int { size, signed }
}

impl Compiler<'_> {
    /// Type and place of `e` (nothing loaded yet unless it had to be computed).
    pub fn expr(&mut self, e: &Expr) -> Result<Val, SpecError> {
        match &e.kind {
            ExprKind::Int(v) => {
                let ty = if *v <= i32::MAX as u64 {
                    INT
                } else if *v <= i64::MAX as u64 {
                    LONG
                } else {
                    ULONG
                };
                Ok(Val::new(Place::Const(*v), ty))
            }
            ExprKind::Str(_) => err(
                e.pos,
                "a string literal can only be compared (== \"...\", STRCMP)",
            ),
            ExprKind::Name(n) => self.name(n, e.pos),
            ExprKind::Member(base, field, arrow) => self.member(base, field, *arrow, e.pos),
            ExprKind::Index(base, idx) => self.index(base, idx),
            ExprKind::Unary(op, a) => self.unary(op, a, e.pos),
            ExprKind::Binary(op, a, b) => self.binary(op, a, b, e.pos),
            ExprKind::Cast(tn, a) => {
                let ty = self
                    .types
                    .named(tn)
                    .map_err(|m| super::super::SpecError::at(tn.pos, m))?;
                self.cast(ty, a, e.pos)
            }
            ExprKind::Call(name, args) => self.call(name, args, e.pos),
            ExprKind::Cond(c, a, b) => self.cond(c, a, b, e.pos),
        }
    }

    fn scalar(&mut self, e: &Expr) -> Result<(u8, Type), SpecError> {
        let v = self.expr(e)?;
        if !v.ty.is_scalar() && v.ty.pointee().is_none() && v.ty != Type::DataLoc {
            return err(
                e.pos,
                format!("expected a number or pointer, found {}", v.ty),
            );
        }
        let ty = match &v.ty {
            Type::Array(t, _) => Type::Ptr(t.clone()),
            Type::DataLoc => Type::ptr_to(Type::Char),
            t => t.clone(),
        };
        Ok((self.rvalue(v, e.pos)?, ty))
    }

    fn unary(&mut self, op_: &str, a: &Expr, pos: usize) -> Result<Val, SpecError> {
        match op_ {
            "*" => {
                let (r, ty) = self.scalar(a)?;
                let Some(t) = ty.pointee().cloned() else {
                    return err(pos, format!("cannot dereference {ty}: not a pointer"));
                };
                Ok(Val::new(Place::Mem { base: r, off: 0 }, t))
            }
            "&" => {
                let v = self.expr(a)?;
                let r = self.address(v.place, pos)?;
                Ok(Val::new(Place::Reg(r), Type::ptr_to(v.ty)))
            }
            "+" => self.expr(a),
            _ => {
                let (r, ty) = self.scalar(a)?;
                let (code, ty) = match op_ {
                    "!" => (op::NOT, INT),
                    "-" => (op::NEG, common(&ty, &INT)),
                    _ => (op::BNOT, common(&ty, &INT)),
                };
                self.op(code, r, r, 0);
                Ok(Val::new(Place::Reg(r), ty))
            }
        }
    }

    fn binary(&mut self, op_: &str, a: &Expr, b: &Expr, pos: usize) -> Result<Val, SpecError> {
        if matches!(op_, "==" | "!=") {
            match (lit(a), lit(b)) {
                (_, Some(s)) => return self.string_eq(a, s, op_ == "!=", pos),
                (Some(s), _) => return self.string_eq(b, s, op_ == "!=", pos),
                _ => {}
            }
        }
        let (ra, ta) = self.scalar(a)?;
        let (rb, tb) = self.scalar(b)?;
        let ptr_a = matches!(ta, Type::Ptr(_));
        let ptr_b = matches!(tb, Type::Ptr(_));
        let (code, ty) = match op_ {
            "+" | "-" if ptr_a && !ptr_b => {
                self.scale(rb, &ta, pos)?;
                (if op_ == "+" { op::ADD } else { op::SUB }, ta.clone())
            }
            "+" if ptr_b && !ptr_a => {
                self.scale(ra, &tb, pos)?;
                (op::ADD, tb.clone())
            }
            "+" => (op::ADD, common(&ta, &tb)),
            "-" => (
                op::SUB,
                if ptr_a && ptr_b {
                    LONG
                } else {
                    common(&ta, &tb)
                },
            ),
            "*" => (op::MUL, common(&ta, &tb)),
            "/" => (op::DIV, common(&ta, &tb)),
            "%" => (op::MOD, common(&ta, &tb)),
            "&" => (op::AND, common(&ta, &tb)),
            "|" => (op::OR, common(&ta, &tb)),
            "^" => (op::XOR, common(&ta, &tb)),
            "<<" => (op::SHL, common(&ta, &INT)),
            ">>" => (op::SHR, common(&ta, &INT)),
            "&&" => (op::LAND, INT),
            "||" => (op::LOR, INT),
            _ => return self.compare(op_, (ra, &ta), (rb, &tb)),
        };
        let signed = ty.is_signed();
        self.emit(Insn {
            op: code,
            dst: ra,
            a: ra,
            b: rb,
            signed: signed.into(),
            ..Default::default()
        });
        self.release(rb);
        self.truncate(ra, &ty);
        Ok(Val::new(Place::Reg(ra), ty))
    }

    fn compare(
        &mut self,
        op_: &str,
        (ra, ta): (u8, &Type),
        (rb, tb): (u8, &Type),
    ) -> Result<Val, SpecError> {
        let signed = common(ta, tb).is_signed();
        let (code, x, y) = match op_ {
            "==" => (op::EQ, ra, rb),
            "!=" => (op::NE, ra, rb),
            "<" => (op::LT, ra, rb),
            "<=" => (op::LE, ra, rb),
            ">" => (op::LT, rb, ra),
            _ => (op::LE, rb, ra),
        };
        self.emit(Insn {
            op: code,
            dst: ra,
            a: x,
            b: y,
            signed: signed.into(),
            ..Default::default()
        });
        self.release(rb);
        Ok(Val::new(Place::Reg(ra), INT))
    }

    /// Multiply `r` by the size of what pointer type `ptr` points to.
    fn scale(&mut self, r: u8, ptr: &Type, pos: usize) -> Result<(), SpecError> {
        let size = ptr.pointee().map(Type::size).unwrap_or(1).max(1);
        if size > 1 {
            self.constant(r, pos, u64::from(size), |c, r, k| c.op(op::MUL, r, r, k))?;
        }
        Ok(())
    }

    /// Arithmetic on narrow types wraps at their width.
    fn truncate(&mut self, r: u8, ty: &Type) {
        self.ext_to(r, ty);
    }

    fn cast(&mut self, ty: Type, a: &Expr, pos: usize) -> Result<Val, SpecError> {
        if !ty.is_scalar() {
            return err(pos, format!("cannot cast to {ty}"));
        }
        let (r, _) = self.scalar(a)?;
        self.ext_to(r, &ty);
        Ok(Val::new(Place::Reg(r), ty))
    }

    /// `c ? a : b` as b + (a - b) * (c != 0): both sides are evaluated (they have no effects).
    fn cond(&mut self, c: &Expr, a: &Expr, b: &Expr, pos: usize) -> Result<Val, SpecError> {
        let (rc, _) = self.scalar(c)?;
        let (ra, ta) = self.scalar(a)?;
        let (rb, tb) = self.scalar(b)?;
        self.constant(rc, pos, 0, |c, r, k| c.op(op::NE, r, r, k))?;
        self.op(op::SUB, ra, ra, rb);
        self.op(op::MUL, ra, ra, rc);
        self.op(op::ADD, rb, rb, ra);
        self.release(ra);
        self.release(rc);
        let ty = if ta.is_integer() && tb.is_integer() {
            common(&ta, &tb)
        } else {
            ta
        };
        Ok(Val::new(Place::Reg(rb), ty))
    }

    /// `s == "lit"`: the string at `s` equals the literal.
    pub(super) fn string_eq(
        &mut self,
        s: &Expr,
        lit: &[u8],
        negate: bool,
        pos: usize,
    ) -> Result<Val, SpecError> {
        let (r, ty) = self.scalar(s)?;
        if !ty.is_string() && !matches!(ty, Type::Ptr(_)) && !ty.is_integer() {
            return err(s.pos, format!("cannot compare {ty} with a string"));
        }
        let at = self.literal(lit, pos)?;
        self.emit(Insn {
            op: op::STREQ,
            dst: r,
            a: r,
            off: at,
            imm: lit.len() as u64,
            ..Default::default()
        });
        if negate {
            self.op(op::NOT, r, r, 0);
        }
        Ok(Val::new(Place::Reg(r), INT))
    }
}

fn lit(e: &Expr) -> Option<&[u8]> {
    match &e.kind {
        ExprKind::Str(s) => Some(s),
        _ => None,
    }
}
