//! The kernel halves' counting maps (key -> u64), read and cleared whichever kind they are: a
//! hash shared by all CPUs (atomic adds; cheap to create with many keys) or a per-CPU hash.
use anyhow::{Context as _, Result};
use aya::{
    maps::{HashMap, MapData, PerCpuHashMap},
    Ebpf, Pod,
};

/// Every (key, count) of a counting map: a hash shared by all CPUs (counted with an atomic add:
/// many keys, cheap to create) or a per-CPU hash (summed here).
pub fn read<K: Pod>(bpf: &Ebpf, name: &str) -> Result<Vec<(K, u64)>> {
    let map = bpf
        .map(name)
        .with_context(|| format!("map {name} missing"))?;
    let reading = || format!("reading map {name}");
    if let Ok(shared) = HashMap::<&MapData, K, u64>::try_from(map) {
        return shared.iter().map(|kv| kv.with_context(reading)).collect();
    }
    let per_cpu: PerCpuHashMap<&MapData, K, u64> = PerCpuHashMap::try_from(map)?;
    per_cpu
        .iter()
        .map(|kv| kv.map(|(k, v)| (k, v.iter().sum())).with_context(reading))
        .collect()
}

/// Remove `keys` from a counting map of either kind (see `read`).
pub fn remove<K: Pod>(bpf: &mut Ebpf, name: &str, keys: &[K]) -> Result<()> {
    let map = bpf
        .map_mut(name)
        .with_context(|| format!("map {name} missing"))?;
    if let Ok(mut shared) = HashMap::<&mut MapData, K, u64>::try_from(&mut *map) {
        keys.iter().for_each(|k| drop(shared.remove(k)));
        return Ok(());
    }
    let mut per_cpu: PerCpuHashMap<&mut MapData, K, u64> = PerCpuHashMap::try_from(map)?;
    keys.iter().for_each(|k| drop(per_cpu.remove(k)));
    Ok(())
}
