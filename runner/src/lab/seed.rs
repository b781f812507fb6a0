//! Seeded values: the same seed gives the same values on every machine and every version of
//! this runner, so `lab start N --seed S` reproduces a session exactly. The generator is
//! SplitMix64 (lab_probes_common::rng), whose stream is fixed there.
use std::collections::BTreeMap;

use anyhow::Context as _;
use serde_json::Value;

use super::{render::Context, Lab, SeedSpec};

/// The project's seeded generator (SplitMix64), shared with the workloads.
pub use lab_probes_common::rng::SplitMix64 as Rng;

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
