//! Printing the stacks of profile and offcputime (shared by both binaries through `#[path]`):
//! symbolize, merge, print BCC-style or folded, and optionally render a flame graph (inferno).
use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
};

use anyhow::{Context as _, Result};
use inferno::flamegraph::{
    self,
    color::{BasicPalette, Palette},
};
use lab_probes::stacks::{
    self, Frames, RawStack, StackErrors, StackFormat, StackSymbolizer, SymStack,
};

/// Symbolize and merge raw stacks; `annotate` appends BCC's `_[k]` to kernel frames (-a).
pub fn prepare(raw: Vec<RawStack>, by_process: bool, annotate: bool) -> Vec<SymStack> {
    let mut syms = StackSymbolizer::new().symbolize(raw);
    if annotate {
        for s in &mut syms {
            if let Frames::Some(v) = &mut s.kernel {
                v.iter_mut().for_each(|n| n.push_str("_[k]"));
            }
        }
    }
    stacks::merge(syms, by_process)
}

/// Print every stack (ascending, hottest last) in `fmt`.
pub fn print(out: &mut impl Write, stacks: &[SymStack], fmt: StackFormat) -> Result<()> {
    for s in stacks {
        stacks::write_stack(out, s, fmt)?;
    }
    out.flush()?;
    Ok(())
}

/// Write a flame graph SVG of `stacks` to `path`.
pub fn flame_graph(
    path: &Path,
    stacks: &[SymStack],
    title: &str,
    count_name: &str,
    palette: BasicPalette,
) -> Result<()> {
    let lines: Vec<String> = stacks
        .iter()
        .map(|s| format!("{} {}", stacks::folded_line(s, false), s.value))
        .collect();
    let mut opts = flamegraph::Options::default();
    opts.title = title.to_owned();
    opts.count_name = count_name.to_owned();
    opts.colors = Palette::Basic(palette);
    let file = File::create(path)
        .with_context(|| format!("--flamegraph: cannot create {}", path.display()))?;
    let mut w = BufWriter::new(file);
    if lines.is_empty() {
        // inferno refuses empty input; an explicit empty graph still tells the reader why.
        flamegraph::from_lines(&mut opts, ["no-samples 1"].iter().copied(), &mut w)
    } else {
        flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), &mut w)
    }
    .with_context(|| format!("rendering the flame graph into {}", path.display()))?;
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Tell the user about stacks that could not be shown and samples not counted (stderr).
pub fn report_errors(tool: &str, e: &StackErrors) {
    if e.missed_stacks() > 0 {
        eprintln!(
            "WARNING: {} stack traces could not be displayed. Consider increasing --stack-storage-size.",
            e.missed_stacks()
        );
    }
    lab_tools::output::report_lost(tool, e.lost());
}
