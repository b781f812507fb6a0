//! `lab class`: the instructor's view of every student VM (status, watch, serve, collect), read
//! over SSH with the key provisioning installed. Student passwords are never read or used.
use std::{
    io::Write as _,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use crate::{
    class::{self, roster, ClassInfo, Options, Row, Target},
    privilege::usage,
    screen::Screen,
};

mod vms;

/// `lab class serve` listens here unless --port says otherwise.
const DEFAULT_PORT: u16 = 8471;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "`up` creates the class's VMs on libvirt hosts and checks each until ready; `down` \
removes them; `ls` lists them (provision/README.md). The others ask each VM `lab status --json` \
(docs/status-json.md) over SSH as the roster's user, with the class key (`up` makes one; or the \
key given to `lab provision cloud-init --ssh-key`; recorded in DIR/class.json; -i to choose \
another). BatchMode: a password is never tried. A class provisioned without a key: run \
`ssh-copy-id -i KEY.pub student@HOST` once per VM, then pass -i KEY.\n\n\
EXAMPLES:\n  lab class up --class class/ --students 24 --image debian-12-genericcloud-amd64.qcow2\n  \
lab class status --class class/\n  lab class watch --class class/ --interval 15\n  \
lab class serve --class class/ --port 8471\n  lab class collect --class class/ --out results/\n  \
lab class down --class class/ --keep-results results/"
)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// One row per student, those who need help first (--json for scripts)
    Status {
        #[command(flatten)]
        source: Source,
        /// Print JSON: every row with the VM's whole `lab status --json`
        #[arg(long)]
        json: bool,
    },
    /// The status table, refreshed in the terminal until Ctrl-C
    Watch {
        #[command(flatten)]
        source: Source,
        /// Seconds between refreshes
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        interval: u64,
    },
    /// A page for the projector on 127.0.0.1 (refreshes itself), with status.json beside it
    Serve {
        #[command(flatten)]
        source: Source,
        /// Port [default: 8471] (0 picks a free one)
        #[arg(long, value_name = "P")]
        port: Option<u16>,
        /// Address to listen on; anything but 127.0.0.1 shows the class to the network
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
        bind: String,
        /// Seconds between polls of the VMs (and page refreshes)
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        interval: u64,
    },
    /// Create the class's VMs on libvirt and check each until ready (provisions DIR if new)
    Up(vms::UpArgs),
    /// Remove the class's VMs, disks and seeds on every host (exactly what `up` made)
    Down(vms::DownArgs),
    /// Each student's VM: host, state, address, ready or why not
    Ls(vms::LsArgs),
    /// Every student's progress and answers into DIR (NAME.json, answers.csv) plus summary.csv
    Collect {
        #[command(flatten)]
        source: Source,
        /// Output directory (created)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct Source {
    /// The directory `lab provision cloud-init --out` wrote (roster.csv, class.json)
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "roster",
        conflicts_with = "roster"
    )]
    class: Option<PathBuf>,
    /// A roster CSV (name,host,user,...; host may be HOST:PORT) instead of --class
    #[arg(long, value_name = "FILE")]
    roster: Option<PathBuf>,
    /// The instructor's private SSH key [default: the one recorded in DIR/class.json]
    #[arg(short = 'i', long = "identity", value_name = "KEY")]
    identity: Option<PathBuf>,
    /// Seconds to wait for each VM's SSH connection
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    connect_timeout: f64,
    /// Seconds per VM, everything included; ssh is killed after it
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    timeout: f64,
    /// VMs asked at the same time
    #[arg(long, value_name = "N", default_value_t = 32)]
    concurrency: usize,
    /// Program run on the VMs (`CMD status --json`)
    #[arg(long, value_name = "CMD", default_value = "lab")]
    lab_command: String,
    /// Remembered host keys [default: known_hosts next to the roster]
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Up(a) => vms::up_cmd(a),
        Sub::Down(a) => vms::down_cmd(a),
        Sub::Ls(a) => vms::ls_cmd(a),
        Sub::Status { source, json } => {
            let (targets, opts) = source.resolve()?;
            let rows = poll_sorted(&targets, &opts);
            if json {
                let doc = serde_json::json!({
                    "schema": crate::status_json::SCHEMA, "kind": "lab-class", "rows": rows,
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                print!("{}", class::view::table(&rows, Screen::stdout()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Sub::Watch { source, interval } => {
            let interval = check_interval(interval)?;
            let (targets, opts) = source.resolve()?;
            loop {
                let t0 = Instant::now();
                let rows = poll_sorted(&targets, &opts);
                let mut out = std::io::stdout().lock();
                // Home + clear: the table replaces itself instead of scrolling.
                write!(out, "\x1b[H\x1b[2J")?;
                writeln!(
                    out,
                    "lab class watch: {} (every {} s, Ctrl-C to stop)",
                    class::serve::clock(),
                    interval.as_secs()
                )?;
                write!(out, "{}", class::view::table(&rows, Screen::stdout()))?;
                out.flush()?;
                drop(out);
                std::thread::sleep(interval.saturating_sub(t0.elapsed()));
            }
        }
        Sub::Serve {
            source,
            port,
            bind,
            interval,
        } => {
            let interval = check_interval(interval)?;
            if bind.parse::<std::net::IpAddr>().is_err() {
                return Err(usage(format!(
                    "--bind {bind}: give an IP address, e.g. --bind 127.0.0.1"
                )));
            }
            let (targets, opts) = source.resolve()?;
            class::serve::serve(&bind, port.unwrap_or(DEFAULT_PORT), interval, targets, opts)?;
            Ok(ExitCode::SUCCESS)
        }
        Sub::Collect { source, out } => {
            let (targets, opts) = source.resolve()?;
            let rows = poll_sorted(&targets, &opts);
            class::collect::collect(&rows, &out)?;
            let missing: Vec<&str> = rows
                .iter()
                .filter(|r| r.status.is_none())
                .map(|r| r.name.as_str())
                .collect();
            println!(
                "Collected {} of {} students into {} (NAME.json, answers.csv, summary.csv)",
                rows.len() - missing.len(),
                rows.len(),
                out.display()
            );
            if !missing.is_empty() {
                eprintln!(
                    "lab: no status from {} (see summary.csv's error column); run collect again when they are up",
                    missing.join(", ")
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check_interval(secs: u64) -> anyhow::Result<Duration> {
    if !(1..=3600).contains(&secs) {
        return Err(usage(format!(
            "--interval {secs}: give seconds between 1 and 3600, e.g. --interval 10"
        )));
    }
    Ok(Duration::from_secs(secs))
}

fn poll_sorted(targets: &[Target], opts: &Options) -> Vec<Row> {
    let mut rows = class::poll(targets, opts);
    class::row::sort(&mut rows);
    rows
}

impl Source {
    fn resolve(&self) -> anyhow::Result<(Vec<Target>, Options)> {
        for (flag, v) in [
            ("--connect-timeout", self.connect_timeout),
            ("--timeout", self.timeout),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 3600.0) {
                return Err(usage(format!(
                    "{flag} {v}: give seconds between 0 and 3600, e.g. {flag} 5"
                )));
            }
        }
        if self.concurrency == 0 || self.concurrency > 1024 {
            return Err(usage(format!(
                "--concurrency {}: give 1 to 1024",
                self.concurrency
            )));
        }
        let (roster_path, info) = match (&self.class, &self.roster) {
            (Some(dir), _) => {
                if !dir.is_dir() {
                    return Err(usage(format!(
                        "--class {}: not a directory (give the --out DIR of `lab provision cloud-init`)",
                        dir.display()
                    )));
                }
                (dir.join(roster::ROSTER_FILE), ClassInfo::load(dir)?)
            }
            (None, Some(file)) => (file.clone(), None),
            (None, None) => unreachable!("clap requires --class or --roster"),
        };
        if !roster_path.is_file() {
            return Err(usage(format!(
                "{}: no roster there (written by `lab provision cloud-init --out DIR`)",
                roster_path.display()
            )));
        }
        warn_if_readable(&roster_path);
        let targets = roster::load(&roster_path)?;
        let identity = match (&self.identity, &info) {
            (Some(key), _) => {
                if !key.is_file() {
                    return Err(usage(format!(
                        "-i {}: no such key file (give the private half of the --ssh-key used at provisioning)",
                        key.display()
                    )));
                }
                Some(key.clone())
            }
            (
                None,
                Some(ClassInfo {
                    identity: Some(id), ..
                }),
            ) if id.is_file() => Some(id.clone()),
            (
                None,
                Some(ClassInfo {
                    ssh_key: Some(k), ..
                }),
            ) => {
                eprintln!(
                    "lab class: the VMs accept the key {}; its private half is not beside it: pass -i PRIVATE_KEY (trying ssh's default keys)",
                    k.display()
                );
                None
            }
            (None, _) => {
                eprintln!(
                    "lab class: this class was provisioned without --ssh-key, so its VMs take only passwords (never used here); add a key once per VM with `ssh-copy-id -i ~/.ssh/id_ed25519.pub USER@HOST`, then pass -i ~/.ssh/id_ed25519 (trying ssh's default keys)"
                );
                None
            }
        };
        let known_hosts = self.known_hosts.clone().unwrap_or_else(|| {
            roster_path
                .parent()
                .unwrap_or(Path::new("."))
                .join("known_hosts")
        });
        Ok((
            targets,
            Options {
                identity,
                known_hosts,
                connect_timeout: Duration::from_secs_f64(self.connect_timeout),
                timeout: Duration::from_secs_f64(self.timeout),
                concurrency: self.concurrency,
                lab_command: self.lab_command.clone(),
                kex: class::ssh::kex_preference(),
            },
        ))
    }
}

/// The roster holds every password: say so when others can read it (we never change it).
fn warn_if_readable(path: &Path) {
    if let Ok(m) = std::fs::metadata(path) {
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "lab class: warning: {} is readable by others (mode {mode:o}) and holds the students' passwords: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
}
