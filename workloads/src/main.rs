//! `lab-workload SUBCOMMAND [ARGS] --seed S`: the misbehaving programs the labs start.
//!
//! The runner execs this binary through a symlink named after the workload's seeded process
//! name, with no arguments on the command line (see `arguments`); run by hand, the subcommand
//! is argv[1]. One module per
//! workload, each with `Args` (flattening `common::Common` for `--seed`) and `run(args)`.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod appendlog;
mod common;
mod fill;
mod queryserve;
mod selftest;
mod spin;
mod sshlogin;
mod syscalls;

#[derive(Parser, Debug)]
#[command(
    name = "lab-workload",
    about = "Misbehaving workloads for the labs (started by `lab start`)"
)]
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
    /// Applications: a query server with MySQL's USDT probes (query__start, query__done)
    Queryserve(queryserve::Args),
    /// Not a lab: an idle process tree for the runner's supervision tests
    Selftest(selftest::Args),
    /// Print every workload subcommand name, one a line (for `lab dev check`)
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(std::iter::once("lab-workload".into()).chain(arguments()));
    let result = match cli.workload {
        Workload::Fill(a) => fill::run(a),
        Workload::Appendlog(a) => appendlog::run(a),
        Workload::Spin(a) => spin::run(a),
        Workload::Sshlogin(a) => sshlogin::run(a),
        Workload::Queryserve(a) => queryserve::run(a),
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

/// The arguments after argv[0]. Started by the runner, they come from the file named by
/// LAB_WORKLOAD_ARGS (NUL-separated, root-only), so ps shows only the seeded process name and
/// not the seeded parameters the student has to find with tools. Otherwise from argv.
fn arguments() -> Vec<std::ffi::OsString> {
    let Some(path) = std::env::var_os("LAB_WORKLOAD_ARGS") else {
        return std::env::args_os().skip(1).collect();
    };
    // Children (a workload's own helpers) must not inherit it.
    // SAFETY: single-threaded at this point.
    unsafe { std::env::remove_var("LAB_WORKLOAD_ARGS") };
    match std::fs::read_to_string(&path) {
        Ok(text) if text.is_empty() => Vec::new(),
        Ok(text) => text.split('\0').map(Into::into).collect(),
        Err(e) => {
            eprintln!(
                "lab-workload: reading arguments from {}: {e}",
                std::path::Path::new(&path).display()
            );
            std::process::exit(2);
        }
    }
}
