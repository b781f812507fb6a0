//! cachestat: calls of the page-cache functions BCC's formula needs, counted per CPU. Which
//! kernel function backs each slot is the user half's choice (folio-era names first: the old
//! ones became thin wrappers that most callers no longer reach).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        macros::{kprobe, map},
        maps::PerCpuArray,
        programs::ProbeContext,
    };
    use lab_probes_common::mem::{CS_ACCESSED, CS_ADDED, CS_BUFFER_DIRTY, CS_DIRTIED, CS_SLOTS};
    use lab_probes_ebpf::count;

    #[map]
    static COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(CS_SLOTS, 0);

    #[kprobe]
    pub fn cs_accessed(_ctx: ProbeContext) -> u32 {
        count::add_array(&COUNTS, CS_ACCESSED, 1);
        0
    }
    #[kprobe]
    pub fn cs_buffer_dirty(_ctx: ProbeContext) -> u32 {
        count::add_array(&COUNTS, CS_BUFFER_DIRTY, 1);
        0
    }
    #[kprobe]
    pub fn cs_added(_ctx: ProbeContext) -> u32 {
        count::add_array(&COUNTS, CS_ADDED, 1);
        0
    }
    #[kprobe]
    pub fn cs_dirtied(_ctx: ProbeContext) -> u32 {
        count::add_array(&COUNTS, CS_DIRTIED, 1);
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
