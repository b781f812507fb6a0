//! The isolated sessions of `lab dev check`: its reference runs start and stop labs in a state
//! dir of their own, so they never stop (or are stopped by) a lab the student runs, nor record
//! into their progress; and one killed mid-run is cleaned up by the next `lab stop`.
use std::path::{Path, PathBuf};

/// Set (to the isolated state dir) for the `lab start/check/stop` a reference run makes.
pub const DEV_SESSION_ENV: &str = "LAB_DEV_SESSION";

/// A fresh state dir for this `lab dev check` (the runs inherit it as LAB_STATE_DIR); on drop,
/// anything still running in it is stopped and the dir removed.
pub struct Isolated {
    dir: PathBuf,
    before: Option<std::ffi::OsString>,
}

/// Stop and remove the isolated sessions of `lab dev check` runs that were killed (kill -9
/// skips `Isolated`'s drop, leaving its reference lab running); `lab stop` and every new
/// `lab dev check` call this. Returns how many it cleaned up.
pub fn reap_abandoned() -> usize {
    let Ok(home) = crate::store::dir() else {
        return 0;
    };
    let (Some(parent), Some(name)) = (home.parent(), home.file_name()) else {
        return 0;
    };
    let prefix = format!("{}.dev-check-", name.to_string_lossy());
    let mut n = 0;
    for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = file
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // Still running (a `lab ... dev check` with that PID): not abandoned.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("dev\0check") {
            continue;
        }
        stop_isolated(&e.path());
        n += 1;
    }
    n
}

impl Isolated {
    pub fn enter() -> anyhow::Result<Isolated> {
        reap_abandoned();
        let home = crate::store::dir()?;
        let dir = PathBuf::from(format!(
            "{}.dev-check-{}",
            home.display(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        let before = std::env::var_os("LAB_STATE_DIR");
        // Single-threaded here; every later state read of this process and its children uses it.
        std::env::set_var("LAB_STATE_DIR", &dir);
        std::env::set_var(DEV_SESSION_ENV, &dir);
        Ok(Isolated { dir, before })
    }
}

/// `lab stop` inside an isolated state dir, then remove the dir.
fn stop_isolated(dir: &Path) {
    if let Ok(me) = std::env::current_exe() {
        let _ = std::process::Command::new(me)
            .arg("stop")
            .env("LAB_STATE_DIR", dir)
            .env(DEV_SESSION_ENV, dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = std::fs::remove_dir_all(dir);
}

impl Drop for Isolated {
    fn drop(&mut self) {
        stop_isolated(&self.dir);
        match self.before.take() {
            Some(v) => std::env::set_var("LAB_STATE_DIR", v),
            None => std::env::remove_var("LAB_STATE_DIR"),
        }
        std::env::remove_var(DEV_SESSION_ENV);
    }
}
