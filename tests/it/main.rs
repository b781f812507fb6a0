//! One integration test binary (like ripgrep's): modules per area, helpers in tests/lib.rs.
mod bpftrace;
mod doctor;
mod engine;
mod labs;
mod provision;
mod setup_script;
mod slides;
mod smoke_probe;
mod tools_fs;
mod tools_hist;
mod tools_mem;
mod tools_snoop;
mod tools_stack;
