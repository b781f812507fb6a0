//! Tokens of the C-like expressions in probe specs (filters, printf arguments, argdist values).
use super::SpecError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An identifier, possibly `$`-prefixed (`$pid`, `$retval`).
    Ident(String),
    Int(u64),
    Str(Vec<u8>),
    /// An operator or punctuation: `->`, `==`, `(`, ...
    Punct(&'static str),
    End,
}

/// A token and the byte offset where it starts in the whole spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// Longest first, so `<<=`-style prefixes resolve to the longest operator.
const PUNCTS: &[&str] = &[
    "->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "(", ")", "[", "]", ".", ",", "+", "-",
    "*", "/", "%", "&", "|", "^", "~", "!", "<", ">", "?", ":",
];

/// Split `text` (which starts at byte `base` of the spec) into tokens, ending with `End`.
pub fn tokenize(text: &str, base: usize) -> Result<Vec<Token>, SpecError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let pos = base + i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c == b'@' {
            let start = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(text[start..i].to_owned()),
                pos,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let (v, len) = number(&text[i..]).ok_or_else(|| SpecError::at(pos, "bad number"))?;
            i += len;
            out.push(Token {
                tok: Tok::Int(v),
                pos,
            });
            continue;
        }
        if c == b'"' {
            let (s, len) =
                string(&b[i..]).ok_or_else(|| SpecError::at(pos, "unterminated string"))?;
            i += len;
            out.push(Token {
                tok: Tok::Str(s),
                pos,
            });
            continue;
        }
        if c == b'\'' {
            let (s, len) =
                char_lit(&b[i..]).ok_or_else(|| SpecError::at(pos, "bad character literal"))?;
            i += len;
            out.push(Token {
                tok: Tok::Int(s),
                pos,
            });
            continue;
        }
        let Some(p) = PUNCTS.iter().find(|p| text[i..].starts_with(**p)) else {
            return Err(SpecError::at(
                pos,
                format!("unexpected character '{}'", c as char),
            ));
        };
        i += p.len();
        out.push(Token {
            tok: Tok::Punct(p),
            pos,
        });
    }
    out.push(Token {
        tok: Tok::End,
        pos: base + b.len(),
    });
    Ok(out)
}

/// A C integer literal (decimal, 0x hex, 0 octal, with u/l suffixes): (value, bytes used).
fn number(s: &str) -> Option<(u64, usize)> {
    let b = s.as_bytes();
    let (radix, start) = if s.starts_with("0x") || s.starts_with("0X") {
        (16, 2)
    } else if b.len() > 1 && b[0] == b'0' && b[1].is_ascii_digit() {
        (8, 1)
    } else {
        (10, 0)
    };
    let mut end = start;
    while end < b.len() && (b[end] as char).is_digit(radix) {
        end += 1;
    }
    let v = u64::from_str_radix(&s[start..end], radix).ok()?;
    while end < b.len() && matches!(b[end], b'u' | b'U' | b'l' | b'L') {
        end += 1;
    }
    if end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
        return None;
    }
    Some((v, end))
}

/// One escape after a backslash: (byte, bytes used after the backslash).
fn escape(b: &[u8]) -> Option<(u8, usize)> {
    Some(match *b.first()? {
        b'n' => (b'\n', 1),
        b't' => (b'\t', 1),
        b'r' => (b'\r', 1),
        b'0' => (0, 1),
        b'\\' => (b'\\', 1),
        b'"' => (b'"', 1),
        b'\'' => (b'\'', 1),
        _ => return None,
    })
}

fn string(b: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Some((out, i + 1)),
            b'\\' => {
                let (c, n) = escape(&b[i + 1..])?;
                out.push(c);
                i += 1 + n;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

fn char_lit(b: &[u8]) -> Option<(u64, usize)> {
    let (c, n) = match *b.get(1)? {
        b'\\' => {
            let (c, n) = escape(&b[2..])?;
            (c, n + 1)
        }
        c => (c, 1),
    };
    (b.get(1 + n) == Some(&b'\'')).then_some((u64::from(c), n + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s, 0).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn splits_c_expressions() {
        assert_eq!(
            toks("args->nr >= 0x10 && $pid != 'a'"),
            vec![
                Tok::Ident("args".into()),
                Tok::Punct("->"),
                Tok::Ident("nr".into()),
                Tok::Punct(">="),
                Tok::Int(16),
                Tok::Punct("&&"),
                Tok::Ident("$pid".into()),
                Tok::Punct("!="),
                Tok::Int(97),
                Tok::End
            ]
        );
        assert_eq!(
            toks("\"a\\n\" 10UL 017"),
            vec![
                Tok::Str(b"a\n".to_vec()),
                Tok::Int(10),
                Tok::Int(15),
                Tok::End
            ]
        );
    }

    #[test]
    fn errors_name_the_position() {
        let e = tokenize("a + #", 10).unwrap_err();
        assert_eq!(e.pos, 14);
        assert!(tokenize("\"abc", 0).is_err());
        assert!(tokenize("12ab", 0).is_err());
    }
}
