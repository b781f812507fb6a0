//! The answers a student gives without being asked: `--answer ID=VALUE` and `--answers FILE`
//! (one `ID = VALUE` per line, `#` starts a comment).
use std::{collections::BTreeMap, path::Path};

use anyhow::{Context as _, Result};

use crate::lab::Lab;

/// Answers from `--answer ID=VALUE`s and an `--answers FILE`, checked against the lab's
/// question ids and read now (answer::read), so a typo fails before the tracing, naming the
/// choices or the forms accepted; a bad line, id or answer is a usage error naming where it was
/// given. With them, a note for each answer read other than as typed ("--answer fix: choice 3:
/// ...").
pub fn collect(
    lab: &Lab,
    answer: &[String],
    answers: Option<&Path>,
) -> Result<(BTreeMap<String, String>, Vec<String>)> {
    let mut out = BTreeMap::new();
    let mut notes = Vec::new();
    let ids = || {
        lab.questions
            .iter()
            .map(|q| q.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut add = |id: &str, value: &str, from: &str| -> Result<()> {
        let id = id.trim();
        let Some(q) = lab.question(id) else {
            return Err(crate::privilege::usage(format!(
                "{from}: lab {} has no question {id:?} (questions: {})",
                lab.id,
                ids()
            )));
        };
        let value = value.trim().trim_matches('"');
        let (value, note) = super::answer::read(q.kind, &q.choices, value).map_err(|why| {
            let choices = if q.choices.is_empty() {
                String::new()
            } else {
                format!("; the choices: {}", crate::lab::choice::list(&q.choices))
            };
            crate::privilege::usage(format!("{from}: {why}{choices}"))
        })?;
        notes.extend(note.map(|n| format!("{from}: {n}")));
        out.insert(id.to_string(), value);
        Ok(())
    };
    if let Some(file) = answers {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--answers {}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((id, value)) = line.split_once(['=', ':']) else {
                return Err(crate::privilege::usage(format!(
                    "{}:{}: expected `ID = VALUE`, got {line:?}",
                    file.display(),
                    n + 1
                )));
            };
            add(id, value, &format!("{}:{}", file.display(), n + 1))?;
        }
    }
    for a in answer {
        let Some((id, value)) = a.split_once('=') else {
            return Err(crate::privilege::usage(format!(
                "--answer {a:?}: expected ID=VALUE, e.g. --answer process=1234"
            )));
        };
        add(id, value, &format!("--answer {a}"))?;
    }
    Ok((out, notes))
}
