//! One integration test binary (like ripgrep's): modules per area, helpers in tests/lib.rs.
mod doctor;
mod smoke_probe;
