//! Lab 1: an application that appends small records to a log file, syncing after every record,
//! and now and then writes a large "debug dump" in one `write(2)`: the dump's writeback shows up
//! as block I/O latency outliers. Everything about it comes from the arguments (seeded by the lab).
use std::{
    fs::File,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context as _, Result};

use crate::{
    common::{self, Common, Rng},
    syscalls,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Log file to append to (created if missing).
    #[arg(long)]
    pub file: PathBuf,
    /// Bytes per record.
    #[arg(long)]
    pub record_size: usize,
    /// Sync call after every record: fsync or fdatasync.
    #[arg(long, default_value = "fsync")]
    pub sync: SyncCall,
    /// Pause between records, microseconds (jittered ±25% from the seed).
    #[arg(long, default_value_t = 4000)]
    pub gap_us: u64,
    /// Milliseconds between debug dumps.
    #[arg(long)]
    pub dump_every_ms: u64,
    /// Size of each debug dump, e.g. 8M.
    #[arg(long, value_parser = parse_size_arg)]
    pub dump_size: u64,
    /// Truncate the log when it grows past this size (keeps the disk from filling up).
    #[arg(long, value_parser = parse_size_arg, default_value = "256M")]
    pub max_size: u64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncCall {
    Fsync,
    Fdatasync,
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    common::parse_size(s).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> Result<()> {
    let mut rng = common::rng(args.common.seed);
    let record = make_record(&mut rng, args.record_size);
    let mut dump = Vec::new();
    let mut records: u64 = 0;
    let dump_every = Duration::from_millis(args.dump_every_ms.max(100));
    // SAFETY: the handler only updates an atomic.
    unsafe { libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t) };
    loop {
        dump.resize(scaled_dump(args.dump_size), b'#');
        // The application reopens its log once per dump cycle (as after a log rotation check),
        // so opensnoop sees which file it writes.
        let f = open(&args.file, libc::O_APPEND)?;
        let cycle_start = Instant::now();
        while cycle_start.elapsed() < dump_every {
            syscalls::write_all(&f, &record).context("appending a record")?;
            records += 1;
            // USDT applog:record__write(record number, bytes): `tplist -p PID` lists it.
            probe::probe!(applog, record__write, records, record.len());
            sync(&f, args.sync)?;
            let jitter = rng.range(75, 125);
            std::thread::sleep(Duration::from_micros(args.gap_us * jitter / 100));
        }
        syscalls::write_all(&f, &dump).context("writing the debug dump")?;
        sync(&f, args.sync)?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        drop(f);
        if len > args.max_size {
            open(&args.file, libc::O_TRUNC).context("truncating the log")?;
        }
    }
}

/// How many times the runner asked for stronger outliers (SIGUSR1): each doubles the dump,
/// at most twice (4× the seeded size). A signal, not a file, so opensnoop shows only the log.
static BOOSTS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    let _ = BOOSTS.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
        (b < 2).then_some(b + 1)
    });
}

fn scaled_dump(seeded: u64) -> usize {
    (seeded as usize) << BOOSTS.load(Ordering::Relaxed)
}

/// Open the log for writing (created if missing) with openat(2), as opensnoop expects.
fn open(path: &Path, extra: libc::c_int) -> Result<File> {
    syscalls::open(path, libc::O_WRONLY | libc::O_CREAT | extra, 0o666)
        .with_context(|| format!("opening {}", path.display()))
}

fn sync(f: &File, call: SyncCall) -> Result<()> {
    syscalls::sync(f, call == SyncCall::Fdatasync).context("syncing the log")
}

/// One log line of exactly `size` bytes ending in a newline.
fn make_record(rng: &mut Rng, size: usize) -> Vec<u8> {
    let size = size.max(2);
    let mut line = format!("rec id={:016x} status=ok payload=", rng.next_u64()).into_bytes();
    while line.len() < size - 1 {
        line.push(b'a' + (rng.next_u64() % 26) as u8);
    }
    line.truncate(size - 1);
    line.push(b'\n');
    line
}
