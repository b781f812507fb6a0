//! The base image a class boots from: a qcow2 or raw disk, either a distro cloud image with a
//! bootloader (e.g. Debian's genericcloud qcow2) or the image provision/vm/build-image.sh makes
//! (no bootloader: its kernel and initrd sit beside the disk and are booted directly).
use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use anyhow::Context as _;

use crate::privilege::usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Qcow2,
    Raw,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Qcow2 => "qcow2",
            Format::Raw => "raw",
        }
    }
}

#[derive(Debug, Clone)]
pub struct BaseImage {
    pub disk: PathBuf,
    pub format: Format,
    /// The disk as the guest sees it, bytes.
    pub virtual_size: u64,
    /// The file on the instructor's disk (what each host stores once), bytes.
    pub file_size: u64,
    /// vmlinuz and initrd.img for direct kernel boot, when they sit beside the disk.
    pub kernel: Option<(PathBuf, PathBuf)>,
}

impl BaseImage {
    /// `--image` as given: a disk file, or a directory holding disk.qcow2 (build-image.sh's).
    pub fn open(given: &Path) -> anyhow::Result<BaseImage> {
        let disk = if given.is_dir() {
            given.join("disk.qcow2")
        } else {
            given.to_path_buf()
        };
        if !disk.is_file() {
            return Err(usage(format!(
                "--image {}: no such image file (give a Debian genericcloud .qcow2, or the directory provision/vm/build-image.sh prints)",
                disk.display()
            )));
        }
        let mut f = File::open(&disk).with_context(|| format!("--image {}", disk.display()))?;
        let file_size = f.metadata()?.len();
        let head = read_at(&mut f, 0, 512)?;
        let bad = |why: String| usage(format!("--image {}: {why}", disk.display()));
        let (format, virtual_size, start) = if head.starts_with(b"QFI\xfb") {
            let q = Qcow2Header::parse(&head).map_err(|w| bad(w.into()))?;
            (Format::Qcow2, q.size, q.guest_start(&mut f)?)
        } else {
            if let Some(kind) = not_a_disk(&head, &mut f)? {
                return Err(bad(kind));
            }
            (Format::Raw, file_size, Some(read_at(&mut f, 0, 2048)?))
        };
        let dir = disk.parent().unwrap_or(Path::new("."));
        let (k, i) = (dir.join("vmlinuz"), dir.join("initrd.img"));
        let kernel = (k.is_file() && i.is_file()).then_some((k, i));
        if let Some(start) = start {
            if kernel.is_none() && !bootable(&start) {
                return Err(bad(
                    "no partition table, so no bootloader; an image of provision/vm/build-image.sh needs its vmlinuz and initrd.img beside it (pass the directory it printed)".into(),
                ));
            }
        }
        Ok(BaseImage {
            disk,
            format,
            virtual_size,
            file_size,
            kernel,
        })
    }
}

fn read_at(f: &mut File, offset: u64, len: usize) -> anyhow::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len);
    f.take(len as u64).read_to_end(&mut buf)?;
    buf.resize(len, 0);
    Ok(buf)
}

/// An MBR/GPT boot sector (bootloader images) at the disk's start.
fn bootable(start: &[u8]) -> bool {
    start.len() >= 512 && start[510] == 0x55 && start[511] == 0xaa
}

/// Files that are not disk images, by their magic: (offset, magic, what it is, what to do).
const NOT_DISKS: &[(usize, &[u8], &str, &str)] = &[
    (0, b"KDMV", "a VMDK image", CONVERT),
    (0, b"# Disk DescriptorFile", "a VMDK descriptor", CONVERT),
    (0, b"<<< ", "a VirtualBox VDI image", CONVERT),
    (0, b"vhdxfile", "a VHDX image", CONVERT),
    (0, b"conectix", "a VHD image", CONVERT),
    (0, b"QED\0", "a QED image", CONVERT),
    (0, b"\xfd7zXZ", "an xz-compressed file", UNPACK),
    (0, b"\x1f\x8b", "a gzip-compressed file", UNPACK),
    (0, b"\x28\xb5\x2f\xfd", "a zstd-compressed file", UNPACK),
    (257, b"ustar", "a tar file", UNPACK),
];
const CONVERT: &str = "convert it with `qemu-img convert -O qcow2 IN OUT.qcow2`";
const UNPACK: &str = "unpack the disk image inside it first";

/// What a file that is not a raw disk is, in words (None: a raw disk).
fn not_a_disk(head: &[u8], f: &mut File) -> anyhow::Result<Option<String>> {
    for (offset, magic, what, todo) in NOT_DISKS {
        if head.get(*offset..offset + magic.len()) == Some(*magic) {
            return Ok(Some(format!("is {what}: {todo}")));
        }
    }
    Ok(if read_at(f, 0x8001, 5)? == b"CD001" {
        Some("is an ISO 9660 installer or CD image, not a disk image".into())
    } else if !bootable(head) && !has_ext_fs(&read_at(f, 0, 2048)?) {
        Some(
            "is neither qcow2 nor a raw disk (no partition table or file system at its start)"
                .into(),
        )
    } else {
        None
    })
}

/// An ext2/3/4 superblock at offset 1024 (a partitionless disk of build-image.sh).
fn has_ext_fs(start: &[u8]) -> bool {
    start.len() >= 1082 && start[1080] == 0x53 && start[1081] == 0xef
}

struct Qcow2Header {
    size: u64,
    cluster_bits: u32,
    l1_offset: u64,
}

impl Qcow2Header {
    fn parse(h: &[u8]) -> Result<Qcow2Header, &'static str> {
        let be64 = |o: usize| u64::from_be_bytes(h[o..o + 8].try_into().unwrap());
        let be32 = |o: usize| u32::from_be_bytes(h[o..o + 4].try_into().unwrap());
        if be64(8) != 0 {
            return Err("is a qcow2 overlay with a backing file of its own: flatten it first (`qemu-img convert -O qcow2 IN OUT.qcow2`)");
        }
        if be32(32) != 0 {
            return Err("is an encrypted qcow2 image");
        }
        Ok(Qcow2Header {
            size: be64(24),
            cluster_bits: be32(20),
            l1_offset: be64(40),
        })
    }

    /// The guest's first 2 KiB, when the first cluster is stored plainly (None: compressed or
    /// unallocated, so nothing can be said without qemu-img).
    fn guest_start(&self, f: &mut File) -> anyhow::Result<Option<Vec<u8>>> {
        const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
        const COMPRESSED: u64 = 1 << 62;
        let l1 = u64::from_be_bytes(read_at(f, self.l1_offset, 8)?.try_into().unwrap());
        let l2_offset = l1 & OFFSET_MASK;
        if l2_offset == 0 || self.cluster_bits < 9 {
            return Ok(None);
        }
        let l2 = u64::from_be_bytes(read_at(f, l2_offset, 8)?.try_into().unwrap());
        let data = l2 & OFFSET_MASK;
        if l2 & COMPRESSED != 0 || data == 0 {
            return Ok(None);
        }
        Ok(Some(read_at(f, data, 2048)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lab-image-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn err(p: &Path) -> String {
        format!("{:#}", BaseImage::open(p).unwrap_err())
    }

    #[test]
    fn raw_disks_by_their_start() {
        let mut mbr = vec![0u8; 4096];
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        let p = scratch("mbr.img", &mbr);
        let img = BaseImage::open(&p).unwrap();
        assert_eq!(
            (img.format, img.virtual_size, img.kernel.is_some()),
            (Format::Raw, 4096, false)
        );
        std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
        // A partitionless ext4 disk boots only with its kernel beside it.
        let mut ext = vec![0u8; 4096];
        ext[1080] = 0x53;
        ext[1081] = 0xef;
        let p = scratch("ext.img", &ext);
        assert!(
            err(&p).contains("no partition table, so no bootloader"),
            "{}",
            err(&p)
        );
        let dir = p.parent().unwrap();
        std::fs::write(dir.join("vmlinuz"), b"k").unwrap();
        std::fs::write(dir.join("initrd.img"), b"i").unwrap();
        assert!(BaseImage::open(&p).unwrap().kernel.is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn other_files_say_what_they_are() {
        for (name, bytes, says) in [
            (
                "a.vmdk",
                b"KDMV\x01\0\0\0".to_vec(),
                "is a VMDK image: convert it",
            ),
            (
                "a.qcow2.xz",
                b"\xfd7zXZ\0".to_vec(),
                "is an xz-compressed file",
            ),
            (
                "a.txt",
                b"hello\n".repeat(400),
                "is neither qcow2 nor a raw disk",
            ),
        ] {
            let p = scratch(name, &bytes);
            assert!(err(&p).contains(says), "{name}: {}", err(&p));
            assert!(err(&p).starts_with(&format!("--image {}", p.display())));
            std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
        }
        let mut overlay = vec![0u8; 512];
        overlay[..4].copy_from_slice(b"QFI\xfb");
        overlay[15] = 0x70; // a backing file offset
        let p = scratch("overlay.qcow2", &overlay);
        assert!(err(&p).contains("backing file of its own"), "{}", err(&p));
        std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
    }
}
