//! `lab slides`: render the workshop deck to a folder, or serve it on 127.0.0.1.
use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;

use crate::slides::{self, DeckSource, Rendered};

/// Port of `lab slides --serve` unless --port says otherwise.
const DEFAULT_PORT: u16 = 8470;

#[derive(clap::Args, Debug)]
#[command(
    group(clap::ArgGroup::new("mode").required(true).args(["out", "serve"])),
    after_help = "Keys in the deck: → ↓ space PgDn next, ← ↑ PgUp back, Home/End, n notes view, \
                  r reveal discussion slides, p print. Add ?reveal or ?notes to the URL to start that way."
)]
pub struct Args {
    /// Write the deck (index.html, deck.css, deck.js, images/) into DIR; open DIR/index.html
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Serve the deck on 127.0.0.1 (only this machine) until Ctrl-C
    #[arg(long)]
    pub serve: bool,
    /// Port for --serve [default: 8470] (0 picks a free one)
    #[arg(long, value_name = "P")]
    pub port: Option<u16>,
    /// Render the markdown in DIR instead of the deck built into lab (for editing the slides)
    #[arg(long, value_name = "DIR")]
    pub src: Option<PathBuf>,
    /// Show the discussion slides from the start (otherwise hidden until the instructor presses r)
    #[arg(long)]
    pub reveal: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Checked here: clap's `requires` counts a bool flag as always present.
    if args.port.is_some() && !args.serve {
        return Err(crate::privilege::usage(
            "--port only applies with --serve (e.g. lab slides --serve --port 8470)",
        ));
    }
    let source = match &args.src {
        Some(dir) if !dir.is_dir() => {
            return Err(crate::privilege::usage(format!(
                "--src {}: not a directory",
                dir.display()
            )))
        }
        Some(dir) => DeckSource::Dir(dir.clone()),
        None => DeckSource::Embedded,
    };
    if args.serve {
        slides::serve::serve(args.port.unwrap_or(DEFAULT_PORT), || {
            slides::render(&source, args.reveal)
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let out = args.out.expect("clap requires --out or --serve");
    let deck = slides::render(&source, args.reveal)?;
    write_deck(&out, &deck)?;
    println!(
        "lab slides: wrote {} slides ({} discussion, {}) to {}",
        deck.slides,
        deck.discussion,
        if args.reveal {
            "revealed"
        } else {
            "hidden until revealed"
        },
        out.join("index.html").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Write the deck, refusing to scatter files into a folder that holds something else.
fn write_deck(out: &std::path::Path, deck: &Rendered) -> anyhow::Result<()> {
    if out.exists() {
        let index = std::fs::read_to_string(out.join("index.html")).unwrap_or_default();
        let empty = std::fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        let ours = index.contains(&format!("content=\"{}\"", slides::render::GENERATOR));
        if !empty && !ours {
            return Err(crate::privilege::usage(format!(
                "--out {}: folder exists and is not a deck written by lab slides; pick a new or empty folder",
                out.display()
            )));
        }
    }
    for (name, bytes) in &deck.files {
        let path = out.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
