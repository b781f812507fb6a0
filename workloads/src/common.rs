//! What every workload shares: the `--seed` flag, a seeded RNG, sizes, the progress protocol.
use std::io::Write as _;

/// Flags every workload takes (flatten into each subcommand's Args).
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Session seed (the runner passes it; use it for every random choice)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// SplitMix64: small, fast, and the same stream everywhere for the same seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Mix in a constant so the workload's stream differs from the runner's seeded values.
        Rng(seed ^ 0x6c61_622d_776f_726b)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Integer in [lo, hi] (inclusive).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }
    /// True with probability p.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
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
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..100 {
            let x = a.range(3, 9);
            assert_eq!(x, b.range(3, 9));
            assert!((3..=9).contains(&x));
        }
    }
}
