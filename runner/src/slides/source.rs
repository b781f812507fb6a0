//! Where the deck's markdown, captures and images come from: a directory (authors, `--src`) or
//! the copy built into the binary, so an installed `lab` renders the deck anywhere.
use std::path::{Component, Path, PathBuf};

use anyhow::Context;

use super::embedded;

pub enum DeckSource {
    Dir(PathBuf),
    Embedded,
}

impl DeckSource {
    /// The slide files (`*.md` at the top level, README.md excepted), in name order.
    pub fn slide_files(&self) -> anyhow::Result<Vec<String>> {
        let mut names: Vec<String> = match self {
            DeckSource::Dir(dir) => std::fs::read_dir(dir)
                .with_context(|| format!("cannot read slides directory {}", dir.display()))?
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
            DeckSource::Embedded => embedded::FILES.iter().map(|(n, _)| n.to_string()).collect(),
        };
        names.retain(|n| n.ends_with(".md") && !n.contains('/') && n != "README.md");
        names.sort();
        if names.is_empty() {
            anyhow::bail!("{}: no slide files (*.md) found", self.describe());
        }
        Ok(names)
    }

    /// A file by its path relative to the deck root; None when missing.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        if !is_plain_relative(rel) {
            return None;
        }
        match self {
            DeckSource::Dir(dir) => std::fs::read(dir.join(rel)).ok(),
            DeckSource::Embedded => embedded::FILES
                .iter()
                .find(|(n, _)| *n == rel)
                .map(|(_, b)| b.to_vec()),
        }
    }

    /// How to name a file of this deck in an error message.
    pub fn display(&self, rel: &str) -> String {
        match self {
            DeckSource::Dir(dir) => dir.join(rel).display().to_string(),
            DeckSource::Embedded => format!("slides/{rel} (built into lab)"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            DeckSource::Dir(dir) => dir.display().to_string(),
            DeckSource::Embedded => "the deck built into lab".to_string(),
        }
    }
}

/// Deck-relative paths only: no absolute paths, no `..`, so a deck cannot pull in other files.
pub fn is_plain_relative(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}
