//! What a student reads in a terminal: text wrapped to the terminal's width (80 columns when the
//! output is not a terminal), colour only on a terminal and never with NO_COLOR (term::Style),
//! lab markdown rendered for people (markdown.rs), aligned tables (grid.rs) and screens that
//! refresh in place (live.rs).
//!
//! Built on pulldown-cmark (the CommonMark parser the slides use too, so a lab reads the same in
//! both), textwrap (ANSI-aware word wrapping with hanging indents) and comfy-table (tables that
//! shrink and wrap their cells to a width).
use std::io::IsTerminal;

use crate::term::Style;

pub mod check;
pub mod grid;
pub mod live;
pub mod markdown;
pub mod prompt;
pub mod status;
#[cfg(test)]
mod tests;

pub use grid::Grid;

/// The width used when the output is not a terminal (a pipe, a file).
pub const DEFAULT_WIDTH: usize = 80;
/// Narrower terminals still get this many columns: text below it is unreadable anyway.
const MIN_WIDTH: usize = 30;

/// How to write for one output stream: its colours and its width in columns.
#[derive(Debug, Clone, Copy)]
pub struct Screen {
    pub style: Style,
    pub width: usize,
}

impl Screen {
    /// For stdout: its terminal's width, or $COLUMNS, or 80 when it is not a terminal.
    pub fn stdout() -> Screen {
        let out = std::io::stdout();
        Screen {
            style: Style::stdout(),
            width: width_of(out.is_terminal().then(|| size_of(&out)).flatten()),
        }
    }

    /// For stderr (questions and progress lines): the same rules applied to stderr.
    pub fn stderr() -> Screen {
        let err = std::io::stderr();
        Screen {
            style: Style::stderr(),
            width: width_of(err.is_terminal().then(|| size_of(&err)).flatten()),
        }
    }

    /// No colour, `width` columns (tests, files).
    pub fn plain(width: usize) -> Screen {
        Screen {
            style: Style::plain(),
            width,
        }
    }

    /// `text` wrapped to the width: the first line starts with `first`, the others with `rest`
    /// (a hanging indent). Words longer than a line are broken, so no line is wider than the
    /// screen; a newline in `text` starts a new line.
    pub fn wrap(&self, text: &str, first: &str, rest: &str) -> String {
        // Lines break at spaces only: paths and words like run-queue stay whole.
        let opts = textwrap::Options::new(self.width.max(MIN_WIDTH))
            .initial_indent(first)
            .subsequent_indent(rest)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        textwrap::fill(text, opts)
    }

    /// `text` wrapped with the same indent on every line.
    pub fn indented(&self, text: &str, indent: &str) -> String {
        self.wrap(text, indent, indent)
    }

    /// Lab markdown (lab text, hints) rendered for this screen.
    pub fn markdown(&self, md: &str) -> String {
        markdown::render(md, *self)
    }
}

/// Columns a string takes on screen (ANSI escapes take none).
pub fn visible_width(s: &str) -> usize {
    textwrap::core::display_width(s)
}

fn size_of(fd: &impl std::os::fd::AsFd) -> Option<usize> {
    terminal_size::terminal_size_of(fd).map(|(w, _)| w.0 as usize)
}

/// The terminal's width, else $COLUMNS (a user's explicit choice for a pipe), else 80.
fn width_of(terminal: Option<usize>) -> usize {
    let columns = || {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|c| *c > 0)
    };
    terminal
        .filter(|w| *w > 0)
        .or_else(columns)
        .unwrap_or(DEFAULT_WIDTH)
        .max(MIN_WIDTH)
}
