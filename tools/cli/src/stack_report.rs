//! Printing the stacks of profile and offcputime: symbolize, merge, print BCC-style or folded,
//! and optionally render a flame graph (inferno).
use std::{
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result};
use inferno::flamegraph::{
    self,
    color::{BasicPalette, Palette},
};
use lab_probes::stacks::{
    self, Frames, RawStack, StackErrors, StackFormat, StackSymbolizer, SymStack,
};

use crate::{
    args, histtool, output,
    runtime::{Runtime, Schedule, Wake},
};

/// -U / -K: which kinds of stacks to show.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Spaces {
    /// show stacks from user space only (no kernel space stacks)
    #[arg(
        short = 'U',
        long = "user-stacks-only",
        conflicts_with = "kernel_stacks_only"
    )]
    pub user_stacks_only: bool,
    /// show stacks from kernel space only (no user space stacks)
    #[arg(short = 'K', long = "kernel-stacks-only")]
    pub kernel_stacks_only: bool,
}

impl Spaces {
    pub fn user(&self) -> bool {
        !self.kernel_stacks_only
    }

    pub fn kernel(&self) -> bool {
        !self.user_stacks_only
    }

    /// "user", "kernel" or "user + kernel", as in BCC's first line.
    pub fn shown(&self) -> &'static str {
        match (self.user(), self.kernel()) {
            (true, false) => "user",
            (false, true) => "kernel",
            _ => "user + kernel",
        }
    }
}

/// The last flags of both tools: `--flamegraph FILE` and the trailing `[duration]`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Ending {
    /// also write a flame graph of the stacks to this SVG file
    #[arg(long = "flamegraph", value_name = "FILE")]
    pub flamegraph: Option<PathBuf>,
    /// duration of trace, in seconds
    #[arg(value_name = "duration", value_parser = args::seconds)]
    pub duration: Option<Duration>,
}

impl Ending {
    /// The end of BCC's first line: " for 5 secs." or "... Hit Ctrl-C to end.".
    pub fn until(&self) -> String {
        match self.duration {
            Some(d) => format!(" for {} secs.", d.as_secs()),
            None => "... Hit Ctrl-C to end.".to_owned(),
        }
    }
}

/// What the user asked to see and how (the flags both tools share).
pub struct View<'a> {
    pub spaces: &'a Spaces,
    /// -d: a "--" line between kernel and user frames.
    pub delimited: bool,
    /// -f: one folded line per stack.
    pub folded: bool,
    pub ending: &'a Ending,
}

/// How a tool's flame graph is titled, what its widths count, and its colors.
pub struct FlameStyle<'a> {
    pub title: &'a str,
    pub count_name: &'a str,
    pub palette: BasicPalette,
}

/// Stop at a -p/-L/-t that names no running process: tracing it would show nothing.
pub fn check_ids(ids: &[(&str, Option<u32>)]) -> Result<()> {
    for &(flag, id) in ids {
        if let Some(id) = id {
            histtool::check_pid(flag, id)?;
        }
    }
    Ok(())
}

impl View<'_> {
    /// Print `header` (not in folded output) and trace for the duration or until a signal.
    pub fn wait(&self, header: &str) -> Result<()> {
        let mut rt = Runtime::new(Schedule {
            duration: self.ending.duration,
            ..Default::default()
        })?;
        if !self.folded {
            println!("{header}");
        }
        while !matches!(rt.sleep()?, Wake::Stop(_)) {}
        Ok(())
    }

    /// Print the stacks, write the flame graph if asked, and report what could not be shown.
    pub fn finish(
        &self,
        tool: &str,
        stacks: &[SymStack],
        errors: &StackErrors,
        style: FlameStyle,
    ) -> Result<()> {
        let fmt = StackFormat {
            folded: self.folded,
            // A delimiter only means something between two kinds of stacks.
            delimited: self.delimited && self.spaces.user() && self.spaces.kernel(),
        };
        print(&mut output::stdout(), stacks, fmt)?;
        if let Some(path) = &self.ending.flamegraph {
            flame_graph(path, stacks, &style)?;
            eprintln!("{tool}: wrote flame graph to {}", path.display());
        }
        report_errors(tool, errors);
        Ok(())
    }
}

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
pub fn flame_graph(path: &Path, stacks: &[SymStack], style: &FlameStyle) -> Result<()> {
    let lines: Vec<String> = stacks
        .iter()
        .map(|s| format!("{} {}", stacks::folded_line(s, false), s.value))
        .collect();
    flame_graph_of_lines(path, &lines, style)
}

/// Write a flame graph SVG of folded `lines` ("frame;frame;frame COUNT") to `path`.
pub fn flame_graph_of_lines(path: &Path, lines: &[String], style: &FlameStyle) -> Result<()> {
    let mut opts = flamegraph::Options::default();
    opts.title = style.title.to_owned();
    opts.count_name = style.count_name.to_owned();
    opts.colors = Palette::Basic(style.palette);
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
    output::report_lost(tool, e.lost());
}
