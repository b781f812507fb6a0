//! `lab supervise` (hidden): the per-workload supervisor process; see session::supervisor.
pub use crate::session::supervisor::{run, Args};
