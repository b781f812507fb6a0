//! The payload a lab VM downloads: `lab`, `lab-workload` and every catalogued tool, as one
//! gzip'd tarball the instructor serves (10+ MB of static binaries is too big for user-data).
use std::{
    fs::File,
    io::{BufWriter, Read},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

pub const FILE_NAME: &str = "lab-payload.tar.gz";

/// The binaries a lab machine needs, in install order.
pub fn binary_names() -> Vec<&'static str> {
    let mut v = vec!["lab", "lab-workload"];
    v.extend(lab_probes::requirements::TOOLS.iter().map(|t| t.name));
    v
}

/// Default source of the binaries: the directory of the running `lab`.
pub fn default_bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the running lab binary")?;
    Ok(exe
        .parent()
        .context("lab binary has no parent directory")?
        .to_path_buf())
}

/// Every needed binary in `dir`, or one error naming what is missing and how to build it.
pub fn collect(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let names = binary_names();
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !dir.join(n).is_file())
        .collect();
    if !missing.is_empty() {
        bail!(
            "--bin-dir {}: missing {}; build them with `cargo build --release --target x86_64-unknown-linux-musl --bins` and pass --bin-dir target/x86_64-unknown-linux-musl/release",
            dir.display(),
            missing.join(", ")
        );
    }
    Ok(names.iter().map(|n| dir.join(n)).collect())
}

/// Dynamically linked binaries among `paths` (they need the VM's libc to match the build host's).
pub fn dynamic(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|p| has_interpreter(p).unwrap_or(false))
        .cloned()
        .collect()
}

/// Whether an ELF64 file asks for a program interpreter (PT_INTERP), i.e. is dynamically linked.
fn has_interpreter(path: &Path) -> anyhow::Result<bool> {
    let mut head = vec![0u8; 64];
    let mut f = File::open(path)?;
    f.read_exact(&mut head)?;
    if &head[..4] != b"\x7fELF" || head[4] != 2 {
        return Ok(false);
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(head[0x20..0x28].try_into()?) as usize;
    let (phentsize, phnum) = (u16_at(&head, 0x36), u16_at(&head, 0x38));
    let mut all = Vec::new();
    File::open(path)?
        .take((phoff + phentsize * phnum) as u64)
        .read_to_end(&mut all)?;
    const PT_INTERP: u32 = 3;
    Ok((0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        all.get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) == PT_INTERP)
    }))
}

/// Write the tarball (binaries at its top level, mode 0755) and return its SHA-256 in hex.
pub fn write(paths: &[PathBuf], out: &Path) -> anyhow::Result<String> {
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for p in paths {
        let name = p.file_name().context("binary without a file name")?;
        let mut f = File::open(p).with_context(|| format!("reading {}", p.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(f.metadata()?.len());
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, name, &mut f)
            .with_context(|| format!("adding {}", p.display()))?;
    }
    tar.into_inner()?
        .finish()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    sha256_file(out)
}

pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f, &mut hasher)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_dynamic_and_static_elf() {
        // /bin/sh is dynamically linked on every Debian; a text file is not ELF at all.
        assert!(has_interpreter(Path::new("/bin/sh")).unwrap());
        assert!(!has_interpreter(Path::new("/etc/hostname")).unwrap_or(false));
    }
}
