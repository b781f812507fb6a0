//! `lab record` (hidden): the session's truth recorder; see crate::truth.
pub use crate::truth::recorder::{run, Args};
