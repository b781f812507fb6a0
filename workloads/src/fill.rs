//! Prepare step: create a file of a given size, reporting progress (labs/FORMAT.md).
use std::path::PathBuf;

use anyhow::Context as _;

use crate::{
    common::{self, Common},
    syscalls,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// File to create (replaced if it exists)
    #[arg(long)]
    pub file: PathBuf,
    /// Size, e.g. 16M
    #[arg(long, value_parser = |s: &str| common::parse_size(s).map_err(|e| e.to_string()))]
    pub bytes: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut rng = common::rng(args.common.seed);
    let f = syscalls::open(
        &args.file,
        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        0o666,
    )
    .with_context(|| format!("creating {}", args.file.display()))?;
    let chunk_len = 1 << 20;
    let mut chunk = vec![0u8; chunk_len];
    let mut done = 0u64;
    common::progress(0, args.bytes);
    while done < args.bytes {
        for b in chunk.iter_mut().step_by(64) {
            *b = rng.next_u64() as u8;
        }
        let n = chunk_len.min((args.bytes - done) as usize);
        syscalls::write_all(&f, &chunk[..n])?;
        done += n as u64;
        common::progress(done, args.bytes);
    }
    syscalls::sync(&f, false)?;
    Ok(())
}
