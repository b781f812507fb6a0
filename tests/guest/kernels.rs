//! The lab-VM kernels the suite runs on, and which of them this run boots.
//!
//! `LAB_GUESTS` picks them: unset or `all` = every one (what CI runs), `none`, or a comma list of
//! ids (`debian12`; `tests/run.sh --guest debian12`). Guests not picked are listed as ignored.

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
}

pub const KERNELS: &[Kernel] = &[
    Kernel {
        id: "debian12",
        suite: "bookworm",
        release_prefix: "6.1.",
        bpftrace: "v0.17.",
    },
    Kernel {
        id: "debian13",
        suite: "trixie",
        release_prefix: "6.12.",
        bpftrace: "v0.23.",
    },
];

/// Whether this run boots `k`; Err names a bad LAB_GUESTS value.
pub fn selected(k: &Kernel) -> Result<bool, String> {
    let v = std::env::var("LAB_GUESTS").unwrap_or_default();
    let v = v.trim();
    match v {
        "" | "all" => return Ok(true),
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
