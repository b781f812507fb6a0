//! The `lab` runner as a library: the `lab` binary (main.rs) is a thin shell around [`run`], and
//! the fuzz targets (fuzz/) reach the parsers (lab files, answers, bpftrace output) through it.
use std::process::ExitCode;

pub mod class;
pub mod cli;
pub mod commands;
pub mod lab;
pub mod privilege;
pub mod provision;
pub mod report;
pub mod screen;
pub mod session;
pub mod slides;
pub mod state;
pub mod term;
pub mod truth;

/// Parse the command line and run the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = <cli::Cli as clap::Parser>::parse();
    commands::dispatch(cli)
}
