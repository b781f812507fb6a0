//! The `lab` runner as a library: the `lab` binary (main.rs) is a thin shell around [`run`], and
//! the fuzz targets (fuzz/) reach the parsers (lab files, answers, bpftrace output) through it.
use std::process::ExitCode;

pub mod checkers;
pub mod child;
pub mod class;
pub mod clock;
pub mod commands;
pub mod doctor;
pub mod exercises;
pub mod grading;
pub mod lab;
pub mod libvirt;
pub mod lint;
pub mod privilege;
pub mod provision;
pub mod screen;
pub mod session;
pub mod slides;
pub mod status_json;
pub mod store;
pub mod term;
pub mod toolbox;
pub mod truth;

/// Parse the command line and run the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = <commands::Cli as clap::Parser>::parse();
    commands::dispatch(cli)
}
