//! trace's printf-style formats: `%d %u %ld %lu %lld %llu %hd %hu %x %lx %llx %c %s %K %U` as
//! BCC takes them (plus flags, width and precision), each value cast to the conversion's C type
//! as BCC's generated C does.
use super::SpecError;

/// One conversion of a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conv {
    pub flags: String,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    /// "", "h", "hh", "l", "ll", "z".
    pub length: String,
    /// d i u x X o c s p K U.
    pub conv: char,
    /// Where it starts in the spec.
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Conv(Conv),
}

/// A value to format: a number or text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Num(u64),
    Text(String),
}

/// Parse format `fmt`, which starts at byte `pos` of the spec (its opening quote).
pub fn parse(fmt: &[u8], pos: usize) -> Result<Vec<Piece>, SpecError> {
    let s = String::from_utf8_lossy(fmt);
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            let c = s[i..].chars().next().unwrap();
            text.push(c);
            i += c.len_utf8();
            continue;
        }
        if b.get(i + 1) == Some(&b'%') {
            text.push('%');
            i += 2;
            continue;
        }
        let start = i;
        i += 1;
        let take = |i: &mut usize, ok: &dyn Fn(u8) -> bool| {
            let s0 = *i;
            while *i < b.len() && ok(b[*i]) {
                *i += 1;
            }
            s[s0..*i].to_owned()
        };
        let flags = take(&mut i, &|c| b"-+ #0".contains(&c));
        let width = take(&mut i, &|c| c.is_ascii_digit()).parse().ok();
        let precision = if b.get(i) == Some(&b'.') {
            i += 1;
            Some(take(&mut i, &|c| c.is_ascii_digit()).parse().unwrap_or(0))
        } else {
            None
        };
        let length = take(&mut i, &|c| b"hlz".contains(&c));
        let conv = b.get(i).map(|&c| c as char).unwrap_or('\0');
        if !"diuxXocspKU".contains(conv)
            || conv == '\0'
            || !matches!(length.as_str(), "" | "h" | "hh" | "l" | "ll" | "z")
        {
            return Err(SpecError::at(pos + 1 + start, format!("unsupported format '{}' (use %d %u %x %ld %lu %lx %lld %llu %llx %hd %hu %c %s %K %U)", &s[start..(i + 1).min(s.len())])));
        }
        i += 1;
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        out.push(Piece::Conv(Conv {
            flags,
            width,
            precision,
            length,
            conv,
            pos: pos + 1 + start,
        }));
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// The conversions of a parsed format, in order.
pub fn convs(pieces: &[Piece]) -> impl Iterator<Item = &Conv> {
    pieces.iter().filter_map(|p| match p {
        Piece::Conv(c) => Some(c),
        Piece::Text(_) => None,
    })
}

impl Conv {
    /// The argument is text (%s); %K and %U are addresses printed as symbols by the caller.
    pub fn is_string(&self) -> bool {
        self.conv == 's'
    }

    /// `v` cast to this conversion's C type and printed.
    pub fn render(&self, v: &Value) -> String {
        let body = match (self.conv, v) {
            (_, Value::Text(t)) => match self.precision {
                Some(p) => t.chars().take(p).collect(),
                None => t.clone(),
            },
            ('d' | 'i', Value::Num(n)) => self.signed(*n).to_string(),
            ('u', Value::Num(n)) => self.unsigned(*n).to_string(),
            ('x', Value::Num(n)) => self.alt("0x", format!("{:x}", self.unsigned(*n))),
            ('X', Value::Num(n)) => self.alt("0X", format!("{:X}", self.unsigned(*n))),
            ('o', Value::Num(n)) => self.alt("0", format!("{:o}", self.unsigned(*n))),
            ('c', Value::Num(n)) => ((*n as u8) as char).to_string(),
            (_, Value::Num(n)) => format!("0x{n:x}"),
        };
        let body = match (self.conv, self.precision) {
            ('d' | 'i' | 'u' | 'x' | 'X' | 'o', Some(p))
                if body.trim_start_matches('-').len() < p =>
            {
                let (sign, digits) = body.split_at(usize::from(body.starts_with('-')));
                format!("{sign}{digits:0>p$}")
            }
            _ => body,
        };
        let body =
            if self.flags.contains('+') && matches!(self.conv, 'd' | 'i') && !body.starts_with('-')
            {
                format!("+{body}")
            } else {
                body
            };
        pad(
            &body,
            self.width.unwrap_or(0),
            &self.flags,
            matches!(self.conv, 'd' | 'i' | 'u' | 'x' | 'X' | 'o'),
        )
    }

    fn signed(&self, n: u64) -> i64 {
        match self.length.as_str() {
            "hh" => n as i8 as i64,
            "h" => n as i16 as i64,
            "" => n as i32 as i64,
            _ => n as i64,
        }
    }

    fn unsigned(&self, n: u64) -> u64 {
        match self.length.as_str() {
            "hh" => n as u8 as u64,
            "h" => n as u16 as u64,
            "" => n as u32 as u64,
            _ => n,
        }
    }

    fn alt(&self, prefix: &str, digits: String) -> String {
        if self.flags.contains('#') && digits != "0" {
            format!("{prefix}{digits}")
        } else {
            digits
        }
    }
}

fn pad(body: &str, width: usize, flags: &str, numeric: bool) -> String {
    let len = body.chars().count();
    if len >= width {
        return body.to_owned();
    }
    let fill = width - len;
    if flags.contains('-') {
        format!("{body}{}", " ".repeat(fill))
    } else if flags.contains('0') && numeric {
        let (sign, digits) = body.split_at(usize::from(body.starts_with(['-', '+'])));
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

/// Render a whole message: pieces with `values` for the conversions in order.
pub fn render(pieces: &[Piece], values: &[Value]) -> String {
    let mut out = String::new();
    let mut vals = values.iter();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Conv(c) => out.push_str(&c.render(vals.next().unwrap_or(&Value::Num(0)))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(f: &str, v: &[Value]) -> String {
        render(&parse(f.as_bytes(), 0).unwrap(), v)
    }

    #[test]
    fn casts_like_bcc_generated_c() {
        let minus_one = u64::MAX;
        assert_eq!(fmt("ret %d", &[Value::Num(minus_one)]), "ret -1");
        assert_eq!(fmt("%u", &[Value::Num(minus_one)]), "4294967295");
        assert_eq!(fmt("%lu", &[Value::Num(minus_one)]), "18446744073709551615");
        assert_eq!(fmt("%llx", &[Value::Num(255)]), "ff");
        assert_eq!(fmt("%hd", &[Value::Num(0x1_ffff)]), "-1");
        assert_eq!(fmt("%c%c", &[Value::Num(104), Value::Num(105)]), "hi");
        assert_eq!(
            fmt("size = %d, 100%%", &[Value::Num(42)]),
            "size = 42, 100%"
        );
        assert_eq!(
            fmt(
                "[%-5s|%5d|%05d]",
                &[
                    Value::Text("ab".into()),
                    Value::Num(7),
                    Value::Num(u64::MAX)
                ]
            ),
            "[ab   |    7|-0001]"
        );
        assert_eq!(
            fmt("%#x %.3s", &[Value::Num(16), Value::Text("abcdef".into())]),
            "0x10 abc"
        );
    }

    #[test]
    fn bad_conversions_name_their_position() {
        let e = parse(b"a %q b", 20).unwrap_err();
        assert_eq!(e.pos, 23);
        assert!(parse(b"%lq", 0).is_err());
        assert_eq!(convs(&parse(b"%s %d %K", 0).unwrap()).count(), 3);
    }
}
