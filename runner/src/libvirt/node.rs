//! What a libvirt host offers a class: CPUs, memory free for new VMs, whether it has KVM, and
//! the free space under its image directory.
use anyhow::Context as _;

use super::virsh::Virsh;

/// Where a class's storage pool lives on every host (the libvirt default image directory).
pub const IMAGES_DIR: &str = "/var/lib/libvirt/images";

#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub cpus: u32,
    /// Memory new VMs can take: free + buffers + page cache, KiB.
    pub free_kib: u64,
    pub total_kib: u64,
    /// The capabilities offer `<domain type='kvm'>` for x86_64 guests.
    pub kvm: bool,
}

impl NodeInfo {
    /// `ask_kvm`: read the capabilities too (seconds on some hosts: only when KVM matters).
    pub fn read(v: &Virsh, ask_kvm: bool) -> anyhow::Result<NodeInfo> {
        let info = v.run(&["nodeinfo"])?;
        let mem = v.run(&["nodememstats"])?;
        let caps = if ask_kvm {
            v.run(&["capabilities"])?
        } else {
            String::new()
        };
        parse(&info, &mem, &caps).with_context(|| format!("{}: virsh nodeinfo", v.host.uri))
    }
}

fn parse(nodeinfo: &str, memstats: &str, caps: &str) -> anyhow::Result<NodeInfo> {
    let field = |text: &str, key: &str| -> Option<u64> {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.split_whitespace().next()?.parse().ok())?
        })
    };
    let cpus = field(nodeinfo, "CPU(s)").context("no CPU(s) line")? as u32;
    let total_kib = field(nodeinfo, "Memory size").context("no Memory size line")?;
    let free_kib = ["free", "buffers", "cached"]
        .iter()
        .map(|k| field(memstats, k).unwrap_or(0))
        .sum();
    Ok(NodeInfo {
        cpus,
        free_kib,
        total_kib,
        kvm: caps.contains("<domain type='kvm'"),
    })
}

/// Bytes free in the host's image directory, read through a transient pool (defined for the
/// question and gone after it) when the class's own pool does not exist yet.
pub fn images_free_bytes(v: &Virsh, class_pool: &str) -> anyhow::Result<u64> {
    if v.ok(&["pool-info", class_pool]) {
        return pool_available(v, class_pool);
    }
    let probe = format!("lab-probe-{}", std::process::id());
    v.run(&["pool-create-as", &probe, "dir", "--target", IMAGES_DIR])
        .with_context(|| format!("{}: reading free space in {IMAGES_DIR}", v.host.uri))?;
    let free = pool_available(v, &probe);
    let _ = v.run(&["pool-destroy", &probe]);
    free
}

pub fn pool_available(v: &Virsh, pool: &str) -> anyhow::Result<u64> {
    let out = v.run(&["pool-info", "--bytes", pool])?;
    out.lines()
        .find_map(|l| {
            let (k, val) = l.split_once(':')?;
            (k.trim() == "Available").then(|| val.split_whitespace().next()?.parse().ok())?
        })
        .with_context(|| format!("{}: pool-info {pool} has no Available line", v.host.uri))
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_figures_from_virsh() {
        let info = "CPU model:           x86_64\nCPU(s):              2\nMemory size:         24683784 KiB\n";
        let mem = "total  :             24683784 KiB\nfree   :             15055580 KiB\nbuffers:                70100 KiB\ncached :              9013384 KiB\n";
        let n = super::parse(info, mem, "<domain type='qemu'/>").unwrap();
        assert_eq!((n.cpus, n.total_kib, n.kvm), (2, 24683784, false));
        assert_eq!(n.free_kib, 15055580 + 70100 + 9013384);
    }
}
