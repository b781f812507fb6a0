//! Parsing a lab file: the ```toml front matter, the markdown body and its ```hint blocks.
//! Every error names the file and line (see labs/FORMAT.md).
use std::collections::BTreeSet;

use serde::Deserialize;
use toml::Spanned;

use super::{sections, Kind, Lab, Question, SeedSpec, Step, Tolerance};

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
    checker: Option<Spanned<String>>,
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

/// Where the front matter sits in a file: errors name the file and the line.
struct Front<'a> {
    file: &'a str,
    text: &'a str,
    /// The 1-based line of its first TOML line.
    line: usize,
}

impl Front<'_> {
    fn err(&self, line: usize, message: String) -> LabError {
        LabError {
            file: self.file.to_string(),
            line,
            message,
        }
    }
    /// The line of a byte offset inside the front matter.
    fn at(&self, offset: usize) -> usize {
        self.line
            + self.text[..offset.min(self.text.len())]
                .matches('\n')
                .count()
    }
}

/// Parse one lab file. `file` is the name used in messages (e.g. "labs/01-disk-latency.md").
pub fn parse(file: &str, text: &str) -> Result<Lab, LabError> {
    let (front, front_line, body, body_line) =
        sections::split_front_matter(text).map_err(|(l, m)| LabError {
            file: file.to_string(),
            line: l,
            message: m,
        })?;
    let f = Front {
        file,
        text: front,
        line: front_line,
    };
    // Check the version before the fields: a newer format may have fields we do not know.
    check_version(&f)?;
    let raw: RawFront = toml::from_str(front).map_err(|e| {
        let line = e.span().map(|s| f.at(s.start)).unwrap_or(front_line);
        f.err(line, e.message().trim_end().to_string())
    })?;
    let duration_secs = check_header(&f, &raw)?;
    let seed = seeds(&f, raw.seed)?;
    let prepare = steps(&f, raw.prepare, "prepare", false)?;
    let workloads = steps(&f, raw.workloads, "workloads", true)?;
    let mut ids = BTreeSet::new();
    let questions = raw
        .questions
        .into_iter()
        .enumerate()
        .map(|(i, q)| question(&f, i, q, &mut ids))
        .collect::<Result<Vec<_>, _>>()?;
    let (body, hints) = sections::split_hints(body, body_line).map_err(|(l, m)| f.err(l, m))?;
    Ok(Lab {
        format: *raw.format.get_ref(),
        id: *raw.id.get_ref(),
        title: raw.title,
        duration: raw.duration.into_inner(),
        duration_secs,
        tools: raw.tools,
        checker: raw.checker.map(Spanned::into_inner),
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

fn check_version(f: &Front) -> Result<(), LabError> {
    let Some(n) = f
        .text
        .parse::<toml::Table>()
        .ok()
        .and_then(|v| v.get("format").and_then(|f| f.as_integer()))
    else {
        return Ok(());
    };
    if n <= FORMAT as i64 {
        return Ok(());
    }
    let line = f
        .text
        .lines()
        .position(|l| l.trim_start().starts_with("format"))
        .unwrap_or(0);
    Err(f.err(
        f.line + line,
        format!("lab format {n} is newer than this lab runner understands ({FORMAT}); update lab"),
    ))
}

/// format, id, duration and checker; returns the duration in seconds.
fn check_header(f: &Front, raw: &RawFront) -> Result<u64, LabError> {
    if *raw.format.get_ref() < 1 {
        return Err(f.err(
            f.at(raw.format.span().start),
            format!("format must be {FORMAT}"),
        ));
    }
    if *raw.id.get_ref() == 0 {
        return Err(f.err(f.at(raw.id.span().start), "id must be 1 or more".into()));
    }
    let secs = parse_duration(raw.duration.get_ref()).ok_or_else(|| {
        f.err(
            f.at(raw.duration.span().start),
            format!(
                "duration {:?}: expected e.g. \"15m\", \"1h30m\", \"90s\"",
                raw.duration.get_ref()
            ),
        )
    })?;
    if let Some(c) = raw.checker.as_ref().filter(|c| !valid_name(c.get_ref())) {
        return Err(f.err(
            f.at(c.span().start),
            format!(
                "checker {:?}: a checker's name is lowercase letters, digits and _ (e.g. \"disk_latency\")",
                c.get_ref()
            ),
        ));
    }
    Ok(secs)
}

fn seeds(f: &Front, raw: toml::Table) -> Result<Vec<(String, SeedSpec)>, LabError> {
    let mut seed = Vec::new();
    for (name, value) in raw {
        let line = f.line + seed_line(f.text, &name);
        if !valid_name(&name) {
            return Err(f.err(line, format!("seed.{name}: names are [a-z_][a-z0-9_]*")));
        }
        let spec = seed_spec(value).map_err(|m| f.err(line, format!("seed.{name}: {m}")))?;
        seed.push((name, spec));
    }
    Ok(seed)
}

/// The prepare steps or the workloads (`what`), each named (`need_name`) or named after `run`.
fn steps(f: &Front, raw: Vec<RawStep>, what: &str, need_name: bool) -> Result<Vec<Step>, LabError> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, s) in raw.into_iter().enumerate() {
        let line = f.at(s.run.span().start);
        let run = s.run.into_inner();
        if run.is_empty() {
            return Err(f.err(line, format!("{what}[{i}].run is empty")));
        }
        let name = match s.name {
            Some(n) => {
                let nl = f.at(n.span().start);
                let n = n.into_inner();
                if !valid_name(&n.replace('-', "_")) {
                    return Err(f.err(nl, format!("{what}[{i}].name {n:?}: use [a-z0-9_-]")));
                }
                if !names.insert(n.clone()) {
                    return Err(f.err(nl, format!("{what}[{i}].name {n:?} is used twice")));
                }
                n
            }
            None if need_name => return Err(f.err(line, format!("{what}[{i}] needs a name"))),
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
}

/// Question `i`; `ids` holds the ids seen so far (each is unique).
fn question(
    f: &Front,
    i: usize,
    q: RawQuestion,
    ids: &mut BTreeSet<String>,
) -> Result<Question, LabError> {
    let line = f.at(q.id.span().start);
    let id = q.id.into_inner();
    let here = |m: String| f.err(line, format!("questions[{i}] ({id}): {m}"));
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
            let tl = f.at(t.span().start);
            let tol = Tolerance::parse(t.get_ref()).ok_or_else(|| {
                f.err(tl, format!("questions[{i}] ({id}): tolerance {:?}: expected \"exact\", \"2x\", \"25%\" or \"±3\"", t.get_ref()))
            })?;
            if tol != Tolerance::Exact && !q.kind.numeric() {
                return Err(f.err(tl, format!("questions[{i}] ({id}): tolerance only applies to size, duration and number questions")));
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
    Ok(Question {
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
    })
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
