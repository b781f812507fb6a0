//! Parsing a lab file: the ```toml front matter, the markdown body and its ```hint blocks.
//! Every error names the file and line (see labs/FORMAT.md).
use std::collections::BTreeSet;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde::Deserialize;
use toml::Spanned;

use super::{Kind, Lab, Question, SeedSpec, Step, Tolerance};

/// The newest lab format this runner understands.
pub const FORMAT: u32 = 1;

/// A lab file error, displayed as "FILE:LINE: message".
#[derive(Debug, Clone, PartialEq)]
pub struct LabError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}
impl std::error::Error for LabError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFront {
    format: Spanned<u32>,
    id: Spanned<u32>,
    title: String,
    duration: Spanned<String>,
    #[serde(default)]
    tools: Vec<String>,
    #[serde(default)]
    seed: toml::Table,
    #[serde(default)]
    prepare: Vec<RawStep>,
    #[serde(default)]
    workloads: Vec<RawStep>,
    #[serde(default)]
    questions: Vec<RawQuestion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    name: Option<Spanned<String>>,
    run: Spanned<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    comm: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    id: Spanned<String>,
    prompt: String,
    kind: Kind,
    metric: String,
    #[serde(default = "yes")]
    required: bool,
    #[serde(default)]
    tolerance: Option<Spanned<String>>,
    #[serde(default)]
    choices: Vec<String>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    params: toml::Table,
}

fn yes() -> bool {
    true
}

/// Parse one lab file. `file` is the name used in messages (e.g. "labs/01-disk-latency.md").
pub fn parse(file: &str, text: &str) -> Result<Lab, LabError> {
    let err = |line: usize, message: String| LabError {
        file: file.to_string(),
        line,
        message,
    };
    let (front, front_line, body, body_line) =
        split_front_matter(text).map_err(|(l, m)| err(l, m))?;
    // Line of a byte offset inside the front matter (front_line is the first line of its TOML).
    let at = |offset: usize| front_line + front[..offset.min(front.len())].matches('\n').count();

    // Check the version before the fields: a newer format may have fields we do not know.
    if let Ok(v) = front.parse::<toml::Table>() {
        if let Some(n) = v.get("format").and_then(|f| f.as_integer()) {
            if n > FORMAT as i64 {
                let line = front
                    .lines()
                    .position(|l| l.trim_start().starts_with("format"))
                    .unwrap_or(0);
                return Err(err(
                    front_line + line,
                    format!("lab format {n} is newer than this lab runner understands ({FORMAT}); update lab"),
                ));
            }
        }
    }
    let raw: RawFront = toml::from_str(front).map_err(|e| {
        let line = e.span().map(|s| at(s.start)).unwrap_or(front_line);
        err(line, e.message().trim_end().to_string())
    })?;
    if *raw.format.get_ref() < 1 {
        return Err(err(
            at(raw.format.span().start),
            format!("format must be {FORMAT}"),
        ));
    }
    if *raw.id.get_ref() == 0 {
        return Err(err(at(raw.id.span().start), "id must be 1 or more".into()));
    }
    let duration_secs = parse_duration(raw.duration.get_ref()).ok_or_else(|| {
        err(
            at(raw.duration.span().start),
            format!(
                "duration {:?}: expected e.g. \"15m\", \"1h30m\", \"90s\"",
                raw.duration.get_ref()
            ),
        )
    })?;

    let mut seed = Vec::new();
    for (name, value) in raw.seed {
        let line = front_line + seed_line(front, &name);
        if !valid_name(&name) {
            return Err(err(
                line,
                format!("seed.{name}: names are [a-z_][a-z0-9_]*"),
            ));
        }
        let spec = seed_spec(value).map_err(|m| err(line, format!("seed.{name}: {m}")))?;
        seed.push((name, spec));
    }

    let steps = |raw: Vec<RawStep>, what: &str, need_name: bool| -> Result<Vec<Step>, LabError> {
        let mut names = BTreeSet::new();
        let mut out = Vec::new();
        for (i, s) in raw.into_iter().enumerate() {
            let line = at(s.run.span().start);
            let run = s.run.into_inner();
            if run.is_empty() {
                return Err(err(line, format!("{what}[{i}].run is empty")));
            }
            let name = match s.name {
                Some(n) => {
                    let nl = at(n.span().start);
                    let n = n.into_inner();
                    if !valid_name(&n.replace('-', "_")) {
                        return Err(err(nl, format!("{what}[{i}].name {n:?}: use [a-z0-9_-]")));
                    }
                    if !names.insert(n.clone()) {
                        return Err(err(nl, format!("{what}[{i}].name {n:?} is used twice")));
                    }
                    n
                }
                None if need_name => return Err(err(line, format!("{what}[{i}] needs a name"))),
                None => run.clone(),
            };
            out.push(Step {
                name,
                run,
                args: s.args,
                comm: s.comm,
                label: s.label,
                line,
            });
        }
        Ok(out)
    };
    let prepare = steps(raw.prepare, "prepare", false)?;
    let workloads = steps(raw.workloads, "workloads", true)?;

    let mut ids = BTreeSet::new();
    let mut questions = Vec::new();
    for (i, q) in raw.questions.into_iter().enumerate() {
        let line = at(q.id.span().start);
        let id = q.id.into_inner();
        let here = |m: String| err(line, format!("questions[{i}] ({id}): {m}"));
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(here("id must be [a-z0-9_-]+".into()));
        }
        if !ids.insert(id.clone()) {
            return Err(here("id is used twice".into()));
        }
        if q.metric.is_empty() {
            return Err(here("metric is empty".into()));
        }
        let tolerance = match &q.tolerance {
            None => Tolerance::Exact,
            Some(t) => {
                let tl = at(t.span().start);
                let tol = Tolerance::parse(t.get_ref()).ok_or_else(|| {
                    err(tl, format!("questions[{i}] ({id}): tolerance {:?}: expected \"exact\", \"2x\", \"25%\" or \"±3\"", t.get_ref()))
                })?;
                if tol != Tolerance::Exact && !q.kind.numeric() {
                    return Err(err(tl, format!("questions[{i}] ({id}): tolerance only applies to size, duration and number questions")));
                }
                tol
            }
        };
        if q.kind == Kind::Choice && q.choices.len() < 2 {
            return Err(here("a choice question needs at least 2 choices".into()));
        }
        if q.kind != Kind::Choice && !q.choices.is_empty() {
            return Err(here("choices are only for kind = \"choice\"".into()));
        }
        questions.push(Question {
            id,
            prompt: q.prompt,
            kind: q.kind,
            metric: q.metric,
            required: q.required,
            tolerance,
            choices: q.choices,
            reference: q.reference,
            params: q.params,
            line,
        });
    }

    let (body, hints) = split_hints(body, body_line).map_err(|(l, m)| err(l, m))?;
    Ok(Lab {
        format: *raw.format.get_ref(),
        id: *raw.id.get_ref(),
        title: raw.title,
        duration: raw.duration.into_inner(),
        duration_secs,
        tools: raw.tools,
        seed,
        prepare,
        workloads,
        questions,
        body,
        body_line,
        hints,
        source: file.to_string(),
    })
}

/// Returns (front matter TOML, its first line, body, body's first line); lines are 1-based.
fn split_front_matter(text: &str) -> Result<(&str, usize, &str, usize), (usize, String)> {
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
fn split_hints(body: &str, body_line: usize) -> Result<(String, Vec<String>), (usize, String)> {
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

/// 0-based line of `name = ...` in the [seed] table (toml::Table keeps no spans per entry).
fn seed_line(front: &str, name: &str) -> usize {
    let lines: Vec<&str> = front.lines().collect();
    let start = lines.iter().position(|l| l.trim() == "[seed]").unwrap_or(0);
    lines
        .iter()
        .enumerate()
        .skip(start)
        .find(|(_, l)| {
            l.trim_start()
                .strip_prefix(name)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(start, |(i, _)| i)
}

fn seed_spec(v: toml::Value) -> Result<SeedSpec, String> {
    let toml::Value::Table(t) = v else {
        return Ok(SeedSpec::Literal(toml_to_json(v)?));
    };
    let keys: Vec<&str> = t.keys().map(|k| k.as_str()).collect();
    match keys.as_slice() {
        ["pick"] => {
            let list = t["pick"].as_array().ok_or("pick needs a list")?;
            if list.is_empty() {
                return Err("pick needs a non-empty list".into());
            }
            Ok(SeedSpec::Pick(list.iter().cloned().map(toml_to_json).collect::<Result<_, _>>()?))
        }
        ["range"] | ["range", "step"] | ["step", "range"] => {
            let r = t["range"].as_array().filter(|r| r.len() == 2).ok_or("range needs [lo, hi]")?;
            let (lo, hi) = (r[0].as_integer().ok_or("range bounds are integers")?, r[1].as_integer().ok_or("range bounds are integers")?);
            let step = match t.get("step") {
                Some(s) => s.as_integer().filter(|s| *s > 0).ok_or("step is a positive integer")?,
                None => 1,
            };
            if lo > hi {
                return Err(format!("range [{lo}, {hi}] is empty"));
            }
            Ok(SeedSpec::Range { lo, hi, step })
        }
        ["template"] => Ok(SeedSpec::Template(t["template"].as_str().ok_or("template is a string")?.to_string())),
        _ => Err(format!("expected a literal or one of {{pick = [...]}}, {{range = [lo, hi], step = N}}, {{template = \"...\"}}; got keys {keys:?}")),
    }
}

fn toml_to_json(v: toml::Value) -> Result<serde_json::Value, String> {
    Ok(match v {
        toml::Value::String(s) => s.into(),
        toml::Value::Integer(i) => i.into(),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .ok_or("not a finite number")?
            .into(),
        toml::Value::Boolean(b) => b.into(),
        other => {
            return Err(format!(
                "seeded values are strings, numbers or booleans, not {}",
                other.type_str()
            ))
        }
    })
}

fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_lowercase() || f == '_')
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// "90s", "15m", "1h", "1h30m" -> seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut num = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        any = true;
    }
    (any && num.is_empty()).then_some(total)
}
