//! dbslower / mysqld_qslower: queries slower than a threshold, from a database server's USDT
//! probes (MySQL's and PostgreSQL's `query__start(query, ...)` and `query__done(...)`).
//! query__start saves the time and the query's address by thread; query__done, on the same
//! thread, emits the query when it took at least `MIN_NS`, its text read from that address
//! (still the server's query buffer, as BCC reads it). The first argument's location differs
//! per probe location: its spec is in `SPECS`, at the index the user half gave as the cookie.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        helpers::{
            bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_user_str_bytes,
            generated::bpf_get_attach_cookie,
        },
        macros::{map, uprobe},
        maps::{Array, HashMap, PerCpuArray, RingBuf},
        programs::ProbeContext,
        EbpfContext,
    };
    use lab_probes_common::{
        dbslower::{QueryEvent, QueryStart, MAX_LOCATIONS},
        usdt::UsdtSpec,
    };
    use lab_probes_ebpf::events::{emit, global};

    /// Shortest query reported.
    #[no_mangle]
    static MIN_NS: u64 = 0;

    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
    #[map]
    static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
    #[map]
    static STARTS: HashMap<u32, QueryStart> = HashMap::with_max_entries(10240, 0);
    /// query__start's argument specs per location, by attach cookie.
    #[map]
    static SPECS: Array<UsdtSpec> = Array::with_max_entries(MAX_LOCATIONS, 0);

    #[uprobe]
    pub fn dbslower_start(ctx: ProbeContext) -> u32 {
        // SAFETY: helper on our own context.
        let cookie = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) } as u32;
        let Some(spec) = SPECS.get(cookie) else {
            return 0;
        };
        let Some(query) = lab_probes_ebpf::usdt::arg(&ctx, &spec.args[0]) else {
            return 0;
        };
        let s = QueryStart {
            // SAFETY: helper without arguments.
            ts_ns: unsafe { bpf_ktime_get_ns() },
            query,
        };
        let _ = STARTS.insert(&(bpf_get_current_pid_tgid() as u32), &s, 0);
        0
    }

    #[uprobe]
    pub fn dbslower_done(_ctx: ProbeContext) -> u32 {
        let id = bpf_get_current_pid_tgid();
        let tid = id as u32;
        // SAFETY: copied out at once.
        let Some(s) = (unsafe { STARTS.get(&tid) }).copied() else {
            return 0;
        };
        let _ = STARTS.remove(&tid);
        // SAFETY: helper without arguments.
        let delta = unsafe { bpf_ktime_get_ns() }.saturating_sub(s.ts_ns);
        if delta < global(&MIN_NS) {
            return 0;
        }
        emit(&EVENTS, &LOST, None, |ev: &mut QueryEvent| {
            ev.start_ns = s.ts_ns;
            ev.delta_ns = delta;
            ev.pid = (id >> 32) as u32;
            ev._pad = 0;
            ev.query[0] = 0;
            // SAFETY: the helper faults safely and writes at most QUERY_MAX bytes.
            let _ = unsafe { bpf_probe_read_user_str_bytes(s.query as *const u8, &mut ev.query) };
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
