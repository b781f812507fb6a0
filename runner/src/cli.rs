//! Command line: one subcommand per module in commands/, each owning its own `Args`.
use clap::{Parser, Subcommand};

use crate::commands;

#[derive(Parser, Debug)]
#[command(
    name = "lab",
    version,
    about = "The BPF performance workshop in a box: guided labs checked against traced ground truth",
    after_help = "Start with `sudo lab doctor`, then `sudo lab start 1`.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check this machine can run the labs and tools (root, BTF, tracefs, tracepoints, kprobes...)
    Doctor(commands::doctor::Args),
    /// List the BPF tools installed for the labs, by category
    Tools(commands::tools::Args),
}
