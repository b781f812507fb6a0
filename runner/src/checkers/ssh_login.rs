//! The SSH-login checker (lab 2): the checker logs in over SSH itself while tracing exec, and takes from
//! that trace the program the login waits for, how many processes a login starts, who starts
//! most of them, and how long a login takes.
use std::{
    collections::BTreeMap,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use super::{
    stats::median,
    traces::{self, Exec},
    window, Measured, Measurements,
};
use crate::{
    grading::answer::{show_ns, Expected},
    lab::Lab,
    session::Live,
};

pub const METRICS: &[&str] = &[
    "login.slowest_comm",
    "login.processes",
    "login.top_parent",
    "login.duration",
    "lab2.best_fix",
];

const LOGINS: usize = 2;
pub const FIX: &str =
    "take the slow program out of the login path (run it in the background or cache its result)";

/// One login the checker made.
struct Login {
    wall_ns: f64,
    execs: Vec<Exec>,
    end_ns: u64,
}

pub fn measure(_lab: &Lab, live: &Live, window: Option<Duration>) -> Result<Measurements> {
    let w = live
        .workload("sshd")
        .context("lab 2 has no workload named sshd")?;
    let port = port(live)?;
    let logins_wanted = window
        .map(|d| (d.as_secs() as usize / 2).max(1))
        .unwrap_or(LOGINS);
    let mut trace = traces::ExecTrace::start()?;
    let mut tree = Tree::new(w.pid);
    let bar = window::bar(
        "logging in over SSH while tracing exec",
        Duration::from_secs(logins_wanted as u64),
    );
    let mut logins = Vec::new();
    for i in 0..logins_wanted {
        bar.set_position(i as u64 * 1000);
        logins.push(log_in(&live.session.data_dir, port, &mut trace, &mut tree)?);
    }
    bar.finish_and_clear();

    let mut m = Measurements::new();
    m.insert("login.duration".into(), Ok(duration(&logins)));
    // Use the last login: caches (page cache, sshd's) are warm, like the student's n-th try.
    let last = logins.last().context("no login made")?;
    if last.execs.is_empty() {
        let reason = "the trace saw no process of the login (exec tracing failed?)".to_string();
        for k in [
            "login.slowest_comm",
            "login.processes",
            "login.top_parent",
            "lab2.best_fix",
        ] {
            m.insert(k.into(), Err(reason.clone()));
        }
        return Ok(m);
    }
    m.insert("login.processes".into(), Ok(processes(last, w.pid)));
    let slowest = Slowest::of(last);
    m.insert("login.slowest_comm".into(), Ok(slowest.culprit()));
    m.insert("lab2.best_fix".into(), slowest.fix());
    m.insert("login.top_parent".into(), top_parent(last, &tree));
    Ok(m)
}

/// One `ssh ... echo hello` while tracing exec: its wall time and the execs of its tree.
fn log_in(
    data_dir: &Path,
    port: u64,
    trace: &mut traces::ExecTrace,
    tree: &mut Tree,
) -> Result<Login> {
    let start_ns = traces::monotonic_ns();
    let t = Instant::now();
    let mut child = ssh(data_dir, port)?;
    let mut events = Vec::new();
    let status = loop {
        // Poll while the login runs so parents are looked up while they still exist.
        for e in trace.poll()? {
            tree.learn(&e);
            events.push(e);
        }
        if let Some(st) = child.try_wait()? {
            break st;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = t.elapsed();
    std::thread::sleep(Duration::from_millis(100));
    for e in trace.poll()? {
        tree.learn(&e);
        events.push(e);
    }
    if !status.success() {
        let err = child
            .wait_with_output()
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
            .unwrap_or_default();
        bail!("the checker's own ssh login to 127.0.0.1:{port} failed ({status}): {err}; is sshd running? (sudo lab status)");
    }
    Ok(Login {
        wall_ns: wall.as_nanos() as f64,
        execs: events
            .into_iter()
            .filter(|e| e.ts_ns >= start_ns && tree.descends(e.pid))
            .collect(),
        end_ns: start_ns + wall.as_nanos() as u64,
    })
}

fn duration(logins: &[Login]) -> Measured {
    let mut walls: Vec<f64> = logins.iter().map(|l| l.wall_ns).collect();
    let wall = median(&mut walls).unwrap_or(0.0);
    Measured {
        expected: Expected::number(wall),
        shown: show_ns(wall),
        why: format!(
            "median of {} logins the checker made (`ssh ... echo hello`, wall time)",
            logins.len()
        ),
    }
}

/// sshd's own execs (its per-connection re-exec; sshd-session and sshd-auth from OpenSSH 9.8,
/// i.e. Debian 13) are the server, not programs the login runs: they are left out of the
/// count, and the key exchange and authentication after them are not a culprit's time. That
/// is ~50 ms on a lab VM but ~2 s in a TCG test guest, where it outgrew the seeded culprit.
fn is_server(e: &Exec) -> bool {
    e.comm.starts_with("sshd")
}

fn processes(login: &Login, sshd: i32) -> Measured {
    let programs = login.execs.iter().filter(|e| !is_server(e)).count();
    Measured {
        expected: Expected::number(programs as f64),
        shown: programs.to_string(),
        why: format!(
            "exec()s in one login's process tree under sshd (PID {sshd}), as execsnoop shows them, sshd's own {} left out",
            login.execs.len() - programs
        ),
    }
}

/// Who the login waits for: the longest gap after a process starts until the next one does,
/// counted from the first program of the session (see is_server).
struct Slowest<'a> {
    culprit: &'a Exec,
    gap: u64,
    session_ns: f64,
}

impl<'a> Slowest<'a> {
    fn of(last: &'a Login) -> Slowest<'a> {
        let execs = &last.execs;
        let session_start = execs
            .iter()
            .find(|e| !is_server(e))
            .map_or(last.end_ns.saturating_sub(last.wall_ns as u64), |e| e.ts_ns);
        let mut slowest: Option<(&Exec, u64)> = None;
        for (i, e) in execs.iter().enumerate() {
            if is_server(e) && execs.iter().any(|x| !is_server(x)) {
                continue;
            }
            let next = execs.get(i + 1).map(|n| n.ts_ns).unwrap_or(last.end_ns);
            let gap = next.saturating_sub(e.ts_ns);
            if slowest.is_none_or(|(_, g)| gap > g) {
                slowest = Some((e, gap));
            }
        }
        let (culprit, gap) = slowest.expect("non-empty");
        Slowest {
            culprit,
            gap,
            session_ns: last.end_ns.saturating_sub(session_start).max(1) as f64,
        }
    }

    fn share(&self) -> f64 {
        self.gap as f64 / self.session_ns
    }

    fn culprit(&self) -> Measured {
        Measured {
            expected: Expected::Process {
                names: vec![self.culprit.comm.clone()],
                pids: vec![self.culprit.pid as i32],
            },
            shown: self.culprit.comm.clone(),
            why: format!(
                "nothing else started for {} after it ({:.0}% of the {} login after sshd authenticated it)",
                show_ns(self.gap as f64),
                self.share() * 100.0,
                show_ns(self.session_ns)
            ),
        }
    }

    fn fix(&self) -> std::result::Result<Measured, String> {
        if self.share() >= 0.4 {
            Ok(Measured {
                expected: Expected::Choice(FIX.into()),
                shown: FIX.into(),
                why: format!(
                    "{} alone costs {:.0}% of the login after authentication",
                    self.culprit.comm,
                    self.share() * 100.0
                ),
            })
        } else {
            Err(format!(
                "no single program dominated this login ({} was {:.0}% after authentication)",
                self.culprit.comm,
                self.share() * 100.0
            ))
        }
    }
}

/// The parent starting most processes, named by its comm when it started them.
fn top_parent(login: &Login, tree: &Tree) -> std::result::Result<Measured, String> {
    let execs = &login.execs;
    let mut children: BTreeMap<u32, usize> = BTreeMap::new();
    for e in execs {
        *children.entry(e.ppid).or_default() += 1;
    }
    let (ppid, k) = children
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(p, n)| (*p, *n))
        .expect("non-empty");
    let first_child = execs
        .iter()
        .filter(|e| e.ppid == ppid)
        .map(|e| e.ts_ns)
        .min()
        .unwrap_or(0);
    let name = execs
        .iter()
        .filter(|e| e.pid == ppid && e.ts_ns <= first_child)
        .max_by_key(|e| e.ts_ns)
        .map(|e| e.comm.clone())
        .or_else(|| tree.comm(ppid));
    match name {
        Some(name) => Ok(Measured {
            expected: Expected::Process {
                names: vec![name.clone()],
                pids: vec![ppid as i32],
            },
            shown: format!("{name} (PID {ppid} in the checker's login)"),
            why: format!(
                "it started {k} of the login's {} processes (execsnoop's PPID column)",
                execs.len()
            ),
        }),
        None => Err(format!("the parent PID {ppid} was not seen starting")),
    }
}

/// The lab's sshd port, a seeded value of the session.
fn port(live: &Live) -> Result<u64> {
    live.session
        .vars
        .get("port")
        .and_then(|v| v.as_u64())
        .context("lab 2 session has no seeded port")
}

/// `ssh -F DATA/ssh/config -p PORT student@127.0.0.1 echo hello`, as the lab tells the student.
fn ssh(data_dir: &Path, port: u64) -> Result<std::process::Child> {
    Command::new("ssh")
        .arg("-F")
        .arg(data_dir.join("ssh/config"))
        .args([
            "-o",
            "BatchMode=yes",
            "-p",
            &port.to_string(),
            "student@127.0.0.1",
            "echo",
            "hello",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running ssh (is openssh-client installed?)")
}

/// Which PIDs descend from sshd's listener: parents from exec events, else from /proc while the
/// (non-exec'ing) sshd session processes still exist.
struct Tree {
    root: u32,
    parent: BTreeMap<u32, u32>,
    comm: BTreeMap<u32, String>,
}

impl Tree {
    fn new(root: i32) -> Tree {
        Tree {
            root: root as u32,
            parent: BTreeMap::new(),
            comm: BTreeMap::new(),
        }
    }

    fn learn(&mut self, e: &Exec) {
        self.parent.insert(e.pid, e.ppid);
        self.comm.insert(e.pid, e.comm.clone());
        // Fill in ancestors now, while they are alive.
        let mut p = e.ppid;
        for _ in 0..32 {
            if p <= 1 || p == self.root || self.parent.contains_key(&p) {
                break;
            }
            let Some(pp) = procfs::process::Process::new(p as i32)
                .ok()
                .and_then(|pr| pr.stat().ok())
                .map(|s| s.ppid as u32)
            else {
                break;
            };
            self.parent.insert(p, pp);
            p = pp;
        }
    }

    fn descends(&self, pid: u32) -> bool {
        let mut p = pid;
        for _ in 0..64 {
            if p == self.root {
                return true;
            }
            match self.parent.get(&p) {
                Some(&pp) if pp != p => p = pp,
                _ => return false,
            }
        }
        false
    }

    fn comm(&self, pid: u32) -> Option<String> {
        self.comm.get(&pid).cloned()
    }
}

/// Before hand-over: log in once and confirm it is slow (seconds, not the usual ~0.2 s).
pub fn verify_symptom(live: &Live) -> Result<String> {
    let port = port(live)?;
    // sshd needs a moment after start to listen.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let t = Instant::now();
        let out = ssh(&live.session.data_dir, port)?.wait_with_output()?;
        if out.status.success() {
            let secs = t.elapsed().as_secs_f64();
            return Ok(if secs >= 1.0 {
                format!("symptom verified: a login takes {secs:.1} s")
            } else {
                format!("a login took only {secs:.1} s on this machine; the slow step may be hard to see")
            });
        }
        if Instant::now() > deadline {
            bail!(
                "cannot log in to the lab's sshd on port {port}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Lab 2's checker (see crate::checkers).
pub struct SshLogin;

impl super::Checker for SshLogin {
    fn metrics(&self) -> &'static [&'static str] {
        METRICS
    }
    fn measure(&self, lab: &Lab, live: &Live, window: Option<Duration>) -> Result<Measurements> {
        measure(lab, live, window)
    }
    fn verify_symptom(&self, live: &Live) -> Result<String> {
        verify_symptom(live)
    }
}
