//! A class's storage pool on one host: a directory pool of its own under the libvirt image
//! directory, holding the base image, each student's overlay and seed. Owning the pool is what
//! marks the volumes as the class's (libvirt volumes carry no metadata), and `down` removes the
//! whole pool, so nothing else in the host's storage is ever touched.
use std::path::Path;

use anyhow::Context as _;

use super::{node::IMAGES_DIR, virsh::Virsh};

/// The pool's name and target directory for a class.
pub fn pool_name(class: &str) -> String {
    format!("lab-{class}")
}

/// Define, build and start the class pool (idempotent).
pub fn ensure(v: &Virsh, pool: &str) -> anyhow::Result<()> {
    if !v.ok(&["pool-info", pool]) {
        let target = format!("{IMAGES_DIR}/{pool}");
        v.run(&["pool-define-as", pool, "dir", "--target", &target])
            .with_context(|| format!("{}: defining storage pool {pool}", v.host.uri))?;
        v.run(&["pool-build", pool])
            .with_context(|| format!("{}: creating {target}", v.host.uri))?;
    }
    if !pool_active(v, pool)? {
        v.run(&["pool-start", pool])
            .with_context(|| format!("{}: starting storage pool {pool}", v.host.uri))?;
    }
    let _ = v.run(&["pool-autostart", pool]);
    v.run(&["pool-refresh", pool])?;
    Ok(())
}

fn pool_active(v: &Virsh, pool: &str) -> anyhow::Result<bool> {
    let info = v.run(&["pool-info", pool])?;
    Ok(info
        .lines()
        .any(|l| l.starts_with("State:") && l.contains("running")))
}

pub fn exists(v: &Virsh, pool: &str) -> bool {
    v.ok(&["pool-info", pool])
}

/// The pool's volumes by name (empty when the pool does not exist).
pub fn volumes(v: &Virsh, pool: &str) -> anyhow::Result<Vec<String>> {
    if !exists(v, pool) {
        return Ok(Vec::new());
    }
    if !pool_active(v, pool)? {
        v.run(&["pool-start", pool])?;
    }
    let out = v.run(&["vol-list", pool])?;
    // "-q" keeps the header off: " name   path" rows.
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect())
}

/// Upload `file` as volume `name` (replacing a partial one a killed run left).
pub fn upload(v: &Virsh, pool: &str, name: &str, file: &Path) -> anyhow::Result<()> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    replace_volume(v, pool, name, &[&size.to_string(), "--format", "raw"])
        .with_context(|| format!("{}: creating volume {name}", v.host.uri))?;
    let path = file.to_string_lossy();
    v.run_within(
        &["vol-upload", "--pool", pool, name, &path],
        std::time::Duration::from_secs(3600),
    )
    .with_context(|| format!("{}: uploading {} as {name}", v.host.uri, file.display()))?;
    Ok(())
}

/// A qcow2 overlay of `size_bytes` on the base volume `base` (format `base_format`).
pub fn create_overlay(
    v: &Virsh,
    pool: &str,
    name: &str,
    base: &str,
    base_format: &str,
    size_bytes: u64,
) -> anyhow::Result<()> {
    let size = size_bytes.to_string();
    let spec = [
        size.as_str(),
        "--format",
        "qcow2",
        "--backing-vol",
        base,
        "--backing-vol-format",
        base_format,
    ];
    replace_volume(v, pool, name, &spec)
        .with_context(|| format!("{}: creating overlay {name} on {base}", v.host.uri))?;
    Ok(())
}

/// `vol-create-as POOL NAME SPEC...` in place of any volume of that name (a partial one a killed
/// run left, even one whose create that run sent just before it was killed).
fn replace_volume(v: &Virsh, pool: &str, name: &str, spec: &[&str]) -> anyhow::Result<()> {
    super::virsh::replacing(|| {
        let _ = v.run(&["vol-delete", "--pool", pool, name]);
        let mut args = vec!["vol-create-as", pool, name];
        args.extend_from_slice(spec);
        v.run(&args)
    })?;
    Ok(())
}

pub fn path_of(v: &Virsh, pool: &str, name: &str) -> anyhow::Result<String> {
    Ok(v.run(&["vol-path", "--pool", pool, name])?
        .trim()
        .to_string())
}

pub fn delete_volume(v: &Virsh, pool: &str, name: &str) -> anyhow::Result<()> {
    v.run(&["vol-delete", "--pool", pool, name])
        .with_context(|| format!("{}: deleting volume {name}", v.host.uri))?;
    Ok(())
}

/// Every volume, then the pool's directory and definition.
pub fn remove(v: &Virsh, pool: &str) -> anyhow::Result<()> {
    if !exists(v, pool) {
        return Ok(());
    }
    for vol in volumes(v, pool)? {
        delete_volume(v, pool, &vol)?;
    }
    let _ = v.run(&["pool-destroy", pool]);
    v.run(&["pool-delete", pool])
        .with_context(|| format!("{}: removing the directory of pool {pool}", v.host.uri))?;
    v.run(&["pool-undefine", pool])?;
    Ok(())
}
