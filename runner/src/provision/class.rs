//! A class on disk: per-student cloud-init (user-data, meta-data), the roster, login cards, the
//! payload tarball and class.json, as `lab provision cloud-init` and `lab class up` write them.
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{
    password, payload,
    roster::{self, Student},
    secret, templates, INSTALL_DIR, PACKAGES, STUDENT_USER,
};
use crate::{class::ClassInfo, privilege::usage};

/// Where the VMs get the payload from.
#[derive(Debug, Clone)]
pub enum PayloadSource {
    /// Downloaded from a URL the instructor serves (clouds).
    Url(String),
    /// Copied off the NoCloud seed disk (`lab class up` on libvirt).
    Seed,
}

/// The instructor's SSH key for `lab class`.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A public key file (its private half beside it, if there).
    File(PathBuf),
    /// A key pair made for the class in DIR (`lab class up` without --ssh-key).
    Generate,
    None,
}

#[derive(Debug, Clone)]
pub struct ClassSpec {
    pub students: u16,
    pub out: PathBuf,
    pub payload: PayloadSource,
    pub key: KeySource,
    pub prefix: String,
    pub domain: Option<String>,
    pub bin_dir: PathBuf,
    pub force: bool,
}

pub struct Written {
    pub students: Vec<Student>,
    pub payload_sha256: String,
    pub binaries: Vec<PathBuf>,
    pub info: ClassInfo,
}

/// The key pair `KeySource::Generate` makes.
pub const CLASS_KEY: &str = "class-key";

pub fn write(spec: &ClassSpec) -> anyhow::Result<Written> {
    let binaries = payload::collect(&spec.bin_dir)?;
    let roster_path = spec.out.join(crate::class::roster::ROSTER_FILE);
    if roster_path.exists() && !spec.force {
        return Err(usage(format!(
            "--out {}: a roster from an earlier run is there; new passwords would not match the cards already printed; choose another --out or pass --force",
            spec.out.display()
        )));
    }
    secret::create_dir(&spec.out)?;
    let key_file = match &spec.key {
        KeySource::File(f) => Some(f.clone()),
        KeySource::Generate => Some(generate_key(&spec.out)?),
        KeySource::None => None,
    };
    let ssh_keys = match &key_file {
        Some(f) => read_ssh_keys(f)?,
        None => Vec::new(),
    };
    let payload_sha256 = payload::write(&binaries, &spec.out.join(payload::FILE_NAME))?;
    let script = provision_script(spec, &binaries, &payload_sha256)?;
    let mut students = Vec::new();
    for i in 1..=spec.students {
        let s = new_student(spec, &student_name(&spec.prefix, i, spec.students))?;
        write_cloud_init(spec, &s, &ssh_keys, &script)?;
        students.push(s);
    }
    roster::write_csv(&students, &roster_path)?;
    // What `lab class` needs to reach the VMs: the instructor key (no secret in it).
    let info = ClassInfo::for_key(key_file.as_deref());
    secret::write(
        &spec.out.join(crate::class::roster::CLASS_FILE),
        serde_json::to_string_pretty(&info)?.as_bytes(),
    )?;
    roster::write_cards(&students, &spec.prefix, &spec.out.join("cards.html"))?;
    Ok(Written {
        students,
        payload_sha256,
        binaries,
        info,
    })
}

/// Student `i` of `count`: PREFIX-01 ... (as many digits as the count needs, at least two).
pub fn student_name(prefix: &str, i: u16, count: u16) -> String {
    let width = count.to_string().len().max(2);
    format!("{prefix}-{i:0width$}")
}

fn new_student(spec: &ClassSpec, name: &str) -> anyhow::Result<Student> {
    let pw = password::generate();
    Ok(Student {
        host: spec
            .domain
            .as_ref()
            .map_or_else(|| name.to_string(), |d| format!("{name}.{d}")),
        user: STUDENT_USER.into(),
        password_hash: password::hash(&pw)?,
        password: pw,
        instance_id: format!("iid-{name}-{}", random_hex(4)),
        name: name.to_string(),
        ..Student::default()
    })
}

fn provision_script(spec: &ClassSpec, binaries: &[PathBuf], sha: &str) -> anyhow::Result<String> {
    let names: Vec<&str> = binaries
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .collect();
    let (url, seed) = match &spec.payload {
        PayloadSource::Url(u) => (u.as_str(), false),
        PayloadSource::Seed => ("", true),
    };
    templates::render(
        "setup.sh",
        minijinja::context! {
            mode => "cloud-init",
            install_dir => INSTALL_DIR,
            payload_url => url,
            payload_on_seed => seed,
            payload_name => payload::FILE_NAME,
            payload_sha256 => sha,
            binaries => &names,
            packages => PACKAGES,
            student_user => "",
        },
    )
}

fn write_cloud_init(
    spec: &ClassSpec,
    s: &Student,
    ssh_keys: &[String],
    script: &str,
) -> anyhow::Result<()> {
    let dir = spec.out.join(&s.name);
    secret::create_dir(&dir)?;
    let user_data = templates::render(
        "user-data.yaml",
        minijinja::context! {
            name => &s.name,
            user => STUDENT_USER,
            password_hash => &s.password_hash,
            ssh_keys => ssh_keys,
            sshd_config => templates::render("sshd-lab.conf", minijinja::context! {})?,
            provision_script => script,
        },
    )?;
    secret::write(&dir.join("user-data"), user_data.as_bytes())?;
    let meta = templates::render(
        "meta-data.yaml",
        minijinja::context! { name => &s.name, instance_id => &s.instance_id },
    )?;
    secret::write(&dir.join("meta-data"), meta.as_bytes())
}

/// An ed25519 pair in DIR for `lab class` (ssh-keygen; no passphrase: it opens only the VMs).
fn generate_key(dir: &Path) -> anyhow::Result<PathBuf> {
    let key = dir.join(CLASS_KEY);
    if !key.exists() {
        let comment = format!("lab-class@{}", dir.display());
        duct::cmd!(
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            comment,
            "-f",
            &key
        )
        .stdout_null()
        .run()
        .context("making the class key with ssh-keygen (install openssh-client)")?;
    }
    Ok(key.with_extension("pub"))
}

/// Public keys from an authorized_keys-style file: one per non-comment line.
pub fn read_ssh_keys(path: &Path) -> anyhow::Result<Vec<String>> {
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

pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn check_prefix(p: &str) -> anyhow::Result<()> {
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

pub fn check_domain(d: &str) -> anyhow::Result<()> {
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
