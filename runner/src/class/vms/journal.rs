//! DIR/vms.json: what `lab class up` made for the class and where, written before each object
//! is created and after each state change, so a killed `up` is resumed (never a second domain
//! for a student: each student stays on the host first chosen for it) and `down` knows what to
//! remove even where a domain never got defined.
use std::{collections::BTreeMap, path::Path};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::provision::secret;

pub const FILE: &str = "vms.json";
const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Journal {
    pub schema: u32,
    /// Random, made at the first `up`: the mark on every domain of the class.
    pub class_id: String,
    /// The domain-name prefix: domains are CLASS-STUDENT, the pool lab-CLASS.
    pub class_name: String,
    pub settings: Settings,
    /// Every host the class has used (URIs as given).
    pub hosts: Vec<String>,
    pub vms: BTreeMap<String, VmRecord>,
}

/// How the class's VMs are made (fixed at the first `up`; `down` to change them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_bytes: u64,
    pub network: String,
    /// The base image as given, and how it boots.
    pub image: String,
    pub direct_kernel_boot: bool,
}

#[cfg(test)]
impl Settings {
    /// The defaults of `lab class up` for `image` (unit tests).
    pub fn for_tests(image: &str) -> Settings {
        Settings {
            vcpus: 2,
            memory_mib: 2048,
            disk_bytes: 10 << 30,
            network: "default".into(),
            image: image.into(),
            direct_kernel_boot: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VmRecord {
    pub host: String,
    pub domain: String,
    /// "kvm" or "qemu" (TCG).
    pub accel: String,
    pub state: VmState,
    #[serde(default)]
    pub address: Option<String>,
    /// The libvirt host URI the address is reached through (a remote host's private network).
    #[serde(default)]
    pub via: Option<String>,
    /// Why it is not ready (the last `up`'s verdict).
    #[serde(default)]
    pub reason: Option<String>,
    /// When it first proved ready (Unix seconds): from then on `up` never recreates it.
    #[serde(default)]
    pub ready_at: Option<u64>,
    /// Seconds each stage of the last `up` took (queued, creating, booting, ssh, cloud-init, doctor).
    #[serde(default)]
    pub timings: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VmState {
    /// Objects being made (a killed `up` leaves this: the next one makes them again).
    Creating,
    /// Defined and started, not yet proven ready.
    Booting,
    Ready,
    Failed,
}

impl Journal {
    pub fn new(class_name: &str, settings: Settings) -> Journal {
        Journal {
            schema: SCHEMA,
            class_id: random_id(),
            class_name: class_name.to_string(),
            settings,
            hosts: Vec::new(),
            vms: BTreeMap::new(),
        }
    }

    pub fn load(dir: &Path) -> anyhow::Result<Option<Journal>> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let j: Journal = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged (restore it, or remove the class's VMs with virsh)",
                path.display()
            )
        })?;
        anyhow::ensure!(
            j.schema <= SCHEMA,
            "{} was written by a newer lab (schema {}): update lab",
            path.display(),
            j.schema
        );
        Ok(Some(j))
    }

    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        secret::write_atomic(&dir.join(FILE), text.as_bytes())
    }

    pub fn domain_name(&self, student: &str) -> String {
        format!("{}-{student}", self.class_name)
    }
}

fn random_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The class name from its directory: lower-case letters, digits and '-', as domains want.
pub fn class_name_from(dir: &Path) -> String {
    let base = std::path::absolute(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_lowercase()))
        .unwrap_or_default();
    let mut name: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name.trim_matches('-').chars().take(32).collect();
    if name.is_empty() {
        "class".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_domain_safe() {
        assert_eq!(
            class_name_from(Path::new("/tmp/Workshop Dec 2026/")),
            "workshop-dec-2026"
        );
        assert_eq!(class_name_from(Path::new("/")), "class");
    }

    #[test]
    fn journal_round_trips_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lab-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut j = Journal::new("c", Settings::for_tests("/i.qcow2"));
        j.vms.insert(
            "lab-01".into(),
            VmRecord {
                host: "qemu:///system".into(),
                domain: j.domain_name("lab-01"),
                accel: "qemu".into(),
                state: VmState::Booting,
                address: None,
                via: None,
                reason: None,
                ready_at: None,
                timings: Default::default(),
            },
        );
        j.save(&dir).unwrap();
        assert_eq!(Journal::load(&dir).unwrap().unwrap(), j);
        let mode = std::fs::metadata(dir.join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
