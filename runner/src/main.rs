//! `lab`: the BPF performance workshop in a box. The commands live in the library (lib.rs).
use std::process::ExitCode;

fn main() -> ExitCode {
    // `lab status | head` should end quietly like any Unix tool, not panic on EPIPE. The hidden
    // supervisor keeps Rust's default (ignored SIGPIPE): it must outlive any reader.
    if std::env::args().nth(1).as_deref() != Some("supervise") {
        // SAFETY: setting a signal disposition before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match lab::run() {
        Ok(code) => code,
        Err(err) => {
            // One line with the whole context chain, like ripgrep: "lab: outer: inner: cause".
            eprintln!("lab: {}", lab::privilege::as_typed(&format!("{err:#}")));
            if let Some(code) = err
                .downcast_ref::<lab::privilege::UsageError>()
                .map(|u| u.exit_code)
            {
                return ExitCode::from(code);
            }
            ExitCode::from(1)
        }
    }
}
