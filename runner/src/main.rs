//! `lab`: the BPF performance workshop in a box.
use std::process::ExitCode;

mod class;
mod cli;
mod commands;
mod lab;
mod privilege;
mod provision;
mod report;
mod session;
mod slides;
mod state;
mod term;
mod truth;

fn main() -> ExitCode {
    // `lab status | head` should end quietly like any Unix tool, not panic on EPIPE. The hidden
    // supervisor keeps Rust's default (ignored SIGPIPE): it must outlive any reader.
    if std::env::args().nth(1).as_deref() != Some("supervise") {
        // SAFETY: setting a signal disposition before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match run() {
        Ok(code) => code,
        Err(err) => {
            // One line with the whole context chain, like ripgrep: "lab: outer: inner: cause".
            eprintln!("lab: {err:#}");
            if let Some(code) = err
                .downcast_ref::<privilege::UsageError>()
                .map(|u| u.exit_code)
            {
                return ExitCode::from(code);
            }
            ExitCode::from(1)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = <cli::Cli as clap::Parser>::parse();
    commands::dispatch(cli)
}
