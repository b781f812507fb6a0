//! `lab tools`: the BPF tools for the labs by category (the workshop's "coping with so many BPF
//! tools" hierarchy), one line each: our Rust tools (catalog: lab_probes::requirements::TOOLS)
//! and the bpftrace starters (*.bt, their `// category:` header line says where they go).
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use lab_probes::requirements::{CATEGORIES, TOOLS};

use crate::screen::{Grid, Screen};

#[derive(clap::Args, Debug)]
pub struct Args {}

/// Where `provision/setup.sh` installs the bpftrace starters; the source tree is the fallback
/// (a `lab` run from a checkout).
pub const STARTER_DIRS: &[&str] = &[
    "/usr/local/share/lab/bpftrace",
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/bpftrace"),
];

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
        let status = match which(t.name) {
            Some(p) if is_ours(&p, own_dir.as_deref()) => Status::Installed(p),
            Some(p) => Status::Shadowed(p),
            None => Status::Missing,
        };
        by_cat.entry(t.category.to_owned()).or_default().push(Line {
            name: t.name.to_owned(),
            status,
            summary: t.summary.to_owned(),
        });
    }
    let starter_dir = STARTER_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|d| d.is_dir())
        .map(|d| std::fs::canonicalize(&d).unwrap_or(d));
    if let Some(dir) = &starter_dir {
        for (path, header) in starters(dir) {
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

/// First `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Ours when it sits next to `lab` (a build dir, or /usr/local/bin where setup installs both).
fn is_ours(p: &Path, own_dir: Option<&Path>) -> bool {
    let dir = p.parent();
    dir.is_some_and(|d| Some(d) == own_dir || d == Path::new("/usr/local/bin"))
}

#[derive(Debug, Default, PartialEq, Eq)]
struct BtHeader {
    summary: String,
    category: Option<String>,
}

/// The .bt files of `dir` with their headers, sorted by name.
fn starters(dir: &Path) -> Vec<(PathBuf, BtHeader)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(PathBuf, BtHeader)> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "bt"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            (p, parse_bt_header(&text))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// From the leading `//` comments: "NAME.bt - summary" and "category: X".
fn parse_bt_header(text: &str) -> BtHeader {
    let mut h = BtHeader::default();
    for line in text.lines().skip_while(|l| l.starts_with("#!")) {
        let Some(c) = line.trim().strip_prefix("//") else {
            break;
        };
        let c = c.trim();
        if let Some(cat) = c.strip_prefix("category:") {
            h.category = Some(cat.trim().to_owned());
        } else if h.summary.is_empty() {
            if let Some((_, s)) = c.split_once(" - ") {
                h.summary = s.trim().to_owned();
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bt_header() {
        let h = parse_bt_header("#!/usr/bin/env bpftrace\n// x.bt - count things.\n//\n// category: disks\n\nBEGIN {}\n// category: no\n");
        assert_eq!(
            h,
            BtHeader {
                summary: "count things.".into(),
                category: Some("disks".into())
            }
        );
        assert_eq!(parse_bt_header("BEGIN {}"), BtHeader::default());
    }

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
