//! Student domains: defined from provision/templates/domain.xml.j2, marked as the class's in
//! their libvirt metadata (class id, class name, student), found again by that mark only.
use anyhow::Context as _;
use serde::Serialize;

use super::virsh::Virsh;

/// The XML namespace of the class mark in `<metadata>`.
pub const NAMESPACE: &str = "urn:lab-workshop:class:1";

/// Everything the domain template needs.
#[derive(Debug, Clone, Serialize)]
pub struct DomainSpec {
    pub name: String,
    pub class_id: String,
    pub class_name: String,
    pub student: String,
    /// `kvm` or `qemu` (TCG).
    pub accel: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub pool: String,
    pub overlay: String,
    pub seed: String,
    pub network: String,
    pub mac: String,
    /// Direct kernel boot (images from provision/vm/build-image.sh): paths on the host.
    pub kernel: Option<String>,
    pub initrd: Option<String>,
}

/// What a domain's mark says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub class_id: String,
    pub student: String,
}

pub fn render(spec: &DomainSpec) -> anyhow::Result<String> {
    crate::provision::templates::render("domain.xml", spec)
}

/// Define the domain, replacing one of the same name that carries the same class mark (a
/// killed `up` may have left it half made); one without that mark is never touched.
pub fn define(v: &Virsh, spec: &DomainSpec) -> anyhow::Result<()> {
    let xml = render(spec)?;
    super::virsh::replacing(|| {
        remove_if_ours(v, &spec.name, &spec.class_id, &spec.student)?;
        v.run_with_file(&["define", "/dev/stdin"], xml.as_bytes())
            .with_context(|| format!("{}: defining domain {}", v.host.uri, spec.name))
    })?;
    Ok(())
}

pub fn start(v: &Virsh, name: &str) -> anyhow::Result<()> {
    v.run(&["start", name])
        .with_context(|| format!("{}: starting {name}", v.host.uri))?;
    Ok(())
}

/// `running`, `shut off`, `paused`, ... or None when no such domain exists.
pub fn state(v: &Virsh, name: &str) -> Option<String> {
    v.run(&["domstate", name])
        .ok()
        .map(|s| s.trim().to_string())
}

/// Every domain name on the host.
pub fn names(v: &Virsh) -> anyhow::Result<Vec<String>> {
    Ok(v.run(&["list", "--all", "--name"])?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// The class mark of domain `name`, None when it has none (not made by `lab class up`).
pub fn mark(v: &Virsh, name: &str) -> Option<Mark> {
    let xml = v.run(&["metadata", name, NAMESPACE]).ok()?;
    Some(Mark {
        class_id: element(&xml, "id")?,
        student: element(&xml, "student")?,
    })
}

/// The text of `<lab:TAG>` (or `<TAG>`: libvirt may print it without the prefix).
fn element(xml: &str, tag: &str) -> Option<String> {
    for open in [format!("<lab:{tag}>"), format!("<{tag}>")] {
        if let Some(start) = xml.find(&open) {
            let rest = &xml[start + open.len()..];
            let end = rest.find("</")?;
            return Some(rest[..end].trim().to_string());
        }
    }
    None
}

/// Remove domain `name` if it exists and carries this mark; Err if it exists without it.
pub fn remove_if_ours(v: &Virsh, name: &str, class_id: &str, student: &str) -> anyhow::Result<()> {
    if state(v, name).is_none() {
        return Ok(());
    }
    let ours = Mark {
        class_id: class_id.to_string(),
        student: student.to_string(),
    };
    anyhow::ensure!(
        mark(v, name).as_ref() == Some(&ours),
        "{}: domain {name} exists and is not this class's: refusing to replace it",
        v.host.uri
    );
    remove(v, name)
}

/// Power off (if running) and remove the definition.
pub fn remove(v: &Virsh, name: &str) -> anyhow::Result<()> {
    if state(v, name).is_some_and(|s| s != "shut off") {
        let _ = v.run(&["destroy", name]);
    }
    v.run(&["undefine", name])
        .with_context(|| format!("{}: undefining {name}", v.host.uri))?;
    Ok(())
}

/// The domain's IPv4 address: from libvirt's DHCP leases on a libvirt-managed network, else
/// from the host's ARP table (a bridged network, where libvirt runs no DHCP).
pub fn address(v: &Virsh, name: &str, leases: bool) -> Option<String> {
    let source = if leases { "lease" } else { "arp" };
    ipv4_in(&v.run(&["domifaddr", name, "--source", source]).ok()?)
}

/// The first "ipv4 A.B.C.D/NN" of `virsh domifaddr`'s table.
fn ipv4_in(table: &str) -> Option<String> {
    table.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let i = f.iter().position(|w| *w == "ipv4")?;
        Some(f.get(i + 1)?.split('/').next()?.to_string())
    })
}

/// A stable MAC for a class's student (QEMU's 52:54:00 prefix).
pub fn mac_for(class_id: &str, student: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("{class_id}/{student}").as_bytes());
    format!("52:54:00:{:02x}:{:02x}:{:02x}", h[0], h[1], h[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_addresses_from_virsh_output() {
        let xml = "<lab:class xmlns:lab=\"urn:lab-workshop:class:1\">\n  <lab:id>c0ffee</lab:id>\n  <lab:student>lab-01</lab:student>\n</lab:class>";
        assert_eq!(element(xml, "id").as_deref(), Some("c0ffee"));
        assert_eq!(element(xml, "student").as_deref(), Some("lab-01"));
        let t = " vnet0      52:54:00:aa:bb:cc    ipv4         192.168.122.23/24\n";
        assert_eq!(ipv4_in(t).as_deref(), Some("192.168.122.23"));
        assert_eq!(ipv4_in(""), None);
        assert_eq!(mac_for("a", "lab-01"), mac_for("a", "lab-01"));
        assert_ne!(mac_for("a", "lab-01"), mac_for("a", "lab-02"));
    }

    #[test]
    fn domain_xml_is_escaped_and_marked() {
        let spec = DomainSpec {
            name: "c-lab-01".into(),
            class_id: "c0ffee".into(),
            class_name: "c<&>".into(),
            student: "lab-01".into(),
            accel: "qemu".into(),
            vcpus: 2,
            memory_mib: 2048,
            pool: "lab-c".into(),
            overlay: "c-lab-01.qcow2".into(),
            seed: "c-lab-01-seed.img".into(),
            network: "default".into(),
            mac: "52:54:00:00:00:01".into(),
            kernel: Some("/k".into()),
            initrd: Some("/i".into()),
        };
        let xml = render(&spec).unwrap();
        assert!(xml.contains("<lab:id>c0ffee</lab:id>"), "{xml}");
        assert!(
            xml.contains("c&lt;&amp;&gt;") && !xml.contains("c<&>"),
            "{xml}"
        );
        assert!(xml.contains("<kernel>/k</kernel>") && xml.contains("<domain type='qemu'>"));
    }
}
