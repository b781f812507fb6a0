//! Placement: which host each new student VM goes to. Students are spread over the hosts by
//! what each can still take (its free memory, CPUs and image-directory space), and a class that
//! does not fit is refused before anything is created, saying by how much.

/// What one VM costs a host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VmCost {
    /// Guest memory plus the emulator's own (TCG's translation cache is 512 MiB), KiB.
    pub memory_kib: u64,
    pub vcpus: u32,
    /// Seed plus what the labs write into the overlay, bytes.
    pub disk_bytes: u64,
}

/// What a host has left.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRoom {
    pub label: String,
    pub free_kib: u64,
    pub cpus: u32,
    pub disk_free: u64,
    /// The base image still has to be stored there, bytes (0 when it already is).
    pub base_bytes: u64,
    /// vCPUs of this class's VMs already there.
    pub vcpus_used: u32,
}

/// Memory left to the host itself, KiB.
pub const HOST_RESERVE_KIB: u64 = 1 << 20;
/// vCPUs per host CPU: students mostly read and type; lab 3's CPU hog wants a vCPU of its own
/// at times, which 4:1 still leaves.
pub const VCPUS_PER_CPU: u32 = 4;

/// How many more VMs `h` takes, and which resource stops it.
pub fn slots(h: &HostRoom, cost: &VmCost) -> (u64, &'static str) {
    let mem = h.free_kib.saturating_sub(HOST_RESERVE_KIB) / cost.memory_kib.max(1);
    let cpu = u64::from((h.cpus * VCPUS_PER_CPU).saturating_sub(h.vcpus_used))
        / u64::from(cost.vcpus.max(1));
    let disk = h.disk_free.saturating_sub(h.base_bytes) / cost.disk_bytes.max(1);
    [(mem, "memory"), (cpu, "CPUs"), (disk, "disk")]
        .into_iter()
        .min_by_key(|(n, _)| *n)
        .expect("three resources")
}

/// Host index for each of `count` new VMs: always the host with the largest share of its room
/// still free, so hosts fill in proportion to their room (twice the room, twice the VMs) and
/// equal hosts take turns. Err: why the class does not fit.
pub fn place(count: usize, hosts: &[HostRoom], cost: &VmCost) -> Result<Vec<usize>, String> {
    let mut left: Vec<(u64, &str)> = hosts.iter().map(|h| slots(h, cost)).collect();
    let room: u64 = left.iter().map(|(n, _)| n).sum();
    if (count as u64) > room {
        let per_host: Vec<String> = hosts
            .iter()
            .zip(&left)
            .map(|(h, (n, why))| format!("{}: {n} (by {why})", h.label))
            .collect();
        return Err(format!(
            "the class does not fit: {count} new VMs of {} MiB, {} vCPUs and {} GiB each, but the hosts take {room} more ({}): {} VMs short; add --hosts, or lower --memory/--vcpus",
            cost.memory_kib / 1024,
            cost.vcpus,
            cost.disk_bytes.div_ceil(1 << 30),
            per_host.join(", "),
            count as u64 - room
        ));
    }
    let room_of: Vec<u64> = left.iter().map(|(n, _)| *n).collect();
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        // Compare left_i/room_i as left_i*room_j against left_j*room_i (no floats); ties: first.
        let mut best: Option<usize> = None;
        for (i, (n, _)) in left.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let better = best.is_none_or(|b| {
                u128::from(*n) * u128::from(room_of[b])
                    > u128::from(left[b].0) * u128::from(room_of[i])
            });
            if better {
                best = Some(i);
            }
        }
        let i = best.expect("room checked above");
        left[i].0 -= 1;
        out.push(i);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB_KIB: u64 = 1 << 20;

    fn host(label: &str, free_gib: u64, cpus: u32) -> HostRoom {
        HostRoom {
            label: label.into(),
            free_kib: free_gib * GIB_KIB,
            cpus,
            disk_free: 1 << 40,
            base_bytes: 1 << 30,
            vcpus_used: 0,
        }
    }

    fn cost() -> VmCost {
        VmCost {
            memory_kib: 2 * GIB_KIB,
            vcpus: 2,
            disk_bytes: 3 << 30,
        }
    }

    #[test]
    fn spreads_by_room() {
        // 33 GiB and 17 GiB free: 16 and 8 VMs by memory; 12 go 8/4.
        let hosts = [host("a", 33, 64), host("b", 17, 64)];
        let p = place(12, &hosts, &cost()).unwrap();
        assert_eq!(p.iter().filter(|&&i| i == 0).count(), 8);
        assert_eq!(p.iter().filter(|&&i| i == 1).count(), 4);
        // Equal hosts take turns.
        let even = place(4, &[host("a", 9, 8), host("b", 9, 8)], &cost()).unwrap();
        assert_eq!(even, [0, 1, 0, 1]);
    }

    #[test]
    fn refuses_with_the_shortfall_and_the_binding_resource() {
        // 2 CPUs x 4 = 8 vCPUs = 4 VMs, though memory would allow 11.
        let e = place(6, &[host("small", 23, 2)], &cost()).unwrap_err();
        assert!(
            e.contains("small: 4 (by CPUs)") && e.contains("2 VMs short"),
            "{e}"
        );
        let mut full = host("full", 100, 64);
        full.disk_free = 4 << 30; // the base (1 GiB) and one VM (3 GiB)
        let e = place(2, &[full], &cost()).unwrap_err();
        assert!(
            e.contains("full: 1 (by disk)") && e.contains("1 VMs short"),
            "{e}"
        );
    }
}
