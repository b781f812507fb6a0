//! One module per `lab` subcommand.
use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod btcheck;
pub mod check;
pub mod class;
pub mod dev;
pub mod doctor;
pub mod hint;
pub mod list;
pub mod provision;
pub mod record;
pub mod reset;
pub mod slides;
pub mod solution;
pub mod start;
pub mod status;
pub mod stop;
pub mod supervise;
pub mod tools;

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Doctor(args) => doctor::run(args),
        Command::Provision(args) => provision::run(args),
        Command::Class(args) => class::run(args),
        Command::Tools(args) => tools::run(args),
        Command::Slides(args) => slides::run(args),
        Command::List(args) => list::run(args),
        Command::Start(args) => start::run(args),
        Command::Status(args) => status::run(args),
        Command::Hint(args) => hint::run(args),
        Command::Stop(args) => stop::run(args),
        Command::Check(args) => check::run(args),
        Command::Reset(args) => reset::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Solution(args) => solution::run(args),
        Command::Supervise(args) => supervise::run(args),
        Command::Record(args) => record::run(args),
    }
}
