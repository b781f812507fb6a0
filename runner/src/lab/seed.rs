//! Seeded values: the same seed gives the same values on every machine and every version of
//! this runner, so `lab start N --seed S` reproduces a session exactly. The generator is
//! SplitMix64, written out here because library RNGs do not promise a stable stream.
use std::collections::BTreeMap;

use anyhow::Context as _;
use serde_json::Value;

use super::{render::Context, Lab, SeedSpec};

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform-enough integer in [0, n) for the small n of labs.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Each value gets its own stream (seed mixed with the name) so adding a value to a lab does
/// not change the others.
fn stream(seed: u64, name: &str) -> Rng {
    // FNV-1a of the name.
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    Rng::new(seed ^ h)
}

/// A fresh seed a human can type: 1..=999999.
pub fn fresh() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: buf is valid for 8 bytes.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    let raw = if n == 8 {
        u64::from_ne_bytes(buf)
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    };
    raw % 999_999 + 1
}

/// Compute the lab's seeded values in declaration order. `base` supplies `session` and `lab`
/// for templates.
pub fn values(lab: &Lab, seed: u64, base: &Context) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut ctx = base.clone();
    for (name, spec) in &lab.seed {
        let mut rng = stream(seed, name);
        let v = match spec {
            SeedSpec::Literal(v) => v.clone(),
            SeedSpec::Pick(list) => list[rng.below(list.len() as u64) as usize].clone(),
            SeedSpec::Range { lo, hi, step } => {
                let count = ((hi - lo) / step) as u64 + 1;
                Value::from(lo + rng.below(count) as i64 * step)
            }
            SeedSpec::Template(t) => Value::from(
                ctx.render(t)
                    .with_context(|| format!("{}: seed.{name}", lab.source))?,
            ),
        };
        ctx.seed.insert(name.clone(), v);
    }
    Ok(ctx.seed)
}
