//! One integration test binary (like ripgrep's): modules per area, helpers in tests/lib.rs.
mod bpftrace;
mod class;
mod doctor;
mod engine;
mod full_disk;
mod lab_truth;
mod labs;
mod provision;
mod setup_script;
mod slides;
mod smoke_probe;
mod tools_func;
mod tools_hist;
mod tools_net;
mod tools_snoop;
mod tools_stack;
mod trials;
