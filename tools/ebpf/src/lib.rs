//! Helpers shared by the kernel halves. The bpf target has no 64-bit atomic types in `core`
//! (no compare-and-swap), so most counters live in per-CPU maps (exact without atomics) and user
//! space sums the CPUs. Maps with many possible keys count in a shared hash with the kernel's
//! atomic add instead (`count::add_shared`, BCC's and libbpf-tools' way): preallocating 10240
//! per-CPU entries costs a tool 8-16 ms of start-up, a shared hash under 1 ms.
#![no_std]
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics))]
#![cfg_attr(target_arch = "bpf", allow(internal_features))]

#[cfg(target_arch = "bpf")]
pub mod count {
    use aya_ebpf::{
        bindings::BPF_NOEXIST,
        maps::{HashMap, PerCpuArray, PerCpuHashMap},
    };
    use core::intrinsics::{atomic_xadd, AtomicOrdering};

    /// Add `n` to the value of `key` in a hash shared by all CPUs (an atomic add: BPF_XADD),
    /// inserting it when absent; when another CPU inserted it first, add to theirs.
    /// Returns false when the map is full and the key could not be added.
    #[inline(always)]
    pub fn add_shared<K>(map: &HashMap<K, u64>, key: &K, n: u64) -> bool {
        if let Some(v) = map.get_ptr_mut(key) {
            // SAFETY: a value of the map, alive while this program runs; the add is atomic.
            unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(v, n) };
            return true;
        }
        if map.insert(key, &n, BPF_NOEXIST as u64).is_ok() {
            return true;
        }
        match map.get_ptr_mut(key) {
            Some(v) => {
                // SAFETY: as above.
                unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(v, n) };
                true
            }
            None => false,
        }
    }

    /// Add `n` to this CPU's value of `key`, inserting it when absent.
    /// Returns false when the map is full and the key could not be added.
    #[inline(always)]
    pub fn add_hash<K>(map: &PerCpuHashMap<K, u64>, key: &K, n: u64) -> bool {
        if let Some(v) = map.get_ptr_mut(key) {
            // SAFETY: per-CPU slot; nothing else writes it while this program runs on this CPU.
            unsafe { *v += n };
            return true;
        }
        map.insert(key, &n, 0).is_ok()
    }

    /// Add `n` to this CPU's slot `idx` of a per-CPU array.
    #[inline(always)]
    pub fn add_array(map: &PerCpuArray<u64>, idx: u32, n: u64) {
        if let Some(v) = map.get_ptr_mut(idx) {
            // SAFETY: as above.
            unsafe { *v += n };
        }
    }
}

/// Event streaming shared by the snoop probes: a `RingBuf` named `EVENTS`, failed reserves counted
/// in slot 0 of a `PerCpuArray<u64>` named `LOST` (user side: `lab_probes::events`).
#[cfg(target_arch = "bpf")]
pub mod events {
    use aya_ebpf::maps::{ring_buf::RingBufEntry, PerCpuArray, RingBuf};

    /// Reserve room for one `T` in `ring`; when it is full, count the loss and return None.
    #[inline(always)]
    pub fn reserve<T: 'static>(ring: &RingBuf, lost: &PerCpuArray<u64>) -> Option<RingBufEntry<T>> {
        let entry = ring.reserve::<T>(0);
        if entry.is_none() {
            crate::count::add_array(lost, 0, 1);
        }
        entry
    }

    /// Read a load-time global (`#[no_mangle] static X: u32 = 0;`, set by the user half with
    /// `EbpfLoader::override_global`). The volatile read keeps the compiler from folding the default.
    #[inline(always)]
    pub fn global<T: Copy>(g: &T) -> T {
        // SAFETY: reading a static through a valid reference.
        unsafe { core::ptr::read_volatile(g) }
    }

    /// Submit flags that batch wake-ups: no wake-up until `batch_bytes` are waiting (user space
    /// also drains on a short timeout, see lab_tools::runtime), so a busy tracee costs one reader
    /// wake-up per batch instead of one per event.
    #[inline(always)]
    pub fn batched_wakeup(ring: &RingBuf, batch_bytes: u64) -> u64 {
        const BPF_RB_AVAIL_DATA: u64 = 0;
        const BPF_RB_NO_WAKEUP: u64 = 1;
        const BPF_RB_FORCE_WAKEUP: u64 = 2;
        if ring.query(BPF_RB_AVAIL_DATA) >= batch_bytes {
            BPF_RB_FORCE_WAKEUP
        } else {
            BPF_RB_NO_WAKEUP
        }
    }

    /// PID-set filter (`-p PID`, or the runner's ground truth for a set of PIDs): when `enabled`,
    /// only processes whose tgid is a key of `pids` pass.
    #[inline(always)]
    pub fn pid_allowed(enabled: bool, pids: &aya_ebpf::maps::HashMap<u32, u8>, tgid: u32) -> bool {
        // SAFETY: the value is only tested for presence, never held.
        !enabled || unsafe { pids.get(&tgid) }.is_some()
    }

    /// Thread filter (`-t TID`): `want` 0 lets every thread pass.
    #[inline(always)]
    pub fn tid_allowed(want: u32, pid_tgid: u64) -> bool {
        want == 0 || pid_tgid as u32 == want
    }

    /// User filter (`-u UID`): `want` u32::MAX lets every user pass.
    #[inline(always)]
    pub fn uid_allowed(want: u32) -> bool {
        want == u32::MAX || aya_ebpf::helpers::bpf_get_current_uid_gid() as u32 == want
    }

    /// cgroup filter (`-c PATH`, libbpf-tools): `want` is the cgroup v2 id (the directory's inode
    /// number, set by the user half); 0 lets every task pass.
    #[inline(always)]
    pub fn cgroup_allowed(want: u64) -> bool {
        // SAFETY: helper without arguments.
        want == 0 || unsafe { aya_ebpf::helpers::generated::bpf_get_current_cgroup_id() } == want
    }

    /// Emit one `T` record: reserve it (counting a loss when the ring is full), let `fill` write
    /// every field, submit. `wakeup_bytes` batches reader wake-ups (see `batched_wakeup`); None
    /// wakes the reader per record.
    #[inline(always)]
    pub fn emit<T: 'static>(
        ring: &RingBuf,
        lost: &PerCpuArray<u64>,
        wakeup_bytes: Option<u64>,
        fill: impl FnOnce(&mut T),
    ) {
        let Some(mut entry) = reserve::<T>(ring, lost) else {
            return;
        };
        // SAFETY: reserved memory for one T; `fill` writes every field before submit.
        fill(unsafe { &mut *entry.as_mut_ptr() });
        let flags = match wakeup_bytes {
            Some(b) => batched_wakeup(ring, b),
            None => 0,
        };
        entry.submit(flags);
    }
}

/// Syscalls traced across enter and exit (opensnoop, killsnoop): sys_enter_* saves what only the
/// enter can see (arguments) by thread id; sys_exit_* takes it back with the return value.
#[cfg(target_arch = "bpf")]
pub mod syscall {
    use aya_ebpf::{maps::HashMap, programs::TracePointContext};

    /// Remember `start` for the current thread until its sys_exit_*.
    #[inline(always)]
    pub fn save<S>(starts: &HashMap<u32, S>, pid_tgid: u64, start: &S) {
        // A full table drops the call: its exit then finds nothing and emits nothing.
        let _ = starts.insert(&(pid_tgid as u32), start, 0);
    }

    /// At sys_exit_*: the current thread's saved start (removed from `starts`) and the return
    /// value at `ret_off`; None when the enter saved nothing (filtered out, or attached
    /// mid-call), or when `failed_only` and the call succeeded.
    #[inline(always)]
    pub fn finish<S: Copy>(
        ctx: &TracePointContext,
        starts: &HashMap<u32, S>,
        pid_tgid: u64,
        ret_off: u32,
        failed_only: bool,
    ) -> Option<(S, i64)> {
        let tid = pid_tgid as u32;
        // SAFETY: copied out at once.
        let start = (unsafe { starts.get(&tid) }).copied()?;
        let _ = starts.remove(&tid);
        let ret = ret_at(ctx, ret_off);
        if failed_only && ret >= 0 {
            return None;
        }
        Some((start, ret))
    }

    /// The syscall's return value (the `ret` field of sys_exit_*, at `off`).
    #[inline(always)]
    pub fn ret_at(ctx: &TracePointContext, off: u32) -> i64 {
        // SAFETY: bounded read from the tracepoint record; faults return Err.
        unsafe { ctx.read_at::<i64>(off as usize) }.unwrap_or(0)
    }

    /// Syscall argument `off` (syscall tracepoint arguments are 8-byte slots).
    #[inline(always)]
    pub fn arg_at(ctx: &TracePointContext, off: u32) -> u64 {
        // SAFETY: as above.
        unsafe { ctx.read_at::<u64>(off as usize) }.unwrap_or(0)
    }
}

/// TCP tools: reading sock:inet_sock_set_state-like records and following an fd to its sock.
#[cfg(target_arch = "bpf")]
pub mod tcp;

/// The probe VM's interpreter (trace, argdist).
#[cfg(target_arch = "bpf")]
pub mod vm;
/// USDT arguments, read at a uprobe on a USDT probe's location (user half: lab_probes::usdt,
/// which decodes the note's argument specs into `UsdtArgSpec`s).
#[cfg(target_arch = "bpf")]
pub mod usdt {
    use aya_ebpf::{
        helpers::{bpf_probe_read_kernel, bpf_probe_read_user},
        programs::ProbeContext,
    };
    use lab_probes_common::usdt::{UsdtArgSpec, USDT_ARG_CONST, USDT_ARG_REG};

    /// The 8-byte pt_regs slot at `off` (the context is kernel memory; its offset varies with
    /// the spec, so it is read with the helper, not a direct context load).
    #[inline(always)]
    fn reg(ctx: &ProbeContext, off: u16) -> u64 {
        let at = (ctx.regs as *const u8).wrapping_add(off as usize) as *const u64;
        // SAFETY: the helper faults safely; `off` is within struct pt_regs (user half checks).
        unsafe { bpf_probe_read_kernel(at) }.unwrap_or(0)
    }

    /// `size` bytes of user memory at `addr`, zero-extended; None when unreadable.
    #[inline(always)]
    fn load(addr: u64, size: u8) -> Option<u64> {
        // SAFETY: the helper faults safely on a bad user address.
        unsafe {
            match size {
                1 => bpf_probe_read_user(addr as *const u8).map(u64::from),
                2 => bpf_probe_read_user(addr as *const u16).map(u64::from),
                4 => bpf_probe_read_user(addr as *const u32).map(u64::from),
                _ => bpf_probe_read_user(addr as *const u64),
            }
        }
        .ok()
    }

    /// Truncate `v` to `size` bytes, then sign- or zero-extend it to 64 bits.
    #[inline(always)]
    pub fn extend(v: u64, size: u8, signed: bool) -> u64 {
        if size >= 8 {
            return v;
        }
        let shift = 64 - 8 * size as u32;
        if signed {
            (((v << shift) as i64) >> shift) as u64
        } else {
            (v << shift) >> shift
        }
    }

    /// The value of argument `spec` at this probe, extended to 64 bits; None when it lives in
    /// memory that cannot be read.
    #[inline(always)]
    pub fn arg(ctx: &ProbeContext, spec: &UsdtArgSpec) -> Option<u64> {
        let raw = match spec.kind {
            USDT_ARG_CONST => spec.disp as u64,
            USDT_ARG_REG => reg(ctx, spec.reg),
            _ => {
                let mut addr = reg(ctx, spec.reg).wrapping_add(spec.disp as u64);
                if spec.scale != 0 {
                    addr = addr.wrapping_add(reg(ctx, spec.index).wrapping_mul(spec.scale as u64));
                }
                load(addr, spec.size)?
            }
        };
        Some(extend(raw, spec.size, spec.signed != 0))
    }
}

/// Stack ids for the probes that record stacks (profile, stackcount, trace, funcslower).
#[cfg(target_arch = "bpf")]
pub mod stacks {
    use aya_ebpf::{
        bindings::BPF_F_USER_STACK,
        maps::{PerCpuArray, StackTrace},
        programs::tracing::StackIdContext,
    };
    use lab_probes_common::profile::{EFAULT, NOT_COLLECTED, STACK_USER};

    /// The id of the current `kind` stack (STACK_KERNEL or STACK_USER) in `map` when `kinds`
    /// asks for it, else NOT_COLLECTED; the negative errno when it could not be stored.
    #[inline(always)]
    pub fn id<C: StackIdContext>(ctx: &C, map: &StackTrace, kinds: u8, kind: u8) -> i32 {
        if kinds & kind == 0 {
            return NOT_COLLECTED;
        }
        let flags = if kind == STACK_USER {
            BPF_F_USER_STACK as u64
        } else {
            0
        };
        match ctx.get_stackid(map, flags) {
            Ok(id) => id as i32,
            Err(e) => e,
        }
    }

    /// [`id`], counting the stacks that could not be stored in slot `missed` of `errors` ("no
    /// such stack here", -EFAULT, is not a miss).
    #[inline(always)]
    pub fn id_counted<C: StackIdContext>(
        ctx: &C,
        map: &StackTrace,
        kinds: u8,
        kind: u8,
        errors: &PerCpuArray<u64>,
        missed: u32,
    ) -> i32 {
        let id = id(ctx, map, kinds, kind);
        if id < 0 && id != NOT_COLLECTED && id != -EFAULT {
            crate::count::add_array(errors, missed, 1);
        }
        id
    }
}
