//! Markdown to terminal text: styled headings, code, lists, emphasis; plain without color.
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::term::Style;

pub fn to_terminal(markdown: &str, style: Style) -> String {
    let mut out = String::new();
    let mut text = String::new(); // inline text of the current block
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut inline: Vec<&'static str> = Vec::new(); // open inline styles
    let mut in_code_block = false;
    let mut heading: Option<HeadingLevel> = None;
    let mut link: Option<String> = None;
    let mut quote = 0usize;

    let flush = |out: &mut String, text: &mut String, quote: usize| {
        let t = text.trim_end();
        if !t.is_empty() {
            for line in t.lines() {
                out.push_str(&"│ ".repeat(quote));
                out.push_str(line);
                out.push('\n');
            }
        }
        text.clear();
    };
    let styled = |s: &str, inline: &[&str], style: Style| -> String {
        inline.iter().fold(s.to_string(), |acc, k| match *k {
            "strong" => style.bold(&acc),
            "em" => style.italic(&acc),
            _ => acc,
        })
    };

    for event in Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    ) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                flush(&mut out, &mut text, quote);
                heading = Some(level);
            }
            Event::End(TagEnd::Heading(_)) => {
                let h = std::mem::take(&mut text);
                let line = match heading.take() {
                    Some(HeadingLevel::H1) => style.heading(h.trim()),
                    _ => style.bold(h.trim()),
                };
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&line);
                out.push_str("\n\n");
            }
            Event::Start(Tag::Paragraph) => {}
            Event::End(TagEnd::Paragraph) => {
                flush(&mut out, &mut text, quote);
                if lists.is_empty() {
                    out.push('\n');
                }
            }
            Event::Start(Tag::BlockQuote(_)) => {
                flush(&mut out, &mut text, quote);
                quote += 1;
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                flush(&mut out, &mut text, quote);
                quote -= 1;
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                flush(&mut out, &mut text, quote);
                in_code_block = true;
                if let CodeBlockKind::Fenced(_) = kind {}
            }
            Event::End(TagEnd::CodeBlock) => {
                for line in text.trim_end_matches('\n').lines() {
                    out.push_str("    ");
                    out.push_str(&style.code(line));
                    out.push('\n');
                }
                out.push('\n');
                text.clear();
                in_code_block = false;
            }
            Event::Start(Tag::List(start)) => {
                flush(&mut out, &mut text, quote);
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                flush(&mut out, &mut text, quote);
                lists.pop();
                if lists.is_empty() {
                    out.push('\n');
                }
            }
            Event::Start(Tag::Item) => {
                flush(&mut out, &mut text, quote);
                let depth = lists.len().saturating_sub(1);
                let marker = match lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{}.", *n - 1)
                    }
                    _ => "•".to_string(),
                };
                text.push_str(&format!("{}{} ", "  ".repeat(depth + 1), marker));
            }
            Event::End(TagEnd::Item) => flush(&mut out, &mut text, quote),
            Event::Start(Tag::Strong) => inline.push("strong"),
            Event::Start(Tag::Emphasis) => inline.push("em"),
            Event::End(TagEnd::Strong) | Event::End(TagEnd::Emphasis) => {
                inline.pop();
            }
            Event::Start(Tag::Link { dest_url, .. }) => link = Some(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = link.take() {
                    text.push_str(&style.dim(&format!(" ({url})")));
                }
            }
            Event::Text(t) if in_code_block => text.push_str(&t),
            Event::Text(t) => text.push_str(&styled(&t, &inline, style)),
            // Without color, keep the backticks: they show where a command starts and ends.
            Event::Code(c) if style.color => text.push_str(&style.code(&c)),
            Event::Code(c) => text.push_str(&format!("`{c}`")),
            Event::SoftBreak => text.push(' '),
            Event::HardBreak => text.push('\n'),
            Event::Rule => {
                flush(&mut out, &mut text, quote);
                out.push_str(&style.dim(&"─".repeat(60)));
                out.push_str("\n\n");
            }
            Event::Start(Tag::TableCell) => {}
            Event::End(TagEnd::TableCell) => text.push_str(" │ "),
            Event::End(TagEnd::TableHead) | Event::End(TagEnd::TableRow) => {
                let row = text.trim_end().trim_end_matches('│').trim_end().to_string();
                text.clear();
                out.push_str("  ");
                out.push_str(&row);
                out.push('\n');
            }
            Event::End(TagEnd::Table) => out.push('\n'),
            Event::Html(h) | Event::InlineHtml(h) => text.push_str(&h),
            Event::TaskListMarker(done) => text.push_str(if done { "[x] " } else { "[ ] " }),
            _ => {}
        }
    }
    flush(&mut out, &mut text, quote);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
