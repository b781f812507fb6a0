//! The lab-VM kernels the suite runs on, and which of them this run boots.
//!
//! `LAB_GUESTS` picks them: unset = the CI set (Debian 12), `all`, `none`, or a comma list of ids
//! (`debian12,debian13`). Guests not picked are listed as ignored, with how to run them.

/// One guest: a Debian suite booted from the image provision/vm/build-image.sh makes.
pub struct Kernel {
    /// Test-name prefix: `debian12::...`.
    pub id: &'static str,
    /// The debootstrap suite (build-image.sh's argument).
    pub suite: &'static str,
    /// `uname -r` starts with this.
    pub release_prefix: &'static str,
    /// `bpftrace --version` contains this.
    pub bpftrace: &'static str,
    /// Booted by default (`tests/run.sh`), or only with `--all-kernels`.
    pub default: bool,
}

pub const KERNELS: &[Kernel] = &[
    Kernel {
        id: "debian12",
        suite: "bookworm",
        release_prefix: "6.1.",
        bpftrace: "v0.17.",
        default: true,
    },
    Kernel {
        id: "debian13",
        suite: "trixie",
        release_prefix: "6.12.",
        bpftrace: "v0.23.",
        default: false,
    },
];

/// Whether this run boots `k`; Err names a bad LAB_GUESTS value.
pub fn selected(k: &Kernel) -> Result<bool, String> {
    let Ok(v) = std::env::var("LAB_GUESTS") else {
        return Ok(k.default);
    };
    let v = v.trim();
    if v.is_empty() {
        return Ok(k.default);
    }
    match v {
        "all" => return Ok(true),
        "none" => return Ok(false),
        _ => {}
    }
    let ids: Vec<&str> = v.split(',').map(str::trim).collect();
    if let Some(bad) = ids.iter().find(|i| !KERNELS.iter().any(|k| k.id == **i)) {
        let known: Vec<&str> = KERNELS.iter().map(|k| k.id).collect();
        return Err(format!(
            "LAB_GUESTS: unknown guest '{bad}': use all, none or a comma list of {}",
            known.join(", ")
        ));
    }
    Ok(ids.contains(&k.id))
}
