//! Markdown slides -> one self-contained HTML folder (index.html, deck.css, deck.js, images/).
//! The templates and assets are compiled in, so the output needs no network and no `lab` tree.
use pulldown_cmark::{html, Event, Options, Parser, Tag};
use serde::Serialize;

use super::parse::{self, Part, RawSlide, SlideError};
use super::source::{is_plain_relative, DeckSource};

const DECK_HTML: &str = include_str!("templates/deck.html");
const DECK_CSS: &str = include_str!("templates/deck.css");
const DECK_JS: &str = include_str!("templates/deck.js");

/// Marks a folder as ours, so `--out` only ever overwrites a previous deck.
pub const GENERATOR: &str = "lab slides";

pub struct Rendered {
    /// (path relative to the output folder, contents)
    pub files: Vec<(String, Vec<u8>)>,
    pub slides: usize,
    pub discussion: usize,
}

#[derive(Serialize)]
struct SlideView {
    id: String,
    title: String,
    html: String,
    notes: String,
    discussion: bool,
    layout: String,
    source: String,
}

pub fn render(src: &DeckSource, reveal: bool) -> anyhow::Result<Rendered> {
    let mut slides = Vec::new();
    let mut images: Vec<String> = Vec::new();
    for name in src.slide_files()? {
        let shown = src.display(&name);
        let bytes = src
            .read(&name)
            .ok_or_else(|| anyhow::anyhow!("{shown}: cannot read"))?;
        let text =
            String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{shown}: not UTF-8 text"))?;
        let err = |line: usize, message: String| SlideError {
            file: shown.clone(),
            line,
            message,
        };
        for raw in parse::parse_file(&text, &err)? {
            slides.push(render_slide(
                src,
                &name,
                raw,
                &err,
                &mut images,
                slides.len(),
            )?);
        }
    }
    let discussion = slides.iter().filter(|s| s.discussion).count();
    let mut env = minijinja::Environment::new();
    env.add_template("deck.html", DECK_HTML)?;
    let index = env.get_template("deck.html")?.render(minijinja::context! {
        generator => GENERATOR,
        title => slides.first().map(|s| s.title.clone()).unwrap_or_default(),
        slides => &slides,
        reveal => reveal,
    })?;
    let mut files = vec![
        ("index.html".to_string(), index.into_bytes()),
        ("deck.css".to_string(), DECK_CSS.as_bytes().to_vec()),
        ("deck.js".to_string(), DECK_JS.as_bytes().to_vec()),
    ];
    images.sort();
    images.dedup();
    for img in images {
        let bytes = src.read(&img).expect("checked while rendering");
        files.push((img, bytes));
    }
    Ok(Rendered {
        files,
        slides: slides.len(),
        discussion,
    })
}

fn render_slide(
    src: &DeckSource,
    file: &str,
    raw: RawSlide,
    err: &dyn Fn(usize, String) -> SlideError,
    images: &mut Vec<String>,
    index: usize,
) -> Result<SlideView, SlideError> {
    let mut html = String::new();
    for part in &raw.body {
        match part {
            Part::Markdown { line, text } => {
                html.push_str(&markdown(src, text, *line, err, images)?)
            }
            Part::Include { line, path } => {
                let bytes = src.read(path).ok_or_else(|| {
                    err(
                        *line,
                        format!("included file '{path}' not found in {}", src.describe()),
                    )
                })?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| err(*line, format!("included file '{path}' is not UTF-8 text")))?;
                html.push_str(&format!(
                    "<pre class=\"output\" data-src=\"{}\"><code>{}</code></pre>\n",
                    escape(path),
                    escape(&expand_tabs(text.trim_end()))
                ));
            }
        }
    }
    let notes = match &raw.notes {
        Some((line, text)) => markdown(src, text, *line, err, images)?,
        None => String::new(),
    };
    Ok(SlideView {
        id: format!("s{}", index + 1),
        title: raw.title,
        html,
        notes,
        discussion: raw.discussion,
        layout: raw.layout.unwrap_or_default(),
        source: format!("{file}:{}", raw.line),
    })
}

/// Render markdown, refusing what the deck cannot show offline or we do not allow.
fn markdown(
    src: &DeckSource,
    text: &str,
    first_line: usize,
    err: &dyn Fn(usize, String) -> SlideError,
    images: &mut Vec<String>,
) -> Result<String, SlideError> {
    let line_of = |offset: usize| first_line + text[..offset].matches('\n').count();
    let mut events = Vec::new();
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for (event, range) in Parser::new_ext(text, opts).into_offset_iter() {
        match &event {
            Event::Start(Tag::Image { dest_url, .. }) => {
                let url = dest_url.to_string();
                if url.contains("://") || url.starts_with("//") {
                    return Err(err(
                        line_of(range.start),
                        format!("image '{url}' is remote; the deck must work offline: put the file in images/"),
                    ));
                }
                if !is_plain_relative(&url) || src.read(&url).is_none() {
                    return Err(err(
                        line_of(range.start),
                        format!("image '{url}' not found in {}", src.describe()),
                    ));
                }
                images.push(url);
            }
            Event::Html(_) | Event::InlineHtml(_) => {
                return Err(err(
                    line_of(range.start),
                    "raw HTML is not allowed in slides; write markdown".into(),
                ));
            }
            _ => {}
        }
        events.push(event);
    }
    let mut out = String::new();
    html::push_html(&mut out, events.into_iter());
    Ok(out)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Tabs become spaces (8-column stops) so tool output lines up in any browser setting.
fn expand_tabs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.split_inclusive('\n') {
        let mut col = 0;
        for c in line.chars() {
            if c == '\t' {
                let n = 8 - col % 8;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
            } else {
                out.push(c);
                col = if c == '\n' { 0 } else { col + 1 };
            }
        }
    }
    out
}
