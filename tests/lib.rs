//! Helpers for the integration tests (tests/it): finding the built binaries, running them,
//! and skipping root-only tests with a printed reason when not root.
use std::{
    path::PathBuf,
    process::{Command, Output},
};

/// Directory with the workspace's built binaries (target/debug or target/release), found from
/// the test executable's own path (target/<profile>/deps/it-HASH).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// Path to one of our binaries; panics with how to build it when missing.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not built; run `cargo build --bins` first (tests/run.sh does)",
        p.display()
    );
    p
}

/// A `Command` for one of our binaries.
pub fn cmd(name: &str) -> Command {
    Command::new(bin(name))
}

/// Run and capture; returns (status code, stdout, stderr).
pub fn run(c: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = c.output().expect("spawn");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Call first in a test that needs root: returns false (after printing why) when not root, so
/// the test is reported as skipped in the output rather than silently passing.
#[must_use]
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: CI runs as root, but this run is not root");
    }
    eprintln!("SKIPPED {test}: needs root to load BPF programs (run the suite with sudo)");
    false
}

/// Serializes tests that load BPF or start workloads: they compete for 2 CPUs and tracepoints.
pub fn bpf_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
