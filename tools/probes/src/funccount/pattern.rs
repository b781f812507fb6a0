//! BCC funccount's pattern syntax: `[type:][library:]function`, with `*` wildcards (or a regular
//! expression for the function part with `-r`).
use anyhow::{bail, Result};

/// Which hook a pattern asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Kernel functions via kprobes: `tcp_s*`, `k:vfs_*`, `p::vfs_*`.
    Kernel,
    /// Tracepoints: `t:category:name` (both parts may have wildcards).
    Tracepoint,
    /// User functions via uprobes in this library or executable: `c:malloc`,
    /// `p:/path/to/bin:func*`.
    User(String),
    /// USDT probes of this library or executable (BCC's `u:LIB:PROBE`); empty with `-p PID`:
    /// every object the process maps.
    Usdt(String),
}

/// A name matcher: wildcard (`*` any run, `?` one character, whole name) or regex (`-r`).
#[derive(Debug, Clone)]
pub enum Matcher {
    Glob(String),
    Regex(regex_lite::Regex),
}

impl Matcher {
    pub fn new(text: &str, regex: bool) -> Result<Self> {
        if regex {
            match regex_lite::Regex::new(text) {
                Ok(r) => Ok(Self::Regex(r)),
                Err(e) => bail!("-r: '{text}' is not a regular expression: {e}"),
            }
        } else {
            Ok(Self::Glob(text.to_owned()))
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Glob(g) => glob(g.as_bytes(), name.as_bytes()),
            Self::Regex(r) => r.is_match(name),
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Self::Glob(g) => g,
            Self::Regex(r) => r.as_str(),
        }
    }
}

/// Whole-string wildcard match; `*` backtracks to the last star only (linear enough for symbol
/// names).
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[derive(Debug, Clone)]
pub struct Pattern {
    pub kind: Kind,
    /// Tracepoint category (only for `Kind::Tracepoint`; matches anything otherwise).
    pub library: Matcher,
    pub func: Matcher,
}

impl Pattern {
    pub fn parse(text: &str, regex: bool) -> Result<Self> {
        let parts: Vec<&str> = text.split(':').collect();
        let any = Matcher::Glob("*".into());
        let (kind, library, func) = match parts.as_slice() {
            [f] => (Kind::Kernel, any, *f),
            ["k", f] => (Kind::Kernel, any, *f),
            ["t", _] => bail!("'{text}': a tracepoint pattern is t:CATEGORY:NAME"),
            [lib, f] => (Kind::User((*lib).to_owned()), any, *f),
            ["t", cat, name] => (Kind::Tracepoint, Matcher::new(cat, regex)?, *name),
            ["p" | "k", "", f] => (Kind::Kernel, any, *f),
            ["p", lib, f] if !lib.is_empty() => (Kind::User((*lib).to_owned()), any, *f),
            ["u", lib, f] => (Kind::Usdt((*lib).to_owned()), any, *f),
            _ => bail!(
                "'{text}' is not a pattern: use FUNC or k:FUNC (kernel), t:CATEGORY:NAME \
                 (tracepoint), p:LIB:FUNC or LIB:FUNC (user function), u:LIB:PROBE (USDT probe)"
            ),
        };
        if func.is_empty() {
            bail!("'{text}': the function part is empty");
        }
        Ok(Self {
            kind,
            library,
            func: Matcher::new(func, regex)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob(b"tcp_s*", b"tcp_sendmsg"));
        assert!(!glob(b"tcp_s*", b"tcp_recvmsg"));
        assert!(glob(b"*read*", b"vfs_read_iter"));
        assert!(glob(b"sys_enter_open*", b"sys_enter_openat2"));
        assert!(!glob(b"vfs_read", b"vfs_readv"));
        assert!(glob(b"a?c", b"abc"));
    }

    #[test]
    fn kinds() {
        assert_eq!(Pattern::parse("tcp_s*", false).unwrap().kind, Kind::Kernel);
        assert_eq!(Pattern::parse("k:vfs_*", false).unwrap().kind, Kind::Kernel);
        assert_eq!(
            Pattern::parse("t:syscalls:sys_enter_open*", false)
                .unwrap()
                .kind,
            Kind::Tracepoint
        );
        assert_eq!(
            Pattern::parse("p:c:malloc", false).unwrap().kind,
            Kind::User("c".into())
        );
        assert_eq!(
            Pattern::parse("u:pthread:*mutex*", false).unwrap().kind,
            Kind::Usdt("pthread".into())
        );
        assert_eq!(
            Pattern::parse("u::query__start", false).unwrap().kind,
            Kind::Usdt(String::new())
        );
        assert_eq!(
            Pattern::parse("c:malloc", false).unwrap().kind,
            Kind::User("c".into())
        );
        assert!(Pattern::parse("x:y:z:w", false).is_err());
        assert!(Pattern::parse("u:c:", false).is_err());
    }
}
