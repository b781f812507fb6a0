//! One cloud-init user-data/meta-data pair per student VM, each with a fresh password.
use std::path::Path;

use super::{password, roster::Student, secret, templates, PACKAGES, STUDENT_USER};

/// What every VM's user-data shares.
pub struct Common<'a> {
    /// VM name prefix: PREFIX-01, PREFIX-02, ...
    pub prefix: &'a str,
    /// Domain for the cards' host names (NAME.DOMAIN).
    pub domain: Option<&'a str>,
    /// Public keys authorized for the student account.
    pub ssh_keys: &'a [String],
    /// The setup script each VM runs once (downloads and checks the payload).
    pub provision_script: &'a str,
    pub sshd_config: &'a str,
}

/// Writes OUT/NAME/{user-data,meta-data} (0600: they hold password hashes) for `count`
/// students and returns them, plain passwords included, for the roster and the cards.
pub fn write_vms(out: &Path, count: u16, common: &Common) -> anyhow::Result<Vec<Student>> {
    let width = count.to_string().len().max(2);
    let mut students = Vec::new();
    for i in 1..=count {
        let name = format!("{}-{:0width$}", common.prefix, i);
        let pw = password::generate();
        let student = Student {
            host: common
                .domain
                .map_or_else(|| name.clone(), |d| format!("{name}.{d}")),
            user: STUDENT_USER.into(),
            password_hash: password::hash(&pw)?,
            password: pw,
            instance_id: format!("iid-{name}-{}", random_hex(4)),
            name,
        };
        write_vm(&out.join(&student.name), &student, common)?;
        students.push(student);
    }
    Ok(students)
}

fn write_vm(dir: &Path, student: &Student, common: &Common) -> anyhow::Result<()> {
    secret::create_dir(dir)?;
    let user_data = templates::render(
        "user-data.yaml",
        minijinja::context! {
            name => &student.name,
            user => STUDENT_USER,
            password_hash => &student.password_hash,
            ssh_keys => common.ssh_keys,
            packages => PACKAGES,
            sshd_config => common.sshd_config,
            provision_script => common.provision_script,
        },
    )?;
    secret::write(&dir.join("user-data"), user_data.as_bytes())?;
    let meta = templates::render(
        "meta-data.yaml",
        minijinja::context! { name => &student.name, instance_id => &student.instance_id },
    )?;
    secret::write(&dir.join("meta-data"), meta.as_bytes())
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
