//! The kernels the test suite is proven on (runner/data/tested-kernels.tsv) and how a machine
//! compares with them. Plain std and no `crate::` paths on purpose: tests/it includes this file
//! with `#[path]` (the runner is a binary, not a library), so the README test and guest harness
//! read the same rows through the same parser.

/// The data file, embedded so a provisioned VM's static `lab` needs nothing beside it.
pub const TSV: &str = include_str!("../../data/tested-kernels.tsv");

/// One row of the data file, cells as written.
#[allow(dead_code)] // `ran` and `result` are read by tests/it's README check, not by doctor
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestedKernel {
    /// major.minor, e.g. "6.12".
    pub kernel: String,
    pub distro: String,
    /// As `bpftrace --version` printed it, e.g. "0.23.2".
    pub bpftrace: String,
    pub ran: String,
    pub result: String,
}

/// How this machine compares with the rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// The kernel's major.minor is a row.
    pub kernel_tested: bool,
    /// ... and so is the bpftrace version (major.minor) on that row.
    pub bpftrace_tested: bool,
    /// One line for `lab doctor`: "tested: ..." or what is outside and what to do.
    pub detail: String,
}

/// Header and rows as cells: "#" and blank lines skipped, cells split on TAB.
pub fn cells(tsv: &str) -> Vec<Vec<&str>> {
    tsv.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect()
}

/// The data rows (header skipped); a line without exactly five cells is left out, and the
/// unit test below fails on it.
pub fn rows(tsv: &str) -> Vec<TestedKernel> {
    cells(tsv)
        .into_iter()
        .skip(1)
        .filter(|c| c.len() == 5)
        .map(|c| TestedKernel {
            kernel: c[0].into(),
            distro: c[1].into(),
            bpftrace: c[2].into(),
            ran: c[3].into(),
            result: c[4].into(),
        })
        .collect()
}

/// major.minor of the first version number in `s`: "6.18.44-fc" and "bpftrace v0.17.0" alike.
pub fn major_minor(s: &str) -> Option<(u32, u32)> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let mut it = s[start..].split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Compare a kernel release (`uname -r`) and a `bpftrace --version` line (None: not installed)
/// with `rows`. Outside the rows is a warning for doctor, never a failure: labs may still work.
pub fn compare(rows: &[TestedKernel], release: &str, bpftrace: Option<&str>) -> Comparison {
    let kernel = major_minor(release);
    let bt = bpftrace.and_then(major_minor);
    let same_kernel: Vec<&TestedKernel> = rows
        .iter()
        .filter(|r| kernel.is_some() && major_minor(&r.kernel) == kernel)
        .collect();
    let shown = |v: Option<(u32, u32)>| v.map_or(release.to_string(), |(a, b)| format!("{a}.{b}"));
    let Some(first) = same_kernel.first() else {
        let mut known: Vec<(u32, u32)> =
            rows.iter().filter_map(|r| major_minor(&r.kernel)).collect();
        known.sort();
        known.dedup();
        let list: Vec<String> = known.iter().map(|(a, b)| format!("{a}.{b}")).collect();
        return Comparison {
            kernel_tested: false,
            bpftrace_tested: false,
            detail: format!(
                "kernel {} is outside the tested kernels ({}): labs may still work; report what fails",
                shown(kernel),
                list.join(", ")
            ),
        };
    };
    let bt_of = |r: &TestedKernel| major_minor(&r.bpftrace);
    let fmt_bt =
        |r: &TestedKernel| bt_of(r).map_or(r.bpftrace.clone(), |(a, b)| format!("{a}.{b}"));
    if let Some(r) = same_kernel.iter().find(|r| bt.is_some() && bt_of(r) == bt) {
        return Comparison {
            kernel_tested: true,
            bpftrace_tested: true,
            detail: format!(
                "tested: {} ({}, bpftrace {})",
                r.distro,
                r.kernel,
                fmt_bt(r)
            ),
        };
    }
    let yours = match bt {
        Some((a, b)) => format!("not {a}.{b}"),
        None => "and bpftrace is not installed here".into(),
    };
    Comparison {
        kernel_tested: true,
        bpftrace_tested: false,
        detail: format!(
            "kernel {} is tested ({}) with bpftrace {}, {yours}: labs 4–5 may still work; report what fails",
            first.kernel,
            first.distro,
            fmt_bt(first)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_is_well_formed() {
        let cells = cells(TSV);
        assert_eq!(
            cells[0],
            ["kernel", "distro", "bpftrace", "what ran", "result"]
        );
        let rows = rows(TSV);
        assert_eq!(
            rows.len(),
            cells.len() - 1,
            "a row without exactly 5 TAB-separated cells"
        );
        assert!(rows.len() >= 3);
        for r in &rows {
            assert!(major_minor(&r.kernel).is_some(), "{r:?}");
            assert_eq!(
                r.kernel.matches('.').count(),
                1,
                "kernel is major.minor: {r:?}"
            );
            assert!(major_minor(&r.bpftrace).is_some(), "{r:?}");
            assert!(
                !r.distro.is_empty() && !r.ran.is_empty() && !r.result.is_empty(),
                "{r:?}"
            );
            let all = [&r.kernel, &r.distro, &r.bpftrace, &r.ran, &r.result];
            assert!(all.iter().all(|c| !c.contains('|')), "no | in cells: {r:?}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(major_minor("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(major_minor("bpftrace v0.17.0"), Some((0, 17)));
        assert_eq!(major_minor("bpftrace 0.23.2-1"), Some((0, 23)));
        assert_eq!(major_minor("6"), None);
        assert_eq!(major_minor("garbage"), None);
    }

    #[test]
    fn tested_kernel_and_bpftrace() {
        let rows = rows(TSV);
        let c = compare(&rows, "6.1.0-27-amd64", Some("bpftrace v0.17.0"));
        assert_eq!(c.detail, "tested: Debian 12 guest (6.1, bpftrace 0.17)");
        assert!(c.kernel_tested && c.bpftrace_tested);
        let c = compare(&rows, "6.12.9-amd64", Some("bpftrace v0.23.2"));
        assert_eq!(c.detail, "tested: Debian 13 guest (6.12, bpftrace 0.23)");
    }

    #[test]
    fn kernel_outside_the_rows() {
        let c = compare(&rows(TSV), "6.9.0", Some("bpftrace v0.20.1"));
        assert!(!c.kernel_tested && !c.bpftrace_tested);
        assert_eq!(
            c.detail,
            "kernel 6.9 is outside the tested kernels (6.1, 6.12, 6.18): labs may still work; report what fails"
        );
        // 6.1 must not match 6.12 or 6.18, nor 6.10 match 6.1.
        assert!(!compare(&rows(TSV), "6.10.3", None).kernel_tested);
        assert!(compare(&rows(TSV), "garbage", None)
            .detail
            .starts_with("kernel garbage is outside"));
    }

    #[test]
    fn tested_kernel_other_bpftrace() {
        let rows = rows(TSV);
        let c = compare(&rows, "6.12.9", Some("bpftrace v0.21.2"));
        assert!(c.kernel_tested && !c.bpftrace_tested);
        assert_eq!(
            c.detail,
            "kernel 6.12 is tested (Debian 13 guest) with bpftrace 0.23, not 0.21: labs 4–5 may still work; report what fails"
        );
        let c = compare(&rows, "6.1.0", None);
        assert!(c.kernel_tested && !c.bpftrace_tested);
        assert!(
            c.detail.contains("bpftrace is not installed"),
            "{}",
            c.detail
        );
    }
}
