//! Lab markdown for a terminal: paragraphs and list items wrapped to the screen with hanging
//! indents, headings underlined, inline code and emphasis styled (their markers dropped), code
//! blocks verbatim, tables as bordered tables that fit the width, block quotes with a bar.
use pulldown_cmark::{Alignment, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::{visible_width, Screen};

pub fn render(md: &str, screen: Screen) -> String {
    let mut r = Renderer::new(screen);
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for event in Parser::new_ext(md, opts) {
        r.event(event);
    }
    r.finish()
}

/// A block that holds other blocks: each adds to the indent of the lines inside it.
enum Container {
    Quote,
    List {
        next: Option<u64>,
    },
    /// A list item; `marker` ("• ", "2. ") goes before its first line only.
    Item {
        marker: String,
        used: bool,
    },
}

#[derive(Default)]
struct TableBuf {
    align: Vec<Alignment>,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    row: Vec<String>,
}

struct Renderer {
    screen: Screen,
    out: Vec<String>,
    containers: Vec<Container>,
    /// The inline text of the block being read (styled).
    text: String,
    /// Open inline styles, innermost last.
    inline: Vec<Tag<'static>>,
    link: Option<String>,
    heading: Option<HeadingLevel>,
    code_block: Option<String>,
    table: Option<TableBuf>,
}

impl Renderer {
    fn new(screen: Screen) -> Renderer {
        Renderer {
            screen,
            out: Vec::new(),
            containers: Vec::new(),
            text: String::new(),
            inline: Vec::new(),
            link: None,
            heading: None,
            code_block: None,
            table: None,
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => match &mut self.code_block {
                Some(code) => code.push_str(&t),
                None => {
                    let styled = self.styled(&t);
                    self.text.push_str(&styled);
                }
            },
            Event::Code(c) => {
                let code = self.screen.style.code(&c);
                self.text.push_str(&code);
            }
            Event::SoftBreak => self.text.push(' '),
            Event::HardBreak => self.text.push('\n'),
            Event::Rule => {
                self.flush();
                let width = self.screen.width.saturating_sub(self.indent_width());
                let rule = self.screen.style.dim(&"─".repeat(width.min(60)));
                self.push_line(rule);
                self.blank();
            }
            Event::TaskListMarker(done) => self.text.push_str(if done { "[x] " } else { "[ ] " }),
            // HTML (comments for authors, stray tags) is not for the terminal.
            Event::Html(_) | Event::InlineHtml(_) => {}
            Event::FootnoteReference(f) => self.text.push_str(&format!("[{f}]")),
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Heading { level, .. } => {
                self.flush();
                self.heading = Some(level);
            }
            Tag::Paragraph => {}
            Tag::BlockQuote(_) => {
                self.flush();
                self.containers.push(Container::Quote);
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.code_block = Some(String::new());
            }
            Tag::List(start) => {
                self.flush();
                self.containers.push(Container::List { next: start });
            }
            Tag::Item => {
                self.flush();
                let marker = match self.containers.last_mut() {
                    Some(Container::List { next: Some(n) }) => {
                        *n += 1;
                        format!("{}. ", *n - 1)
                    }
                    _ => "• ".to_string(),
                };
                self.containers.push(Container::Item {
                    marker,
                    used: false,
                });
            }
            Tag::Strong | Tag::Emphasis | Tag::Strikethrough => self.inline.push(tag.into_static()),
            Tag::Link { dest_url, .. } => self.link = Some(dest_url.to_string()),
            Tag::Table(align) => {
                self.flush();
                self.table = Some(TableBuf {
                    align,
                    ..TableBuf::default()
                });
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => self.end_heading(),
            TagEnd::Paragraph => {
                self.flush();
                if !self.in_item() {
                    self.blank();
                }
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                while self.out.last().is_some_and(|l| is_blank(l)) {
                    self.out.pop();
                }
                self.containers.pop();
                self.blank();
            }
            TagEnd::CodeBlock => self.end_code_block(),
            TagEnd::List(_) => {
                self.flush();
                self.containers.pop();
                if !self.in_item() {
                    self.blank();
                }
            }
            TagEnd::Item => {
                self.flush();
                self.containers.pop();
            }
            TagEnd::Strong | TagEnd::Emphasis | TagEnd::Strikethrough => {
                self.inline.pop();
            }
            TagEnd::Link => {
                if let Some(url) = self.link.take() {
                    // A bare URL is its own text: do not print it twice.
                    if !self.text.ends_with(url.as_str()) {
                        let shown = self.screen.style.dim(&format!(" ({url})"));
                        self.text.push_str(&shown);
                    }
                }
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.text).trim().to_string();
                if let Some(t) = &mut self.table {
                    t.row.push(cell);
                }
            }
            TagEnd::TableHead => {
                if let Some(t) = &mut self.table {
                    t.header = std::mem::take(&mut t.row);
                }
            }
            TagEnd::TableRow => {
                if let Some(t) = &mut self.table {
                    let row = std::mem::take(&mut t.row);
                    t.rows.push(row);
                }
            }
            TagEnd::Table => self.end_table(),
            _ => {}
        }
    }

    /// `t` in the open inline styles.
    fn styled(&self, t: &str) -> String {
        let style = self.screen.style;
        self.inline
            .iter()
            .fold(t.to_string(), |acc, tag| match tag {
                Tag::Strong => style.bold(&acc),
                Tag::Emphasis => style.italic(&acc),
                Tag::Strikethrough => style.dim(&acc),
                _ => acc,
            })
    }

    fn in_item(&self) -> bool {
        self.containers
            .iter()
            .any(|c| matches!(c, Container::Item { .. }))
    }

    fn indent_width(&self) -> usize {
        visible_width(&self.prefixes(false).1)
    }

    /// The prefixes of the next block's first line and of its other lines (`first`: the
    /// innermost item's marker, unless a block of that item already showed it).
    fn prefixes(&self, first: bool) -> (String, String) {
        let (mut head, mut rest) = (String::new(), String::new());
        let bar = self.screen.style.dim("│ ");
        for c in &self.containers {
            match c {
                Container::Quote => {
                    head.push_str(&bar);
                    rest.push_str(&bar);
                }
                Container::List { .. } => {}
                Container::Item { marker, used } => {
                    let pad = " ".repeat(marker.chars().count());
                    head.push_str(if first && !*used { marker } else { &pad });
                    rest.push_str(&pad);
                }
            }
        }
        (head, rest)
    }

    /// The prefixes of a block's lines, using up the item markers shown in them.
    fn take_prefixes(&mut self) -> (String, String) {
        let p = self.prefixes(true);
        for c in &mut self.containers {
            if let Container::Item { used, .. } = c {
                *used = true;
            }
        }
        p
    }

    /// Wrap the pending inline text as one block.
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.text);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let (head, rest) = self.take_prefixes();
        let wrapped = self.screen.wrap(text, &head, &rest);
        self.out.extend(wrapped.lines().map(str::to_string));
    }

    fn push_line(&mut self, line: String) {
        let (head, _) = self.take_prefixes();
        self.out.push(format!("{head}{line}"));
    }

    /// One empty line between blocks (never two, none at the start).
    fn blank(&mut self) {
        if self.out.last().is_some_and(|l| !is_blank(l)) {
            let (_, rest) = self.prefixes(false);
            self.out.push(rest.trim_end().to_string());
        }
    }

    fn end_heading(&mut self) {
        let text = std::mem::take(&mut self.text);
        let level = self.heading.take().unwrap_or(HeadingLevel::H3);
        let style = self.screen.style;
        let shown = match level {
            HeadingLevel::H1 => style.heading(text.trim()),
            _ => style.bold(text.trim()),
        };
        self.blank();
        let (head, rest) = self.take_prefixes();
        let wrapped = self.screen.wrap(&shown, &head, &rest);
        let widest = wrapped.lines().map(visible_width).max().unwrap_or(0);
        self.out.extend(wrapped.lines().map(str::to_string));
        let under = match level {
            HeadingLevel::H1 => Some('═'),
            HeadingLevel::H2 => Some('─'),
            _ => None,
        };
        if let Some(c) = under {
            let line = c.to_string().repeat(widest - visible_width(&rest));
            self.out.push(format!("{rest}{}", style.dim(&line)));
        }
        self.blank();
    }

    fn end_code_block(&mut self) {
        let code = self.code_block.take().unwrap_or_default();
        let (_, rest) = self.prefixes(false);
        for line in code.trim_end_matches('\n').lines() {
            let styled = self.screen.style.code(line);
            self.out
                .push(format!("{rest}    {styled}").trim_end().to_string());
        }
        if !self.in_item() {
            self.blank();
        }
    }

    fn end_table(&mut self) {
        let Some(t) = self.table.take() else {
            return;
        };
        let (_, rest) = self.prefixes(false);
        let width = self.screen.width.saturating_sub(visible_width(&rest));
        let table = super::grid::bordered(self.screen.style, width, &t.align, &t.header, &t.rows);
        for line in table.lines() {
            self.out.push(format!("{rest}{line}"));
        }
        self.blank();
    }

    fn finish(mut self) -> String {
        self.flush();
        while self.out.last().is_some_and(|l| is_blank(l)) {
            self.out.pop();
        }
        self.out.join("\n")
    }
}

/// An empty line, or one holding only the bars of block quotes.
fn is_blank(line: &str) -> bool {
    console::strip_ansi_codes(line)
        .chars()
        .all(|c| c == '│' || c.is_whitespace())
}
