//! Names (`arg1`, parameters, `retval`, `args->field`, `$pid`...), members, indexing, calls.
use lab_probes_common::vm::{op, Insn};

use super::{err, Compiler, Place, Val};
use crate::probespec::{
    ctype::{Agg, MemberOf, Type, UINT},
    parse::{Expr, ExprKind},
    scope::{At, UsdtLoc, ARG_REGS, RET_REG},
    SpecError,
};

impl Compiler<'_> {
    pub(super) fn name(&mut self, n: &str, pos: usize) -> Result<Val, SpecError> {
        if let Some(k) = n.strip_prefix("arg").and_then(|k| k.parse::<u32>().ok()) {
            return self.arg(k, pos);
        }
        let single = |c: &mut Self, code| -> Result<Val, SpecError> {
            let r = c.alloc(pos)?;
            c.emit(Insn {
                op: code,
                dst: r,
                ..Default::default()
            });
            Ok(Val::new(Place::Reg(r), UINT))
        };
        match n {
            "retval" | "$retval" => self.retval(pos),
            "$pid" => single(self, op::PID),
            "$tgid" | "$PID" => single(self, op::TGID),
            "$uid" => single(self, op::UID),
            "$gid" => single(self, op::GID),
            "$cpu" => single(self, op::CPU),
            "$task" => {
                let r = self.alloc(pos)?;
                self.emit(Insn {
                    op: op::TASK,
                    dst: r,
                    ..Default::default()
                });
                let ty = self.types.named(&crate::probespec::parse::parse_type(
                    "struct task_struct *",
                    0,
                )?);
                let ty = ty.map_err(|m| SpecError::at(pos, m))?;
                Ok(Val::new(Place::Reg(r), ty))
            }
            "$latency" => self.latency(pos),
            "$comm" | "$COMM" => {
                let r = self.alloc(pos)?;
                self.emit(Insn {
                    op: op::COMM,
                    dst: r,
                    ..Default::default()
                });
                Ok(Val::new(Place::Reg(r), Type::ptr_to(Type::Char)))
            }
            "args" if self.scope.at == At::Tracepoint => {
                err(pos, "use a field of the tracepoint: args->FIELD")
            }
            _ => match self.scope.param(n) {
                Some((k, ty)) => self.param_at(k, ty, pos),
                None => err(pos, self.unknown(n)),
            },
        }
    }

    fn unknown(&self, n: &str) -> String {
        let names: Vec<&str> = self
            .scope
            .params
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !n.is_empty())
            .collect();
        match self.scope.at {
            At::Tracepoint => format!("unknown name '{n}' (a tracepoint's fields are args->FIELD)"),
            _ if names.is_empty() => {
                format!("unknown name '{n}' (use arg1..arg6, or declare a signature)")
            }
            _ => format!("unknown name '{n}' (parameters: {})", names.join(", ")),
        }
    }

    fn arg(&mut self, k: u32, pos: usize) -> Result<Val, SpecError> {
        match self.scope.at {
            At::Tracepoint => err(pos, "a tracepoint has no argN: use args->FIELD"),
            At::Usdt => self.usdt_arg(k, pos),
            _ if !(1..=6).contains(&k) => err(pos, "only arg1..arg6 are available"),
            _ => self.param_at(k, self.scope.arg_type(k), pos),
        }
    }

    /// Parameter `k` (1-based) of type `ty`: in its register at entry, saved at return.
    fn param_at(&mut self, k: u32, ty: Type, pos: usize) -> Result<Val, SpecError> {
        if k > 6 {
            return err(pos, "only the first six parameters are in registers");
        }
        match self.scope.at {
            At::Entry => Ok(Val::new(Place::Ctx(ARG_REGS[k as usize - 1]), ty)),
            At::Return if self.scope.entry_saved => {
                self.need_entry = true;
                Ok(Val::new(Place::EntryArg(k), ty))
            }
            _ => err(pos, "parameters are not available here"),
        }
    }

    fn retval(&mut self, pos: usize) -> Result<Val, SpecError> {
        if self.scope.at != At::Return {
            return err(pos, "retval exists only in return probes (r:)");
        }
        Ok(Val::new(Place::Ctx(RET_REG), self.scope.ret.clone()))
    }

    fn latency(&mut self, pos: usize) -> Result<Val, SpecError> {
        if self.scope.at != At::Return || !self.scope.entry_saved {
            return err(pos, "$latency exists only in return probes (r:)");
        }
        self.need_entry = true;
        let r = self.alloc(pos)?;
        let t = self.alloc(pos)?;
        self.emit(Insn {
            op: op::KTIME,
            dst: r,
            ..Default::default()
        });
        self.emit(Insn {
            op: op::ENTRY_TS,
            dst: t,
            ..Default::default()
        });
        self.op(op::SUB, r, r, t);
        self.release(t);
        Ok(Val::new(
            Place::Reg(r),
            Type::Int {
                size: 8,
                signed: false,
            },
        ))
    }

    fn usdt_arg(&mut self, k: u32, pos: usize) -> Result<Val, SpecError> {
        if let Some(e) = &self.scope.usdt_error {
            return err(
                pos,
                format!("this USDT probe's arguments cannot be read: {e}"),
            );
        }
        let Some(a) = self.scope.usdt.get((k as usize).wrapping_sub(1)).cloned() else {
            return err(
                pos,
                format!("this USDT probe has {} arguments", self.scope.usdt.len()),
            );
        };
        let ty = Type::Int {
            size: a.size,
            signed: a.signed,
        };
        let r = self.alloc(pos)?;
        match a.loc {
            UsdtLoc::Const(v) => self.emit(Insn {
                op: op::CONST,
                dst: r,
                imm: v as u64,
                ..Default::default()
            }),
            UsdtLoc::Reg(off) => self.emit(Insn {
                op: op::FIELD,
                dst: r,
                size: a.size,
                signed: a.signed.into(),
                off,
                ..Default::default()
            }),
            UsdtLoc::Mem { base, disp, index } => {
                self.emit(Insn {
                    op: op::FIELD,
                    dst: r,
                    size: 8,
                    off: base,
                    ..Default::default()
                });
                if let Some((ix, scale)) = index {
                    let t = self.alloc(pos)?;
                    self.emit(Insn {
                        op: op::FIELD,
                        dst: t,
                        size: 8,
                        off: ix,
                        ..Default::default()
                    });
                    self.constant(t, pos, u64::from(scale), |c, r, k| c.op(op::MUL, r, r, k))?;
                    self.op(op::ADD, r, r, t);
                    self.release(t);
                }
                self.emit(Insn {
                    op: op::LOAD,
                    dst: r,
                    a: r,
                    size: a.size,
                    signed: a.signed.into(),
                    imm: disp as u64,
                    ..Default::default()
                });
            }
        }
        Ok(Val::new(Place::Reg(r), ty))
    }

    pub(super) fn member(
        &mut self,
        base: &Expr,
        field: &str,
        arrow: bool,
        pos: usize,
    ) -> Result<Val, SpecError> {
        if matches!(&base.kind, ExprKind::Name(n) if n == "args") && self.scope.at == At::Tracepoint
        {
            return self.tp_field(field, pos);
        }
        let v = self.expr(base)?;
        let (agg, place) = if arrow {
            let Some(Type::Struct(agg)) = v.ty.pointee().cloned() else {
                return err(
                    pos,
                    format!("'->{field}' needs a pointer to a struct, not {}", v.ty),
                );
            };
            let r = self.rvalue(v, base.pos)?;
            (agg, Place::Mem { base: r, off: 0 })
        } else {
            let Type::Struct(agg) = v.ty else {
                return err(pos, format!("'.{field}' needs a struct, not {}", v.ty));
            };
            (agg, v.place)
        };
        let (off, ty, bits) = self.find_member(&agg, field, pos)?;
        let place = match place {
            Place::Mem { base, off: o } => Place::Mem {
                base,
                off: o + i64::from(off),
            },
            Place::Ctx(o) => Place::Ctx(o + off),
            _ => return err(pos, "cannot take a member of this value"),
        };
        Ok(Val { place, ty, bits })
    }

    fn find_member(&self, agg: &Agg, field: &str, pos: usize) -> Result<MemberOf, SpecError> {
        let lookup = |a: &Agg, f: &str| {
            self.types
                .member(a, f)
                .map_err(|e| SpecError::at(pos, format!("{e:#}")))
        };
        if let Some(m) = lookup(agg, field)? {
            return Ok(m);
        }
        // The kernel's `#define sk_dport __sk_common.skc_dport` family, which headers provide.
        if let (Some(rest), "sock") = (field.strip_prefix("sk_"), agg.name.as_str()) {
            if let Some((off, Type::Struct(common), _)) = lookup(agg, "__sk_common")? {
                if let Some((o, ty, bits)) = lookup(&common, &format!("skc_{rest}"))? {
                    return Ok((off + o, ty, bits));
                }
            }
        }
        err(pos, format!("struct {} has no member '{field}'", agg.name))
    }

    fn tp_field(&mut self, field: &str, pos: usize) -> Result<Val, SpecError> {
        match self.scope.fields.iter().find(|f| f.name == field) {
            Some(f) => Ok(Val::new(Place::Ctx(f.offset), f.ty.clone())),
            None => {
                let names: Vec<&str> = self.scope.fields.iter().map(|f| f.name.as_str()).collect();
                err(
                    pos,
                    format!(
                        "the tracepoint has no field '{field}' (fields: {})",
                        names.join(", ")
                    ),
                )
            }
        }
    }

    pub(super) fn index(&mut self, base: &Expr, idx: &Expr) -> Result<Val, SpecError> {
        let v = self.expr(base)?;
        let Some(elem) = v.ty.pointee().cloned() else {
            return err(base.pos, format!("cannot index {}", v.ty));
        };
        let size = i64::from(elem.size().max(1));
        if let ExprKind::Int(k) = idx.kind {
            let k = k as i64 * size;
            let place = match (&v.ty, v.place) {
                (Type::Array(..), Place::Mem { base, off }) => Place::Mem { base, off: off + k },
                (Type::Array(..), Place::Ctx(off)) => Place::Ctx(off + k as u32),
                (_, place) => {
                    let r = self.rvalue(Val::new(place, v.ty.clone()), base.pos)?;
                    Place::Mem { base: r, off: k }
                }
            };
            return Ok(Val::new(place, elem));
        }
        let ptr = Type::ptr_to(elem.clone());
        let r = self.rvalue(v, base.pos)?;
        let (ri, _) = self.scalar_of(idx)?;
        self.constant(ri, idx.pos, size as u64, |c, r, k| c.op(op::MUL, r, r, k))?;
        self.op(op::ADD, r, r, ri);
        self.release(ri);
        let _ = ptr;
        Ok(Val::new(Place::Mem { base: r, off: 0 }, elem))
    }

    fn scalar_of(&mut self, e: &Expr) -> Result<(u8, Type), SpecError> {
        let v = self.expr(e)?;
        if !v.ty.is_integer() {
            return err(e.pos, format!("an index must be an integer, not {}", v.ty));
        }
        let ty = v.ty.clone();
        Ok((self.rvalue(v, e.pos)?, ty))
    }

    pub(super) fn call(&mut self, name: &str, args: &[Expr], pos: usize) -> Result<Val, SpecError> {
        match (name, args) {
            ("STRCMP", [a, b]) => match (&a.kind, &b.kind) {
                (ExprKind::Str(s), _) => self.string_eq(b, s, false, pos),
                (_, ExprKind::Str(s)) => self.string_eq(a, s, false, pos),
                _ => err(pos, "STRCMP compares with a string literal: STRCMP(\"text\", expr)"),
            },
            ("$entry", [Expr { kind: ExprKind::Name(p), pos: ppos }]) => {
                if self.scope.at != At::Return {
                    return err(pos, "$entry(...) exists only in return probes (r:)");
                }
                match self.scope.param(p) {
                    Some((k, ty)) => self.param_at(k, ty, *ppos),
                    None => err(*ppos, format!("$entry({p}): no such parameter")),
                }
            }
            _ => err(pos, format!("unknown function '{name}' (STRCMP(\"text\", expr) and $entry(param) are known)")),
        }
    }
}
