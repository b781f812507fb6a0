//! `lab tools`: the installed BPF tools by category.
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`lab tools` is not written yet")
}
