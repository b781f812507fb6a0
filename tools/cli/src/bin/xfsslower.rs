//! xfsslower: trace slow xfs reads, writes, opens and syncs, BCC-compatible (see lab_tools::fstool).
fn main() -> std::process::ExitCode {
    lab_tools::fstool::slower_main("xfsslower", lab_probes::fsslower::XFS)
}
