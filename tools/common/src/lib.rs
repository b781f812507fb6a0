//! Types shared by the kernel half (tools/ebpf) and the user half (tools/probes) of every probe.
//! Everything here is `#[repr(C)]` plain data: the two halves agree on layout, not on code.
#![no_std]

pub mod block;
pub mod execcount;
pub mod filetrack;
pub mod hist;
pub mod offcputime;
pub mod profile;
pub mod sched;
pub mod snoop;
pub mod tcp;
pub mod usdt;

/// Length of `task->comm` in the kernel (TASK_COMM_LEN).
pub const TASK_COMM_LEN: usize = 16;
pub mod dbslower;
pub mod fsslower;
pub mod funccount;
pub mod funclat;
pub mod mem;
pub mod rng;
pub mod vm;
