//! probevm: the one kernel half of trace and argdist. Each loaded copy runs one probe: the user
//! half compiles the probe spec (filter, values, keys) into `PROG` and picks the `ACTION`:
//! - EMIT (trace): the header and the values the program stored go to `EVENTS`;
//! - COUNT (argdist -C): the key the program stored is counted in `COUNTS`;
//! - HIST (argdist -H): the program's result r[0] is counted in the log2 histogram `HIST`.
//!
//! Return probes whose spec uses `$entry(...)`/`$latency` also attach an entry program that saves
//! the arguments and the clock by thread (`ENTRIES`, `NEED_ENTRY`).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{
            bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
            bpf_get_smp_processor_id, bpf_ktime_get_ns,
        },
        macros::{kprobe, kretprobe, map, tracepoint, uprobe, uretprobe},
        maps::{HashMap, PerCpuArray, RingBuf, StackTrace},
        programs::{tracing::StackIdContext, ProbeContext, RetProbeContext, TracePointContext},
    };
    use lab_probes_common::{
        hist::{log2_slot, LOG2_SLOTS},
        profile::{STACK_KERNEL, STACK_USER},
        vm::{
            action, EntryData, Insn, TraceHeader, KEY_SIZE, MAX_ENTRIES, MAX_INSNS, MAX_KEYS,
            MAX_RECORD, MAX_STRS, SCRATCH,
        },
    };
    use lab_probes_ebpf::{
        count,
        events::{batched_wakeup, cgroup_allowed, global},
        stacks,
        vm::{self, Env},
    };

    /// The probe's program (see lab_probes_common::vm).
    #[no_mangle]
    static PROG: [Insn; MAX_INSNS] = [Insn {
        op: 0,
        dst: 0,
        a: 0,
        b: 0,
        size: 0,
        signed: 0,
        _pad: 0,
        off: 0,
        _pad2: 0,
        imm: 0,
    }; MAX_INSNS];
    /// String literals the program compares against.
    #[no_mangle]
    static STRS: [u8; MAX_STRS] = [0; MAX_STRS];
    /// lab_probes_common::vm::action.
    #[no_mangle]
    static ACTION: u8 = 0;
    /// Bytes of an EMIT record (header + values).
    #[no_mangle]
    static RECORD_SIZE: u32 = 64;
    /// Only this process / thread / user (0, 0, u32::MAX: all); never this process (trace's own).
    #[no_mangle]
    static FILTER_TGID: u32 = 0;
    #[no_mangle]
    static FILTER_TID: u32 = 0;
    #[no_mangle]
    static FILTER_UID: u32 = u32::MAX;
    #[no_mangle]
    static EXCLUDE_TGID: u32 = 0;
    /// cgroup v2 id to trace (0: all).
    #[no_mangle]
    static CGROUP_ID: u64 = 0;
    /// profile::STACK_USER | STACK_KERNEL: stacks to record with each event.
    #[no_mangle]
    static STACK_KINDS: u8 = 0;
    /// 1: a return probe that reads what the entry program saved.
    #[no_mangle]
    static NEED_ENTRY: u8 = 0;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    /// The record or key being built.
    #[map]
    static BUF: PerCpuArray<[u8; SCRATCH]> = PerCpuArray::with_max_entries(1, 0);
    #[map]
    static ENTRIES: HashMap<u32, EntryData> = HashMap::with_max_entries(MAX_ENTRIES, 0);
    #[map]
    static COUNTS: HashMap<[u8; KEY_SIZE], u64> = HashMap::with_max_entries(MAX_KEYS, 0);
    #[map]
    static HIST: PerCpuArray<u64> = PerCpuArray::with_max_entries(LOG2_SLOTS as u32, 0);
    #[map]
    static STACKS: StackTrace = StackTrace::with_max_entries(1024, 0);

    /// Reader wake-ups per 64 KiB of records (the user half also drains every 50 ms).
    const WAKEUP_BYTES: u64 = 64 * 1024;

    #[inline(always)]
    fn wanted(id: u64) -> bool {
        let (tgid, tid) = ((id >> 32) as u32, id as u32);
        let want = global(&FILTER_TGID);
        if want != 0 && tgid != want {
            return false;
        }
        let want = global(&FILTER_TID);
        if want != 0 && tid != want {
            return false;
        }
        if tgid == global(&EXCLUDE_TGID) {
            return false;
        }
        let want = global(&FILTER_UID);
        if want != u32::MAX && bpf_get_current_uid_gid() as u32 != want {
            return false;
        }
        cgroup_allowed(global(&CGROUP_ID))
    }

    /// One hit of the probe: filter, run the program, act.
    #[inline(always)]
    fn on_hit<C: StackIdContext>(ctx: &C) -> u32 {
        let id = bpf_get_current_pid_tgid();
        if !wanted(id) {
            return 0;
        }
        let Some(buf) = BUF.get_ptr_mut(0) else {
            return 0;
        };
        let rec = buf as *mut u8;
        let tid = id as u32;
        let mut entry: *const EntryData = core::ptr::null();
        if global(&NEED_ENTRY) != 0 {
            // SAFETY: the value is only read while this program runs.
            match unsafe { ENTRIES.get(&tid) } {
                Some(e) => entry = e,
                None => return 0, // entry not seen (attached mid-call, or filtered)
            }
        }
        let act = global(&ACTION);
        if act == action::COUNT {
            // SAFETY: the key area is inside the scratch buffer; keys compare all KEY_SIZE bytes.
            unsafe { core::ptr::write_bytes(rec, 0, KEY_SIZE) };
        }
        let env = Env {
            ctx: ctx.as_ptr(),
            rec,
            entry,
        };
        let (keep, value) = vm::run(&PROG, &STRS, &env);
        if !entry.is_null() {
            let _ = ENTRIES.remove(&tid);
        }
        if !keep {
            return 0;
        }
        match act {
            action::COUNT => {
                // SAFETY: the first KEY_SIZE bytes of the scratch buffer, filled above.
                let key = unsafe { &*(rec as *const [u8; KEY_SIZE]) };
                count::add_shared(&COUNTS, key, 1);
            }
            action::HIST => {
                let slot = log2_slot(value) as u32;
                count::add_array(&HIST, slot, 1);
            }
            _ => emit(ctx, id, rec),
        }
        0
    }

    #[inline(always)]
    fn emit<C: StackIdContext>(ctx: &C, id: u64, rec: *mut u8) {
        let h = TraceHeader {
            // SAFETY: helpers without arguments.
            ts_ns: unsafe { bpf_ktime_get_ns() },
            tgid: (id >> 32) as u32,
            pid: id as u32,
            uid: bpf_get_current_uid_gid() as u32,
            cpu: unsafe { bpf_get_smp_processor_id() },
            kstack: stacks::id(ctx, &STACKS, global(&STACK_KINDS), STACK_KERNEL),
            ustack: stacks::id(ctx, &STACKS, global(&STACK_KINDS), STACK_USER),
            comm: bpf_get_current_comm().unwrap_or([0; 16]),
        };
        // SAFETY: the header fits at the start of the scratch buffer.
        unsafe { core::ptr::write_unaligned(rec as *mut TraceHeader, h) };
        let len = (global(&RECORD_SIZE) as usize).min(MAX_RECORD);
        // SAFETY: `len` <= MAX_RECORD <= SCRATCH bytes of the scratch buffer.
        let bytes = unsafe { core::slice::from_raw_parts(rec, len) };
        let flags = batched_wakeup(&EVENTS, WAKEUP_BYTES);
        if EVENTS.output::<[u8]>(bytes, flags).is_err() {
            count::add_array(&LOST, 0, 1);
        }
    }

    /// Save the arguments and the clock for the return probe.
    #[inline(always)]
    fn save_entry(ctx: &ProbeContext) -> u32 {
        let id = bpf_get_current_pid_tgid();
        if !wanted(id) {
            return 0;
        }
        let arg = |n| ctx.arg::<u64>(n).unwrap_or(0);
        let e = EntryData {
            // SAFETY: helper without arguments.
            ts_ns: unsafe { bpf_ktime_get_ns() },
            args: [arg(0), arg(1), arg(2), arg(3), arg(4), arg(5)],
        };
        let _ = ENTRIES.insert(&(id as u32), &e, 0);
        0
    }

    #[kprobe]
    pub fn vm_kprobe(ctx: ProbeContext) -> u32 {
        on_hit(&ctx)
    }

    #[kretprobe]
    pub fn vm_kretprobe(ctx: RetProbeContext) -> u32 {
        on_hit(&ctx)
    }

    #[uprobe]
    pub fn vm_uprobe(ctx: ProbeContext) -> u32 {
        on_hit(&ctx)
    }

    #[uretprobe]
    pub fn vm_uretprobe(ctx: RetProbeContext) -> u32 {
        on_hit(&ctx)
    }

    #[tracepoint]
    pub fn vm_tp(ctx: TracePointContext) -> u32 {
        on_hit(&ctx)
    }

    #[kprobe]
    pub fn vm_kentry(ctx: ProbeContext) -> u32 {
        save_entry(&ctx)
    }

    #[uprobe]
    pub fn vm_uentry(ctx: ProbeContext) -> u32 {
        save_entry(&ctx)
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
