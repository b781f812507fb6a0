//! A lab file's parts: the ```toml front matter, the markdown body, and the ```hint blocks cut
//! out of the body. Errors are (1-based line, message) for format.rs to name the file.
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// Returns (front matter TOML, its first line, body, body's first line); lines are 1-based.
pub(super) fn split_front_matter(
    text: &str,
) -> Result<(&str, usize, &str, usize), (usize, String)> {
    let mut offset = 0;
    let mut line_no = 0;
    let mut open = None;
    for line in text.split_inclusive('\n') {
        line_no += 1;
        let trimmed = line.trim();
        offset += line.len();
        if open.is_none() {
            if trimmed.is_empty() {
                continue;
            }
            if trimmed != "```toml" {
                return Err((line_no, "a lab starts with its front matter: a ```toml fenced block (see labs/FORMAT.md)".into()));
            }
            open = Some((offset, line_no + 1));
            continue;
        }
        if trimmed.starts_with("```") {
            let (start, first_line) = open.unwrap();
            if trimmed != "```" {
                return Err((
                    first_line - 1,
                    format!("front matter block is never closed: line {line_no} opens another fenced block first"),
                ));
            }
            let end = offset - line.len();
            return Ok((&text[start..end], first_line, &text[offset..], line_no + 1));
        }
    }
    match open {
        None => Err((
            1,
            "empty lab file: it needs a ```toml front matter block (see labs/FORMAT.md)".into(),
        )),
        Some((_, l)) => Err((l - 1, "front matter block is never closed with ```".into())),
    }
}

/// Cut the ```hint blocks out of the body; returns (body without hints, hints in order).
pub(super) fn split_hints(
    body: &str,
    body_line: usize,
) -> Result<(String, Vec<String>), (usize, String)> {
    let line_of = |offset: usize| body_line + body[..offset].matches('\n').count();
    let mut hints = Vec::new();
    let mut cut = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (event, range) in
        Parser::new_ext(body, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH)
            .into_offset_iter()
    {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let lang = info.split_whitespace().next().unwrap_or("");
                if lang == "hint" {
                    current = Some((range.start, String::new()));
                } else if lang == "toml" && info.contains("lab") {
                    return Err((
                        line_of(range.start),
                        "a second front matter block; only one is allowed".into(),
                    ));
                }
            }
            Event::Text(t) if current.is_some() => current.as_mut().unwrap().1.push_str(&t),
            Event::End(TagEnd::CodeBlock) => {
                if let Some((start, text)) = current.take() {
                    if text.trim().is_empty() {
                        return Err((line_of(start), "empty hint block".into()));
                    }
                    if !body[range.clone()].trim_end().ends_with("```")
                        && !body[range.clone()].trim_end().ends_with("~~~")
                    {
                        return Err((line_of(start), "hint block is never closed".into()));
                    }
                    hints.push(text.trim_end().to_string());
                    cut.push(range);
                }
            }
            _ => {}
        }
    }
    let mut out = String::with_capacity(body.len());
    let mut pos = 0;
    for r in cut {
        out.push_str(&body[pos..r.start]);
        pos = r.end;
    }
    out.push_str(&body[pos..]);
    Ok((out, hints))
}
