//! Whose store this is and where it lives.
use std::path::{Path, PathBuf};

/// The student this state belongs to: SUDO_USER when run through sudo, else the current user.
pub fn user() -> String {
    if let Ok(u) = std::env::var("SUDO_USER") {
        if !u.is_empty() && !u.contains('/') && u != "." && u != ".." {
            return u;
        }
    }
    // SAFETY: getpwuid returns a pointer into static storage or null.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if !pw.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

/// The state directory: `LAB_STATE_DIR`, or /var/lib/lab/<user>.
pub fn dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("LAB_STATE_DIR").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        return Ok(if d.is_absolute() {
            d
        } else {
            std::env::current_dir()?.join(d)
        });
    }
    Ok(Path::new("/var/lib/lab").join(user()))
}
