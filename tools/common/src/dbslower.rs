//! dbslower / mysqld_qslower: types shared by the kernel and user halves.

/// Longest query text copied (BCC's dbslower: 256; mysqld_qslower prints at most 128).
pub const QUERY_MAX: usize = 256;
/// Locations of `query__start` a run can attach to (their argument specs, by cookie).
pub const MAX_LOCATIONS: u32 = 64;

/// A query that took at least the threshold.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct QueryEvent {
    /// When it started (bpf_ktime_get_ns, CLOCK_MONOTONIC).
    pub start_ns: u64,
    pub delta_ns: u64,
    pub pid: u32,
    pub _pad: u32,
    pub query: [u8; QUERY_MAX],
}

/// A query in flight, by thread id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct QueryStart {
    pub ts_ns: u64,
    /// The query string's address (query__start's first argument).
    pub query: u64,
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for QueryEvent {}
    unsafe impl aya::Pod for QueryStart {}
}
