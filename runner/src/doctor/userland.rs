//! The userland findings: bpftrace, whether this kernel and bpftrace are tested ones, sysstat,
//! and free disk for the labs' data.
use std::path::Path;

use super::{system, tested, Finding, Verdict, LAB_DATA_DIR, MIN_FREE_BYTES};

pub(super) struct Userland {
    pub tested: tested::Comparison,
    pub disk_ok: bool,
}

pub(super) fn check(out: &mut Vec<Finding>, release: &str) -> Userland {
    let bpftrace = system::command_version("bpftrace", &["--version"]);
    out.push(Finding::new(
        "bpftrace",
        bpftrace.is_some(),
        Verdict::Fail,
        bpftrace
            .clone()
            .unwrap_or_else(|| "not found on PATH".into()),
        "apt-get install bpftrace (or run provision/setup.sh)",
    ));
    // Outside the tested kernels is a warning: the labs may well work, we just have not seen it.
    let tested = tested::compare(&tested::rows(tested::TSV), release, bpftrace.as_deref());
    out.push(Finding::new(
        "tested kernels",
        tested.kernel_tested && tested.bpftrace_tested,
        Verdict::Warn,
        tested.detail.clone(),
        "",
    ));
    let sysstat =
        crate::toolbox::which("iostat").is_some() && crate::toolbox::which("mpstat").is_some();
    out.push(Finding::new(
        "sysstat (iostat, mpstat)",
        sysstat,
        Verdict::Fail,
        if sysstat {
            system::command_version("iostat", &["-V"]).unwrap_or_else(|| "present".into())
        } else {
            "not found on PATH".into()
        },
        "apt-get install sysstat",
    ));
    let free = system::free_bytes(Path::new(LAB_DATA_DIR));
    let disk_ok = free.is_some_and(|f| f >= MIN_FREE_BYTES);
    out.push(Finding::new(
        "free disk for labs",
        disk_ok,
        Verdict::Fail,
        match free {
            Some(f) => format!(
                "{:.1} GiB free in {LAB_DATA_DIR}",
                f as f64 / (1u64 << 30) as f64
            ),
            None => format!("cannot stat {LAB_DATA_DIR}"),
        },
        format!(
            "free at least {} GiB in {LAB_DATA_DIR}",
            MIN_FREE_BYTES >> 30
        ),
    ));
    Userland { tested, disk_ok }
}
