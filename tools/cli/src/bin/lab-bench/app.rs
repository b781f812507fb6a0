//! The application the USDT tools (tplist, dbslower, mysqld_qslower) are started against: our
//! query server (`lab-workload queryserve`, MySQL's query probes) with its seeded clients
//! sending queries, so the tools trace real probe hits while they are measured. bpftrace's
//! rows run its equivalents on the same process: `bpftrace -l 'usdt:*' -p PID` and a
//! `usdt:` one-liner printing slow queries.
use std::{
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Child, ChildStdout, Command, Stdio},
    sync::OnceLock,
};

use anyhow::{bail, Context as _, Result};

/// The tools measured against the application.
pub const TOOLS: &[&str] = &["tplist", "dbslower", "mysqld_qslower"];

/// (pid, binary) of the running application, once started.
static RUNNING: OnceLock<(u32, String)> = OnceLock::new();

/// The running query server and the read end of its stdout, kept open for its whole life: it
/// writes "port N" after "ready", and a closed pipe made that write fail and the server exit
/// (a zombie the USDT tools then found no probes in).
pub struct App(Child, #[allow(dead_code)] BufReader<ChildStdout>);

impl App {
    pub fn start(ours: &Path) -> Result<App> {
        let exe = ours.join("lab-workload");
        let mut child = Command::new(&exe)
            .args(["queryserve", "--clients", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} queryserve", exe.display()))?;
        let mut out = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut first = String::new();
        out.read_line(&mut first)?;
        if first.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{} queryserve did not start", exe.display());
        }
        let _ = RUNNING.set((child.id(), exe.display().to_string()));
        Ok(App(child, out))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The command line of `tool` in our suite (`dir`) or bpftrace's, against the application.
pub fn argv(tool: &str, ours: Option<&Path>) -> Option<Vec<String>> {
    let (pid, exe) = RUNNING.get()?;
    let pid = pid.to_string();
    let own = |args: &[&str]| {
        let p = ours?.join(tool);
        p.is_file().then(|| {
            std::iter::once(p.display().to_string())
                .chain(args.iter().map(|a| a.to_string()))
                .collect()
        })
    };
    match (tool, ours.is_some()) {
        ("tplist", true) => own(&["-p", &pid]),
        ("dbslower", true) => own(&["mysql", "-p", &pid, "-m", "0"]),
        ("mysqld_qslower", true) => own(&[&pid, "0"]),
        ("tplist", false) => Some(vec![
            "bpftrace".into(),
            "-l".into(),
            "usdt:*".into(),
            "-p".into(),
            pid,
        ]),
        (_, false) => Some(vec!["bpftrace".into(), "-e".into(), slow_queries_bt(exe)]),
        _ => None,
    }
}

/// bpftrace's dbslower/mysqld_qslower at threshold 0: every query with its duration.
fn slow_queries_bt(exe: &str) -> String {
    format!(
        "BEGIN {{ printf(\"Tracing queries... Hit Ctrl-C to end.\\n\"); }} \
         usdt:{exe}:labdb:query__start {{ @s[tid] = nsecs; @q[tid] = arg0; }} \
         usdt:{exe}:labdb:query__done /@s[tid]/ {{ printf(\"%d %d %s\\n\", pid, (nsecs - @s[tid]) / 1000, str(@q[tid])); \
         delete(@s[tid]); delete(@q[tid]); }}"
    )
}
