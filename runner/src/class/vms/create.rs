//! Making one student's VM on its host: the NoCloud seed (uploaded), a qcow2 overlay on the
//! class's base volume, and the domain, defined with the class mark and started.
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{hosts::Host, image::BaseImage, journal::Journal, seed};
use crate::{
    libvirt::{domain, domain::DomainSpec, pool},
    provision::payload,
};

/// The class's base image as stored in each host's class pool.
#[derive(Debug, Clone)]
pub struct StoredBase {
    pub image: BaseImage,
    /// Volume names: the disk, and kernel + initrd for direct boot.
    pub disk: String,
    pub kernel: Option<(String, String)>,
}

impl StoredBase {
    /// Names from the image file's name, size and time: a rebuilt image gets new volumes,
    /// while the VMs made from the old one keep theirs.
    pub fn new(image: BaseImage) -> anyhow::Result<StoredBase> {
        use sha2::{Digest, Sha256};
        let meta = std::fs::metadata(&image.disk)?;
        let stamp = format!(
            "{}|{}|{:?}",
            image.disk.display(),
            meta.len(),
            meta.modified().ok()
        );
        let h = Sha256::digest(stamp.as_bytes());
        let id: String = h[..6].iter().map(|b| format!("{b:02x}")).collect();
        let disk = format!("base-{id}.{}", image.format.name());
        let kernel = image.kernel.as_ref().map(|_| {
            (
                format!("base-{id}-vmlinuz"),
                format!("base-{id}-initrd.img"),
            )
        });
        Ok(StoredBase {
            image,
            disk,
            kernel,
        })
    }

    /// Upload what the pool lacks (the disk, kernel, initrd); `say` reports each upload.
    pub fn store(&self, h: &Host, pool_name: &str, say: &dyn Fn(String)) -> anyhow::Result<()> {
        let have = pool::volumes(&h.virsh, pool_name)?;
        let mut files: Vec<(&str, &Path)> = vec![(&self.disk, &self.image.disk)];
        if let (Some((k, i)), Some((kf, inf))) = (&self.kernel, &self.image.kernel) {
            files.push((k, kf));
            files.push((i, inf));
        }
        for (name, file) in files {
            if have.iter().any(|v| v == name) {
                continue;
            }
            say(format!(
                "{}: storing {} ({} MiB) as {pool_name}/{name}",
                h.label(),
                file.display(),
                std::fs::metadata(file)?.len() >> 20
            ));
            pool::upload(&h.virsh, pool_name, name, file)?;
        }
        Ok(())
    }
}

/// Volume names of a student's VM.
pub fn overlay_name(domain: &str) -> String {
    format!("{domain}.qcow2")
}
pub fn seed_name(domain: &str) -> String {
    format!("{domain}-seed.img")
}

/// Seed, overlay and domain for `student` on `h` (replacing partial ones of a killed run).
pub fn create(
    dir: &Path,
    journal: &Journal,
    student: &str,
    h: &Host,
    base: &StoredBase,
) -> anyhow::Result<()> {
    let pool_name = pool::pool_name(&journal.class_name);
    let name = journal.domain_name(student);
    // A half-made VM of a killed run goes first: its disks are about to be made anew.
    domain::remove_if_ours(&h.virsh, &name, &journal.class_id, student)?;
    let seed_file = write_seed(dir, student)?;
    let uploaded = pool::upload(&h.virsh, &pool_name, &seed_name(&name), &seed_file);
    let _ = std::fs::remove_file(&seed_file);
    uploaded?;
    pool::create_overlay(
        &h.virsh,
        &pool_name,
        &overlay_name(&name),
        &base.disk,
        base.image.format.name(),
        journal.settings.disk_bytes,
    )?;
    let (kernel, initrd) = match &base.kernel {
        Some((k, i)) => (
            Some(pool::path_of(&h.virsh, &pool_name, k)?),
            Some(pool::path_of(&h.virsh, &pool_name, i)?),
        ),
        None => (None, None),
    };
    let s = &journal.settings;
    domain::define(
        &h.virsh,
        &DomainSpec {
            name: name.clone(),
            class_id: journal.class_id.clone(),
            class_name: journal.class_name.clone(),
            student: student.to_string(),
            accel: h.accel.to_string(),
            vcpus: s.vcpus,
            memory_mib: s.memory_mib,
            pool: pool_name.clone(),
            overlay: overlay_name(&name),
            seed: seed_name(&name),
            network: s.network.clone(),
            mac: domain::mac_for(&journal.class_id, student),
            kernel,
            initrd,
        },
    )
}

/// DIR/.seeds/STUDENT.img from DIR/STUDENT/{user-data,meta-data} and the payload.
fn write_seed(dir: &Path, student: &str) -> anyhow::Result<PathBuf> {
    let read = |f: &str| {
        let p = dir.join(student).join(f);
        std::fs::read(&p).with_context(|| {
            format!(
                "reading {} (the class directory is incomplete: provision it again)",
                p.display()
            )
        })
    };
    let (user_data, meta_data) = (read("user-data")?, read("meta-data")?);
    let seeds = dir.join(".seeds");
    crate::provision::secret::create_dir(&seeds)?;
    let out = seeds.join(format!("{student}.img"));
    seed::write(&out, &user_data, &meta_data, &dir.join(payload::FILE_NAME))?;
    Ok(out)
}

/// A fresh domain's seed carries the payload of DIR; check it is the one user-data pins.
pub fn payload_present(dir: &Path) -> anyhow::Result<()> {
    let p = dir.join(payload::FILE_NAME);
    anyhow::ensure!(
        p.is_file(),
        "{}: missing (the class directory is incomplete: provision it again)",
        p.display()
    );
    Ok(())
}
