//! The text of probe specs: the probe part (`p::func`, `r:c:malloc`, `t:cat:event`,
//! `u:lib:probe`), signatures, and the rest of trace's and argdist's syntax. Positions are byte
//! offsets into the whole spec, for one-line errors.
use super::{
    parse::{Expr, Parser, TypeName},
    SpecError,
};

/// The probe kind letter: p (entry), r (return), t (tracepoint), u (USDT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Entry,
    Return,
    Tracepoint,
    Usdt,
}

/// Where a probe goes, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub kind: Kind,
    /// Library or executable (empty: the kernel); the category for tracepoints.
    pub lib: String,
    /// Function, tracepoint event, or `[provider:]probe` for USDT.
    pub func: String,
    /// `func+0x12`: an offset into the function (entry probes).
    pub offset: u64,
    /// Where `lib` and `func` start in the spec.
    pub lib_pos: usize,
    pub func_pos: usize,
}

/// A declared parameter of a signature: `struct sock *sk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub ty: TypeName,
}

/// Split `spec` at the colons outside parentheses and quotes: (part, its start).
pub fn split_colons(spec: &str, base: usize) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in spec.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ':' if !quoted && depth == 0 => {
                out.push((&spec[start..i], base + start));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((&spec[start..], base + start));
    out
}

/// The probe part of a trace/stackcount/funclatency spec: `func`, `lib:func`, `p::func`,
/// `r:lib:func`, `t:cat:event`, `u:lib:[provider:]probe`.
pub fn head(text: &str, base: usize) -> Result<Head, SpecError> {
    let colons: Vec<usize> = text.match_indices(':').map(|(i, _)| i).collect();
    // (kind, where the library starts): `func` and `lib:func` are entry probes.
    let (kind_text, lib_start) = match colons.len() {
        0 => ("p", None),
        1 => ("p", Some(0)),
        _ => (&text[..colons[0]], Some(colons[0] + 1)),
    };
    let kind = match kind_text {
        "" | "p" => Kind::Entry,
        "r" => Kind::Return,
        "t" => Kind::Tracepoint,
        "u" => Kind::Usdt,
        k => {
            return Err(SpecError::at(
                base,
                format!("probe type must be '', 'p', 'r', 't' or 'u', not '{k}'"),
            ))
        }
    };
    let lib_start = lib_start.unwrap_or(0);
    // Where the function part starts: after the last colon for p/r (a library path may not
    // contain one, but BCC joins the middle parts), after the library for t/u.
    let func_start = match (kind, colons.len()) {
        (_, 0) => 0,
        (Kind::Tracepoint | Kind::Usdt, n) if n >= 2 => colons[1] + 1,
        _ => colons[colons.len() - 1] + 1,
    };
    let lib = if func_start > lib_start {
        &text[lib_start..func_start - 1]
    } else {
        ""
    };
    if kind == Kind::Tracepoint && (colons.len() != 2 || lib.is_empty()) {
        return Err(SpecError::at(base, "a tracepoint is t:CATEGORY:EVENT"));
    }
    if kind == Kind::Usdt && colons.len() < 2 {
        return Err(SpecError::at(
            base,
            "a USDT probe is u:LIBRARY:[PROVIDER:]PROBE",
        ));
    }
    let func_pos = base + func_start;
    let (func, offset) = split_offset(&text[func_start..], func_pos)?;
    if func.is_empty() {
        return Err(SpecError::at(
            func_pos,
            "missing the function or event name",
        ));
    }
    if offset != 0 && kind != Kind::Entry {
        return Err(SpecError::at(
            func_pos,
            "an offset (+N) needs an entry probe (p:)",
        ));
    }
    Ok(Head {
        kind,
        lib: lib.to_owned(),
        func: func.to_owned(),
        offset,
        lib_pos: base + lib_start,
        func_pos,
    })
}

fn split_offset(func: &str, pos: usize) -> Result<(&str, u64), SpecError> {
    let Some((f, off)) = func.split_once('+') else {
        return Ok((func, 0));
    };
    let parsed = match off.strip_prefix("0x").or_else(|| off.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => off.parse(),
    };
    match parsed {
        Ok(v) => Ok((f, v)),
        Err(_) => Err(SpecError::at(
            pos + f.len() + 1,
            format!("invalid offset '{off}': decimal or 0x hexadecimal"),
        )),
    }
}

/// A signature's parameters: `struct sock *sk, size_t size` (empty or `void`: none).
pub fn signature(text: &str, base: usize) -> Result<Vec<Param>, SpecError> {
    let mut out = Vec::new();
    if text.trim().is_empty() || text.trim() == "void" {
        return Ok(out);
    }
    let mut start = 0;
    for piece in text.split(',') {
        let pos = base + start + (piece.len() - piece.trim_start().len());
        start += piece.len() + 1;
        let piece = piece.trim();
        // As BCC: the name follows the last '*', else the last space.
        let cut = piece
            .rfind('*')
            .or_else(|| piece.rfind(|c: char| c.is_whitespace()));
        let Some(cut) = cut else {
            return Err(SpecError::at(
                pos,
                format!("parameter '{piece}' needs a type and a name"),
            ));
        };
        let name = piece[cut + 1..].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(SpecError::at(
                pos + cut + 1,
                format!("'{name}' is not a parameter name"),
            ));
        }
        let ty = super::parse::parse_type(&piece[..=cut], pos)?;
        out.push(Param {
            name: name.to_owned(),
            ty,
        });
    }
    Ok(out)
}

/// A trace probe: `PROBE[(SIG)] [(FILTER)] ["FORMAT"[, ARGS]]`.
#[derive(Debug, Clone)]
pub struct TraceSpec {
    pub head: Head,
    pub sig: Option<Vec<Param>>,
    pub filter: Option<Expr>,
    /// The format string and where it starts.
    pub format: Option<(Vec<u8>, usize)>,
    pub args: Vec<Expr>,
}

/// Parse one trace probe spec.
pub fn trace(spec: &str) -> Result<TraceSpec, SpecError> {
    let head_end = spec.find([' ', '\t', '(']).unwrap_or(spec.len());
    let head = head(&spec[..head_end], 0)?;
    let mut at = head_end;
    let mut sig = None;
    if spec[at..].starts_with('(') {
        let close = spec[at..]
            .find(')')
            .ok_or_else(|| SpecError::at(at, "unterminated signature"))?;
        if matches!(head.kind, Kind::Tracepoint | Kind::Usdt) {
            return Err(SpecError::at(
                at,
                "tracepoint and USDT probes have no signature; use args->FIELD or arg1, arg2, ...",
            ));
        }
        sig = Some(signature(&spec[at + 1..at + close], at + 1)?);
        at += close + 1;
    }
    let rest = &spec[at..];
    let skip = rest.len() - rest.trim_start().len();
    at += skip;
    let mut filter = None;
    if spec[at..].starts_with('(') {
        let end = balanced(&spec[at..])
            .ok_or_else(|| SpecError::at(at, "unmatched '(' of the filter"))?;
        filter = Some(super::parse::parse_expr(&spec[at + 1..at + end], at + 1)?);
        at += end + 1;
    }
    let mut p = Parser::new(&spec[at..], at)?;
    let mut format = None;
    let mut args = Vec::new();
    if !p.at_end() {
        let pos = p.pos();
        let super::lex::Tok::Str(f) = p.peek().clone() else {
            return Err(SpecError::at(
                pos,
                "expected a format string in double quotes",
            ));
        };
        format = Some((f, pos));
        p.skip();
        if p.eat(",") {
            args = p.list()?;
        } else {
            p.finish()?;
        }
    }
    Ok(TraceSpec {
        head,
        sig,
        filter,
        format,
        args,
    })
}

/// Length up to the parenthesis closing the one `text` starts with.
fn balanced(text: &str) -> Option<usize> {
    let mut depth = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_as_bcc_reads_them() {
        let h = head("do_sys_open", 0).unwrap();
        assert_eq!(
            (h.kind, h.lib.as_str(), h.func.as_str()),
            (Kind::Entry, "", "do_sys_open")
        );
        let h = head("c:malloc", 0).unwrap();
        assert_eq!(
            (h.kind, h.lib.as_str(), h.func.as_str()),
            (Kind::Entry, "c", "malloc")
        );
        let h = head("r::do_sys_openat2", 0).unwrap();
        assert_eq!((h.kind, h.lib.as_str(), h.func_pos), (Kind::Return, "", 3));
        let h = head("p:/usr/lib/libc.so.6:malloc+0x10", 0).unwrap();
        assert_eq!(
            (h.lib.as_str(), h.func.as_str(), h.offset),
            ("/usr/lib/libc.so.6", "malloc", 16)
        );
        let h = head("t:block:block_rq_complete", 0).unwrap();
        assert_eq!(
            (h.kind, h.lib.as_str(), h.func.as_str()),
            (Kind::Tracepoint, "block", "block_rq_complete")
        );
        let h = head("u:pthread:libpthread:pthread_create", 0).unwrap();
        assert_eq!(
            (h.lib.as_str(), h.func.as_str()),
            ("pthread", "libpthread:pthread_create")
        );
        assert!(head("x:y:z", 0).is_err());
        assert!(head("t::sched_switch", 0).is_err());
        assert_eq!(head("p::f+zz", 0).unwrap_err().pos, 5);
    }

    #[test]
    fn trace_specs() {
        let s = trace("r::do_sys_openat2 (retval < 0) \"ret %d\", retval").unwrap();
        assert_eq!(s.head.kind, Kind::Return);
        assert!(s.filter.is_some());
        assert_eq!(s.format.as_ref().unwrap().0, b"ret %d");
        assert_eq!(s.args.len(), 1);
        let s = trace("p::SyS_nanosleep(struct timespec *ts) \"sleep for %lld ns\", ts->tv_nsec")
            .unwrap();
        let sig = s.sig.unwrap();
        assert_eq!(
            (sig[0].name.as_str(), sig[0].ty.to_string()),
            ("ts", "struct timespec *".into())
        );
        let s = trace("t:syscalls:sys_enter_openat \"%s\", args->filename").unwrap();
        assert!(s.filter.is_none() && s.args.len() == 1);
        let s = trace("do_sys_open").unwrap();
        assert!(s.format.is_none() && s.filter.is_none());
        let e = trace("r::f (retval < ) \"x\"").unwrap_err();
        assert_eq!((e.pos, e.msg.as_str()), (15, "expected an expression"));
        let e = trace("r::f (retval < 0").unwrap_err();
        assert_eq!(e.pos, 5);
        let e = trace("p::f \"%d\" arg1").unwrap_err();
        assert_eq!(e.pos, 10);
    }

    #[test]
    fn signatures() {
        let s = signature("struct sock *sk, struct msghdr *msg, size_t size", 10).unwrap();
        let names: Vec<_> = s
            .iter()
            .map(|p| (p.name.as_str(), p.ty.to_string()))
            .collect();
        assert_eq!(
            names,
            [
                ("sk", "struct sock *".into()),
                ("msg", "struct msghdr *".into()),
                ("size", "size_t".into())
            ]
        );
        assert_eq!(signature("char* buf", 0).unwrap()[0].ty.ptrs, 1);
        assert!(signature("int", 0).is_err());
        assert!(signature("", 0).unwrap().is_empty());
    }

    #[test]
    fn colons_inside_parentheses_stay() {
        let parts: Vec<_> =
            split_colons("p::tcp_sendmsg(struct sock *sk, size_t size):u32:size", 0)
                .into_iter()
                .map(|(s, _)| s)
                .collect();
        assert_eq!(
            parts,
            [
                "p",
                "",
                "tcp_sendmsg(struct sock *sk, size_t size)",
                "u32",
                "size"
            ]
        );
    }
}

/// An argdist probe: `TYPE:LIB:FUNC(SIG)[:TYPES:EXPRS[:FILTER]][#LABEL]`.
#[derive(Debug, Clone)]
pub struct ArgdistSpec {
    pub head: Head,
    pub sig: Vec<Param>,
    /// The declared type of each value (`u32`, `char*`) and the expression.
    pub values: Vec<(TypeName, Expr)>,
    /// The text of each value expression, as argdist shows it.
    pub texts: Vec<String>,
    /// No types and exprs given: count calls (or return values for r:).
    pub default: bool,
    pub filter: Option<Expr>,
    pub label: Option<String>,
}

/// Parse one argdist spec; `hist` for -H (one value, and r: defaults to the return value).
pub fn argdist(spec: &str, hist: bool) -> Result<ArgdistSpec, SpecError> {
    let (body, label) = match spec.split_once('#') {
        Some((b, l)) => (b, Some(l.to_owned())),
        None => (spec, None),
    };
    let lead = body.len() - body.trim_start().len();
    let parts = split_colons(body.trim(), lead);
    if parts.len() < 3 {
        return Err(SpecError::at(0, "at least the probe type, library and function signature must be given: TYPE:LIB:FUNC(SIG)"));
    }
    if parts.len() > 6 {
        return Err(SpecError::at(parts[6].1, "extraneous ':'-separated parts"));
    }
    if !matches!(parts[0].0, "p" | "r" | "t" | "u") {
        return Err(SpecError::at(
            parts[0].1,
            format!(
                "probe type must be 'p', 'r', 't' or 'u', not '{}'",
                parts[0].0
            ),
        ));
    }
    let (func_sig, fpos) = parts[2];
    let open = func_sig
        .find('(')
        .filter(|_| func_sig.trim_end().ends_with(')'));
    let Some(open) = open else {
        return Err(SpecError::at(
            fpos,
            format!("function signature '{func_sig}' has an invalid format: FUNC(SIG)"),
        ));
    };
    let close = func_sig.rfind(')').unwrap();
    let head_text = format!("{}:{}:{}", parts[0].0, parts[1].0, &func_sig[..open]);
    let head = rebased(head(&head_text, 0), parts[0].1, parts[1].1, fpos)?;
    let sig = signature(&func_sig[open + 1..close], fpos + open + 1)?;
    let ret = head.kind == Kind::Return;
    let (values, texts, default) = if parts.len() < 5 {
        if hist && !ret {
            return Err(SpecError::at(
                fpos,
                "histograms need an expression: TYPE:LIB:FUNC(SIG):TYPE:EXPR",
            ));
        }
        let (ty, e) = if ret {
            ("int", "$retval")
        } else {
            ("u64", "1")
        };
        (
            vec![(
                super::parse::parse_type(ty, 0)?,
                super::parse::parse_expr(e, 0)?,
            )],
            vec![e.to_owned()],
            true,
        )
    } else {
        let types = split_top(parts[3].0, parts[3].1);
        let exprs = split_top(parts[4].0, parts[4].1);
        if types.len() != exprs.len() {
            return Err(SpecError::at(
                parts[4].1,
                format!("{} types but {} expressions", types.len(), exprs.len()),
            ));
        }
        if hist && exprs.len() > 1 {
            return Err(SpecError::at(
                parts[4].1,
                "histograms can only have one expression",
            ));
        }
        let mut values = Vec::new();
        for ((t, tp), (e, ep)) in types.iter().zip(&exprs) {
            values.push((
                super::parse::parse_type(t, *tp)?,
                super::parse::parse_expr(e, *ep)?,
            ));
        }
        (
            values,
            exprs.iter().map(|(e, _)| e.trim().to_owned()).collect(),
            false,
        )
    };
    let filter = match parts.get(5) {
        Some((f, fp)) if !f.trim().is_empty() => Some(super::parse::parse_expr(f, *fp)?),
        _ => None,
    };
    Ok(ArgdistSpec {
        head,
        sig,
        values,
        texts,
        default,
        filter,
        label,
    })
}

/// A head parsed from "type:lib:func", positions moved to where each part is in the spec.
fn rebased(
    h: Result<Head, SpecError>,
    kind_pos: usize,
    lib_pos: usize,
    func_pos: usize,
) -> Result<Head, SpecError> {
    match h {
        Ok(h) => Ok(Head {
            lib_pos,
            func_pos,
            ..h
        }),
        Err(e) => Err(SpecError::at(
            if e.pos == 0 { kind_pos } else { func_pos },
            e.msg,
        )),
    }
}

/// Split at commas outside parentheses and quotes: (part, its start).
fn split_top(text: &str, base: usize) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push((&text[start..i], base + start));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((&text[start..], base + start));
    out
}

#[cfg(test)]
mod argdist_tests {
    use super::*;

    #[test]
    fn argdist_specs() {
        let s = argdist(
            "p::tcp_sendmsg(struct sock *sk, struct msghdr *msg, size_t size):u32:size",
            true,
        )
        .unwrap();
        assert_eq!(
            (s.head.kind, s.head.func.as_str(), s.sig.len()),
            (Kind::Entry, "tcp_sendmsg", 3)
        );
        assert_eq!(
            (s.values.len(), s.texts[0].as_str(), s.default),
            (1, "size", false)
        );
        let s = argdist(
            "r::__vfs_read():u32:$PID:$latency > 100000#slow reads",
            false,
        )
        .unwrap();
        assert_eq!(
            (s.label.as_deref(), s.filter.is_some()),
            (Some("slow reads"), true)
        );
        let s = argdist("p:c:fork()#fork calls", false).unwrap();
        assert!(s.default && s.head.lib == "c");
        let s = argdist("t:block:block_rq_complete():u32:args->nr_sector", true).unwrap();
        assert_eq!(
            (s.head.kind, s.head.lib.as_str()),
            (Kind::Tracepoint, "block")
        );
        let s = argdist(
            "p:c:write(int fd, char* buf, size_t len):char*,size_t:buf,len:fd==1",
            false,
        )
        .unwrap();
        assert_eq!(s.values.len(), 2);
        assert!(argdist("p:c:malloc", false).is_err());
        assert!(argdist("p::f(int a):int,int:a", false).is_err());
        assert!(argdist("p::f(int a)", true).is_err());
        let e = argdist("p::f(int a):int:a +", false).unwrap_err();
        assert_eq!(e.pos, 19);
    }
}
