//! The instructor's class view: every student VM's `lab status --json`, fetched over SSH in
//! parallel, turned into one row per student and sorted so those who need help come first.
pub mod collect;
pub mod roster;
pub mod row;
pub mod serve;
pub mod ssh;
pub mod view;
pub mod vms;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
    time::Duration,
};

pub use roster::{ClassInfo, Target};
pub use row::Row;

/// How `lab class` reaches the VMs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The instructor's private key; None: ssh's own defaults (agent, ~/.ssh/id_*).
    pub identity: Option<std::path::PathBuf>,
    /// Where host keys are remembered (first contact accepted, a changed key refused).
    pub known_hosts: std::path::PathBuf,
    pub connect_timeout: Duration,
    /// Per host, everything included; the ssh child is killed after it.
    pub timeout: Duration,
    pub concurrency: usize,
    /// The command run on the VM (`lab status --json`'s program).
    pub lab_command: String,
    /// Key exchange methods offered (ssh::kex_preference), None: ssh's defaults.
    pub kex: Option<String>,
}

/// Ask every target, at most `concurrency` at a time; rows in roster order.
pub fn poll(targets: &[Target], opts: &Options) -> Vec<Row> {
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<Option<Row>>> = Mutex::new(vec![None; targets.len()]);
    let workers = opts.concurrency.clamp(1, targets.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(t) = targets.get(i) else { break };
                let row = ssh::fetch(t, opts);
                rows.lock().expect("no worker panics holding it")[i] = Some(row);
            });
        }
    });
    rows.into_inner()
        .expect("workers done")
        .into_iter()
        .map(|r| r.expect("every target polled"))
        .collect()
}
