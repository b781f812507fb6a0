//! Helpers shared by the kernel halves. The bpf target has no 64-bit atomics in `core`, so
//! counters live in per-CPU maps (exact without atomics) and user space sums the CPUs.
#![no_std]

#[cfg(target_arch = "bpf")]
pub mod count {
    use aya_ebpf::maps::{PerCpuArray, PerCpuHashMap};

    /// Add `n` to this CPU's value of `key`, inserting it when absent.
    /// Returns false when the map is full and the key could not be added.
    #[inline(always)]
    pub fn add_hash<K>(map: &PerCpuHashMap<K, u64>, key: &K, n: u64) -> bool {
        if let Some(v) = map.get_ptr_mut(key) {
            // SAFETY: per-CPU slot; nothing else writes it while this program runs on this CPU.
            unsafe { *v += n };
            return true;
        }
        map.insert(key, &n, 0).is_ok()
    }

    /// Add `n` to this CPU's slot `idx` of a per-CPU array.
    #[inline(always)]
    pub fn add_array(map: &PerCpuArray<u64>, idx: u32, n: u64) {
        if let Some(v) = map.get_ptr_mut(idx) {
            // SAFETY: as above.
            unsafe { *v += n };
        }
    }
}
