//! The three tool suites compared, where each keeps its tools, and installing the peers.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result};

/// The workshop's checklist tools that exist in at least one suite: the catalog's `bench` column.
pub fn tools() -> Vec<&'static str> {
    lab_probes::requirements::TOOLS
        .iter()
        .filter(|t| t.bench)
        .map(|t| t.name)
        .collect()
}

/// funccount's pattern in the bench: one syscall tracepoint, the one the open loop hits.
pub const FUNCCOUNT_PATTERN: &str = "t:syscalls:sys_enter_openat";

/// bpftrace has no funccount.bt; this one-liner is its equivalent of `funccount t:...` (BEGIN
/// runs once the probe is attached, so its line is the ready line).
pub const BPFTRACE_FUNCCOUNT: &str = "BEGIN { printf(\"Tracing... Hit Ctrl-C to end.\\n\"); } \
     tracepoint:syscalls:sys_enter_openat { @[probe] = count(); }";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suite {
    /// Our binaries, in this directory.
    Ours(PathBuf),
    /// libbpf-tools (Debian package `libbpf-tools`): /usr/sbin/<tool>.
    LibbpfTools,
    /// bpftrace's tool scripts (Debian package `bpftrace`): /usr/sbin/<tool>.bt.
    Bpftrace,
}

impl Suite {
    pub fn name(&self) -> &'static str {
        match self {
            Suite::Ours(_) => "lab (ours)",
            Suite::LibbpfTools => "libbpf-tools",
            Suite::Bpftrace => "bpftrace",
        }
    }

    /// The command line that runs `tool` with no options, if this suite has it.
    pub fn argv(&self, tool: &str) -> Option<Vec<String>> {
        if tool == "funccount" {
            return self.funccount_argv();
        }
        if crate::multi::TOOLS.contains(&tool) {
            return crate::multi::argv(tool, self);
        }
        if crate::app::TOOLS.contains(&tool) {
            return match self {
                Suite::Ours(dir) => crate::app::argv(tool, Some(dir)),
                Suite::Bpftrace => crate::app::argv(tool, None),
                Suite::LibbpfTools => None,
            };
        }
        let path = match self {
            Suite::Ours(dir) => dir.join(tool),
            Suite::LibbpfTools => libbpf_tool(tool)?,
            Suite::Bpftrace => Path::new("/usr/sbin").join(format!("{tool}.bt")),
        };
        if !path.is_file() {
            return None;
        }
        match self {
            // Run through bpftrace explicitly: the scripts' shebang path may differ.
            Suite::Bpftrace => Some(vec!["bpftrace".into(), path.display().to_string()]),
            _ => Some(vec![path.display().to_string()]),
        }
    }
}

impl Suite {
    /// funccount counting [`FUNCCOUNT_PATTERN`]: ours, libbpf-tools' if the package has one
    /// (0.26 does not), bpftrace's one-liner equivalent.
    fn funccount_argv(&self) -> Option<Vec<String>> {
        match self {
            Suite::Ours(dir) => {
                let p = dir.join("funccount");
                p.is_file()
                    .then(|| vec![p.display().to_string(), FUNCCOUNT_PATTERN.into()])
            }
            Suite::LibbpfTools => libbpf_tool("funccount")
                .map(|p| vec![p.display().to_string(), FUNCCOUNT_PATTERN.into()]),
            Suite::Bpftrace => Some(vec![
                "bpftrace".into(),
                "-e".into(),
                BPFTRACE_FUNCCOUNT.into(),
            ]),
        }
    }
}

/// libbpf-tools' binary for `tool`: BCC's name in /usr/sbin, but only if the package owns it
/// (so our own tools, if installed there, are never mistaken for the peer).
pub fn libbpf_tool(tool: &str) -> Option<PathBuf> {
    let files = package_files("libbpf-tools")?;
    files
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == tool) && p.starts_with("/usr/sbin"))
}

fn package_files(pkg: &str) -> Option<Vec<PathBuf>> {
    let out = Command::new("dpkg").args(["-L", pkg]).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(PathBuf::from)
            .collect()
    })
}

/// Install the peer suites with apt when missing (Debian packages `libbpf-tools`, `bpftrace`).
/// Returns a note for each that could not be installed.
pub fn install_peers() -> Result<Vec<String>> {
    let missing: Vec<&str> = ["libbpf-tools", "bpftrace"]
        .into_iter()
        .filter(|p| package_files(p).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(vec![]);
    }
    eprintln!("lab-bench: installing {} with apt-get", missing.join(" "));
    let update = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()
        .context("running apt-get")?;
    let mut notes = vec![];
    if !update.success() {
        notes.push("apt-get update failed".to_owned());
    }
    let st = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get install")?;
    if !st.success() {
        notes.push(format!("apt-get install {} failed", missing.join(" ")));
    }
    Ok(notes)
}

/// Our tools' directory: the one lab-bench itself is in (target/release, or /usr/local/bin).
pub fn default_ours_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating lab-bench")?;
    Ok(exe
        .parent()
        .context("lab-bench has no directory")?
        .to_path_buf())
}
