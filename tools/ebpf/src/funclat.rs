//! funclatency and funcslower: time each call of the traced functions from entry to return.
//! The entry saves the clock, which function (kprobes: its address, `bpf_get_func_ip`;
//! uprobes: the attach cookie) and the arguments by thread; the return either counts the time
//! in a log2 histogram (MODE_HIST, funclatency) or, when it is at least MIN_NS, sends the call
//! with its arguments, return value and stacks (MODE_EVENTS, funcslower).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{
            bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns,
            generated::{bpf_get_attach_cookie, bpf_get_func_ip},
        },
        macros::{kprobe, kretprobe, map, uprobe, uretprobe},
        maps::{HashMap, PerCpuArray, RingBuf, StackTrace},
        programs::{ProbeContext, RetProbeContext},
        EbpfContext,
    };
    use lab_probes_common::{
        funclat::{
            Entry, LatKey, SlowCall, StartKey, AVG_COUNT, AVG_TOTAL, MAX_HIST_KEYS, MAX_THREADS,
            MODE_EVENTS,
        },
        hist::log2_slot,
        profile::{STACK_KERNEL, STACK_USER},
    };
    use lab_probes_ebpf::{
        count,
        events::{emit, global},
        stacks,
    };

    /// MODE_HIST or MODE_EVENTS.
    #[no_mangle]
    static MODE: u8 = 0;
    /// Only this process (tgid); 0 = all.
    #[no_mangle]
    static FILTER_TGID: u32 = 0;
    /// Histogram unit in ns (1, 1000, 1000000).
    #[no_mangle]
    static UNIT_NS: u64 = 1;
    /// Key the histogram by function / by process.
    #[no_mangle]
    static KEY_FUNC: u8 = 0;
    #[no_mangle]
    static KEY_TGID: u8 = 0;
    /// Shortest call sent (MODE_EVENTS).
    #[no_mangle]
    static MIN_NS: u64 = 0;
    /// STACK_USER | STACK_KERNEL to record with each slow call.
    #[no_mangle]
    static STACK_KINDS: u8 = 0;

    #[map]
    static STARTS: HashMap<StartKey, Entry> = HashMap::with_max_entries(MAX_THREADS, 0);
    #[map]
    static HIST: HashMap<LatKey, u64> = HashMap::with_max_entries(MAX_HIST_KEYS, 0);
    #[map]
    static AVG: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);
    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    #[map]
    static STACKS: StackTrace = StackTrace::with_max_entries(1024, 0);

    #[inline(always)]
    fn enter(ctx: &ProbeContext, func: u64) -> u32 {
        let id = bpf_get_current_pid_tgid();
        let want = global(&FILTER_TGID);
        if want != 0 && (id >> 32) as u32 != want {
            return 0;
        }
        let arg = |n| ctx.arg::<u64>(n).unwrap_or(0);
        let e = Entry {
            // SAFETY: helper without arguments.
            ts_ns: unsafe { bpf_ktime_get_ns() },
            func,
            args: [arg(0), arg(1), arg(2), arg(3), arg(4), arg(5)],
        };
        let key = StartKey {
            tid: id as u32,
            _pad: 0,
            func,
        };
        let _ = STARTS.insert(&key, &e, 0);
        0
    }

    #[inline(always)]
    fn leave(ctx: &RetProbeContext, func: u64) -> u32 {
        let id = bpf_get_current_pid_tgid();
        let key = StartKey {
            tid: id as u32,
            _pad: 0,
            func,
        };
        // SAFETY: copied out at once.
        let Some(e) = (unsafe { STARTS.get(&key) }).copied() else {
            return 0; // entry not seen (attached mid-call, or another process)
        };
        let _ = STARTS.remove(&key);
        // SAFETY: helper without arguments.
        let delta = unsafe { bpf_ktime_get_ns() }.saturating_sub(e.ts_ns);
        if global(&MODE) == MODE_EVENTS {
            if delta >= global(&MIN_NS) {
                slow(ctx, id, &e, delta);
            }
            return 0;
        }
        count::add_array(&AVG, AVG_TOTAL, delta);
        count::add_array(&AVG, AVG_COUNT, 1);
        let unit = global(&UNIT_NS);
        let v = if unit > 1 { delta / unit } else { delta };
        let key = LatKey {
            func: if global(&KEY_FUNC) != 0 { e.func } else { 0 },
            tgid: if global(&KEY_TGID) != 0 {
                (id >> 32) as u32
            } else {
                0
            },
            slot: log2_slot(v) as u32,
        };
        count::add_shared(&HIST, &key, 1);
        0
    }

    #[inline(always)]
    fn slow(ctx: &RetProbeContext, id: u64, e: &Entry, delta: u64) {
        let kinds = global(&STACK_KINDS);
        let kstack = stacks::id(ctx, &STACKS, kinds, STACK_KERNEL);
        let ustack = stacks::id(ctx, &STACKS, kinds, STACK_USER);
        emit(&EVENTS, &LOST, None, |ev: &mut SlowCall| {
            ev.start_ns = e.ts_ns;
            ev.duration_ns = delta;
            ev.retval = ctx.ret::<u64>();
            ev.func = e.func;
            ev.args = e.args;
            ev.tgid = (id >> 32) as u32;
            ev.pid = id as u32;
            ev.kstack = kstack;
            ev.ustack = ustack;
            ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
        });
    }

    #[kprobe]
    pub fn funclat_kentry(ctx: ProbeContext) -> u32 {
        // SAFETY: helper on our own context.
        let ip = unsafe { bpf_get_func_ip(ctx.as_ptr()) };
        enter(&ctx, ip)
    }

    #[kretprobe]
    pub fn funclat_kreturn(ctx: RetProbeContext) -> u32 {
        // SAFETY: helper on our own context (the function's address at returns too, 5.17+).
        let ip = unsafe { bpf_get_func_ip(ctx.as_ptr()) };
        leave(&ctx, ip)
    }

    #[uprobe]
    pub fn funclat_uentry(ctx: ProbeContext) -> u32 {
        // SAFETY: helper on our own context.
        let cookie = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
        enter(&ctx, cookie)
    }

    #[uretprobe]
    pub fn funclat_ureturn(ctx: RetProbeContext) -> u32 {
        // SAFETY: helper on our own context.
        let cookie = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
        leave(&ctx, cookie)
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
