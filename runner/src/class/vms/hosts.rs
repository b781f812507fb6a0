//! The libvirt hosts of a class: connected and checked before anything is created (reachable,
//! the network there and active, KVM or TCG), with what each still has room for.
use std::time::Duration;

use super::plan::{HostRoom, VmCost};
use crate::{
    libvirt::{node, node::NodeInfo, pool, HostUri, Virsh},
    privilege::usage,
};

/// `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccelChoice {
    /// KVM where the host offers a usable one, else TCG (and say so)
    Auto,
    Kvm,
    Tcg,
}

pub struct Host {
    pub virsh: Virsh,
    pub node: NodeInfo,
    /// libvirt domain type: "kvm" or "qemu" (TCG).
    pub accel: &'static str,
    /// Said once: TCG chosen for want of KVM, or a host setting that slows libvirt down.
    pub accel_note: Option<String>,
    /// The VMs sit on a private (NAT/isolated) network of a remote host: reach them through it.
    pub via: Option<String>,
    /// libvirt runs the network's DHCP (NAT, routed, isolated): addresses come from its leases.
    pub leases: bool,
}

impl Host {
    pub fn label(&self) -> String {
        self.virsh.host.label()
    }
    pub fn uri(&self) -> &str {
        &self.virsh.host.uri
    }
}

/// Connect to `uri` (one line naming it when that fails).
pub fn connect(uri: &HostUri) -> anyhow::Result<Virsh> {
    let v = Virsh::new(uri.clone());
    v.run_within(&["uri"], Duration::from_secs(45))
        .map_err(|e| usage(format!("--hosts {}: cannot connect: {e:#}", uri.uri)))?;
    Ok(v)
}

/// Check a host for placing VMs on `network` and decide how they run there.
pub fn open(v: Virsh, network: &str, accel: AccelChoice) -> anyhow::Result<Host> {
    let node = NodeInfo::read(&v, accel != AccelChoice::Tcg)?;
    let net = v.run(&["net-info", network]).map_err(|e| {
        usage(format!(
            "--hosts {}: no libvirt network '{network}' there ({e:#}); pick one of `virsh -c {} net-list --all` with --network",
            v.host.uri, v.host.uri
        ))
    })?;
    if !net
        .lines()
        .any(|l| l.starts_with("Active:") && l.contains("yes"))
    {
        return Err(usage(format!(
            "--hosts {}: network '{network}' is not active: start it with `virsh -c {} net-start {network}`",
            v.host.uri, v.host.uri
        )));
    }
    let mode = forward_mode(&v, network)?;
    let private = mode.as_deref().is_none_or(|m| m == "nat" || m == "route");
    let leases = mode
        .as_deref()
        .is_none_or(|m| matches!(m, "nat" | "route" | "open"));
    let via = if private && !v.host.is_local() {
        if let Some(t) = &v.host.remote_other {
            return Err(usage(format!(
                "--hosts {}: VMs on its network '{network}' (NAT) cannot be reached from here over {t}: use a qemu+ssh:// URI (lab reaches them through that login) or a bridged --network",
                v.host.uri
            )));
        }
        Some(v.host.uri.clone())
    } else {
        None
    };
    let (accel, mut accel_note) = pick_accel(&v, &node, accel)?;
    if let Some(w) = v.host.is_local().then(kvm_permission_warning).flatten() {
        accel_note = Some(accel_note.map_or(w.clone(), |n| format!("{n}\n{w}")));
    }
    Ok(Host {
        virsh: v,
        node,
        accel,
        accel_note,
        via,
        leases,
    })
}

/// The `<forward mode=...>` of a libvirt network (None: isolated).
fn forward_mode(v: &Virsh, network: &str) -> anyhow::Result<Option<String>> {
    let xml = v.run(&["net-dumpxml", network])?;
    Ok(xml.find("<forward").map(|i| {
        let tag = &xml[i..xml[i..].find('>').map_or(xml.len(), |e| i + e)];
        tag.split("mode='")
            .nth(1)
            .or_else(|| tag.split("mode=\"").nth(1))
            .and_then(|r| r.split(['\'', '"']).next())
            .unwrap_or("nat")
            .to_string()
    }))
}

fn pick_accel(
    v: &Virsh,
    node: &NodeInfo,
    choice: AccelChoice,
) -> anyhow::Result<(&'static str, Option<String>)> {
    let host = v.host.label();
    match choice {
        AccelChoice::Tcg => Ok(("qemu", None)),
        AccelChoice::Kvm if node.kvm => Ok(("kvm", None)),
        AccelChoice::Kvm => Err(usage(format!(
            "--accel kvm: {} offers no KVM (no /dev/kvm there, or no permission): use --accel auto",
            v.host.uri
        ))),
        AccelChoice::Auto if !node.kvm => Ok((
            "qemu",
            Some(format!("{host}: no KVM: the VMs run under TCG emulation (several times slower; fine for trying a class, slow for teaching one)")),
        )),
        // kvm-pvm (nested KVM of some cloud sandboxes) cannot boot stock distro kernels.
        AccelChoice::Auto if v.host.is_local() && std::path::Path::new("/sys/module/kvm_pvm").exists() => Ok((
            "qemu",
            Some(format!("{host}: KVM here is kvm-pvm, which cannot boot stock distro kernels: the VMs run under TCG emulation (several times slower)")),
        )),
        AccelChoice::Auto => Ok(("kvm", None)),
    }
}

/// /dev/kvm that only root may open (no udev to give it to group kvm): libvirt's QEMU user cannot
/// use it, and libvirtd then probes QEMU anew on every call ("KVM was enabled when probing, but
/// it is not available now"): seconds each, and parallel defines can stall for minutes.
fn kvm_permission_warning() -> Option<String> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let m = std::fs::metadata("/dev/kvm").ok()?;
    (m.permissions().mode() & 0o060 == 0 && m.uid() == 0).then(|| {
        "local: /dev/kvm is root's alone (no udev here?): libvirtd re-probes QEMU on every call and can stall; give it to group kvm as udev does: chgrp kvm /dev/kvm && chmod 0660 /dev/kvm".to_string()
    })
}

/// What one VM costs a host with this accelerator.
pub fn cost(accel: &str, memory_mib: u64, vcpus: u32, seed_bytes: u64) -> VmCost {
    // The emulator's own memory: ~128 MiB for KVM; TCG adds its 512 MiB translation cache.
    let overhead_mib = if accel == "kvm" { 128 } else { 768 };
    VmCost {
        memory_kib: (memory_mib + overhead_mib) * 1024,
        vcpus,
        // What the labs write inside a VM: packages, payload, lab 1's files (it wants 2 GiB).
        disk_bytes: seed_bytes + (3 << 30),
    }
}

/// The room left on `h` for the class `pool`, whose base image takes `base_bytes` unless stored.
pub fn room(
    h: &Host,
    pool_name: &str,
    base_name: &str,
    base_bytes: u64,
    vcpus_used: u32,
) -> anyhow::Result<HostRoom> {
    let disk_free = node::images_free_bytes(&h.virsh, pool_name)?;
    let stored = pool::volumes(&h.virsh, pool_name)?
        .iter()
        .any(|v| v == base_name);
    Ok(HostRoom {
        label: h.label(),
        free_kib: h.node.free_kib,
        cpus: h.node.cpus,
        disk_free,
        base_bytes: if stored { 0 } else { base_bytes },
        vcpus_used,
    })
}

/// Two URIs that reach one libvirtd (a host under two names) would count its room twice and
/// share one class pool: the same network UUID on both gives them away.
pub fn refuse_duplicates(hosts: &[Host], network: &str) -> anyhow::Result<()> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    for h in hosts {
        let uuid = h.virsh.run(&["net-uuid", network])?.trim().to_string();
        if let Some((_, first)) = seen.iter().find(|(u, _)| *u == uuid) {
            return Err(usage(format!(
                "--hosts: {first} and {} are the same libvirt host (network '{network}' has one UUID, {uuid}): give each host once",
                h.uri()
            )));
        }
        seen.push((uuid, h.uri()));
    }
    Ok(())
}

/// `--hosts` split and parsed.
pub fn parse_hosts(list: &str) -> anyhow::Result<Vec<HostUri>> {
    let uris: Vec<HostUri> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(HostUri::parse)
        .collect::<anyhow::Result<_>>()?;
    if uris.is_empty() {
        return Err(usage(
            "--hosts: give at least one libvirt URI, e.g. qemu:///system",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for u in &uris {
        if !seen.insert(u.uri.clone()) {
            return Err(usage(format!("--hosts: {} is given twice", u.uri)));
        }
    }
    Ok(uris)
}
