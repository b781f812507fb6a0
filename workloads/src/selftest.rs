//! Engine self-test (not a lab): a small idle process tree for the runner's supervision tests:
//! children, a grandchild orphaned to the supervisor, one that escapes into its own session,
//! and a chosen exit. Nothing here is secret; no lab uses it.
use std::time::{Duration, Instant};

use crate::common::{self, Common};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Idle children to fork
    #[arg(long, default_value_t = 0)]
    pub children: u32,
    /// Also fork a child that forks a grandchild and exits (the grandchild is orphaned)
    #[arg(long)]
    pub orphan: bool,
    /// The orphaned grandchild calls setsid (leaves the supervisor's session)
    #[arg(long)]
    pub escape: bool,
    /// Exit after this many milliseconds (default: run until killed)
    #[arg(long)]
    pub exit_after_ms: Option<u64>,
    /// Exit status when exiting after --exit-after-ms
    #[arg(long, default_value_t = 0)]
    pub exit_code: u8,
    /// Ignore SIGTERM (so only SIGKILL ends it)
    #[arg(long)]
    pub ignore_term: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.ignore_term {
        // SAFETY: setting a signal disposition.
        unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    }
    for _ in 0..args.children {
        fork_idle(false, "selftest-child");
    }
    if args.orphan {
        // SAFETY: single-threaded here; the child only forks, and exits with _exit.
        match unsafe { libc::fork() } {
            0 => {
                fork_idle(args.escape, "selftest-orphan");
                unsafe { libc::_exit(0) };
            }
            pid if pid > 0 => {
                let mut st = 0;
                unsafe { libc::waitpid(pid, &mut st, 0) };
            }
            _ => anyhow::bail!("fork: {}", std::io::Error::last_os_error()),
        }
    }
    println!("selftest ready");
    let start = Instant::now();
    loop {
        if args
            .exit_after_ms
            .is_some_and(|ms| start.elapsed() >= Duration::from_millis(ms))
        {
            std::process::exit(args.exit_code as i32);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fork a child that idles until killed (optionally in its own session).
fn fork_idle(setsid: bool, name: &str) {
    // SAFETY: the child only calls async-signal-safe functions before idling.
    if unsafe { libc::fork() } == 0 {
        if setsid {
            unsafe { libc::setsid() };
        }
        common::set_thread_name(name);
        loop {
            unsafe { libc::pause() };
        }
    }
}
