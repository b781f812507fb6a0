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

/// Log-linear ("HDR") slots for ground truth: each power of two split into 2^FINE_SUB_BITS
/// linear sub-slots, so a value's slot spans at most 1/32 of it (≤ 3.2 % relative error) where a
/// log2 row spans 2×. Values below 2^FINE_SUB_BITS get a slot each; the largest u64 lands in
/// slot 1919, so a (key, slot) hash map holds only the slots that occur.
pub const FINE_SUB_BITS: u64 = 5;
const FINE_SUBS: u64 = 1 << FINE_SUB_BITS;

/// The log-linear slot of `v` (see FINE_SUB_BITS). Loop-free for the verifier.
#[inline(always)]
pub fn fine_slot(v: u64) -> u64 {
    if v < FINE_SUBS {
        return v;
    }
    // floor(log2 v) >= FINE_SUB_BITS here; the top FINE_SUB_BITS bits below the leading one
    // pick the sub-slot.
    let k = log2_slot(v) - 1;
    let sub = (v >> (k - FINE_SUB_BITS)) & (FINE_SUBS - 1);
    ((k - FINE_SUB_BITS + 1) << FINE_SUB_BITS) | sub
}

/// The values [lo, hi) of log-linear slot `s` (the inverse of `fine_slot`).
pub fn fine_span(s: u64) -> (u64, u64) {
    if s < FINE_SUBS {
        return (s, s + 1);
    }
    let k = (s >> FINE_SUB_BITS) + FINE_SUB_BITS - 1;
    let width = 1u64 << (k - FINE_SUB_BITS);
    let lo = (FINE_SUBS | (s & (FINE_SUBS - 1))) << (k - FINE_SUB_BITS);
    (lo, lo.saturating_add(width))
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

    #[test]
    fn fine_slots_hold_their_values_within_a_32nd() {
        for v in 1..70_000u64 {
            assert!(
                fine_slot(v) - fine_slot(v - 1) <= 1,
                "slots are contiguous at {v}"
            );
        }
        let values = (0..70_000u64)
            .chain((0..64).flat_map(|b| [1u64 << b, (1u64 << b) - 1, (1u64 << b) + 1]))
            .chain([8_000_000, 8_000_001, 16_383_999, u64::MAX]);
        for v in values {
            let s = fine_slot(v);
            let (lo, hi) = fine_span(s);
            assert!(
                lo <= v && (v < hi || hi == u64::MAX),
                "v={v} slot {s} [{lo}, {hi})"
            );
            assert!(
                (hi - lo) as f64 <= (lo as f64 / 32.0).max(1.0),
                "v={v} [{lo}, {hi})"
            );
        }
        assert_eq!(fine_slot(u64::MAX), 1919);
        assert_eq!(fine_span(fine_slot(31)), (31, 32));
        assert_eq!(fine_span(fine_slot(32)), (32, 33));
        assert_eq!(fine_span(fine_slot(64)), (64, 66));
    }
}
