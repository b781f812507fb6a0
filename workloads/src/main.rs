//! `lab-workload SUBCOMMAND [ARGS] --seed S`: the misbehaving programs the labs start.
//!
//! The runner execs this binary through a symlink named after the workload's seeded process
//! name, so argv[0] is not "lab-workload"; the subcommand is always argv[1]. One module per
//! workload, each with `Args` (flattening `common::Common` for `--seed`) and `run(args)`.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod appendlog;
mod common;
mod fill;
mod selftest;
mod spin;
mod sshlogin;

#[derive(Parser, Debug)]
#[command(name = "lab-workload", about = "Misbehaving workloads for the labs (started by `lab start`)")]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand, Debug)]
enum Workload {
    /// Prepare step: create a file of a given size, printing progress
    Fill(fill::Args),
    /// Lab 1: append records with fsync after each, plus occasional large dumps
    Appendlog(appendlog::Args),
    /// Lab 3: threads pinned to one CPU spinning on a useless syscall
    Spin(spin::Args),
    /// Lab 2: an sshd on loopback whose login runs a slow motd script tree
    Sshlogin(sshlogin::Args),
    /// Not a lab: an idle process tree for the runner's supervision tests
    Selftest(selftest::Args),
    /// Print every workload subcommand name, one a line (for `lab dev check`)
    List,
}

fn main() -> ExitCode {
    // The subcommand name is argv[1]; argv[0] is the seeded process name.
    let args = std::iter::once("lab-workload".into()).chain(std::env::args_os().skip(1));
    let cli = Cli::parse_from(args);
    let result = match cli.workload {
        Workload::Fill(a) => fill::run(a),
        Workload::Appendlog(a) => appendlog::run(a),
        Workload::Spin(a) => spin::run(a),
        Workload::Sshlogin(a) => sshlogin::run(a),
        Workload::Selftest(a) => selftest::run(a),
        Workload::List => {
            use clap::CommandFactory;
            for sub in Cli::command().get_subcommands() {
                if sub.get_name() != "list" && sub.get_name() != "help" {
                    println!("{}", sub.get_name());
                }
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lab-workload: {e:#}");
            ExitCode::from(1)
        }
    }
}
