//! One module per `lab` subcommand.
use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod doctor;
pub mod tools;

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Doctor(args) => doctor::run(args),
        Command::Tools(args) => tools::run(args),
    }
}
