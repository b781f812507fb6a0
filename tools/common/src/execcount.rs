//! Smoke probe: counts `sched:sched_process_exec` by the new task's comm.

use crate::TASK_COMM_LEN;

/// Key of the `EXEC_COUNTS` hash map: the comm after exec, NUL-padded.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommKey {
    pub comm: [u8; TASK_COMM_LEN],
}

/// Capacity of `EXEC_COUNTS`; distinct comms beyond it are dropped (and counted in `DROPPED`).
pub const MAX_COMMS: u32 = 10240;

#[cfg(feature = "user")]
unsafe impl aya::Pod for CommKey {}
