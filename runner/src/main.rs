//! `lab`: the BPF performance workshop in a box.
use std::process::ExitCode;

mod cli;
mod commands;
mod lab;
mod privilege;
mod provision;
mod session;
mod slides;
mod state;
mod term;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            // One line with the whole context chain, like ripgrep: "lab: outer: inner: cause".
            eprintln!("lab: {err:#}");
            if let Some(code) = err.downcast_ref::<privilege::UsageError>().map(|u| u.exit_code) {
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
