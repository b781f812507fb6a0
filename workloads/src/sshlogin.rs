//! Lab 2: a real OpenSSH server on a loopback port whose login path runs a seeded
//! "message of the day" script tree. The tree spawns many short-lived processes; one program in it
//! waits (like a network call timing out) and costs most of the login time.
//!
//! Layout under `--dir`: `ssh/` (sshd_config, host key, the student's client key and ssh config,
//! known_hosts) and `motd/` (the login runner, its parts and helper programs). Then sshd runs in
//! the foreground (`-D`) so the lab supervisor owns it and `lab stop` ends it.
use std::{
    fmt::Write as _,
    fs,
    os::unix::fs::{chown, PermissionsExt as _},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::common::{Common, Rng};

pub const SSHD: &str = "/usr/sbin/sshd";
/// The account students log in as.
pub const LOGIN_USER: &str = "student";

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Directory for keys, configs and the login scripts (the session's data dir).
    #[arg(long)]
    pub dir: PathBuf,
    /// Loopback port sshd listens on.
    #[arg(long)]
    pub port: u16,
    /// The student: owner of the client key (so plain `ssh` as that user can use it).
    #[arg(long)]
    pub owner: String,
    /// Do everything but start sshd (for checking the generated files).
    #[arg(long)]
    pub prepare_only: bool,
}

pub fn run(args: Args) -> Result<()> {
    let mut rng = crate::common::rng(args.common.seed);
    let dir = absolute(&args.dir)?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    open_path_for_traversal(&dir)?;
    ensure_login_user()?;
    let ssh = dir.join("ssh");
    let motd = dir.join("motd");
    for d in [&ssh, &motd] {
        let _ = fs::remove_dir_all(d);
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
    }
    let runner = write_motd_tree(&mut rng, &motd)?;
    write_ssh_files(&ssh, &runner, args.port, &args.owner)?;
    fs::create_dir_all("/run/sshd")
        .context("creating /run/sshd (sshd's privilege separation dir)")?;
    if args.prepare_only {
        return Ok(());
    }
    let err = exec_sshd(&ssh.join("sshd_config"));
    Err(err).context("starting sshd")
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// The login scripts run as the student and sshd checks key paths: every directory above `dir`
/// needs search (x) permission for others. Adds o+x only where missing (never read or write).
fn open_path_for_traversal(dir: &Path) -> Result<()> {
    for anc in dir.ancestors() {
        let meta = fs::metadata(anc).with_context(|| format!("reading {}", anc.display()))?;
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            fs::set_permissions(anc, fs::Permissions::from_mode((mode & 0o7777) | 0o011))
                .with_context(|| format!("allowing the login user to reach {}", anc.display()))?;
        }
    }
    Ok(())
}

fn ensure_login_user() -> Result<()> {
    let exists = Command::new("id")
        .arg("-u")
        .arg(LOGIN_USER)
        .output()
        .map(|o| o.status.success());
    if exists.unwrap_or(false) {
        return Ok(());
    }
    let st = Command::new("useradd")
        .args([
            "--create-home",
            "--shell",
            "/bin/bash",
            "--comment",
            "lab 2 login account",
            LOGIN_USER,
        ])
        .status()
        .context("running useradd")?;
    if !st.success() {
        bail!("useradd {LOGIN_USER} failed ({st}); create the account by hand and start the lab again");
    }
    Ok(())
}

fn write_ssh_files(ssh: &Path, runner: &Path, port: u16, owner: &str) -> Result<()> {
    let host_key = ssh.join("host_ed25519");
    let client_key = ssh.join("id_ed25519");
    keygen(&host_key, "lab2 host")?;
    keygen(&client_key, "lab2 student")?;
    let client_pub = fs::read_to_string(ssh.join("id_ed25519.pub"))?;
    let host_pub = fs::read_to_string(ssh.join("host_ed25519.pub"))?;
    fs::write(ssh.join("authorized_keys"), &client_pub)?;
    fs::set_permissions(
        ssh.join("authorized_keys"),
        fs::Permissions::from_mode(0o644),
    )?;
    let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
    fs::write(
        ssh.join("known_hosts"),
        format!("[127.0.0.1]:{port} {}\n", host_pub.join(" ")),
    )?;
    let d = ssh.display();
    fs::write(
        ssh.join("sshd_config"),
        format!(
            "# sshd for lab 2 (written by lab-workload sshlogin)\n\
             Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM yes\n\
             AllowUsers {LOGIN_USER}\nStrictModes no\nPrintMotd no\nUseDNS no\nX11Forwarding no\n\
             ForceCommand {}\n",
            runner.display()
        ),
    )?;
    fs::write(
        ssh.join("config"),
        format!(
            "# ssh client settings for lab 2: ssh -F {d}/config -p {port} {LOGIN_USER}@127.0.0.1\n\
             Host *\n  IdentityFile {d}/id_ed25519\n  IdentitiesOnly yes\n\
             UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
        ),
    )?;
    // The student runs ssh as themselves: the key must be theirs (ssh refuses others' keys only
    // when they are too open, but the student could not read root's 0600 file at all).
    if let Some((uid, gid)) = user_ids(owner) {
        for f in ["id_ed25519", "id_ed25519.pub", "config", "known_hosts"] {
            chown(ssh.join(f), Some(uid), Some(gid))
                .with_context(|| format!("giving {f} to {owner}"))?;
        }
    }
    Ok(())
}

fn keygen(path: &Path, comment: &str) -> Result<()> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .output()
        .context("running ssh-keygen (is openssh-client installed? run provision/setup.sh)")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn user_ids(name: &str) -> Option<(u32, u32)> {
    let line = fs::read_to_string("/etc/passwd").ok()?;
    line.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

fn exec_sshd(config: &Path) -> anyhow::Error {
    use std::os::unix::process::CommandExt as _;
    if !Path::new(SSHD).exists() {
        return anyhow::anyhow!(
            "{SSHD} not found: install openssh-server (provision/setup.sh does)"
        );
    }
    // -D: stay in the foreground under the supervisor; -e: log to stderr (the workload's log).
    let err = Command::new(SSHD)
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(config)
        .exec();
    anyhow::Error::new(err)
}

/// Names the seed chooses from. The runner and culprit names are what students find.
const RUNNERS: &[&str] = &[
    "update-motd",
    "motd-gen",
    "login-banner",
    "welcome-msg",
    "sysinfo-motd",
];
const CULPRITS: &[&str] = &[
    "motd-news",
    "check-updates",
    "landscape-info",
    "quota-report",
    "cloud-status",
    "license-check",
];
const PARTS: &[&str] = &[
    "00-header",
    "10-sysinfo",
    "20-disk",
    "30-memory",
    "40-users",
    "60-load",
    "80-services",
    "95-footer",
];
/// Quick commands a part can run: simple commands only (no pipes), so bash execs each straight
/// from the runner's command substitution and the runner is their parent.
const QUICK: &[&str] = &[
    "uname -r",
    "uname -m",
    "date +%H:%M",
    "hostname",
    "cut -d' ' -f1-3 /proc/loadavg",
    "id -un",
    "df -h --output=pcent /",
    "free -m",
    "grep -c ^processor /proc/cpuinfo",
    "wc -l /etc/passwd",
    "awk '{print int($1/3600)}' /proc/uptime",
    "head -n 1 /etc/os-release",
    "ls -d /etc",
    "tr ' ' ',' < /proc/loadavg",
    "cat /proc/sys/kernel/ostype",
    "basename $SHELL",
    "nproc",
    "whoami",
];

/// Writes the runner (the login's ForceCommand), its parts and the culprit. Returns the runner.
fn write_motd_tree(rng: &mut Rng, motd: &Path) -> Result<PathBuf> {
    let runner_name = RUNNERS[rng.range(0, RUNNERS.len() as u64 - 1) as usize];
    let culprit_name = CULPRITS[rng.range(0, CULPRITS.len() as u64 - 1) as usize];
    let parts_dir = motd.join("parts");
    let lib = motd.join("lib");
    fs::create_dir_all(&parts_dir)?;
    fs::create_dir_all(&lib)?;
    for d in [&parts_dir, &lib] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
    }

    // Which parts exist and which one calls the culprit.
    let mut parts: Vec<&str> = PARTS.iter().copied().filter(|_| rng.chance(0.75)).collect();
    if parts.len() < 3 {
        parts = PARTS[..4].to_vec();
    }
    let culprit_part = rng.range(0, parts.len() as u64 - 1) as usize;
    for (i, name) in parts.iter().enumerate() {
        let mut s = String::from("# sourced by the login runner\n");
        let n = rng.range(2, 6);
        for _ in 0..n {
            let cmd = QUICK[rng.range(0, QUICK.len() as u64 - 1) as usize];
            let _ = writeln!(s, "echo \"  $({cmd})\"");
        }
        if i == culprit_part {
            let _ = writeln!(s, "\"{}\"", lib.join(culprit_name).display());
        }
        write_exec(&parts_dir.join(name), &s)?;
    }

    // The culprit waits on a FIFO nobody writes to: a timeout with no child process, like a
    // network fetch that never gets an answer.
    let wait_ms = rng.range(1500, 3000);
    let fifo = lib.join(".news-feed");
    let _ = fs::remove_file(&fifo);
    mkfifo(&fifo)?;
    let culprit = format!(
        "#!/bin/bash\n# fetches the news shown at login\nexec 3<> \"{}\"\nread -r -t {}.{:03} -u 3 _ \
         || echo \"  news: feed unavailable\"\n",
        fifo.display(),
        wait_ms / 1000,
        wait_ms % 1000
    );
    write_exec(&lib.join(culprit_name), &culprit)?;

    // The runner: sources every part in this shell (so the parts' commands are its children),
    // then runs what the user asked for.
    let runner = motd.join(runner_name);
    let script = format!(
        "#!/bin/bash\n# builds the message of the day, then runs the login's command\n\
         {{\n  echo \"Welcome to $(hostname)\"\n  for part in \"{}\"/*; do\n    . \"$part\"\n  done\n}} >&2\n\
         if [ -n \"$SSH_ORIGINAL_COMMAND\" ]; then\n  exec /bin/bash -c \"$SSH_ORIGINAL_COMMAND\"\nfi\n\
         exec /bin/bash -l\n",
        parts_dir.display()
    );
    write_exec(&runner, &script)?;
    Ok(runner)
}

fn write_exec(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn mkfifo(path: &Path) -> Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o666) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("mkfifo {}", path.display()));
    }
    // The umask may have cleared bits; the student must be able to open it read-write.
    fs::set_permissions(path, fs::Permissions::from_mode(0o666))?;
    Ok(())
}
