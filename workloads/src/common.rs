//! What every workload shares: the `--seed` flag, a seeded RNG, sizes, the progress protocol.
use std::io::Write as _;

/// Flags every workload takes (flatten into each subcommand's Args).
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Session seed (the runner passes it; use it for every random choice)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The workloads' generator: the project's SplitMix64 (lab_probes_common::rng).
pub type Rng = lab_probes_common::rng::SplitMix64;

/// The workload's stream for `seed`: a constant mixed in so it differs from the runner's
/// seeded values.
pub fn rng(seed: u64) -> Rng {
    Rng::new(seed ^ 0x6c61_622d_776f_726b)
}

/// "16M", "4k", "2 MiB", "2097152" -> bytes (binary units).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("size {s:?}: expected e.g. 4096, 4k, 16M"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => anyhow::bail!("size {s:?}: unknown unit {other:?} (use k, M or G)"),
    };
    Ok((n * mult as f64) as u64)
}

/// Progress protocol for prepare steps (labs/FORMAT.md): one `progress DONE TOTAL` line.
pub fn progress(done: u64, total: u64) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "progress {done} {total}");
    let _ = out.flush();
}

/// Name the calling thread as shown by ps -L, top -H and BPF tools (15 bytes max).
#[allow(dead_code)] // API for workloads that name their threads
pub fn set_thread_name(name: &str) {
    let mut bytes: Vec<u8> = name.bytes().take(15).collect();
    bytes.push(0);
    // SAFETY: NUL-terminated buffer that outlives the call.
    unsafe { libc::prctl(libc::PR_SET_NAME, bytes.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("16M").unwrap(), 16 << 20);
        assert_eq!(parse_size("2 MiB").unwrap(), 2 << 20);
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn rng_is_reproducible_and_in_range() {
        let (mut a, mut b) = (rng(7), rng(7));
        for _ in 0..100 {
            let x = a.range(3, 9);
            assert_eq!(x, b.range(3, 9));
            assert!((3..=9).contains(&x));
        }
    }
}
