//! btrfsslower: trace slow btrfs reads, writes, opens and syncs, BCC-compatible (see lab_tools::fstool).
fn main() -> std::process::ExitCode {
    lab_tools::fstool::slower_main("btrfsslower", lab_probes::fsslower::BTRFS)
}
