//! User halves of lab's BPF probes. The tool binaries (tools/cli) and the runner (ground truth
//! for `lab check`) both call these; no probe exists twice.

pub mod capabilities;
pub mod execcount;
pub mod requirements;
pub mod loader;
pub mod tracefs;

pub use loader::{load, ObjectMissing};
