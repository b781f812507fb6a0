//! A student's NoCloud seed: a small FAT disk labelled CIDATA holding user-data, meta-data and
//! the lab payload, so a VM on libvirt needs no web server (cloud-init reads vfat seeds as it
//! reads cloud-localds' ISO; the provision script copies the payload off the same disk).
//! Written with the `fatfs` crate: no mkfs, mtools or cloud-image-utils on the instructor's host.
use std::{
    fs::{File, OpenOptions},
    io::Write as _,
    os::unix::fs::OpenOptionsExt as _,
    path::Path,
};

use anyhow::Context as _;

/// The file name the provision script looks for on the seed.
pub const PAYLOAD_NAME: &str = "lab-payload.tar.gz";

/// Write the seed image `out` (mode 0600: user-data holds a password hash).
pub fn write(out: &Path, user_data: &[u8], meta_data: &[u8], payload: &Path) -> anyhow::Result<()> {
    let payload_len = std::fs::metadata(payload)
        .with_context(|| format!("reading {}", payload.display()))?
        .len();
    let size = image_size(payload_len + user_data.len() as u64 + meta_data.len() as u64);
    let _ = std::fs::remove_file(out);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("creating {}", out.display()))?;
    f.set_len(size)?;
    fill(&mut f, user_data, meta_data, payload)
        .with_context(|| format!("writing the seed {}", out.display()))?;
    f.sync_all()?;
    Ok(())
}

/// Room for the files plus FAT overhead, in whole MiB (at least 8 MiB: FAT16's comfortable floor).
fn image_size(content: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    let want = content + content / 16 + 2 * MIB;
    want.div_ceil(MIB).max(8) * MIB
}

fn fill(f: &mut File, user_data: &[u8], meta_data: &[u8], payload: &Path) -> anyhow::Result<()> {
    fatfs::format_volume(
        &mut *f,
        fatfs::FormatVolumeOptions::new().volume_label(*b"CIDATA     "),
    )?;
    let fs = fatfs::FileSystem::new(&mut *f, fatfs::FsOptions::new())?;
    let root = fs.root_dir();
    root.create_file("user-data")?.write_all(user_data)?;
    root.create_file("meta-data")?.write_all(meta_data)?;
    let mut src = File::open(payload).with_context(|| format!("reading {}", payload.display()))?;
    let mut dst = root.create_file(PAYLOAD_NAME)?;
    std::io::copy(&mut src, &mut dst)?;
    dst.flush()?;
    drop(dst);
    drop(root);
    fs.unmount()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    #[test]
    fn seed_holds_the_three_files_under_the_cidata_label() {
        let dir = std::env::temp_dir().join(format!("lab-seed-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let payload = dir.join("p.tar.gz");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&payload, &bytes).unwrap();
        let img = dir.join("seed.img");
        super::write(&img, b"#cloud-config\n", b"instance-id: x\n", &payload).unwrap();
        let mut f = std::fs::File::open(&img).unwrap();
        let fs = fatfs::FileSystem::new(&mut f, fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.volume_label().trim(), "CIDATA");
        let mut got = Vec::new();
        fs.root_dir()
            .open_file(super::PAYLOAD_NAME)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert!(got == bytes, "payload differs");
        let mut ud = String::new();
        fs.root_dir()
            .open_file("user-data")
            .unwrap()
            .read_to_string(&mut ud)
            .unwrap();
        assert_eq!(ud, "#cloud-config\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
