//! The apt packages a lab machine needs, from the one package list (provision/packages.txt,
//! group `lab`), as `PACKAGES` for runner/src/provision (cloud-init user-data, `lab provision
//! host`): the runner reads the same file as provision/setup.sh and the VM image builder.
use std::{env, fs, path::PathBuf};

fn main() {
    let list =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../provision/packages.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    let text = fs::read_to_string(&list).unwrap_or_else(|e| panic!("{}: {e}", list.display()));
    let lab: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("lab:"))
        .unwrap_or_else(|| panic!("{}: no `lab:` line", list.display()))
        .split_whitespace()
        .collect();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("packages.rs");
    fs::write(&out, format!("pub const PACKAGES: &[&str] = &{lab:?};\n")).unwrap();
}
