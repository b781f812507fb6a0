//! xfsdist: xfs read/write/open/fsync latency histograms, BCC-compatible (see lab_tools::fstool).
fn main() -> std::process::ExitCode {
    lab_tools::fstool::dist_main("xfsdist", lab_probes::fsslower::XFS)
}
