//! The guests' workers: one thread per guest runs that guest's jobs in order (booting it for the
//! first, powering it off after the last) and posts each result on a board the trials wait on.
//! The guests run side by side: most of a guest test's time is the guest waiting (tool
//! intervals, lab windows, timeouts), so a second guest costs far less than its run alone.
//! `LAB_GUESTS_AT_ONCE=1` runs them one after another instead (to compare, or on a tight machine).
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Condvar, Mutex, OnceLock},
    thread::JoinHandle,
    time::Instant,
};

use crate::{boot, kernels::Kernel, payload::Payload, vm::Booted, GuestFn};

/// What one trial stands for.
pub enum Job {
    /// A check against the booted guest (booted on first use).
    Guest(GuestFn),
    /// The clean power-off that ends a guest's run.
    PowerOff,
}

/// What the workers share with each other and with the trials.
#[derive(Default)]
pub struct Shared {
    work: OnceLock<PathBuf>,
    payload: Mutex<Option<Result<Arc<Payload>, String>>>,
    results: Mutex<HashMap<String, Result<(), String>>>,
    posted: Condvar,
    /// Held while this harness has guests: one guest run per machine at a time.
    lock: OnceLock<std::fs::File>,
}

impl Shared {
    /// The run's scratch dir, made on first use.
    pub fn work(&self) -> PathBuf {
        self.work.get_or_init(crate::work_dir).clone()
    }

    /// The scratch dir, if anything made it.
    pub fn made_work(&self) -> Option<PathBuf> {
        self.work.get().cloned()
    }

    /// The payload, built by the first guest that needs it; the others wait for that build.
    pub fn payload(
        &self,
        build: impl FnOnce() -> Result<Payload, String>,
    ) -> Result<Arc<Payload>, String> {
        let mut p = self.payload.lock().unwrap_or_else(|e| e.into_inner());
        p.get_or_insert_with(|| build().map(Arc::new)).clone()
    }

    /// Block until the job named `name` has a result.
    pub fn wait(&self, name: &str) -> Result<(), String> {
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = results.remove(name) {
                return r;
            }
            results = self.posted.wait(results).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn post(&self, name: String, result: Result<(), String>) {
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        results.insert(name, result);
        self.posted.notify_all();
    }
}

/// Start the workers for `queues` (per guest: its jobs by trial name, in order). Nothing is
/// started when there is nothing to run (a filter matched no guest trial, or `--list`).
pub fn start(
    shared: &Arc<Shared>,
    queues: Vec<(&'static Kernel, Vec<(String, Job)>)>,
) -> Result<Vec<JoinHandle<()>>, String> {
    if queues.is_empty() {
        return Ok(Vec::new());
    }
    let _ = shared.lock.set(machine_lock()?);
    let at_once = match std::env::var("LAB_GUESTS_AT_ONCE").ok().as_deref() {
        None | Some("") => queues.len(),
        Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            format!("LAB_GUESTS_AT_ONCE={v}: give how many guests may run at once, e.g. 1")
        })?,
    };
    // Queues dealt round-robin over `at_once` threads; each thread runs its queues in order.
    let mut lanes: Vec<Vec<_>> = (0..at_once.min(queues.len())).map(|_| Vec::new()).collect();
    let n = lanes.len();
    for (i, q) in queues.into_iter().enumerate() {
        lanes[i % n].push(q);
    }
    Ok(lanes
        .into_iter()
        .map(|lane| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for (k, jobs) in lane {
                    run_guest(&shared, k, jobs);
                }
            })
        })
        .collect())
}

/// One guest's jobs, in order; the guest is powered off at the end whatever happened.
fn run_guest(shared: &Shared, k: &'static Kernel, jobs: Vec<(String, Job)>) {
    let start = Instant::now();
    let mut guest: Option<Result<Booted, String>> = None;
    for (name, job) in jobs {
        let result = match job {
            Job::Guest(f) => {
                let up = guest.get_or_insert_with(|| crate::bring_up(shared, k));
                match up {
                    Ok(b) => guarded(&name, || f(b)),
                    Err(e) => Err(format!("guest {} did not come up: {e}", k.id)),
                }
            }
            Job::PowerOff => match guest.take() {
                Some(Ok(b)) => boot::power_off(b),
                Some(Err(e)) => Err(format!("guest {} did not come up: {e}", k.id)),
                None => Err(format!("guest {} is not up", k.id)),
            },
        };
        shared.post(name, result);
    }
    if let Some(Ok(b)) = guest {
        if let Err(e) = boot::power_off(b) {
            eprintln!("guest {}: {e}", k.id);
        }
    }
    eprintln!(
        "guest {}: all its trials done in {:.0}s",
        k.id,
        start.elapsed().as_secs_f64()
    );
}

/// A panicking check fails its trial, and the worker goes on with the next one.
fn guarded(name: &str, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(format!("{name}: the check panicked (see above)")))
}

/// Two guest runs at once (two sessions, or CI beside a developer) would share 2 cores between
/// four TCG guests and time out; the second waits here instead.
fn machine_lock() -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    let path = "/run/lock/lab-guest-run.lock";
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("{path}: {e}"))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!("guest: another guest run holds {path}; waiting for it to end");
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!("flock {path}: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(f)
}
