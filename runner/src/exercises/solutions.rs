//! Reference solutions (labs/solutions/NN.bt, for instructors: `lab solution 4c --instructor`)
//! and known-broken variants (labs/solutions/broken/*.bt) that `lab dev check` and the tests run.
//! Both are read from the labs directory (embedded, or LAB_LABS_DIR): a new file needs no Rust
//! edit. A broken variant says which exercise it fails and how, in its leading comments:
//!
//! ```text
//! // exercise: 4a
//! // expect: milliseconds are nsecs/1000000
//! ```
//!
//! (`expect`: a phrase the failing verdict must contain.)
use anyhow::{Context as _, Result};

/// The reference solution of an exercise ("4c": labs/solutions/4c.bt).
pub fn solution(exercise: &str) -> Option<String> {
    let want = exercise.trim().to_ascii_lowercase();
    solutions()
        .ok()?
        .into_iter()
        .find(|(id, _)| *id == want)
        .map(|(_, s)| s)
}

/// Every reference solution as (exercise id, source), sorted by id.
pub fn solutions() -> Result<Vec<(String, String)>> {
    Ok(crate::lab::solution_files()?
        .into_iter()
        .filter(|(f, _)| !f.contains('/'))
        .filter_map(|(f, s)| Some((f.strip_suffix(".bt")?.to_string(), s)))
        .collect())
}

/// A tool that must fail its exercise, with a phrase the verdict must contain.
#[derive(Debug, Clone)]
pub struct Broken {
    pub exercise: String,
    pub file: String,
    pub source: String,
    pub expect: String,
}

/// Every broken variant; a file without its `// exercise:` and `// expect:` lines is an error
/// naming it.
pub fn broken() -> Result<Vec<Broken>> {
    crate::lab::solution_files()?
        .into_iter()
        .filter_map(|(f, s)| Some((f.strip_prefix("broken/")?.to_string(), s)))
        .filter(|(f, _)| f.ends_with(".bt"))
        .map(|(file, source)| {
            let header = |key: &str| {
                source
                    .lines()
                    .take_while(|l| l.trim_start().starts_with("//"))
                    .find_map(|l| {
                        let rest = l.trim_start().trim_start_matches('/').trim_start();
                        Some(rest.strip_prefix(key)?.trim().to_string())
                    })
                    .filter(|v| !v.is_empty())
                    .with_context(|| {
                        format!(
                            "labs/solutions/broken/{file}: no leading `// {key} ...` comment \
                             (every broken variant names its exercise and the phrase its verdict must contain)"
                        )
                    })
            };
            Ok(Broken {
                exercise: header("exercise:")?.to_ascii_lowercase(),
                expect: header("expect:")?,
                file: file.clone(),
                source: source.clone(),
            })
        })
        .collect()
}
