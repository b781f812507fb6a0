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

/// Event streaming shared by the snoop probes: a `RingBuf` named `EVENTS`, failed reserves counted
/// in slot 0 of a `PerCpuArray<u64>` named `LOST` (user side: `lab_probes::events`).
#[cfg(target_arch = "bpf")]
pub mod events {
    use aya_ebpf::maps::{ring_buf::RingBufEntry, PerCpuArray, RingBuf};

    /// Reserve room for one `T` in `ring`; when it is full, count the loss and return None.
    #[inline(always)]
    pub fn reserve<T: 'static>(ring: &RingBuf, lost: &PerCpuArray<u64>) -> Option<RingBufEntry<T>> {
        let entry = ring.reserve::<T>(0);
        if entry.is_none() {
            crate::count::add_array(lost, 0, 1);
        }
        entry
    }

    /// Read a load-time global (`#[no_mangle] static X: u32 = 0;`, set by the user half with
    /// `EbpfLoader::override_global`). The volatile read keeps the compiler from folding the default.
    #[inline(always)]
    pub fn global<T: Copy>(g: &T) -> T {
        // SAFETY: reading a static through a valid reference.
        unsafe { core::ptr::read_volatile(g) }
    }

    /// Submit flags that batch wake-ups: no wake-up until `batch_bytes` are waiting (user space
    /// also drains on a short timeout, see lab_tools::runtime), so a busy tracee costs one reader
    /// wake-up per batch instead of one per event.
    #[inline(always)]
    pub fn batched_wakeup(ring: &RingBuf, batch_bytes: u64) -> u64 {
        const BPF_RB_AVAIL_DATA: u64 = 0;
        const BPF_RB_NO_WAKEUP: u64 = 1;
        const BPF_RB_FORCE_WAKEUP: u64 = 2;
        if ring.query(BPF_RB_AVAIL_DATA) >= batch_bytes { BPF_RB_FORCE_WAKEUP } else { BPF_RB_NO_WAKEUP }
    }

    /// PID-set filter (`-p PID`, or the runner's ground truth for a set of PIDs): when `enabled`,
    /// only processes whose tgid is a key of `pids` pass.
    #[inline(always)]
    pub fn pid_allowed(enabled: bool, pids: &aya_ebpf::maps::HashMap<u32, u8>, tgid: u32) -> bool {
        // SAFETY: the value is only tested for presence, never held.
        !enabled || unsafe { pids.get(&tgid) }.is_some()
    }
}
