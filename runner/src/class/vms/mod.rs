//! A class's VMs on libvirt: `lab class up` (create, boot, check until ready), `down` (remove
//! exactly what up made) and `ls`. The class directory is the one `lab provision` writes; up
//! adds vms.json (its journal), the class key when it made one, and the VMs' addresses in the
//! roster and on the cards.
pub mod create;
pub mod decide;
pub mod down;
pub mod hosts;
pub mod image;
pub mod journal;
pub mod list;
pub mod plan;
pub mod progress;
pub mod ready;
pub mod scan;
pub mod seed;
pub mod up;
pub mod vm;

use std::{
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;

use crate::{
    class::{roster::ROSTER_FILE, ClassInfo, Options},
    privilege::usage,
    provision::{
        class::{self as provision_class, ClassSpec, KeySource, PayloadSource},
        payload,
        roster::{self, Student},
        STUDENT_USER,
    },
};
use journal::{Journal, VmState};

/// What DIR holds (nothing is created by reading it).
#[derive(Debug, Clone)]
pub struct ClassDir {
    pub dir: PathBuf,
    pub roster: Option<Vec<Student>>,
    pub info: Option<ClassInfo>,
    pub journal: Option<Journal>,
}

impl ClassDir {
    pub fn open(dir: &Path) -> anyhow::Result<ClassDir> {
        if dir.exists() && !dir.is_dir() {
            return Err(usage(format!("--class {}: not a directory", dir.display())));
        }
        let roster_path = dir.join(ROSTER_FILE);
        let roster = match roster_path.is_file() {
            true => Some(roster::read_csv(&roster_path)?),
            false => None,
        };
        Ok(ClassDir {
            dir: dir.to_path_buf(),
            roster,
            info: ClassInfo::load(dir)?,
            journal: Journal::load(dir)?,
        })
    }

    /// The students: the roster's, or `--students N` for a class still to be provisioned.
    pub fn student_names(
        &self,
        students: Option<u16>,
        prefix: &str,
    ) -> anyhow::Result<Vec<String>> {
        match (&self.roster, students) {
            (Some(r), Some(n)) if r.len() != usize::from(n) => Err(usage(format!(
                "--students {n}: {} holds a class of {} (its roster.csv); leave --students out, or use another --class DIR",
                self.dir.display(),
                r.len()
            ))),
            (Some(r), _) => Ok(r.iter().map(|s| s.name.clone()).collect()),
            (None, Some(n)) => {
                provision_class::check_prefix(prefix)?;
                Ok((1..=n).map(|i| provision_class::student_name(prefix, i, n)).collect())
            }
            (None, None) => Err(usage(format!(
                "--class {}: no class there yet; give --students N to provision one",
                self.dir.display()
            ))),
        }
    }

    /// Provision DIR (payload on the seed; a class key unless --ssh-key) when it holds no class.
    pub fn provision_if_new(&self, opts: &up::UpOptions) -> anyhow::Result<ClassDir> {
        if self.roster.is_some() {
            return Ok(self.clone());
        }
        let spec = ClassSpec {
            students: opts.students.expect("checked by student_names"),
            out: self.dir.clone(),
            payload: PayloadSource::Seed,
            key: opts
                .ssh_key
                .clone()
                .map_or(KeySource::Generate, KeySource::File),
            prefix: opts.prefix.clone(),
            domain: None,
            bin_dir: match &opts.bin_dir {
                Some(d) => d.clone(),
                None => payload::default_bin_dir()?,
            },
            force: false,
        };
        provision_class::write(&spec)?;
        ClassDir::open(&self.dir)
    }

    /// One `up`/`down` per class at a time (held until dropped).
    pub fn lock(&self) -> anyhow::Result<std::fs::File> {
        let path = self.dir.join(".lock");
        let f =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(usage(format!(
                "another `lab class up` or `down` is working on {}: wait for it to finish",
                self.dir.display()
            )));
        }
        Ok(f)
    }

    /// How `up` reaches the VMs: the class key, DIR/known_hosts.
    pub fn ssh_options(&self) -> anyhow::Result<Options> {
        let identity = self.info.as_ref().and_then(|i| i.identity.clone());
        if identity.is_none() {
            return Err(usage(format!(
                "{}: no instructor key recorded (class.json): provision with --ssh-key, or let `lab class up` provision a new class directory",
                self.dir.display()
            )));
        }
        Ok(Options {
            identity,
            known_hosts: self.dir.join("known_hosts"),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            concurrency: 1,
            lab_command: "lab".into(),
            kex: crate::class::ssh::kex_preference(),
        })
    }

    pub fn user_of(&self, student: &str) -> String {
        self.roster
            .iter()
            .flatten()
            .find(|s| s.name == student)
            .map_or_else(|| STUDENT_USER.to_string(), |s| s.user.clone())
    }

    /// The roster's hosts are the VMs' addresses; a card of a VM not ready says so.
    pub fn rewrite_roster_and_cards(&self) -> anyhow::Result<()> {
        let (Some(roster), Some(j)) = (self.roster.clone(), Journal::load(&self.dir)?) else {
            return Ok(());
        };
        let students: Vec<Student> = roster
            .into_iter()
            .map(|mut s| {
                if let Some(r) = j.vms.get(&s.name) {
                    if let Some(ip) = &r.address {
                        s.host = ip.clone();
                    }
                    s.via = r.via.clone().unwrap_or_default();
                    s.not_ready = match r.state {
                        VmState::Ready => String::new(),
                        _ => r.reason.clone().unwrap_or_else(|| "not checked yet".into()),
                    };
                }
                s
            })
            .collect();
        roster::write_csv(&students, &self.dir.join(ROSTER_FILE))?;
        let prefix = students
            .first()
            .and_then(|s| s.name.rsplit_once('-'))
            .map_or("lab", |(p, _)| p)
            .to_string();
        roster::write_cards(&students, &prefix, &self.dir.join("cards.html"))
    }
}

#[cfg(test)]
mod tests {
    use super::{
        journal::{Journal, Settings, VmRecord, VmState},
        ClassDir,
    };
    use crate::provision::roster::{self, Student};

    #[test]
    fn roster_gets_the_addresses_and_cards_mark_what_is_not_ready() {
        let dir = std::env::temp_dir().join(format!("lab-vms-cards-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let students: Vec<Student> = ["lab-01", "lab-02"]
            .iter()
            .map(|n| Student {
                name: n.to_string(),
                host: n.to_string(),
                user: "student".into(),
                password: format!("pw-{n}"),
                ..Student::default()
            })
            .collect();
        roster::write_csv(&students, &dir.join("roster.csv")).unwrap();
        let mut j = Journal::new("c", Settings::for_tests("/i"));
        for (n, state, ip, reason) in [
            ("lab-01", VmState::Ready, Some("192.168.122.7"), None),
            (
                "lab-02",
                VmState::Failed,
                None,
                Some("cloud-init: status error: lab-provision: payload checksum mismatch"),
            ),
        ] {
            j.vms.insert(
                n.into(),
                VmRecord {
                    host: "qemu+ssh://root@h/system".into(),
                    domain: j.domain_name(n),
                    accel: "kvm".into(),
                    state,
                    address: ip.map(String::from),
                    via: Some("qemu+ssh://root@h/system".into()),
                    reason: reason.map(String::from),
                    ready_at: None,
                    timings: Default::default(),
                },
            );
        }
        j.save(&dir).unwrap();
        ClassDir::open(&dir)
            .unwrap()
            .rewrite_roster_and_cards()
            .unwrap();
        let csv = std::fs::read_to_string(dir.join("roster.csv")).unwrap();
        assert!(
            csv.contains("lab-01,192.168.122.7,student,pw-lab-01,,qemu+ssh://root@h/system"),
            "{csv}"
        );
        assert!(csv.contains("lab-02,lab-02,student,pw-lab-02,"), "{csv}");
        let cards = std::fs::read_to_string(dir.join("cards.html")).unwrap();
        let card = |n: &str| {
            cards
                .split("<div class=\"card")
                .find(|c| c.contains(&format!("lab: {n}<")))
                .unwrap()
                .to_string()
        };
        assert!(
            card("lab-01").contains("ssh student@192.168.122.7")
                && !card("lab-01").contains("NOT READY")
        );
        assert!(
            card("lab-02").contains("NOT READY, do not hand out: cloud-init: status error"),
            "{}",
            card("lab-02")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
