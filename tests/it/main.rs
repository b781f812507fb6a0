//! One integration test binary (like ripgrep's): modules per area, helpers in tests/lib.rs.
mod doctor;
mod engine;
mod labs;
mod provision;
mod vm;
mod setup_script;
mod smoke_probe;
mod slides;
mod tools_stack;
