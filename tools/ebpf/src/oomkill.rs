//! oomkill: one record per OOM kill. Kprobe path (BCC's): oom_kill_process(oc, message), the
//! victim from oc->chosen and oc->totalpages. Tracepoint path: oom:mark_victim, which runs in
//! the triggering task's context (the allocation that hit the limit), with the victim's pid and,
//! from 6.8, its comm and total_vm.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{
            bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_probe_read_kernel,
            generated::bpf_probe_read_kernel_str,
        },
        macros::{kprobe, map, tracepoint},
        maps::{PerCpuArray, RingBuf},
        programs::{ProbeContext, TracePointContext},
        EbpfContext,
    };
    use lab_probes_common::mem::{OomEvent, OomOffsets};
    use lab_probes_ebpf::events::{emit, global};

    #[no_mangle]
    static OFFS: OomOffsets = OomOffsets {
        oc_chosen: 0,
        oc_totalpages: 0,
        task_tgid: 0,
        task_comm: 0,
    };
    /// oom:mark_victim field offsets; COMM_OFF/TOTAL_VM_OFF 0 = the field is absent.
    #[no_mangle]
    static PID_OFF: u32 = 8;
    #[no_mangle]
    static COMM_OFF: u32 = 0;
    #[no_mangle]
    static TOTAL_VM_OFF: u32 = 0;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

    #[inline(always)]
    fn trigger(ev: &mut OomEvent) {
        ev.trigger_pid = (bpf_get_current_pid_tgid() >> 32) as u32;
        ev.trigger_comm = bpf_get_current_comm().unwrap_or([0; 16]);
    }

    #[kprobe]
    pub fn oomkill_kprobe(ctx: ProbeContext) -> u32 {
        let o = unsafe { core::ptr::read_volatile(&OFFS) };
        let oc: u64 = ctx.arg(0).unwrap_or(0);
        if oc == 0 {
            return 0;
        }
        // SAFETY: the helper faults safely.
        let chosen: u64 =
            unsafe { bpf_probe_read_kernel((oc + o.oc_chosen as u64) as *const u64) }.unwrap_or(0);
        let pages: u64 =
            unsafe { bpf_probe_read_kernel((oc + o.oc_totalpages as u64) as *const u64) }
                .unwrap_or(0);
        if chosen == 0 {
            return 0;
        }
        emit(&EVENTS, &LOST, None, |ev: &mut OomEvent| {
            trigger(ev);
            ev.victim_pid =
                unsafe { bpf_probe_read_kernel((chosen + o.task_tgid as u64) as *const u32) }
                    .unwrap_or(0);
            ev.victim_comm =
                unsafe { bpf_probe_read_kernel((chosen + o.task_comm as u64) as *const [u8; 16]) }
                    .unwrap_or([0; 16]);
            ev.pages = pages;
            ev.has_pages = 1;
            ev._pad = 0;
        });
        0
    }

    #[tracepoint]
    pub fn oomkill_mark_victim(ctx: TracePointContext) -> u32 {
        emit(&EVENTS, &LOST, None, |ev: &mut OomEvent| {
            trigger(ev);
            ev.victim_pid =
                unsafe { ctx.read_at::<i32>(global(&PID_OFF) as usize) }.unwrap_or(0) as u32;
            ev.victim_comm = [0; 16];
            let comm_off = global(&COMM_OFF);
            if comm_off != 0 {
                // __data_loc: low 16 bits are the string's offset in the record.
                let loc = unsafe { ctx.read_at::<u32>(comm_off as usize) }.unwrap_or(0);
                let at = ctx.as_ptr() as u64 + (loc & 0xffff) as u64;
                // SAFETY: the helper writes at most 16 bytes.
                unsafe {
                    bpf_probe_read_kernel_str(
                        ev.victim_comm.as_mut_ptr().cast(),
                        16,
                        at as *const _,
                    )
                };
            }
            let vm_off = global(&TOTAL_VM_OFF);
            if vm_off != 0 {
                // total_vm is recorded in kB (K(mm->total_vm)); user space turns it into pages.
                ev.pages = unsafe { ctx.read_at::<u64>(vm_off as usize) }.unwrap_or(0);
                ev.has_pages = 1;
            } else {
                ev.pages = 0;
                ev.has_pages = 0;
            }
            ev._pad = 0;
        });
        0
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
