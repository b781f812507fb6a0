//! Root checks: one clear line naming the command to re-run as root, exit 2, nothing written.
//! "e.g. sudo": a fresh root-only Debian has no sudo, so sudo is an example, not the instruction.

/// An error that exits with a specific code (2: usage / wrong privileges).
#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub exit_code: u8,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for UsageError {}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Fail with exit 2 unless root; `what` is the command line to suggest, e.g. "lab start 1".
pub fn require_root(what: &str) -> anyhow::Result<()> {
    if is_root() {
        return Ok(());
    }
    Err(UsageError {
        message: format!("'{what}' needs root (it loads BPF programs or manages lab processes); re-run it as root (e.g. sudo {what})"),
        exit_code: 2,
    }
    .into())
}

/// The command line the user typed, for messages ("lab start 1").
pub fn command_line() -> String {
    let mut args = std::env::args();
    let _ = args.next();
    std::iter::once("lab".to_string())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Shorthand: require root for the command line as typed.
pub fn require_root_here() -> anyhow::Result<()> {
    require_root(&command_line())
}

/// Build a usage error (exit 2) with a message.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError {
        message: message.into(),
        exit_code: 2,
    }
    .into()
}

/// Whether the user reached root through sudo (or is not root at all): only then do the
/// commands a message suggests start with `sudo`.
fn sudo_is_the_way() -> bool {
    !is_root() || std::env::var_os("SUDO_USER").is_some_and(|u| !u.is_empty())
}

/// `text` with the `sudo lab ...` it suggests as this user would type it: plain `lab ...` for a
/// root shell (a fresh root-only Debian has no sudo), unchanged for a student using sudo.
pub fn as_typed(text: &str) -> String {
    if sudo_is_the_way() {
        text.to_owned()
    } else {
        text.replace("sudo lab ", "lab ")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggested_commands_drop_sudo_only_for_a_root_shell() {
        let msg = "no lab is running; start it with: sudo lab start 1 (sudo lab list)";
        let out = super::as_typed(msg);
        if super::sudo_is_the_way() {
            assert_eq!(out, msg);
        } else {
            assert_eq!(
                out,
                "no lab is running; start it with: lab start 1 (lab list)"
            );
        }
    }
}
