//! Reading the sched tracepoints and the pid filter (shared by runqlat and cpudist; included
//! with `#[path]`). Field offsets come from tracefs through the SCHED global.
use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::map,
    maps::{HashMap, LruHashMap},
    programs::TracePointContext,
};
use lab_probes_common::sched::{SchedOffsets, MAX_TASKS};

#[no_mangle]
pub static SCHED: SchedOffsets = SchedOffsets {
    switch_prev_pid: 0,
    switch_prev_state: 0,
    switch_next_pid: 0,
    switch_prev_state_size: 8,
    wakeup_pid: 0,
    wakeup_new_pid: 0,
    newtask_pid: 0,
    newtask_clone_flags: 0,
    sleep_mask: 0xff,
};
/// 1: only processes in FILTER are traced.
#[no_mangle]
pub static FILTER_ON: u8 = 0;
/// 1: milliseconds, 0: microseconds.
#[no_mangle]
pub static MILLIS: u8 = 0;
/// lab_probes_common::sched::key_mode.
#[no_mangle]
pub static KEY_MODE: u8 = 0;

/// Process ids (tgid) to trace when FILTER_ON.
#[map]
pub static FILTER: HashMap<u32, u8> = HashMap::with_max_entries(1024, 0);

/// tid -> tgid for tasks that are not current when we need their process (the wakee of a
/// wakeup, the next task of a switch): seeded from /proc, kept up by task_newtask and switches.
#[map]
pub static TGIDS: LruHashMap<u32, u32> = LruHashMap::with_max_entries(MAX_TASKS, 0);

#[inline(always)]
pub fn offsets() -> SchedOffsets {
    // SAFETY: plain data set by the loader.
    unsafe { core::ptr::read_volatile(&SCHED) }
}

#[inline(always)]
pub fn flag(g: &'static u8) -> u8 {
    unsafe { core::ptr::read_volatile(g) }
}

#[inline(always)]
pub fn read_u32(ctx: &TracePointContext, off: u32) -> u32 {
    unsafe { ctx.read_at::<u32>(off as usize) }.unwrap_or(0)
}

/// prev_state of sched_switch, whatever its size on this kernel.
#[inline(always)]
pub fn prev_state(ctx: &TracePointContext, o: &SchedOffsets) -> u64 {
    if o.switch_prev_state_size == 8 {
        unsafe { ctx.read_at::<u64>(o.switch_prev_state as usize) }.unwrap_or(0)
    } else {
        unsafe { ctx.read_at::<u32>(o.switch_prev_state as usize) }.unwrap_or(0) as u64
    }
}

#[inline(always)]
pub fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

/// Whether we need tgids of non-current tasks (filtering or per-process keys).
#[inline(always)]
pub fn need_tgid() -> bool {
    flag(&FILTER_ON) != 0 || flag(&KEY_MODE) == lab_probes_common::sched::key_mode::PID
}

/// The process of thread `tid`, 0 when unknown.
#[inline(always)]
pub fn tgid_of(tid: u32) -> u32 {
    unsafe { TGIDS.get(&tid) }.copied().unwrap_or(0)
}

#[inline(always)]
pub fn allowed(tgid: u32) -> bool {
    flag(&FILTER_ON) == 0 || unsafe { FILTER.get(&tgid) }.is_some()
}

/// Histogram key id for a task under KEY_MODE.
#[inline(always)]
pub fn key_id(tgid: u32, tid: u32) -> u64 {
    use lab_probes_common::sched::key_mode;
    match flag(&KEY_MODE) {
        key_mode::PID => tgid as u64,
        key_mode::TID => tid as u64,
        _ => 0,
    }
}

/// task:task_newtask: remember the new task's process (a thread joins the creator's).
#[inline(always)]
pub fn on_newtask(ctx: &TracePointContext) {
    const CLONE_THREAD: u64 = 0x0001_0000;
    let o = offsets();
    let pid = read_u32(ctx, o.newtask_pid);
    let flags = unsafe { ctx.read_at::<u64>(o.newtask_clone_flags as usize) }.unwrap_or(0);
    let tgid = if flags & CLONE_THREAD != 0 {
        current_tgid()
    } else {
        pid
    };
    let _ = TGIDS.insert(&pid, &tgid, 0);
}
