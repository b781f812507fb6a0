//! The workshop deck: markdown in slides/ rendered to a static, offline HTML folder
//! (`lab slides --out`) or served on 127.0.0.1 (`lab slides --serve`).
mod embedded;
pub mod parse;
pub mod render;
pub mod serve;
pub mod source;

pub use render::{render, Rendered};
pub use source::DeckSource;
