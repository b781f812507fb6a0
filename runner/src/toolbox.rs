//! The tools a student runs, as this machine has them: ours (the catalog,
//! lab_probes::requirements::TOOLS), the bpftrace starters (tools/bpftrace/*.bt: embedded in
//! `lab`, installed by provision/setup.sh) and programs on PATH. `lab tools` lists them, `lab
//! doctor` derives a lab's needs from them, `lab dev check` checks a lab's `tools` against them.
use std::path::{Path, PathBuf};

/// Where `provision/setup.sh` installs the bpftrace starters; the source tree is the fallback
/// (a `lab` run from a checkout).
pub const STARTER_DIRS: &[&str] = &[
    "/usr/local/share/lab/bpftrace",
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/bpftrace"),
];

/// The starters as shipped with this `lab`.
const STARTERS: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../tools/bpftrace");

/// Whether `name` is a starter shipped with `lab` (tools/bpftrace/NAME.bt).
pub fn is_starter(name: &str) -> bool {
    STARTERS.get_file(format!("{name}.bt")).is_some()
}

/// Whether `name` is a tool: one of ours, a starter, or a program on PATH (or in /usr/sbin,
/// /usr/bin, which a sudo PATH may lack).
pub fn exists(name: &str) -> bool {
    lab_probes::requirements::tool(name).is_some()
        || is_starter(name)
        || STARTER_DIRS
            .iter()
            .any(|d| Path::new(d).join(format!("{name}.bt")).exists())
        || which(name).is_some()
}

/// First executable `name` on PATH.
pub fn which_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// `which_on_path`, then the sbin and bin dirs a sudo or user PATH may lack.
pub fn which(name: &str) -> Option<PathBuf> {
    which_on_path(name).or_else(|| {
        ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| is_executable(p))
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Ours when it sits next to `lab` (a build dir, or /usr/local/bin where setup installs both).
pub fn is_ours(p: &Path, own_dir: Option<&Path>) -> bool {
    let dir = p.parent();
    dir.is_some_and(|d| Some(d) == own_dir || d == Path::new("/usr/local/bin"))
}

/// What a starter's leading comments say about it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StarterHeader {
    pub summary: String,
    pub category: Option<String>,
}

/// The .bt files of `dir` with their headers, sorted by name.
pub fn starters(dir: &Path) -> Vec<(PathBuf, StarterHeader)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(PathBuf, StarterHeader)> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "bt"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            (p, parse_header(&text))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// From the leading `//` comments: "NAME.bt - summary" and "category: X".
pub fn parse_header(text: &str) -> StarterHeader {
    let mut h = StarterHeader::default();
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
    fn starter_header() {
        let h = parse_header("#!/usr/bin/env bpftrace\n// x.bt - count things.\n//\n// category: disks\n\nBEGIN {}\n// category: no\n");
        assert_eq!(
            h,
            StarterHeader {
                summary: "count things.".into(),
                category: Some("disks".into())
            }
        );
        assert_eq!(parse_header("BEGIN {}"), StarterHeader::default());
    }

    #[test]
    fn shipped_starters_are_known() {
        assert!(is_starter("opensnoop") && !is_starter("nosuchtool"));
        assert!(exists("biolatency") && exists("opensnoop") && exists("sh"));
        assert!(!exists("no-such-tool-anywhere"));
    }
}
