//! User halves of lab's BPF probes. The tool binaries (tools/cli) and the runner (ground truth
//! for `lab check`) both call these; no probe exists twice.

pub mod bashreadline;
pub mod biolatency;
pub mod biosnoop;
pub mod bitesize;
pub mod block;
pub mod btf;
pub mod capabilities;
pub mod cpudist;
pub mod dbslower;
pub mod events;
pub mod execcount;
pub mod execsnoop;
pub mod filetrack;
pub mod funccount;
pub mod hist;
pub mod kallsyms;
pub mod killsnoop;
pub mod loader;
pub mod offcputime;
pub mod opensnoop;
pub mod perf_link;
pub mod profile;
pub mod progstats;
pub mod requirements;
pub mod runqlat;
pub mod runqlen;
pub mod sched;
pub mod stacks;
pub mod syscount;
pub mod tcp;
pub mod tcpaccept;
pub mod tcpconnect;
pub mod tcplife;
pub mod tcpretrans;
pub mod tcpsynbl;
pub mod tplist;
pub mod tracefs;
pub mod usdt;

pub use loader::{load, load_with, ObjectMissing};
pub mod fsslower;
pub mod mem;
