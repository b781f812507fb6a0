//! Expressions of probe specs: the C subset BCC users write in filters and arguments
//! (`args->nr_sector > 8 && $pid != 42`, `sk->__sk_common.skc_dport`, `(int)retval`,
//! `STRCMP("bash", $comm)`), parsed with C's precedence into an [`Expr`] tree.
use super::{
    lex::{tokenize, Tok, Token},
    SpecError,
};

/// A type as written in a cast or a signature: `unsigned long`, `struct sock *`, `char*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeName {
    /// The words before the stars, qualifiers dropped: ["unsigned", "long"], ["struct", "sock"].
    pub words: Vec<String>,
    pub ptrs: u8,
    pub pos: usize,
}

impl std::fmt::Display for TypeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.words.join(" "))?;
        if self.ptrs > 0 {
            write!(f, " {}", "*".repeat(self.ptrs as usize))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    Int(u64),
    Str(Vec<u8>),
    /// A name: a parameter, `argN`, `retval`, `args`, or a `$` variable.
    Name(String),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    /// `e.field` (arrow false) or `e->field`.
    Member(Box<Expr>, String, bool),
    Index(Box<Expr>, Box<Expr>),
    Cast(TypeName, Box<Expr>),
    Call(String, Vec<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub pos: usize,
}

/// Words that start a type name in a cast.
const TYPE_WORDS: &[&str] = &[
    "struct", "union", "enum", "unsigned", "signed", "const", "volatile", "int", "char", "short",
    "long", "void", "bool", "_Bool", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "__u8",
    "__u16", "__u32", "__u64", "__s8", "__s16", "__s32", "__s64", "size_t", "ssize_t", "pid_t",
    "uid_t", "gid_t", "loff_t", "off_t", "umode_t", "gfp_t", "dev_t", "uint8_t", "uint16_t",
    "uint32_t", "uint64_t", "int8_t", "int16_t", "int32_t", "int64_t",
];

/// Binary operators by precedence level, lowest first.
const LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<", "<=", ">", ">="],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

pub struct Parser {
    toks: Vec<Token>,
    at: usize,
}

impl Parser {
    /// A parser over `text`, which starts at byte `base` of the spec.
    pub fn new(text: &str, base: usize) -> Result<Self, SpecError> {
        Ok(Self {
            toks: tokenize(text, base)?,
            at: 0,
        })
    }

    pub fn peek(&self) -> &Tok {
        &self.toks[self.at].tok
    }

    pub fn pos(&self) -> usize {
        self.toks[self.at].pos
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.at].clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }

    /// Step over the current token.
    pub fn skip(&mut self) {
        self.bump();
    }

    pub fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Tok::Punct(q) if *q == p) {
            self.bump();
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, p: &str) -> Result<(), SpecError> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(SpecError::at(self.pos(), format!("expected '{p}'")))
        }
    }

    pub fn at_end(&self) -> bool {
        *self.peek() == Tok::End
    }

    /// Fail unless everything was used.
    pub fn finish(&self) -> Result<(), SpecError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(SpecError::at(
                self.pos(),
                "unexpected text after the expression",
            ))
        }
    }

    /// One full expression (the conditional operator included).
    pub fn expr(&mut self) -> Result<Expr, SpecError> {
        let c = self.binary(0)?;
        if !self.eat("?") {
            return Ok(c);
        }
        let a = self.expr()?;
        self.expect(":")?;
        let b = self.expr()?;
        Ok(Expr {
            pos: c.pos,
            kind: ExprKind::Cond(Box::new(c), Box::new(a), Box::new(b)),
        })
    }

    /// Expressions separated by commas, up to the end.
    pub fn list(&mut self) -> Result<Vec<Expr>, SpecError> {
        let mut out = Vec::new();
        if self.at_end() {
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            if !self.eat(",") {
                break;
            }
        }
        self.finish()?;
        Ok(out)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, SpecError> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        loop {
            let op = match self.peek() {
                Tok::Punct(p) if LEVELS[level].contains(p) => *p,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.binary(level + 1)?;
            lhs = Expr {
                pos: lhs.pos,
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, SpecError> {
        let pos = self.pos();
        if let Tok::Punct(p @ ("!" | "~" | "-" | "+" | "*" | "&")) = *self.peek() {
            self.bump();
            let e = self.unary()?;
            return Ok(Expr {
                pos,
                kind: ExprKind::Unary(p, Box::new(e)),
            });
        }
        if self.cast_ahead() {
            self.bump();
            let ty = self.type_name()?;
            self.expect(")")?;
            let e = self.unary()?;
            return Ok(Expr {
                pos,
                kind: ExprKind::Cast(ty, Box::new(e)),
            });
        }
        self.postfix()
    }

    /// `(` followed by a type word, or by `NAME_t )`, starts a cast.
    fn cast_ahead(&self) -> bool {
        if !matches!(self.peek(), Tok::Punct("(")) {
            return false;
        }
        match self.toks.get(self.at + 1).map(|t| &t.tok) {
            Some(Tok::Ident(w)) => {
                TYPE_WORDS.contains(&w.as_str())
                    || (w.ends_with("_t")
                        && matches!(
                            self.toks.get(self.at + 2).map(|t| &t.tok),
                            Some(Tok::Punct(")" | "*"))
                        ))
            }
            _ => false,
        }
    }

    /// A type name: words, then stars (`const` and `volatile` are dropped).
    pub fn type_name(&mut self) -> Result<TypeName, SpecError> {
        let pos = self.pos();
        let mut words = Vec::new();
        while let Tok::Ident(w) = self.peek().clone() {
            if w.starts_with('$') || (!words.is_empty() && !continues_type(&words, &w)) {
                break;
            }
            self.bump();
            if !matches!(w.as_str(), "const" | "volatile" | "__user" | "restrict") {
                words.push(w);
            }
        }
        if words.is_empty() {
            return Err(SpecError::at(pos, "expected a type"));
        }
        let mut ptrs = 0;
        while self.eat("*") {
            ptrs += 1;
        }
        Ok(TypeName { words, ptrs, pos })
    }

    fn postfix(&mut self) -> Result<Expr, SpecError> {
        let mut e = self.primary()?;
        loop {
            let pos = self.pos();
            if self.eat("->") || self.eat(".") {
                let arrow = matches!(self.toks[self.at - 1].tok, Tok::Punct("->"));
                let Tok::Ident(field) = self.bump().tok else {
                    return Err(SpecError::at(pos, "expected a member name"));
                };
                e = Expr {
                    pos: e.pos,
                    kind: ExprKind::Member(Box::new(e), field, arrow),
                };
            } else if self.eat("[") {
                let idx = self.expr()?;
                self.expect("]")?;
                e = Expr {
                    pos: e.pos,
                    kind: ExprKind::Index(Box::new(e), Box::new(idx)),
                };
            } else if matches!(self.peek(), Tok::Ident(w) if w == "@user") {
                // BCC's `arg2@user`: we pick user or kernel reads by address anyway.
                self.bump();
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, SpecError> {
        let t = self.bump();
        let kind = match t.tok {
            Tok::Int(v) => ExprKind::Int(v),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Ident(name) if matches!(self.peek(), Tok::Punct("(")) => {
                self.bump();
                let mut args = Vec::new();
                if !self.eat(")") {
                    loop {
                        args.push(self.expr()?);
                        if self.eat(")") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                ExprKind::Call(name, args)
            }
            Tok::Ident(name) => ExprKind::Name(name),
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                return Ok(e);
            }
            Tok::End => return Err(SpecError::at(t.pos, "expected an expression")),
            Tok::Punct(p) => {
                return Err(SpecError::at(
                    t.pos,
                    format!("expected an expression, found '{p}'"),
                ))
            }
        };
        Ok(Expr { kind, pos: t.pos })
    }
}

/// Whether `w` continues the type name `words` ("unsigned" "long", "struct" "sock").
fn continues_type(words: &[String], w: &str) -> bool {
    const BASIC: &[&str] = &["unsigned", "signed", "long", "short", "int", "char"];
    let last = words.last().map(String::as_str).unwrap_or("");
    matches!(last, "struct" | "union" | "enum")
        || matches!(w, "const" | "volatile" | "__user" | "restrict")
        || (BASIC.contains(&last) && BASIC.contains(&w))
}

/// Parse all of `text` (at byte `base` of the spec) as one expression.
pub fn parse_expr(text: &str, base: usize) -> Result<Expr, SpecError> {
    let mut p = Parser::new(text, base)?;
    let e = p.expr()?;
    p.finish()?;
    Ok(e)
}

/// Parse all of `text` as a type name.
pub fn parse_type(text: &str, base: usize) -> Result<TypeName, SpecError> {
    let mut p = Parser::new(text, base)?;
    let t = p.type_name()?;
    p.finish()?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(v) => v.to_string(),
            ExprKind::Str(s) => format!("{:?}", String::from_utf8_lossy(s)),
            ExprKind::Name(n) => n.clone(),
            ExprKind::Unary(op, a) => format!("({op}{})", show(a)),
            ExprKind::Binary(op, a, b) => format!("({} {op} {})", show(a), show(b)),
            ExprKind::Member(a, f, arrow) => {
                format!("{}{}{f}", show(a), if *arrow { "->" } else { "." })
            }
            ExprKind::Index(a, i) => format!("{}[{}]", show(a), show(i)),
            ExprKind::Cast(t, a) => format!("(({t}){})", show(a)),
            ExprKind::Call(n, args) => {
                format!(
                    "{n}({})",
                    args.iter().map(show).collect::<Vec<_>>().join(", ")
                )
            }
            ExprKind::Cond(c, a, b) => format!("({} ? {} : {})", show(c), show(a), show(b)),
        }
    }

    #[test]
    fn c_precedence() {
        let e = parse_expr("a + b * c == d && !e || f & 1", 0).unwrap();
        assert_eq!(show(&e), "((((a + (b * c)) == d) && (!e)) || (f & 1))");
        let e = parse_expr("sk->__sk_common.skc_dport == 13568", 0).unwrap();
        assert_eq!(show(&e), "(sk->__sk_common.skc_dport == 13568)");
        let e = parse_expr("(unsigned long)arg1 + (char *)$retval - x[2]", 0).unwrap();
        assert_eq!(
            show(&e),
            "((((unsigned long)arg1) + ((char *)$retval)) - x[2])"
        );
        let e = parse_expr("STRCMP(\"bash\", $comm) ? 1 : (pid_t)2", 0).unwrap();
        assert_eq!(show(&e), "(STRCMP(\"bash\", $comm) ? 1 : ((pid_t)2))");
        let e = parse_expr("(a) - 1", 0).unwrap();
        assert_eq!(show(&e), "(a - 1)");
        let e = parse_expr("arg2@user", 0).unwrap();
        assert_eq!(show(&e), "arg2");
    }

    #[test]
    fn type_names() {
        let t = parse_type("const struct sock *", 0).unwrap();
        assert_eq!((t.words.join(" "), t.ptrs), ("struct sock".into(), 1));
        let t = parse_type("unsigned long long", 0).unwrap();
        assert_eq!(t.words, ["unsigned", "long", "long"]);
        let t = parse_type("char*", 0).unwrap();
        assert_eq!((t.words.join(" "), t.ptrs), ("char".into(), 1));
        assert!(parse_type("struct sock sk", 0).is_err());
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse_expr("retval < ", 5).unwrap_err();
        assert_eq!((e.pos, e.msg.as_str()), (14, "expected an expression"));
        let e = parse_expr("(a + b", 0).unwrap_err();
        assert_eq!(e.msg, "expected ')'");
        let e = parse_expr("a b", 0).unwrap_err();
        assert_eq!(e.pos, 2);
    }
}
