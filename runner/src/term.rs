//! Terminal styling: ANSI styles when stdout is a terminal, plain text when it is not or when
//! NO_COLOR is set (https://no-color.org), so piped output and tests see no escapes.
use std::io::IsTerminal;

#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Styles for stdout.
    pub fn stdout() -> Style {
        Style {
            color: color_wanted(std::io::stdout().is_terminal()),
        }
    }
    /// Styles for stderr (questions, progress).
    pub fn stderr() -> Style {
        Style {
            color: color_wanted(std::io::stderr().is_terminal()),
        }
    }
    pub fn plain() -> Style {
        Style { color: false }
    }
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    pub fn italic(&self, s: &str) -> String {
        self.wrap("3", s)
    }
    pub fn heading(&self, s: &str) -> String {
        self.wrap("1;4;36", s)
    }
    pub fn code(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    pub fn ok(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    pub fn bad(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    pub fn warn(&self, s: &str) -> String {
        self.wrap("33", s)
    }
}

fn color_wanted(is_tty: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    is_tty && !no_color && !dumb
}

/// True when we may ask the user a question (stdin and stderr are terminals).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask a yes/no question on stderr; default no.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// "3m 12s", "1h 04m", "45s".
pub fn human_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}
