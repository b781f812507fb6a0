//! A real terminal for tests: a tmux server of our own (its own socket), one session of a fixed
//! size running bash, commands typed with send-keys, the screen read back with capture-pane.
use std::{
    path::Path,
    process::{Command, Output},
    time::{Duration, Instant},
};

pub struct Tmux {
    socket: String,
    pub width: usize,
    /// Commands typed so far (numbers the begin/end markers).
    typed: usize,
}

/// What one command printed on the terminal (wrapped lines joined) and its exit status.
pub struct Shown {
    pub text: String,
    pub code: i32,
}

impl Tmux {
    /// A `width`x`height` terminal running bash with `env` set and `path_first` first on PATH.
    pub fn start(
        name: &str,
        width: usize,
        height: usize,
        path_first: &Path,
        env: &[(&str, &str)],
    ) -> Tmux {
        let socket = format!("lab-it-{name}-{}", std::process::id());
        let t = Tmux {
            socket,
            width,
            typed: 0,
        };
        let _ = t.tmux(&["kill-server"]);
        let path = format!(
            "{}:{}",
            path_first.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("tmux");
        // -f /dev/null: no user config; the server takes its environment from this client.
        c.args([
            "-L",
            &t.socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
        ])
        .args(["-x", &width.to_string(), "-y", &height.to_string()])
        .args(["bash", "--norc", "--noprofile"])
        .env("PATH", path)
        .env("PS1", "$ ")
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .env_remove("LINES");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c
            .output()
            .expect("tmux (provision/setup.sh --test-deps installs it)");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.tmux(&["set-option", "-g", "history-limit", "50000"]);
        // capture-pane drops the prompt's trailing space.
        t.wait_for("the shell prompt", Duration::from_secs(10), |s| {
            s.trim_start().starts_with('$')
        });
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux")
    }

    /// Type `keys` literally, then Enter.
    pub fn type_line(&self, keys: &str) {
        let out = self.tmux(&["send-keys", "-t", "t", "-l", keys]);
        assert!(
            out.status.success(),
            "send-keys: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.tmux(&["send-keys", "-t", "t", "Enter"]);
    }

    /// Press one key by its tmux name ("q", "C-c").
    pub fn press(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "t", key]);
    }

    /// Everything the terminal holds, scrollback included, wrapped lines joined (`-J`); with
    /// `escapes`, colours and styles as escape sequences (`-e`).
    pub fn history(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-J", "-S", "-", "-t", "t"];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&self.tmux(&args).stdout).into_owned()
    }

    /// The visible screen only (an alternate screen while a program shows one).
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// Poll the visible screen until `ok` holds; panics with the screen after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < until,
                "{what} did not show in {timeout:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Start `cmdline` between two markers; `finish` waits for its end and returns what it printed.
    pub fn begin(&mut self, cmdline: &str) -> usize {
        self.typed += 1;
        let n = self.typed;
        // The markers are printed by printf, so the typed line itself does not contain them.
        self.type_line(&format!(
            "printf '@%s@\\n' begin-{n}; {cmdline}; printf '\\n@%s@ %d\\n' end-{n} $?"
        ));
        n
    }

    pub fn finish(&self, n: usize, timeout: Duration) -> Shown {
        let end = format!("@end-{n}@ ");
        let until = Instant::now() + timeout;
        loop {
            let h = self.history(false);
            if let Some(shown) = between(&h, n) {
                return shown;
            }
            assert!(
                Instant::now() < until,
                "command {n} did not end in {timeout:?} ({end}):\n{h}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Type `cmdline` and wait for it to end.
    pub fn run(&mut self, cmdline: &str, timeout: Duration) -> Shown {
        let n = self.begin(cmdline);
        self.finish(n, timeout)
    }
}

/// The lines between command `n`'s markers in `history`, once its end marker is there.
fn between(history: &str, n: usize) -> Option<Shown> {
    let lines: Vec<&str> = history.lines().collect();
    // The begin marker ends its line; it starts one unless the typed command filled the last
    // row exactly, when the joined capture glues it to the command (a PID one digit longer
    // in a path did that: "... end-8 $?@begin-8@"). The typed line never holds the marker.
    let begin = lines
        .iter()
        .rposition(|l| l.ends_with(&format!("@begin-{n}@")))?;
    let end_mark = format!("@end-{n}@ ");
    let end = begin
        + lines[begin..]
            .iter()
            .position(|l| l.starts_with(&end_mark))?;
    let code = lines[end][end_mark.len()..].trim().parse().ok()?;
    let mut body: Vec<&str> = lines[begin + 1..end].to_vec();
    // The printf of the end marker starts with a newline.
    if body.last().is_some_and(|l| l.trim().is_empty()) {
        body.pop();
    }
    Some(Shown {
        text: body.join("\n"),
        code,
    })
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// The capture of the CI failure: the typed command filled its last row exactly (160 columns at
/// 80), so the begin marker was glued to it.
#[test]
fn a_begin_marker_glued_to_a_full_typed_row_is_found() {
    let h = "$ printf '@%s@\\n' begin-8; biolatency; printf '\\n@%s@ %d\\n' end-8 $?@begin-8@\n\
             biolatency: needs root\n\n@end-8@ 1\n$ ";
    let shown = between(h, 8).expect("command 8's output");
    assert_eq!(
        (shown.text.as_str(), shown.code),
        ("biolatency: needs root", 1)
    );
}
