//! The answers a student gives without being asked: `--answer ID=VALUE` and `--answers FILE`
//! (one `ID = VALUE` per line, `#` starts a comment).
use std::{collections::BTreeMap, path::Path};

use anyhow::{Context as _, Result};

use crate::lab::Lab;

/// Answers from `--answer ID=VALUE`s and an `--answers FILE`, checked against the lab's
/// question ids; a bad line or id is a usage error naming where it was given.
pub fn collect(
    lab: &Lab,
    answer: &[String],
    answers: Option<&Path>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let ids = || {
        lab.questions
            .iter()
            .map(|q| q.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut add = |id: &str, value: &str, from: &str| -> Result<()> {
        let id = id.trim();
        if lab.question(id).is_none() {
            return Err(crate::privilege::usage(format!(
                "{from}: lab {} has no question {id:?} (questions: {})",
                lab.id,
                ids()
            )));
        }
        out.insert(id.to_string(), value.trim().trim_matches('"').to_string());
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
    Ok(out)
}
