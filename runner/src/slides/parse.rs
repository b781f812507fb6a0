//! The deck's source format (documented in slides/README.md): slides separated by `---` lines,
//! each starting with a `#` heading, with `!directive` lines and an optional `Notes:` part.
//! Everything here knows file lines, so every error can name `file:line`.

/// A rendering error pointing at one line of one slide file.
#[derive(Debug)]
pub struct SlideError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for SlideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}
impl std::error::Error for SlideError {}

/// A piece of a slide's body, in order.
#[derive(Debug)]
pub enum Part {
    /// Markdown text whose first line is file line `line`.
    Markdown { line: usize, text: String },
    /// `!include PATH`: a stored capture shown verbatim as tool output.
    Include { line: usize, path: String },
}

#[derive(Debug, Default)]
pub struct RawSlide {
    /// File line of the slide's first line.
    pub line: usize,
    pub title: String,
    pub body: Vec<Part>,
    /// The markdown after `Notes:` (line, text), if any.
    pub notes: Option<(usize, String)>,
    pub discussion: bool,
    pub layout: Option<String>,
}

/// Layouts a slide may ask for with `!layout NAME`.
pub const LAYOUTS: &[&str] = &["title", "section"];

/// Split one file into slides and read their directives. `err(line, msg)` builds the error.
pub fn parse_file(
    text: &str,
    err: &dyn Fn(usize, String) -> SlideError,
) -> Result<Vec<RawSlide>, SlideError> {
    let mut chunks: Vec<(usize, Vec<(usize, &str)>)> = vec![(1, vec![])];
    let mut fence = Fence::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if !fence.feed(line, n) && line.trim_end() == "---" {
            chunks.push((n + 1, vec![]));
            continue;
        }
        chunks.last_mut().expect("one chunk").1.push((n, line));
    }
    if let Some(open) = fence.open_line() {
        return Err(err(
            open,
            "this code fence is never closed (add a closing ``` line)".into(),
        ));
    }
    chunks
        .into_iter()
        .map(|(start, lines)| parse_slide(start, &lines, err))
        .collect()
}

fn parse_slide(
    start: usize,
    lines: &[(usize, &str)],
    err: &dyn Fn(usize, String) -> SlideError,
) -> Result<RawSlide, SlideError> {
    let mut slide = RawSlide {
        line: start,
        ..Default::default()
    };
    let Some(&(first_line, first)) = lines.iter().find(|(_, l)| !l.trim().is_empty()) else {
        return Err(err(
            start,
            "empty slide (two `---` separators in a row, or one at the end of the file?)".into(),
        ));
    };
    slide.line = first_line;
    let mut md: Option<(usize, String)> = None; // markdown being collected
    let mut in_notes = false;
    let mut fence = Fence::default();
    for &(n, line) in lines {
        let inside = fence.feed(line, n);
        if !inside {
            if let Some(directive) = line.strip_prefix('!').filter(|d| !d.starts_with('[')) {
                if in_notes {
                    return Err(err(n, "directives belong above the `Notes:` line".into()));
                }
                flush(&mut md, &mut slide.body);
                let (name, arg) = directive
                    .split_once(char::is_whitespace)
                    .unwrap_or((directive, ""));
                let arg = arg.trim();
                match (name, arg.is_empty()) {
                    ("include", false) => slide.body.push(Part::Include { line: n, path: arg.to_string() }),
                    ("discussion", true) => slide.discussion = true,
                    ("layout", false) if LAYOUTS.contains(&arg) => slide.layout = Some(arg.to_string()),
                    ("layout", _) => {
                        return Err(err(n, format!("unknown layout '{arg}' (known: {})", LAYOUTS.join(", "))))
                    }
                    ("include", true) => return Err(err(n, "`!include` needs a path, e.g. `!include captures/runqlat.txt`".into())),
                    _ => {
                        return Err(err(
                            n,
                            format!("unknown directive `!{directive}` (known: !include PATH, !discussion, !layout NAME)"),
                        ))
                    }
                }
                continue;
            }
            if line.trim_end() == "Notes:" {
                if in_notes {
                    return Err(err(n, "second `Notes:` line in one slide".into()));
                }
                flush(&mut md, &mut slide.body);
                in_notes = true;
                slide.notes = Some((n + 1, String::new()));
                continue;
            }
        }
        if in_notes {
            let notes = &mut slide.notes.as_mut().expect("notes started").1;
            notes.push_str(line);
            notes.push('\n');
        } else {
            let (_, text) = md.get_or_insert_with(|| (n, String::new()));
            text.push_str(line);
            text.push('\n');
        }
    }
    flush(&mut md, &mut slide.body);
    slide.title = match first.trim_start().strip_prefix('#') {
        Some(rest) if rest.trim_start_matches('#').starts_with(' ') => {
            rest.trim_start_matches('#').trim().to_string()
        }
        _ if first.starts_with('!') && !first.starts_with("![") => {
            // Directives may come first; the title is then the first markdown heading.
            first_heading(&slide.body)
                .ok_or_else(|| err(first_line, "slide has no `#` heading to title it".into()))?
        }
        _ => {
            return Err(err(
                first_line,
                "a slide must start with a `#` heading (its title)".into(),
            ))
        }
    };
    Ok(slide)
}

fn first_heading(body: &[Part]) -> Option<String> {
    body.iter().find_map(|p| match p {
        Part::Markdown { text, .. } => text
            .lines()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim_start().strip_prefix('#'))
            .map(|r| r.trim_start_matches('#').trim().to_string()),
        Part::Include { .. } => None,
    })
}

fn flush(md: &mut Option<(usize, String)>, body: &mut Vec<Part>) {
    if let Some((line, text)) = md.take() {
        if !text.trim().is_empty() {
            body.push(Part::Markdown { line, text });
        }
    }
}

/// Tracks fenced code blocks (``` or ~~~), where `---`, `!` and `Notes:` are plain text.
#[derive(Default)]
struct Fence {
    open: Option<(char, usize, usize)>, // (char, run length, line)
}

impl Fence {
    /// Feed one line; true when the line is part of a fenced block (including its fences).
    fn feed(&mut self, line: &str, n: usize) -> bool {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let run = |c: char| t.chars().take_while(|&x| x == c).count();
        match self.open {
            Some((c, len, _)) => {
                if indent < 4 && run(c) >= len && t.trim_end().chars().all(|x| x == c) {
                    self.open = None;
                }
                true
            }
            None => {
                for c in ['`', '~'] {
                    if indent < 4 && run(c) >= 3 {
                        self.open = Some((c, run(c), n));
                        return true;
                    }
                }
                false
            }
        }
    }

    fn open_line(&self) -> Option<usize> {
        self.open.map(|(_, _, n)| n)
    }
}
