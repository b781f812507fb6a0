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
    /// Instructor: cloud-init per student VM with login cards (cloud-init), or set up this machine (host)
    Provision(commands::provision::Args),
    /// Instructor: every student VM's progress over SSH (status, watch, serve, collect)
    Class(commands::class::Args),
    /// List the BPF tools installed for the labs, by category
    Tools(commands::tools::Args),
    /// Render the workshop slides to a folder (--out DIR) or serve them on 127.0.0.1 (--serve)
    Slides(commands::slides::Args),
    /// Every lab with its status (not started, running, passed N/M) and time spent
    List(commands::list::Args),
    /// Show lab N, start its workloads (supervised, in the background) and say how to begin
    Start(commands::start::Args),
    /// The running lab: workload PIDs, health (alive, CPU, I/O), exit status, time spent
    Status(commands::status::Args),
    /// The next hint of the running lab (--all: every hint)
    Hint(commands::hint::Args),
    /// Stop the running lab's workloads and delete their data files (progress is kept)
    Stop(commands::stop::Args),
    /// Answer the lab's questions; graded against what the runner traces from the workload now
    Check(commands::check::Args),
    /// Forget the progress of lab N, or of every lab (asks first; --yes to skip)
    Reset(commands::reset::Args),
    /// For lab authors: `lab dev check` parses and cross-checks every lab
    Dev(commands::dev::Args),
    /// Instructors: the reference .bt of a bpftrace exercise (lab solution 4c --instructor)
    #[command(hide = true)]
    Solution(commands::solution::Args),
    /// Internal: the supervisor process of one workload (started by `lab start`)
    #[command(hide = true)]
    Supervise(commands::supervise::Args),
    /// Internal: the session's truth recorder (started by `lab start`, ended by `lab stop`)
    #[command(hide = true)]
    Record(commands::record::Args),
}
