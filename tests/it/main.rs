//! One integration test binary (like ripgrep's): modules per area, helpers in tests/lib.rs.
mod bpftrace;
mod doctor;
mod engine;
mod labs;
mod provision;
mod vm;
mod setup_script;
mod smoke_probe;
mod slides;
mod tools_hist;
mod tools_snoop;
mod tools_stack;
