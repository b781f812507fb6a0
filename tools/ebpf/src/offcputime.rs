//! offcputime: at every `sched:sched_switch`, remember when and in which stacks the outgoing
//! thread (still current here) blocked; when that thread is switched back in, add the time it
//! spent off CPU to its (thread, kernel stack, user stack, comm) key, in nanoseconds.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        bindings::BPF_F_USER_STACK,
        helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
        macros::{map, tracepoint},
        maps::{HashMap, PerCpuArray, StackTrace},
        programs::{tracing::StackIdContext, TracePointContext},
    };
    use lab_probes_common::offcputime::{
        errors, OffStart, StackKey, DEFAULT_STACK_STORAGE, MAX_KEYS, MAX_THREADS, NOT_COLLECTED,
        STACK_KERNEL, STACK_USER, THREADS_KERNEL, THREADS_USER,
    };
    use lab_probes_common::profile::EFAULT;
    use lab_probes_ebpf::{count, events::global};

    /// Offset of `next_pid` in sched_switch's record, from tracefs (kernel drift).
    #[no_mangle]
    static NEXT_PID_OFFSET: u32 = 0;
    /// Only this process (tgid) when non-zero (-p).
    #[no_mangle]
    static TARGET_TGID: u32 = 0;
    /// Only this thread when non-zero (-t).
    #[no_mangle]
    static TARGET_TID: u32 = 0;
    /// THREADS_ALL, THREADS_USER (-u) or THREADS_KERNEL (-k).
    #[no_mangle]
    static THREADS: u8 = 0;
    /// STACK_USER | STACK_KERNEL (-U / -K narrow it).
    #[no_mangle]
    static STACK_KINDS: u8 = STACK_USER | STACK_KERNEL;
    /// Count only blocks of at least / at most this many microseconds (-m / -M).
    #[no_mangle]
    static MIN_US: u64 = 1;
    #[no_mangle]
    static MAX_US: u64 = u64::MAX;

    #[map]
    static STACKS: StackTrace = StackTrace::with_max_entries(DEFAULT_STACK_STORAGE, 0);

    /// Thread id -> when and where it went off CPU.
    #[map]
    static START: HashMap<u32, OffStart> = HashMap::with_max_entries(MAX_THREADS, 0);

    /// Off-CPU nanoseconds per key.
    #[map]
    static COUNTS: HashMap<StackKey, u64> = HashMap::with_max_entries(MAX_KEYS, 0);

    /// Slots: lab_probes_common::profile::errors.
    #[map]
    static ERRORS: PerCpuArray<u64> = PerCpuArray::with_max_entries(errors::SLOTS, 0);

    #[tracepoint]
    pub fn offcputime(ctx: TracePointContext) -> u32 {
        // SAFETY: helper call without arguments.
        let now = unsafe { bpf_ktime_get_ns() };
        record_switch_out(&ctx, now);
        let off = global(&NEXT_PID_OFFSET) as usize;
        // SAFETY: in-bounds read of the tracepoint record at the offset tracefs published.
        let next = unsafe { ctx.read_at::<i32>(off) }.unwrap_or(0) as u32;
        if next != 0 {
            account_switch_in(next, now);
        }
        0
    }

    #[inline(always)]
    fn record_switch_out(ctx: &TracePointContext, now: u64) {
        let id = bpf_get_current_pid_tgid();
        let (tgid, pid) = ((id >> 32) as u32, id as u32);
        if pid == 0 {
            return; // the idle task: "off CPU" time of idle is busy time
        }
        let want = global(&TARGET_TGID);
        if want != 0 && tgid != want {
            return;
        }
        let want = global(&TARGET_TID);
        if want != 0 && pid != want {
            return;
        }
        let kinds = global(&STACK_KINDS);
        let threads = global(&THREADS);
        // A kernel thread has no user stack: get_stackid(USER) says -EFAULT. That also tells
        // -u from -k without reading task_struct (whose layout drifts).
        let ustack = if kinds & STACK_USER != 0 || threads != 0 {
            stack_id(ctx, BPF_F_USER_STACK as u64, errors::USTACK_MISSED)
        } else {
            NOT_COLLECTED
        };
        let kernel_thread = ustack == -EFAULT;
        if (threads == THREADS_USER && kernel_thread)
            || (threads == THREADS_KERNEL && !kernel_thread)
        {
            return;
        }
        let ustack = if kinds & STACK_USER != 0 {
            ustack
        } else {
            NOT_COLLECTED
        };
        let kstack = if kinds & STACK_KERNEL != 0 {
            stack_id(ctx, 0, errors::KSTACK_MISSED)
        } else {
            NOT_COLLECTED
        };
        let start = OffStart {
            ts_ns: now,
            tgid,
            kstack,
            ustack,
            _pad: 0,
            comm: bpf_get_current_comm().unwrap_or([0; 16]),
        };
        if START.insert(&pid, &start, 0).is_err() {
            count::add_array(&ERRORS, errors::START_FULL, 1);
        }
    }

    #[inline(always)]
    fn account_switch_in(pid: u32, now: u64) {
        // SAFETY: the value is copied out before the entry is removed.
        let Some(s) = (unsafe { START.get(&pid) }).copied() else {
            return;
        };
        let _ = START.remove(&pid);
        let delta = now.saturating_sub(s.ts_ns);
        let us = delta / 1000;
        if us < global(&MIN_US) || us > global(&MAX_US) {
            return;
        }
        let key = StackKey {
            pid,
            tgid: s.tgid,
            kstack: s.kstack,
            ustack: s.ustack,
            comm: s.comm,
        };
        if !count::add_shared(&COUNTS, &key, delta) {
            count::add_array(&ERRORS, errors::COUNTS_FULL, 1);
        }
    }

    #[inline(always)]
    fn stack_id(ctx: &TracePointContext, flags: u64, missed_slot: u32) -> i32 {
        match ctx.get_stackid(&STACKS, flags) {
            Ok(id) => id as i32,
            Err(e) => {
                if e != -EFAULT {
                    count::add_array(&ERRORS, missed_slot, 1);
                }
                e
            }
        }
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
