//! ext4slower: trace slow ext4 reads, writes, opens and syncs, BCC-compatible (see lab_tools::fstool).
fn main() -> std::process::ExitCode {
    lab_tools::fstool::slower_main("ext4slower", lab_probes::fsslower::EXT4)
}
