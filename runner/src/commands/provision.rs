//! `lab provision`: lab machines for a class. `cloud-init` writes one user-data/meta-data pair
//! per student (plus roster, login cards and the binaries' payload); `host` applies the same
//! setup to this machine.
use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;

use crate::{
    privilege::usage,
    provision::{
        class::{self, ClassSpec, KeySource, PayloadSource},
        password, payload,
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
    class::check_prefix(&a.prefix)?;
    if let Some(d) = &a.domain {
        class::check_domain(d)?;
    }
    if !(a.payload_url.starts_with("http://") || a.payload_url.starts_with("https://"))
        || a.payload_url.contains(char::is_whitespace)
    {
        return Err(usage(format!(
            "--payload-url '{}': need an http:// or https:// URL the VMs can reach",
            a.payload_url
        )));
    }
    if let Some(f) = &a.ssh_key {
        class::read_ssh_keys(f)?;
    }
    let spec = ClassSpec {
        students: a.students,
        out: a.out.clone(),
        payload: PayloadSource::Url(a.payload_url.clone()),
        key: a.ssh_key.clone().map_or(KeySource::None, KeySource::File),
        prefix: a.prefix.clone(),
        domain: a.domain.clone(),
        bin_dir: match a.bin_dir.clone() {
            Some(d) => d,
            None => payload::default_bin_dir()?,
        },
        force: a.force,
    };
    let written = class::write(&spec)?;
    let (students, info, payload_sha256) =
        (&written.students, &written.info, &written.payload_sha256);
    let names: Vec<&str> = written
        .binaries
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .collect();

    let out = a.out.display();
    println!("Wrote {} lab VM configurations to {out}:", students.len());
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
    let dynamic = payload::dynamic(&written.binaries);
    if !dynamic.is_empty() {
        eprintln!(
            "lab: warning: dynamically linked payload binaries ({}); the VMs need the same libc. Prefer the static build: cargo build --release --target x86_64-unknown-linux-musl --bins",
            dynamic.iter().filter_map(|p| p.file_name()?.to_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
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
            ..Student::default()
        });
    }
    let script = templates::render(
        "setup.sh",
        minijinja::context! {
            mode => "host",
            install_dir => INSTALL_DIR,
            payload_url => "",
            payload_on_seed => false,
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
