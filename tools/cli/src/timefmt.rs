//! Timestamp columns as BCC prints them: `-T` wall clock HH:MM:SS, `-t` seconds since start.
use std::time::Instant;

/// Local wall-clock time as HH:MM:SS (BCC's `-T` column, header "TIME").
pub fn hms() -> String {
    // SAFETY: time/localtime_r with valid pointers; tm is plain data.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
    }
}

/// Seconds since the tool started, for `-t`/"TIME(s)" columns. Kernel event times
/// (`bpf_ktime_get_ns`, CLOCK_MONOTONIC) convert with [`Clock::secs_at`].
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    start_mono_ns: u64,
}

impl Clock {
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
            start_mono_ns: lab_probes::events::monotonic_ns(),
        }
    }
    /// Seconds elapsed now.
    pub fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
    /// Seconds from start to a kernel timestamp (ns of CLOCK_MONOTONIC); negative if earlier.
    pub fn secs_at(&self, ktime_ns: u64) -> f64 {
        (ktime_ns as i128 - self.start_mono_ns as i128) as f64 / 1e9
    }
}
