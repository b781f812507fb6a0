//! ext4dist: ext4 read/write/open/fsync latency histograms, BCC-compatible (see lab_tools::fstool).
fn main() -> std::process::ExitCode {
    lab_tools::fstool::dist_main("ext4dist", lab_probes::fsslower::EXT4)
}
