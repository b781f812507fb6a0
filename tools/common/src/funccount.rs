//! funccount and bashreadline: types shared by the kernel and user halves.
use crate::TASK_COMM_LEN;

/// Capacity of funccount's `COUNTS` map: one key per traced function or tracepoint, so BCC's
/// 1000-probe limit fits with room to spare.
pub const FUNCCOUNT_MAX_KEYS: u32 = 4096;

/// Longest command line bashreadline copies (BCC: 80; bash lines can be longer).
pub const READLINE_MAX: usize = 256;

/// One line returned by readline(), as bashreadline streams it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ReadlineEvent {
    pub pid: u32,
    pub _pad: u32,
    pub comm: [u8; TASK_COMM_LEN],
    pub line: [u8; READLINE_MAX],
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for ReadlineEvent {}
