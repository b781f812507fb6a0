//! Builds the kernel halves (tools/ebpf, one object per `[[bin]]`) with aya-build and generates
//! `objects.rs`, which embeds them. When the eBPF build is skipped (AYA_BUILD_SKIP=1, or no
//! nightly/bpf-linker here) it writes empty objects and says so, so `cargo check`/clippy work on
//! stable; loading one of those at run time fails with a message naming the cause.
//! LAB_REQUIRE_EBPF=1 (set by provision/setup.sh and tests/run.sh) turns a skip into an error.
use std::{env, fmt::Write as _, fs, path::PathBuf, process::Command};

use anyhow::{anyhow, bail, Context as _};
use aya_build::{Package, Toolchain};

const EBPF_PACKAGE: &str = "lab-probes-ebpf";

fn main() -> anyhow::Result<()> {
    for v in ["AYA_BUILD_SKIP", "LAB_REQUIRE_EBPF", "PATH"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?);
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let pkg = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == EBPF_PACKAGE)
        .ok_or_else(|| anyhow!("{EBPF_PACKAGE} is not a member of the workspace"))?;
    let objects: Vec<String> = pkg
        .targets
        .iter()
        .filter(|t| t.kind.iter().any(|k| k.to_string() == "bin"))
        .map(|t| t.name.clone())
        .collect();
    let root_dir = pkg
        .manifest_path
        .parent()
        .context("manifest has no parent")?
        .as_str()
        .to_owned();

    // The pinned nightly's LLVM must match bpf-linker's; see tools/ebpf/NIGHTLY.
    let nightly_file = PathBuf::from(&root_dir).join("NIGHTLY");
    println!("cargo:rerun-if-changed={}", nightly_file.display());
    let nightly = fs::read_to_string(&nightly_file)
        .with_context(|| format!("reading {}", nightly_file.display()))?
        .trim()
        .to_owned();
    let skip_reason = skip_reason(&nightly);
    let built = match &skip_reason {
        None => {
            share_ebpf_target_dir(&out_dir, metadata.target_directory.as_std_path())?;
            aya_build::build_ebpf(
                [Package { name: EBPF_PACKAGE, root_dir: &root_dir, ..Default::default() }],
                Toolchain::Custom(&nightly),
            )
            .context("building the eBPF objects (nightly + rust-src + bpf-linker; see provision/setup.sh)")?;
            true
        }
        Some(why) => {
            if env::var_os("LAB_REQUIRE_EBPF").is_some_and(|v| v == "1") {
                bail!("eBPF build skipped ({why}) but LAB_REQUIRE_EBPF=1; run provision/setup.sh --deps");
            }
            println!("cargo:warning=eBPF build skipped ({why}); embedding empty objects, BPF tools will refuse to load");
            for name in &objects {
                fs::write(out_dir.join(name), b"")?;
            }
            false
        }
    };

    let mut src = String::new();
    writeln!(
        src,
        "/// True when the eBPF objects were really built (not empty stubs)."
    )?;
    writeln!(src, "pub const BUILT: bool = {built};")?;
    writeln!(src, "/// Why the eBPF build was skipped, when it was.")?;
    writeln!(
        src,
        "pub const SKIP_REASON: &str = {:?};",
        skip_reason.unwrap_or_default()
    )?;
    writeln!(
        src,
        "/// Every embedded object, by the name of its `[[bin]]` in tools/ebpf."
    )?;
    writeln!(src, "pub static OBJECTS: &[(&str, &[u8])] = &[")?;
    for name in &objects {
        writeln!(
            src,
            "    ({name:?}, aya::include_bytes_aligned!(concat!(env!(\"OUT_DIR\"), \"/{name}\")) as &[u8]),"
        )?;
    }
    writeln!(src, "];")?;
    fs::write(out_dir.join("objects.rs"), src)?;
    Ok(())
}

/// aya-build builds the kernel halves in `OUT_DIR/aya-build/target/<package>`, and every build
/// of this crate has its own OUT_DIR: debug, release, `cargo check`, `cargo test -p X` (other
/// features) and the static musl payload each rebuilt the same bpfel objects from scratch
/// (`core` included, minutes each on 2 cores). They are the same objects whatever the host
/// profile (always `--release --target bpfel-unknown-none`), so that dir is made a link to one
/// shared `<target dir>/ebpf`; cargo's own lock there serializes two builds at once.
fn share_ebpf_target_dir(
    out_dir: &std::path::Path,
    target_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let shared = target_dir.join("ebpf");
    fs::create_dir_all(&shared).with_context(|| format!("creating {}", shared.display()))?;
    let link = out_dir.join("aya-build").join("target").join(EBPF_PACKAGE);
    if fs::read_link(&link).is_ok_and(|to| to == shared) {
        return Ok(());
    }
    match fs::symlink_metadata(&link) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&link)?,
        Ok(_) => fs::remove_file(&link)?,
        Err(_) => {}
    }
    fs::create_dir_all(link.parent().context("link has a parent")?)?;
    std::os::unix::fs::symlink(&shared, &link)
        .with_context(|| format!("linking {} to {}", link.display(), shared.display()))
}

/// Why the eBPF build cannot or should not run here, or None when it should.
fn skip_reason(nightly: &str) -> Option<String> {
    if let Some(v) = env::var_os("AYA_BUILD_SKIP") {
        if v == "1" || v.eq_ignore_ascii_case("true") {
            return Some("AYA_BUILD_SKIP=1".into());
        }
    }
    let ok = |cmd: &mut Command| cmd.output().map(|o| o.status.success()).unwrap_or(false);
    if !ok(Command::new("bpf-linker").arg("--version")) {
        return Some("bpf-linker not on PATH".into());
    }
    if !ok(Command::new("rustup").args(["run", nightly, "rustc", "--version"])) {
        return Some(format!("toolchain {nightly} not installed"));
    }
    None
}
