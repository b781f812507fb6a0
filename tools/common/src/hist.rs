//! Histogram slots kept in kernel maps, in BCC's layout: one map entry per (key, slot), the value
//! a per-CPU count that user space sums. Log2 slots follow BCC's `bpf_log2l`, so the printed rows
//! match BCC's tools exactly: slot 1 holds 0..1, slot i (i >= 2) holds [2^(i-1), 2^i - 1].

/// Slots of a log2 histogram of u64 values (slot 0 is never used, as in BCC).
pub const LOG2_SLOTS: usize = 65;

/// Key of a histogram keyed by a number: disk dev_t, pid, cpu, rwbs flags, or 0 when unkeyed.
/// 16 bytes, no padding, so the kernel and user halves hash the same bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct HistKey {
    pub id: u64,
    pub slot: u64,
}

/// Key of a histogram keyed by a task's comm (bitesize's "Process Name").
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CommHistKey {
    pub comm: [u8; crate::TASK_COMM_LEN],
    pub slot: u64,
}

/// Most distinct (key, slot) entries a histogram map holds.
pub const MAX_HIST_ENTRIES: u32 = 10240;

/// BCC's `bpf_log2l`: floor(log2(v)) + 1, with 0 and 1 both in slot 1. Branch-light and
/// loop-free so the verifier accepts it anywhere.
#[inline(always)]
pub fn log2_slot(v: u64) -> u64 {
    let hi = (v >> 32) as u32;
    if hi != 0 {
        log2_u32(hi) as u64 + 33
    } else {
        log2_u32(v as u32) as u64 + 1
    }
}

/// floor(log2(v)) for v > 0, and 0 for v == 0 (BCC's `bpf_log2`).
#[inline(always)]
pub fn log2_u32(mut v: u32) -> u32 {
    let mut r = ((v > 0xFFFF) as u32) << 4;
    v >>= r;
    let mut shift = ((v > 0xFF) as u32) << 3;
    v >>= shift;
    r |= shift;
    shift = ((v > 0xF) as u32) << 2;
    v >>= shift;
    r |= shift;
    shift = ((v > 0x3) as u32) << 1;
    v >>= shift;
    r |= shift;
    r | (v >> 1)
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for HistKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for CommHistKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_bcc() {
        assert_eq!(log2_slot(0), 1);
        assert_eq!(log2_slot(1), 1);
        assert_eq!(log2_slot(2), 2);
        assert_eq!(log2_slot(3), 2);
        assert_eq!(log2_slot(4), 3);
        assert_eq!(log2_slot(1023), 10);
        assert_eq!(log2_slot(1024), 11);
        assert_eq!(log2_slot(u32::MAX as u64), 32);
        assert_eq!(log2_slot(1 << 32), 33);
        assert_eq!(log2_slot(u64::MAX), 64);
        for v in 1..5000u64 {
            assert_eq!(log2_slot(v), 64 - v.leading_zeros() as u64, "v={v}");
        }
    }
}
