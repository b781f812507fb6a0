//! Block tracepoint plumbing shared by biolatency, biosnoop and bitesize: field offsets from
//! tracefs, the request layout from BTF for the raw completion, dev_t <-> disk names, and rwbs
//! decoding.
use std::path::Path;

use anyhow::{Context as _, Result};
use aya::{programs::RawTracePoint, Ebpf};
use lab_probes_common::block::{BlockTpOffsets, RqLayout, RWBS_LEN};

use crate::{btf::Btf, events::attach_tracepoint, tracefs};

/// Set to "tracepoint" to complete through the classic tracepoint even where the raw one works
/// (what kernels without the request layout in BTF get; the tests cover both paths).
pub const COMPLETE_ENV: &str = "LAB_BLOCK_COMPLETE";

/// struct request's layout from this kernel's BTF, for the raw block_rq_complete.
pub fn rq_layout() -> Result<RqLayout> {
    if std::env::var(COMPLETE_ENV).is_ok_and(|v| v == "tracepoint") {
        anyhow::bail!("{COMPLETE_ENV}=tracepoint");
    }
    let btf = Btf::vmlinux()?;
    btf.prefetch(&[
        "request",
        "q",
        "rq_disk",
        "request_queue",
        "disk",
        "gendisk",
        "major",
        "first_minor",
        "__sector",
        "cmd_flags",
    ])?;
    // 5.16 moved the disk pointer from the request to its queue.
    let (rq_q, via_queue, q_disk) = match btf.member("request_queue", "disk") {
        Ok(d) => (btf.member("request", "q")?.offset, 1, d.offset),
        Err(_) => (btf.member("request", "rq_disk")?.offset, 0, 0),
    };
    Ok(RqLayout {
        rq_q,
        via_queue,
        q_disk,
        disk_major: btf.member("gendisk", "major")?.offset,
        disk_first_minor: btf.member("gendisk", "first_minor")?.offset,
        rq_sector: btf.member("request", "__sector")?.offset,
        rq_cmd_flags: btf.member("request", "cmd_flags")?.offset,
        _pad: 0,
    })
}

/// Attach the completion: program `raw` as a raw tracepoint when `layout` was found (RQ_LAYOUT
/// must hold it) and the kernel takes it, else program `classic` as the block:block_rq_complete
/// tracepoint (which works everywhere, at the cost of the skips described at RqLayout).
pub fn attach_complete(
    bpf: &mut Ebpf,
    layout: &Result<RqLayout>,
    raw: &str,
    classic: &str,
) -> Result<()> {
    if layout.is_ok() && attach_raw_complete(bpf, raw).is_ok() {
        return Ok(());
    }
    attach_tracepoint(bpf, classic, "block", "block_rq_complete")
}

fn attach_raw_complete(bpf: &mut Ebpf, raw: &str) -> Result<()> {
    let p: &mut RawTracePoint = bpf
        .program_mut(raw)
        .with_context(|| format!("program {raw} missing from object"))?
        .try_into()?;
    p.load()
        .with_context(|| format!("verifier rejected {raw}"))?;
    p.attach("block_rq_complete")
        .with_context(|| format!("attaching {raw} to raw tracepoint block_rq_complete"))?;
    Ok(())
}

/// Offsets of dev, sector, nr_sector and rwbs in `block:<name>` on this kernel.
pub fn tp_offsets(root: &Path, name: &str) -> Result<BlockTpOffsets> {
    let fields = tracefs::fields(root, "block", name)?;
    let off = |f: &str| {
        fields
            .iter()
            .find(|x| x.name == f)
            .map(|x| x.offset)
            .with_context(|| format!("tracepoint block:{name} has no field '{f}' on this kernel"))
    };
    Ok(BlockTpOffsets {
        dev: off("dev")?,
        sector: off("sector")?,
        nr_sector: off("nr_sector")?,
        rwbs: off("rwbs")?,
    })
}

/// The kernel's internal dev_t encoding used by the block tracepoints (MKDEV: major << 20 | minor).
pub fn kdev(major: u32, minor: u32) -> u32 {
    (major << 20) | (minor & 0xfffff)
}

/// Disk name ("vda") of a tracepoint dev_t, or "MAJ,MIN" when /sys does not know it.
pub fn disk_name(dev: u32) -> String {
    let (major, minor) = (dev >> 20, dev & 0xfffff);
    let uevent = format!("/sys/dev/block/{major}:{minor}/uevent");
    std::fs::read_to_string(uevent)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("DEVNAME=").map(str::to_owned))
        })
        .unwrap_or_else(|| format!("{major},{minor}"))
}

/// The tracepoint dev_t of a disk by name ("vda" or "/dev/vda").
pub fn dev_by_name(name: &str) -> Result<u32> {
    let name = name.strip_prefix("/dev/").unwrap_or(name);
    let path = format!("/sys/class/block/{name}/dev");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("no block device named '{name}' ({path} missing); see lsblk for names")
    })?;
    // The request tracepoints carry the whole disk's dev_t, so a partition would match nothing.
    let part = std::path::Path::new("/sys/class/block").join(name);
    if part.join("partition").exists() {
        let disk = std::fs::canonicalize(&part).ok().and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|d| d.to_string_lossy().into_owned())
        });
        anyhow::bail!(
            "'{name}' is a partition; block I/O is traced per disk: use {}",
            disk.unwrap_or_else(|| "the disk's name".into())
        );
    }
    let (maj, min) = text
        .trim()
        .split_once(':')
        .with_context(|| format!("unexpected contents of {path}"))?;
    Ok(kdev(maj.parse()?, min.parse()?))
}

/// The rwbs bytes as text ("WS", "R", "FWFS").
pub fn rwbs_str(rwbs: &[u8; RWBS_LEN]) -> String {
    crate::events::cstr(rwbs)
}

/// biosnoop's T column: W for writes, D for discards, F for pure flushes, otherwise R.
pub fn rwbs_type(rwbs: &str) -> char {
    let op = rwbs.trim_start_matches('F');
    match op.chars().next() {
        Some('W') => 'W',
        Some('D') => 'D',
        None if rwbs.starts_with('F') => 'F',
        _ => 'R',
    }
}

/// biolatency -F's section name for an rwbs string, in BCC's style ("Sync-Write").
pub fn rwbs_flags_desc(rwbs: &str) -> String {
    let preflush = rwbs.starts_with('F') && rwbs.len() > 1;
    let body = if preflush { &rwbs[1..] } else { rwbs };
    let mut chars = body.chars();
    let op = match chars.next() {
        Some('W') => "Write",
        Some('R') => "Read",
        Some('D') if body.starts_with("DE") => "SecureErase",
        Some('D') => "Discard",
        Some('F') => "Flush",
        Some('N') => "None",
        _ => "Unknown",
    };
    let mut desc = op.to_string();
    let rest: String = chars.collect();
    let rest = rest
        .strip_prefix('E')
        .filter(|_| op == "SecureErase")
        .unwrap_or(&rest);
    for c in rest.chars() {
        let f = match c {
            'S' => "Sync",
            'M' => "Metadata",
            'F' => "ForcedUnitAccess",
            'A' => "ReadAhead",
            _ => continue,
        };
        desc = format!("{f}-{desc}");
    }
    if preflush {
        desc = format!("PreFlush-{desc}");
    }
    desc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rwbs_decoding() {
        assert_eq!(rwbs_flags_desc("W"), "Write");
        assert_eq!(rwbs_flags_desc("WS"), "Sync-Write");
        assert_eq!(rwbs_flags_desc("RM"), "Metadata-Read");
        assert_eq!(
            rwbs_flags_desc("FWFS"),
            "PreFlush-Sync-ForcedUnitAccess-Write"
        );
        assert_eq!(rwbs_flags_desc("F"), "Flush");
        assert_eq!(rwbs_flags_desc("DE"), "SecureErase");
        assert_eq!(rwbs_type("WS"), 'W');
        assert_eq!(rwbs_type("FWS"), 'W');
        assert_eq!(rwbs_type("RA"), 'R');
        assert_eq!(rwbs_type("F"), 'F');
        assert_eq!(rwbs_type("D"), 'D');
        assert_eq!(kdev(253, 0) >> 20, 253);
    }
}
