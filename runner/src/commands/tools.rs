//! `lab tools`: the BPF tools for the labs by category (the workshop's "coping with so many BPF
//! tools" hierarchy), one line each: our Rust tools (catalog: lab_probes::requirements::TOOLS)
//! and the bpftrace starters (*.bt, their `// category:` header line says where they go).
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use lab_probes::requirements::{CATEGORIES, TOOLS};

use crate::toolbox;

#[derive(clap::Args, Debug)]
pub struct Args {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    /// Ours, found on PATH.
    Installed(PathBuf),
    /// Something else of that name comes first on PATH (e.g. libbpf-tools' /usr/sbin/execsnoop).
    Shadowed(PathBuf),
    Missing,
    /// A bpftrace starter script.
    Starter(PathBuf),
}

#[derive(Debug, Clone)]
struct Line {
    name: String,
    status: Status,
    summary: String,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    let own_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let mut by_cat: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    for t in TOOLS {
        let status = match toolbox::which_on_path(t.name) {
            Some(p) if toolbox::is_ours(&p, own_dir.as_deref()) => Status::Installed(p),
            Some(p) => Status::Shadowed(p),
            None => Status::Missing,
        };
        by_cat.entry(t.category.to_owned()).or_default().push(Line {
            name: t.name.to_owned(),
            status,
            summary: t.summary.to_owned(),
        });
    }
    let starter_dir = toolbox::STARTER_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|d| d.is_dir())
        .map(|d| std::fs::canonicalize(&d).unwrap_or(d));
    if let Some(dir) = &starter_dir {
        for (path, header) in toolbox::starters(dir) {
            let cat = header.category.unwrap_or_else(|| "other".into());
            by_cat.entry(cat).or_default().push(Line {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                status: Status::Starter(path),
                summary: header.summary,
            });
        }
    }
    print!("{}", render(&by_cat));
    println!();
    println!("installed = ours on PATH; run `TOOL --help` for options and examples, `TOOL --man` for the man page.");
    if let Some(dir) = starter_dir {
        println!(
            "*.bt = bpftrace starters in {}: run `sudo bpftrace {}/NAME.bt`.",
            dir.display(),
            dir.display()
        );
    }
    if by_cat
        .values()
        .flatten()
        .any(|l| l.status == Status::Missing)
    {
        println!("missing tools: install them with `sudo provision/setup.sh`.");
    }
    Ok(ExitCode::SUCCESS)
}

fn render(by_cat: &BTreeMap<String, Vec<Line>>) -> String {
    let width = by_cat
        .values()
        .flatten()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut order: Vec<&str> = CATEGORIES.to_vec();
    order.extend(
        by_cat
            .keys()
            .map(String::as_str)
            .filter(|c| !CATEGORIES.contains(c)),
    );
    let mut out = String::new();
    for cat in order {
        out.push_str(cat);
        out.push('\n');
        let Some(lines) = by_cat.get(cat) else {
            out.push_str("  (no tool yet)\n");
            continue;
        };
        let mut lines = lines.clone();
        lines.sort_by(|a, b| a.name.cmp(&b.name));
        for l in lines {
            let status = match &l.status {
                Status::Installed(_) => "installed".to_owned(),
                Status::Missing => "missing".to_owned(),
                Status::Starter(_) => "bpftrace".to_owned(),
                Status::Shadowed(p) => format!("NOT OURS: {} first on PATH", p.display()),
            };
            let (status, note) = if status.len() > 9 {
                (String::from("shadowed"), format!(" ({status})"))
            } else {
                (status, String::new())
            };
            out.push_str(&format!(
                "  {:<width$}  {:<9}  {}{}\n",
                l.name, status, l.summary, note
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_is_printed_in_order() {
        let mut m = BTreeMap::new();
        m.insert(
            "cpu".to_owned(),
            vec![Line {
                name: "syscount".into(),
                status: Status::Missing,
                summary: "s".into(),
            }],
        );
        let out = render(&m);
        let pos: Vec<usize> = CATEGORIES
            .iter()
            .map(|c| out.find(&format!("{c}\n")).expect(c))
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{out}");
        assert!(out.contains("  syscount  missing    s\n"), "{out}");
    }
}
