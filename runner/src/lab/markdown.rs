//! Markdown to terminal text: styled headings, code, lists, emphasis; plain without color.
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::term::Style;

pub fn to_terminal(markdown: &str, style: Style) -> String {
    let mut term = Terminal::new(style);
    for event in Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    ) {
        if !term.block(&event) {
            term.inline(event);
        }
    }
    term.finish()
}

/// The text written so far and where in the document the next event lands.
struct Terminal {
    style: Style,
    out: String,
    text: String,              // inline text of the current block
    lists: Vec<Option<u64>>,   // open lists: the next number, or None for bullets
    inline: Vec<&'static str>, // open inline styles
    in_code_block: bool,
    heading: Option<HeadingLevel>,
    link: Option<String>,
    quote: usize,
}

impl Terminal {
    fn new(style: Style) -> Self {
        Terminal {
            style,
            out: String::new(),
            text: String::new(),
            lists: Vec::new(),
            inline: Vec::new(),
            in_code_block: false,
            heading: None,
            link: None,
            quote: 0,
        }
    }

    /// Moves the current block's text to the output, each line behind the open quotes' bars.
    fn flush(&mut self) {
        let t = self.text.trim_end();
        if !t.is_empty() {
            for line in t.lines() {
                self.out.push_str(&"│ ".repeat(self.quote));
                self.out.push_str(line);
                self.out.push('\n');
            }
        }
        self.text.clear();
    }

    /// Handles a block-level event (headings, paragraphs, quotes, code, lists, rules, tables);
    /// false when the event is an inline one.
    fn block(&mut self, event: &Event) -> bool {
        let style = self.style;
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                self.flush();
                self.heading = Some(*level);
            }
            Event::End(TagEnd::Heading(_)) => {
                let h = std::mem::take(&mut self.text);
                let line = match self.heading.take() {
                    Some(HeadingLevel::H1) => style.heading(h.trim()),
                    _ => style.bold(h.trim()),
                };
                if !self.out.is_empty() {
                    self.out.push('\n');
                }
                self.out.push_str(&line);
                self.out.push_str("\n\n");
            }
            Event::Start(Tag::Paragraph) => {}
            Event::End(TagEnd::Paragraph) => {
                self.flush();
                if self.lists.is_empty() {
                    self.out.push('\n');
                }
            }
            Event::Start(Tag::BlockQuote(_)) => {
                self.flush();
                self.quote += 1;
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                self.flush();
                self.quote -= 1;
            }
            Event::Start(Tag::CodeBlock(_)) => {
                self.flush();
                self.in_code_block = true;
            }
            Event::End(TagEnd::CodeBlock) => {
                for line in self.text.trim_end_matches('\n').lines() {
                    self.out.push_str("    ");
                    self.out.push_str(&style.code(line));
                    self.out.push('\n');
                }
                self.out.push('\n');
                self.text.clear();
                self.in_code_block = false;
            }
            Event::Start(Tag::List(start)) => {
                self.flush();
                self.lists.push(*start);
            }
            Event::End(TagEnd::List(_)) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.out.push('\n');
                }
            }
            Event::Start(Tag::Item) => self.item(),
            Event::End(TagEnd::Item) => self.flush(),
            Event::Rule => {
                self.flush();
                self.out.push_str(&style.dim(&"─".repeat(60)));
                self.out.push_str("\n\n");
            }
            Event::Start(Tag::TableCell) => {}
            Event::End(TagEnd::TableCell) => self.text.push_str(" │ "),
            Event::End(TagEnd::TableHead) | Event::End(TagEnd::TableRow) => {
                let row = self
                    .text
                    .trim_end()
                    .trim_end_matches('│')
                    .trim_end()
                    .to_string();
                self.text.clear();
                self.out.push_str("  ");
                self.out.push_str(&row);
                self.out.push('\n');
            }
            Event::End(TagEnd::Table) => self.out.push('\n'),
            _ => return false,
        }
        true
    }

    /// A list item's marker: the next number of a numbered list, else a bullet.
    fn item(&mut self) {
        self.flush();
        let depth = self.lists.len().saturating_sub(1);
        let marker = match self.lists.last_mut() {
            Some(Some(n)) => {
                *n += 1;
                format!("{}.", *n - 1)
            }
            _ => "•".to_string(),
        };
        self.text
            .push_str(&format!("{}{} ", "  ".repeat(depth + 1), marker));
    }

    /// Handles an inline event: text, code spans, emphasis, links, breaks.
    fn inline(&mut self, event: Event) {
        let style = self.style;
        match event {
            Event::Start(Tag::Strong) => self.inline.push("strong"),
            Event::Start(Tag::Emphasis) => self.inline.push("em"),
            Event::End(TagEnd::Strong) | Event::End(TagEnd::Emphasis) => {
                self.inline.pop();
            }
            Event::Start(Tag::Link { dest_url, .. }) => self.link = Some(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = self.link.take() {
                    self.text.push_str(&style.dim(&format!(" ({url})")));
                }
            }
            Event::Text(t) if self.in_code_block => self.text.push_str(&t),
            Event::Text(t) => {
                let styled = self.inline.iter().fold(t.to_string(), |acc, k| match *k {
                    "strong" => style.bold(&acc),
                    "em" => style.italic(&acc),
                    _ => acc,
                });
                self.text.push_str(&styled);
            }
            // Without color, keep the backticks: they show where a command starts and ends.
            Event::Code(c) if style.color => self.text.push_str(&style.code(&c)),
            Event::Code(c) => self.text.push_str(&format!("`{c}`")),
            Event::SoftBreak => self.text.push(' '),
            Event::HardBreak => self.text.push('\n'),
            Event::Html(h) | Event::InlineHtml(h) => self.text.push_str(&h),
            Event::TaskListMarker(done) => self.text.push_str(if done { "[x] " } else { "[ ] " }),
            _ => {}
        }
    }

    fn finish(mut self) -> String {
        self.flush();
        while self.out.ends_with("\n\n") {
            self.out.pop();
        }
        self.out
    }
}
