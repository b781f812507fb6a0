//! The test suite inside lab VMs (custom harness: one trial per guest check and per guest test).
//!
//! For each kernel of kernels.rs a Debian guest is provisioned from the static payload with the
//! user-data `lab provision cloud-init` writes, booted under qemu, and checked (boot::*); then
//! every test of the kernel-facing tests/it modules (plan.rs) runs inside it, one trial each
//! (`debian12::it::tools_snoop::...`), against the installed payload. A failed trial shows the
//! guest's output. One guest runs at a time; it is powered off (or killed) before the next
//! boots and when the harness ends, and the payload server stops with it.
//!
//!   sudo cargo test --test guest                       # the default guests (Debian 12)
//!   sudo LAB_GUESTS=all cargo test --test guest        # Debian 12 and 13 (tests/run.sh --all-kernels)
//!   sudo cargo test --test guest -- debian12::it::labs # a filter, as with any test binary
use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Instant,
};

use libtest_mimic::{Arguments, Failed, Trial};

mod boot;
mod kernels;
mod payload;
mod plan;
mod serve;
mod ssh;
mod vm;

use kernels::{Kernel, KERNELS};
use vm::Booted;

/// Where the guest keeps the test binary and the repo files it reads.
const GUEST_TESTS: &str = "/opt/lab-tests";
/// One guest test may take this long (TCG is several times slower than the host).
const GUEST_TEST_TIMEOUT_S: u64 = 30 * 60;

/// What the harness holds between trials (they run one at a time, in order, on the main thread).
#[derive(Default)]
struct State {
    payload: Option<Result<Arc<payload::Payload>, String>>,
    /// The guest currently up (or why it could not come up), by kernel id.
    guest: Option<(&'static str, Result<Box<Booted>, String>)>,
    /// Kernels whose guest was already shut down: not booted twice.
    done: Vec<&'static str>,
    work: Option<PathBuf>,
    /// Held while this harness has guests: one guest run per machine at a time.
    lock: Option<std::fs::File>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// A check run against a booted guest.
type GuestFn = Box<dyn FnOnce(&mut Booted) -> Result<(), String> + Send>;

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // One guest at a time on 2 cores, trials in their listed order.
    args.test_threads = Some(1);
    let repo = lab_tests::repo_root();
    *STATE.lock().unwrap() = Some(State::default());

    let mut trials = vec![Trial::test("harness::plan_finds_test_functions", || {
        plan::self_check().map_err(Failed::from)
    })];
    let guest_tests = plan::guest_tests(&repo);
    for k in KERNELS {
        let selected = match kernels::selected(k) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        trials.extend(kernel_trials(k, &guest_tests, selected));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    // Power off whatever is still up; the payload server stops with it.
    let state = STATE.lock().unwrap().take().unwrap_or_default();
    if let Some((id, Ok(b))) = state.guest {
        shutdown(id, *b);
    }
    // Scratch files (payload copies, overlays, console logs): kept only to debug a failure.
    if let Some(work) = state.work {
        if conclusion.has_failed() {
            eprintln!("guest: work files kept for debugging in {}", work.display());
        } else {
            let _ = std::fs::remove_dir_all(&work);
        }
    }
    conclusion.exit_code()
}

/// Every trial of one kernel, in run order: boot checks, the guest tests, power-off.
fn kernel_trials(k: &'static Kernel, guest_tests: &[String], selected: bool) -> Vec<Trial> {
    let root = lab_tests::is_root();
    let ci = std::env::var_os("CI").is_some();
    // Not picked, or not root outside CI: listed as ignored (with why, printed once).
    let ignored = !selected || (!root && !ci);
    if !selected {
        eprintln!(
            "guest {}: not booted in this run (LAB_GUESTS; `tests/run.sh --all-kernels` runs every guest)",
            k.id
        );
    } else if ignored {
        eprintln!(
            "SKIPPED guest {}: needs root (qemu networking, BPF in the guest via sudo)",
            k.id
        );
    }
    let wrap = move |name: String, f: GuestFn| {
        Trial::test(format!("{}::{name}", k.id), move || {
            if !root {
                return Err("the guest suite needs root".into());
            }
            with_guest(k, f).map_err(Failed::from)
        })
        .with_ignored_flag(ignored)
    };
    let mut v = vec![
        wrap(
            "boot::provisioned_cleanly".into(),
            Box::new(move |b| boot::provisioned_cleanly(k, b)),
        ),
        wrap(
            "boot::kprobes_and_fentry_work".into(),
            Box::new(boot::kprobes_and_fentry_work),
        ),
        wrap(
            "boot::class_status_sees_the_running_lab".into(),
            Box::new(boot::class_status_sees_the_running_lab),
        ),
    ];
    for t in guest_tests {
        let t = t.clone();
        v.push(wrap(
            format!("it::{t}"),
            Box::new(move |b| run_guest_test(b, &t)),
        ));
    }
    v.push(wrap(
        "boot::provision_host_is_idempotent".into(),
        Box::new(boot::provision_host_is_idempotent),
    ));
    v.push(
        Trial::test(
            format!("{}::boot::powers_off_leaving_nothing_running", k.id),
            move || {
                if !root {
                    return Err("the guest suite needs root".into());
                }
                power_off(k).map_err(Failed::from)
            },
        )
        .with_ignored_flag(ignored),
    );
    v
}

/// Run `f` against kernel `k`'s guest, booting it first if needed (and shutting down another).
fn with_guest(k: &'static Kernel, f: GuestFn) -> Result<(), String> {
    let mut lock = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let st = lock.as_mut().expect("harness state");
    if st.guest.as_ref().is_some_and(|(id, _)| *id != k.id) {
        if let Some((id, up)) = st.guest.take() {
            st.done.push(id);
            if let Ok(b) = up {
                shutdown(id, *b);
            }
        }
    }
    if st.guest.is_none() {
        if st.done.contains(&k.id) {
            return Err(format!(
                "guest {} was already powered off by an earlier trial",
                k.id
            ));
        }
        let up = bring_up(st, k);
        st.guest = Some((k.id, up.map(Box::new)));
    }
    match &mut st.guest {
        Some((_, Ok(b))) => f(b),
        Some((_, Err(e))) => Err(format!("guest {} did not come up: {e}", k.id)),
        None => unreachable!(),
    }
}

/// Build the payload (once), boot the guest, wait for cloud-init, install the tests.
fn bring_up(st: &mut State, k: &'static Kernel) -> Result<Booted, String> {
    let repo = lab_tests::repo_root();
    let work = st
        .work
        .get_or_insert_with(|| {
            let d = std::env::temp_dir().join(format!("lab-guest-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            d
        })
        .clone();
    if st.lock.is_none() {
        st.lock = Some(machine_lock()?);
    }
    let payload = st
        .payload
        .get_or_insert_with(|| payload::build(&repo, &work).map(Arc::new))
        .clone()?;
    let gwork = work.join(k.id);
    std::fs::create_dir_all(&gwork).map_err(|e| e.to_string())?;
    let mut b = vm::boot(&repo, k, &payload, &gwork)?;
    boot::wait_for_cloud_init(&mut b);
    let url = format!(
        "http://10.0.2.2:{}/{}",
        b.server.port,
        payload::TESTS_TARBALL
    );
    b.ssh.ok(
        600,
        &format!("sudo mkdir -p {GUEST_TESTS} && curl -fsS {url} | sudo tar xz -C {GUEST_TESTS}"),
    )?;
    Ok(b)
}

/// Two guest runs at once (two sessions, or CI beside a developer) would share 2 cores between
/// two TCG guests and time out; the second waits here instead.
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

/// One tests/it test inside the guest, as root, against the installed payload.
fn run_guest_test(b: &mut Booted, name: &str) -> Result<(), String> {
    let start = Instant::now();
    let script = format!(
        "cd /tmp && sudo env CI=true RUST_BACKTRACE=1 LAB_TEST_BIN_DIR=/usr/local/bin \
         LAB_TEST_CLOCK_SLACK_US=3000 LAB_TEST_REPO={GUEST_TESTS}/repo {GUEST_TESTS}/it --exact {name} --test-threads=1 \
         --nocapture 2>&1"
    );
    let out = b.ssh.run(GUEST_TEST_TIMEOUT_S, &script);
    eprintln!(
        "guest: {name}: exit {} in {:.1}s",
        out.code,
        start.elapsed().as_secs_f64()
    );
    let text = &out.stdout;
    if out.code == 0 && text.contains("test result: ok. 1 passed") {
        if let Some(l) = text.lines().find(|l| l.contains("SKIPPED")) {
            return Err(format!(
                "skipped in the guest (every guest test must run): {l}"
            ));
        }
        return Ok(());
    }
    if out.code == 0 {
        return Err(format!(
            "the guest's test binary ran no test named {name}:\n{}",
            out.both()
        ));
    }
    if !b.vm.alive() {
        return Err(format!("qemu died; console:\n{}", b.vm.console_tail()));
    }
    Err(format!(
        "failed in the guest (exit {}):\n{}",
        out.code,
        out.both()
    ))
}

/// The last trial of a kernel: a clean power-off, and qemu gone.
fn power_off(k: &'static Kernel) -> Result<(), String> {
    let mut lock = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let st = lock.as_mut().expect("harness state");
    match st.guest.take() {
        Some((id, Ok(b))) if id == k.id => {
            st.done.push(id);
            boot::power_off(*b)
        }
        other => {
            st.guest = other;
            Err(format!("guest {} is not up", k.id))
        }
    }
}

/// Between kernels and at the end: power off quietly (the Vm guard kills qemu if it hangs).
fn shutdown(id: &'static str, b: Booted) {
    if let Err(e) = boot::power_off(b) {
        eprintln!("guest {id}: {e}");
    }
}
