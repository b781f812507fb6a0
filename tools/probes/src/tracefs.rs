//! tracefs: where it is, mounting it when missing, and which tracepoints exist.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

pub const TRACEFS: &str = "/sys/kernel/tracing";
const LEGACY: &str = "/sys/kernel/debug/tracing";

/// Whether `mount_if_missing` had to mount tracefs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountState {
    AlreadyMounted,
    MountedNow,
}

/// The tracefs root, if mounted.
pub fn root() -> Option<PathBuf> {
    [TRACEFS, LEGACY]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
}

/// Mount tracefs at /sys/kernel/tracing unless some tracefs is already reachable.
pub fn mount_if_missing() -> Result<(PathBuf, MountState)> {
    if let Some(p) = root() {
        return Ok((p, MountState::AlreadyMounted));
    }
    // Mounted but root's alone (mode 700 on Debian): mounting again would fail too, with a
    // message about mounts that hides the real problem.
    for dir in [TRACEFS, LEGACY] {
        if let Err(e) = std::fs::metadata(Path::new(dir).join("events")) {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                bail!("{dir} is readable by root only: run it with sudo");
            }
        }
    }
    let target = std::ffi::CString::new(TRACEFS)?;
    let fstype = std::ffi::CString::new("tracefs")?;
    // SAFETY: plain mount(2) with NUL-terminated strings and no data.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        bail!("tracefs is not mounted and mounting it at {TRACEFS} failed: {err} (run as root, or: mount -t tracefs tracefs {TRACEFS})");
    }
    Ok((PathBuf::from(TRACEFS), MountState::MountedNow))
}

/// Whether tracepoint `category:name` exists on this kernel.
pub fn tracepoint_exists(root: &Path, category: &str, name: &str) -> bool {
    root.join("events")
        .join(category)
        .join(name)
        .join("format")
        .exists()
}

/// One field of a tracepoint's format file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub offset: u32,
    pub size: u32,
    /// The declared type without the name, array suffix kept: "const char *", "char[16]",
    /// "__data_loc char[]".
    pub ty: String,
    pub signed: bool,
}

/// Fields of `category:name`, read from its `format` file, so probes follow kernel drift.
pub fn fields(root: &Path, category: &str, name: &str) -> Result<Vec<Field>> {
    let path = root.join("events").join(category).join(name).join("format");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "tracepoint {category}:{name} not found on this kernel ({})",
            path.display()
        )
    })?;
    Ok(parse_format(&text))
}

/// Parse the `field:TYPE NAME; offset:N; size:N; signed:N;` lines of a format file.
pub fn parse_format(text: &str) -> Vec<Field> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else {
            continue;
        };
        let mut parts = rest.split(';').map(str::trim);
        let decl = parts.next().unwrap_or_default();
        let mut offset = None;
        let mut size = None;
        let mut signed = false;
        for p in parts {
            if let Some(v) = p.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = p.strip_prefix("size:") {
                size = v.parse().ok();
            } else if let Some(v) = p.strip_prefix("signed:") {
                signed = v == "1";
            }
        }
        // The name is the last identifier of the declaration, before any trailing array suffix
        // ("char comm[16]"); a "[]" inside the type ("__data_loc char[] cmd") is not one.
        let (decl, suffix) = match decl
            .strip_suffix(']')
            .and_then(|d| d.rfind('[').map(|i| (&d[..i], &decl[i..])))
        {
            Some((d, suffix)) => (d.trim(), suffix),
            None => (decl.trim(), ""),
        };
        let name = decl
            .rsplit(|c: char| c.is_whitespace() || c == '*')
            .next()
            .unwrap_or(decl)
            .to_owned();
        let ty = format!("{}{suffix}", decl[..decl.len() - name.len()].trim());
        if let (Some(offset), Some(size)) = (offset, size) {
            out.push(Field {
                name,
                offset,
                size,
                ty,
                signed,
            });
        }
    }
    out
}

/// Offset of field `field` of `category:name`.
pub fn field_offset(root: &Path, category: &str, name: &str, field: &str) -> Result<u32> {
    fields(root, category, name)?
        .into_iter()
        .find(|f| f.name == field)
        .map(|f| f.offset)
        .with_context(|| {
            format!("tracepoint {category}:{name} has no field '{field}' on this kernel")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_format_fields() {
        let text = "name: block_rq_issue\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:char rwbs[10];\toffset:28;\tsize:10;\tsigned:0;\n\tfield:__data_loc char[] cmd;\toffset:40;\tsize:4;\tsigned:0;\n\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;\n";
        let f = parse_format(text);
        let names: Vec<_> = f
            .iter()
            .map(|f| (f.name.as_str(), f.offset, f.size))
            .collect();
        assert_eq!(
            names,
            vec![
                ("common_type", 0, 2),
                ("dev", 8, 4),
                ("rwbs", 28, 10),
                ("cmd", 40, 4),
                ("filename", 16, 8)
            ]
        );
        let types: Vec<_> = f.iter().map(|f| f.ty.as_str()).collect();
        assert_eq!(
            types,
            [
                "unsigned short",
                "dev_t",
                "char[10]",
                "__data_loc char[]",
                "const char *"
            ]
        );
    }

    /// Found by the tracefs_format fuzz target: a tab inside the declaration ended up in the
    /// field's name ("int\tpid" -> "int\tpid" instead of "pid").
    #[test]
    fn a_tab_separates_type_and_name_like_a_space() {
        let f = parse_format("\tfield:int\tpid;\toffset:4;\tsize:4;\tsigned:1;\n");
        assert_eq!((f[0].name.as_str(), f[0].offset), ("pid", 4));
    }
}
