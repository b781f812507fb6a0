//! Where the labs come from (the copy embedded at build time, or `LAB_LABS_DIR` for authors),
//! every lab parsed, one by id, and the solution files of the bpftrace exercises.
use std::path::PathBuf;

use anyhow::Context as _;

use super::{format, Lab};

static EMBEDDED: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../labs");

/// Where the labs come from: `LAB_LABS_DIR`, or the copy embedded at build time.
pub fn labs_dir_override() -> Option<PathBuf> {
    std::env::var_os("LAB_LABS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Every lab file as (name for messages, text), sorted by file name.
pub fn sources() -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Some(dir) = labs_dir_override() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("LAB_LABS_DIR={}", dir.display()))?;
        for e in entries {
            let path = e?.path();
            if is_lab_file(&path.file_name().unwrap_or_default().to_string_lossy()) {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                out.push((path.display().to_string(), text));
            }
        }
    } else {
        for f in EMBEDDED.files() {
            let name = f.path().to_string_lossy().into_owned();
            if is_lab_file(&name) {
                let text = f
                    .contents_utf8()
                    .with_context(|| format!("labs/{name} is not UTF-8"))?;
                out.push((format!("labs/{name}"), text.to_string()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The files under labs/solutions/ (reference .bt files and broken/ variants) as
/// (path relative to solutions/, text), sorted: `LAB_LABS_DIR/solutions`, or the embedded copy.
/// Adding a file there needs no Rust edit.
pub fn solution_files() -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Some(dir) = labs_dir_override() {
        let root = dir.join("solutions");
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries {
                let path = e?.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let rel = path.strip_prefix(&root).unwrap_or(&path);
                    out.push((rel.to_string_lossy().into_owned(), text));
                }
            }
        }
    } else if let Some(root) = EMBEDDED.get_dir("solutions") {
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            stack.extend(d.dirs());
            for f in d.files() {
                let path = f.path();
                let rel = path.strip_prefix("solutions").unwrap_or(path);
                let text = f
                    .contents_utf8()
                    .with_context(|| format!("labs/{} is not UTF-8", path.display()))?;
                out.push((rel.to_string_lossy().into_owned(), text.to_string()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Lab files are "NN-something.md"; FORMAT.md and READMEs are not labs.
fn is_lab_file(name: &str) -> bool {
    name.ends_with(".md") && name.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// Every lab, parsed, sorted by id; the first malformed file is an error with file:line.
pub fn catalog() -> anyhow::Result<Vec<Lab>> {
    let mut labs = Vec::new();
    for (name, text) in sources()? {
        labs.push(format::parse(&name, &text)?);
    }
    labs.sort_by_key(|l| l.id);
    for pair in labs.windows(2) {
        if pair[0].id == pair[1].id {
            anyhow::bail!(
                "{} and {} both have id {}",
                pair[0].source,
                pair[1].source,
                pair[0].id
            );
        }
    }
    Ok(labs)
}

/// The lab with this id, or an error listing the ids there are.
pub fn find(id: u32) -> anyhow::Result<Lab> {
    let labs = catalog()?;
    let ids: Vec<String> = labs.iter().map(|l| l.id.to_string()).collect();
    labs.into_iter().find(|l| l.id == id).ok_or_else(|| {
        crate::privilege::usage(format!("there is no lab {id} (labs: {})", ids.join(", ")))
    })
}

/// Parse a lab argument: "1", "01", "lab1" -> 1.
pub fn parse_id(s: &str) -> Result<u32, String> {
    let t = s.trim().trim_start_matches("lab").trim_start_matches('-');
    t.parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{s:?} is not a lab number (e.g. 1)"))
}
