//! `lab tools`: the BPF tools for the labs by category (the workshop's "coping with so many BPF
//! tools" hierarchy), one line each: our Rust tools (catalog: lab_probes::requirements::TOOLS)
//! and the bpftrace starters (*.bt, their `// category:` header line says where they go).
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use lab_probes::requirements::{CATEGORIES, TOOLS};

use crate::{
    screen::{Grid, Screen},
    toolbox,
};

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
    let screen = Screen::stdout();
    print!("{}", render(&by_cat, screen));
    println!();
    let mut notes = vec!["installed = ours on PATH; run TOOL --help for options and examples, TOOL --man for the man page.".to_string()];
    if let Some(dir) = starter_dir {
        notes.push(format!(
            "*.bt = bpftrace starters in {}: run sudo bpftrace {}/NAME.bt",
            dir.display(),
            dir.display()
        ));
    }
    if by_cat
        .values()
        .flatten()
        .any(|l| l.status == Status::Missing)
    {
        notes.push("missing tools: install them with sudo provision/setup.sh".into());
    }
    for n in notes {
        println!("{}", screen.indented(&n, ""));
    }
    Ok(ExitCode::SUCCESS)
}

/// One table: category (on its first row), tool, status, what it shows.
fn render(by_cat: &BTreeMap<String, Vec<Line>>, screen: Screen) -> String {
    let mut order: Vec<&str> = CATEGORIES.to_vec();
    order.extend(
        by_cat
            .keys()
            .map(String::as_str)
            .filter(|c| !CATEGORIES.contains(c)),
    );
    let mut grid = Grid::new(screen, &["category", "tool", "status", "what it shows"]);
    for cat in order {
        let Some(lines) = by_cat.get(cat) else {
            grid.row([cat, "", "", "(no tool yet)"]);
            continue;
        };
        let mut lines = lines.clone();
        lines.sort_by(|a, b| a.name.cmp(&b.name));
        for (i, l) in lines.iter().enumerate() {
            let (status, note) = match &l.status {
                Status::Installed(_) => ("installed", String::new()),
                Status::Missing => ("missing", String::new()),
                Status::Starter(_) => ("bpftrace", String::new()),
                Status::Shadowed(p) => (
                    "shadowed",
                    format!(" (NOT OURS: {} first on PATH)", p.display()),
                ),
            };
            let status = match status {
                "missing" | "shadowed" => screen.style.warn(status),
                s => s.to_string(),
            };
            let cat = if i == 0 { cat } else { "" };
            grid.row([
                cat.to_string(),
                l.name.clone(),
                status,
                format!("{}{note}", l.summary),
            ]);
        }
    }
    grid.keep(&[0, 1, 2]).render()
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
        let out = render(&m, Screen::plain(80));
        let pos: Vec<usize> = CATEGORIES
            .iter()
            .map(|c| out.find(&format!("\n{c} ")).expect(c))
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{out}");
        let row = out.lines().find(|l| l.contains("syscount")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells, ["cpu", "syscount", "missing", "s"], "{out}");
    }
}
