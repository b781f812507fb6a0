//! `lab provision`: lab machines for a class. `cloud-init` writes one user-data/meta-data pair
//! per student (plus roster, login cards and the binaries' payload); `host` applies the same
//! setup to this machine.
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;

use crate::{
    privilege::usage,
    provision::{
        cloud_init, password, payload,
        roster::{self, Student},
        secret, templates, FIRST_COMMAND, INSTALL_DIR, PACKAGES, STUDENT_USER,
    },
};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Write cloud-init user-data + meta-data per student, a roster, login cards and the payload
    CloudInit(CloudInitArgs),
    /// Set up this machine like a lab VM: packages, tracefs, lab on PATH, then lab doctor
    Host(HostArgs),
}

#[derive(clap::Args, Debug)]
struct CloudInitArgs {
    /// Number of students (one VM each)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=999))]
    students: u16,
    /// Output directory (created; holds secrets, so it is made mode 0700)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// URL the VMs download lab-payload.tar.gz from (serve DIR/lab-payload.tar.gz there)
    #[arg(long, value_name = "URL")]
    payload_url: String,
    /// Instructor's SSH public key(s), also authorized for the student account
    #[arg(long, value_name = "FILE")]
    ssh_key: Option<PathBuf>,
    /// VM name prefix: PREFIX-01, PREFIX-02, ...
    #[arg(long, value_name = "NAME", default_value = "lab")]
    prefix: String,
    /// Domain for the cards' host names (NAME.DOMAIN); without it the cards show NAME
    #[arg(long)]
    domain: Option<String>,
    /// Where lab, lab-workload and the tools are (default: next to this lab); use the static musl build
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Replace an existing roster in DIR (its passwords stop working on newly created VMs)
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
struct HostArgs {
    /// Also create the `student` login with a fresh password (roster + card written to --out)
    #[arg(long)]
    student: bool,
    /// Where --student writes roster.csv and cards.html (mode 0600)
    #[arg(long, value_name = "DIR", default_value = "/root/lab-provision")]
    out: PathBuf,
    /// Where lab, lab-workload and the tools are (default: next to this lab)
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Print the setup script instead of running it
    #[arg(long)]
    print: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::CloudInit(a) => cloud_init(a),
        Sub::Host(a) => host(a),
    }
}

fn cloud_init(a: CloudInitArgs) -> anyhow::Result<ExitCode> {
    check_prefix(&a.prefix)?;
    if let Some(d) = &a.domain {
        check_domain(d)?;
    }
    if !(a.payload_url.starts_with("http://") || a.payload_url.starts_with("https://"))
        || a.payload_url.contains(char::is_whitespace)
    {
        return Err(usage(format!(
            "--payload-url '{}': need an http:// or https:// URL the VMs can reach",
            a.payload_url
        )));
    }
    let ssh_keys = match &a.ssh_key {
        Some(f) => read_ssh_keys(f)?,
        None => Vec::new(),
    };
    let bin_dir = match a.bin_dir.clone() {
        Some(d) => d,
        None => payload::default_bin_dir()?,
    };
    let binaries = payload::collect(&bin_dir)?;
    let roster_path = a.out.join("roster.csv");
    if roster_path.exists() && !a.force {
        return Err(usage(format!(
            "--out {}: a roster from an earlier run is there; new passwords would not match the cards already printed; choose another --out or pass --force",
            a.out.display()
        )));
    }

    secret::create_dir(&a.out)?;
    let payload_path = a.out.join(payload::FILE_NAME);
    let payload_sha256 = payload::write(&binaries, &payload_path)?;
    let names: Vec<&str> = binaries
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .collect();
    let sshd_config = templates::render("sshd-lab.conf", minijinja::context! {})?;
    let provision_script = templates::render(
        "setup.sh",
        minijinja::context! {
            mode => "cloud-init",
            install_dir => INSTALL_DIR,
            payload_url => &a.payload_url,
            payload_sha256 => &payload_sha256,
            binaries => &names,
            student_user => "",
        },
    )?;

    let students = cloud_init::write_vms(
        &a.out,
        a.students,
        &cloud_init::Common {
            prefix: &a.prefix,
            domain: a.domain.as_deref(),
            ssh_keys: &ssh_keys,
            provision_script: &provision_script,
            sshd_config: &sshd_config,
        },
    )?;
    roster::write_csv(&students, &roster_path)?;
    // What `lab class` needs to reach the VMs: the instructor key (no secret in it).
    let info = crate::class::ClassInfo::for_key(a.ssh_key.as_deref());
    secret::write(
        &a.out.join(crate::class::roster::CLASS_FILE),
        serde_json::to_string_pretty(&info)?.as_bytes(),
    )?;
    let cards_path = a.out.join("cards.html");
    roster::write_cards(&students, &a.prefix, &cards_path)?;

    print_written(&a, students.len(), &names, &payload_sha256, &info);
    let dynamic = payload::dynamic(&binaries);
    if !dynamic.is_empty() {
        eprintln!(
            "lab: warning: dynamically linked payload binaries ({}); the VMs need the same libc. Prefer the static build: cargo build --release --target x86_64-unknown-linux-musl --bins",
            dynamic.iter().filter_map(|p| p.file_name()?.to_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `cloud-init` wrote and what the instructor does next.
fn print_written(
    a: &CloudInitArgs,
    students: usize,
    names: &[&str],
    payload_sha256: &str,
    info: &crate::class::ClassInfo,
) {
    let out = a.out.display();
    println!("Wrote {students} lab VM configurations to {out}:");
    println!(
        "  {out}/<name>/user-data, meta-data   one pair per VM (0600: they hold password hashes)"
    );
    println!("  {out}/roster.csv                    SECRET (0600): names, hosts and passwords ({} bits each)", password::ENTROPY_BITS);
    println!(
        "  {out}/cards.html                    SECRET (0600): login cards to print, {} per A4 page",
        roster::CARDS_PER_PAGE
    );
    println!(
        "  {out}/{}           {} binaries, sha256 {}",
        payload::FILE_NAME,
        names.len(),
        &payload_sha256[..16]
    );
    println!(
        "Serve the payload so that {} returns it (the VMs check its sha256), then boot each VM",
        a.payload_url
    );
    println!("with its user-data, e.g. `cloud-localds seed.iso user-data meta-data` or a cloud's --user-data (see provision/README.md).");
    match (&info.ssh_key, &info.identity) {
        (Some(_), Some(id)) => println!("During class: lab class watch --class {out} (ssh -i {})", id.display()),
        (Some(_), None) => println!("During class: lab class watch --class {out} -i PRIVATE_KEY (the private half of --ssh-key)"),
        (None, _) => println!("Without --ssh-key, `lab class` cannot reach the VMs until you add a key to each (ssh-copy-id); provision with --ssh-key to have it there from the start."),
    }
}

fn host(a: HostArgs) -> anyhow::Result<ExitCode> {
    let bin_dir = match a.bin_dir.clone() {
        Some(d) => d,
        None => payload::default_bin_dir()?,
    };
    let binaries = payload::collect(&bin_dir)?;
    let names: Vec<&str> = binaries
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .collect();
    let mut student = None;
    if a.student {
        let pw = password::generate();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "this-machine".into());
        student = Some(Student {
            name: host.clone(),
            host,
            user: STUDENT_USER.into(),
            password_hash: password::hash(&pw)?,
            password: pw,
            instance_id: String::new(),
        });
    }
    let script = templates::render(
        "setup.sh",
        minijinja::context! {
            mode => "host",
            install_dir => INSTALL_DIR,
            payload_url => "",
            source_dir => bin_dir.canonicalize().unwrap_or(bin_dir.clone()).to_string_lossy(),
            binaries => &names,
            packages => PACKAGES,
            student_user => if student.is_some() { STUDENT_USER } else { "" },
            password_hash => student.as_ref().map(|s| s.password_hash.as_str()).unwrap_or(""),
            sshd_config => templates::render("sshd-lab.conf", minijinja::context! {})?,
        },
    )?;
    if a.print {
        // Never print a real hash for a script nobody runs: the password is not shown either.
        print!(
            "{}",
            script.replace(
                student
                    .as_ref()
                    .map(|s| s.password_hash.as_str())
                    .unwrap_or("\u{0}"),
                "<hash>"
            )
        );
        return Ok(ExitCode::SUCCESS);
    }
    crate::privilege::require_root_here()?;
    if let Some(s) = &student {
        // Write the secrets first: a password that was set but not recorded is lost.
        secret::create_dir(&a.out)?;
        roster::write_csv(std::slice::from_ref(s), &a.out.join("roster.csv"))?;
        roster::write_cards(std::slice::from_ref(s), "host", &a.out.join("cards.html"))?;
    }
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .status()
        .context("running the setup script with bash")?;
    if !status.success() {
        anyhow::bail!("setup script failed ({status}); the lines above say which step");
    }
    if let Some(s) = &student {
        println!(
            "Student login: ssh {}@{} with password {}",
            s.user, s.host, s.password
        );
        println!(
            "Saved (0600) in {}/roster.csv and cards.html. First command: {FIRST_COMMAND}",
            a.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check_prefix(p: &str) -> anyhow::Result<()> {
    let ok = !p.is_empty()
        && p.len() <= 40
        && p.starts_with(|c: char| c.is_ascii_lowercase())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(usage(format!("--prefix '{p}': use 1-40 lower-case letters, digits or '-', starting with a letter (it becomes a host name)")))
    }
}

fn check_domain(d: &str) -> anyhow::Result<()> {
    let ok = !d.is_empty()
        && d.split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "--domain '{d}': not a DNS domain (letters, digits, '-' and dots)"
        )))
    }
}

/// Public keys from an authorized_keys-style file: one per non-comment line.
fn read_ssh_keys(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--ssh-key {}", path.display()))?;
    let keys: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    for (i, k) in keys.iter().enumerate() {
        if k.contains("PRIVATE KEY") {
            return Err(usage(format!(
                "--ssh-key {}: that is a private key; pass the .pub file",
                path.display()
            )));
        }
        if !(k.starts_with("ssh-") || k.starts_with("ecdsa-") || k.starts_with("sk-")) {
            return Err(usage(format!(
                "--ssh-key {} line {}: not an SSH public key (expected 'ssh-ed25519 AAAA...')",
                path.display(),
                i + 1
            )));
        }
    }
    if keys.is_empty() {
        return Err(usage(format!(
            "--ssh-key {}: no public key in the file",
            path.display()
        )));
    }
    Ok(keys)
}
