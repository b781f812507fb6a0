//! The command line: one subcommand per module here, each owning its own `Args`, parsing them,
//! calling the domain (the modules beside this one in the crate) and printing. No module below
//! this one imports from here, and no verb calls another.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Doctor(doctor::Args),
    /// Instructor: cloud-init per student VM with login cards (cloud-init), or set up this machine (host)
    Provision(provision::Args),
    /// Instructor: every student VM's progress over SSH (status, watch, serve, collect)
    Class(class::Args),
    /// List the BPF tools installed for the labs, by category
    Tools(tools::Args),
    /// Render the workshop slides to a folder (--out DIR) or serve them on 127.0.0.1 (--serve)
    Slides(slides::Args),
    /// Every lab with its status (not started, running, passed N/M) and time spent
    List(list::Args),
    /// Show lab N, start its workloads (supervised, in the background) and say how to begin
    Start(start::Args),
    /// The running lab: workload PIDs, health (alive, CPU, I/O), exit status, time spent
    Status(status::Args),
    /// The next hint of the running lab (--all: every hint)
    Hint(hint::Args),
    /// Stop the running lab's workloads and delete their data files (progress is kept)
    Stop(stop::Args),
    /// Answer the lab's questions; graded against what the runner traces from the workload now
    Check(check::Args),
    /// Forget the progress of lab N, or of every lab (asks first; --yes to skip)
    Reset(reset::Args),
    /// For lab authors: `lab dev check` parses and cross-checks every lab
    Dev(dev::Args),
    /// Instructors: the reference .bt of a bpftrace exercise (lab solution 4c --instructor)
    #[command(hide = true)]
    Solution(solution::Args),
    /// Internal: the supervisor process of one workload (started by `lab start`)
    #[command(hide = true)]
    Supervise(supervise::Args),
    /// Internal: the session's truth recorder (started by `lab start`, ended by `lab stop`)
    #[command(hide = true)]
    Record(record::Args),
}

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
