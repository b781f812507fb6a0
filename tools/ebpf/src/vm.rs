//! The probe VM's interpreter (see lab_probes_common::vm): runs a probe's instruction list,
//! read from a frozen read-only global, over the hook's context. Every instruction field is a
//! constant to the verifier, so each `match` arm not taken is dead code it never walks, and
//! register numbers, sizes and offsets are exact: no bounds it has to guess.
use core::ffi::c_void;

use aya_ebpf::helpers::{
    bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_current_uid_gid,
    bpf_get_smp_processor_id, bpf_ktime_get_ns,
    generated::{
        bpf_get_current_comm, bpf_probe_read_kernel, bpf_probe_read_kernel_str,
        bpf_probe_read_user, bpf_probe_read_user_str,
    },
};
use lab_probes_common::{
    hist::log2_slot,
    vm::{
        op, EntryData, Insn, COMM_AT, MAX_INSNS, MAX_STREQ, MAX_STRS, NREGS, SCRATCH, STREQ_AT,
        USER_MAX,
    },
};

/// What the program reads from: the hook's context and, for return probes, what the entry saved.
pub struct Env {
    /// The program's context (pt_regs, tracepoint record or fentry argument array).
    pub ctx: *mut c_void,
    /// The per-CPU scratch buffer the record is built in (SCRATCH bytes).
    pub rec: *mut u8,
    /// What the entry probe saved (return probes that use `$entry`/`$latency`), or null.
    pub entry: *const EntryData,
}

/// Read `N` bytes at `addr` (user or kernel memory, by address) as a little-endian integer;
/// 0 when unreadable (the helpers zero their destination on failure).
#[inline(always)]
fn read_mem<const N: usize>(addr: u64) -> u64 {
    let mut buf = [0u8; 8];
    let dst = buf.as_mut_ptr() as *mut c_void;
    // SAFETY: the helpers write at most N <= 8 bytes into `buf` and fault safely.
    unsafe {
        if addr < USER_MAX {
            bpf_probe_read_user(dst, N as u32, addr as *const c_void);
        } else {
            bpf_probe_read_kernel(dst, N as u32, addr as *const c_void);
        }
    }
    u64::from_le_bytes(buf)
}

/// `size` bytes at `addr`, zero- or sign-extended.
#[inline(always)]
fn load(addr: u64, size: u8, signed: bool) -> u64 {
    let v = match size {
        1 => read_mem::<1>(addr),
        2 => read_mem::<2>(addr),
        4 => read_mem::<4>(addr),
        _ => read_mem::<8>(addr),
    };
    extend(v, size, signed)
}

/// The low `size` bytes of `v`, sign-extended when `signed`.
#[inline(always)]
fn extend(v: u64, size: u8, signed: bool) -> u64 {
    let bits = (u32::from(size) * 8) & 63;
    if bits == 0 {
        return v;
    }
    let shift = 64 - bits;
    if signed {
        (((v << shift) as i64) >> shift) as u64
    } else {
        (v << shift) >> shift
    }
}

#[inline(always)]
fn read_str(dst: *mut u8, len: u32, addr: u64) {
    // SAFETY: the helpers write at most `len` bytes at `dst`, which the caller sized.
    unsafe {
        if addr < USER_MAX {
            bpf_probe_read_user_str(dst as *mut c_void, len, addr as *const c_void);
        } else {
            bpf_probe_read_kernel_str(dst as *mut c_void, len, addr as *const c_void);
        }
    }
}

#[inline(always)]
fn read_bytes(dst: *mut u8, len: u32, addr: u64) {
    // SAFETY: as read_str.
    unsafe {
        if addr < USER_MAX {
            bpf_probe_read_user(dst as *mut c_void, len, addr as *const c_void);
        } else {
            bpf_probe_read_kernel(dst as *mut c_void, len, addr as *const c_void);
        }
    }
}

/// a < b, unsigned or signed.
#[inline(always)]
fn less(a: u64, b: u64, signed: bool) -> bool {
    if signed {
        (a as i64) < (b as i64)
    } else {
        a < b
    }
}

/// Division without BPF's signed divide (cpu v4 only): on magnitudes, then the sign.
#[inline(always)]
fn divide(a: u64, b: u64, signed: bool, rem: bool) -> u64 {
    if b == 0 {
        return 0;
    }
    if !signed {
        return if rem { a % b } else { a / b };
    }
    let (na, nb) = ((a as i64) < 0, (b as i64) < 0);
    let (ma, mb) = ((a as i64).unsigned_abs(), (b as i64).unsigned_abs());
    if rem {
        let r = ma % mb;
        if na {
            r.wrapping_neg()
        } else {
            r
        }
    } else {
        let q = ma / mb;
        if na != nb {
            q.wrapping_neg()
        } else {
            q
        }
    }
}

/// Run `prog` (with string literals `strs`) in `env`. False: a FILTER dropped the event.
/// r[0] holds the program's result at END (argdist -H's value).
#[inline(always)]
pub fn run(prog: &[Insn; MAX_INSNS], strs: &[u8; MAX_STRS], env: &Env) -> (bool, u64) {
    let mut r = [0u64; NREGS];
    let mut pc = 0usize;
    while pc < MAX_INSNS {
        // SAFETY: reading the read-only global; volatile so the load-time contents are used.
        let i = unsafe { core::ptr::read_volatile(&prog[pc]) };
        pc += 1;
        let signed = i.signed != 0;
        let a = r[i.a as usize % NREGS];
        let b = r[i.b as usize % NREGS];
        let v = match i.op {
            op::END => break,
            op::CONST => i.imm,
            op::FIELD => load(env.ctx as u64 + u64::from(i.off), i.size, signed),
            op::FIELD_ADDR => env.ctx as u64 + u64::from(i.off),
            op::COMM => {
                // SAFETY: 16 bytes at COMM_AT are inside the scratch buffer.
                let at = unsafe { env.rec.add(COMM_AT) };
                unsafe { bpf_get_current_comm(at as *mut c_void, 16) };
                at as u64
            }
            op::LOAD => load(a.wrapping_add(i.imm), i.size, signed),
            op::PID => bpf_get_current_pid_tgid() & 0xffff_ffff,
            op::TGID => bpf_get_current_pid_tgid() >> 32,
            op::UID => bpf_get_current_uid_gid() & 0xffff_ffff,
            op::GID => bpf_get_current_uid_gid() >> 32,
            // SAFETY: helpers without arguments.
            op::CPU => u64::from(unsafe { bpf_get_smp_processor_id() }),
            op::TASK => unsafe { bpf_get_current_task() },
            op::KTIME => unsafe { bpf_ktime_get_ns() },
            op::ENTRY_ARG => entry_arg(env, i.off),
            op::ENTRY_TS => {
                if env.entry.is_null() {
                    0
                } else {
                    // SAFETY: a non-null map value pointer the caller looked up.
                    unsafe { (*env.entry).ts_ns }
                }
            }
            op::ADD => a.wrapping_add(b),
            op::SUB => a.wrapping_sub(b),
            op::MUL => a.wrapping_mul(b),
            op::DIV => divide(a, b, signed, false),
            op::MOD => divide(a, b, signed, true),
            op::AND => a & b,
            op::OR => a | b,
            op::XOR => a ^ b,
            op::SHL => a.wrapping_shl(b as u32 & 63),
            op::SHR => {
                if signed {
                    ((a as i64).wrapping_shr(b as u32 & 63)) as u64
                } else {
                    a.wrapping_shr(b as u32 & 63)
                }
            }
            op::EQ => (a == b) as u64,
            op::NE => (a != b) as u64,
            op::LT => less(a, b, signed) as u64,
            op::LE => (!less(b, a, signed)) as u64,
            op::LAND => (a != 0 && b != 0) as u64,
            op::LOR => (a != 0 || b != 0) as u64,
            op::NOT => (a == 0) as u64,
            op::NEG => a.wrapping_neg(),
            op::BNOT => !a,
            op::EXT => extend(a, i.size, signed),
            op::LOG2 => log2_slot(a),
            op::STREQ => streq(env, strs, a, i.off as usize, i.imm as usize),
            op::FILTER => {
                if a == 0 {
                    return (false, 0);
                }
                continue;
            }
            op::STORE => {
                store(env, i.off as usize, i.size, a);
                continue;
            }
            op::STORE_STR => {
                if (i.off as usize) + (i.imm as usize) <= SCRATCH {
                    // SAFETY: inside the scratch buffer (checked just above).
                    read_str(unsafe { env.rec.add(i.off as usize) }, i.imm as u32, a);
                }
                continue;
            }
            op::STORE_BYTES => {
                if (i.off as usize) + (i.imm as usize) <= SCRATCH {
                    // SAFETY: as above.
                    read_bytes(unsafe { env.rec.add(i.off as usize) }, i.imm as u32, a);
                }
                continue;
            }
            op::STORE_COMM => {
                if (i.off as usize) + 16 <= SCRATCH {
                    // SAFETY: 16 bytes inside the scratch buffer.
                    unsafe { bpf_get_current_comm(env.rec.add(i.off as usize) as *mut c_void, 16) };
                }
                continue;
            }
            _ => continue,
        };
        r[i.dst as usize % NREGS] = v;
    }
    (true, r[0])
}

#[inline(always)]
fn entry_arg(env: &Env, n: u32) -> u64 {
    if env.entry.is_null() {
        return 0;
    }
    // SAFETY: a non-null map value pointer the caller looked up.
    let args = unsafe { &(*env.entry).args };
    // A bounds check, not `% 6`: older verifiers lose track of a remainder's range.
    match args.get((n as usize).wrapping_sub(1)) {
        Some(v) => *v,
        None => 0,
    }
}

#[inline(always)]
fn store(env: &Env, off: usize, size: u8, v: u64) {
    if off + 8 > SCRATCH {
        return;
    }
    // SAFETY: inside the scratch buffer (checked above); unaligned writes of plain bytes.
    unsafe {
        let p = env.rec.add(off);
        match size {
            1 => core::ptr::write_unaligned(p, v as u8),
            2 => core::ptr::write_unaligned(p as *mut u16, v as u16),
            4 => core::ptr::write_unaligned(p as *mut u32, v as u32),
            _ => core::ptr::write_unaligned(p as *mut u64, v),
        }
    }
}

/// Whether the string at `addr` is exactly the literal `strs[at..at + len]`. The string is
/// copied once; the bytes are compared without branching (differences OR-ed together).
#[inline(always)]
fn streq(env: &Env, strs: &[u8; MAX_STRS], addr: u64, at: usize, len: usize) -> u64 {
    if len > MAX_STREQ || at + len > MAX_STRS || STREQ_AT + MAX_STREQ + 2 > SCRATCH {
        return 0;
    }
    // SAFETY: MAX_STREQ + 2 bytes at STREQ_AT fit in the scratch buffer (checked above).
    let buf = unsafe { env.rec.add(STREQ_AT) };
    // Up to len + 1 characters: a longer string then differs at position len (not NUL).
    read_str(buf, (len + 2) as u32, addr);
    let mut diff = 0u8;
    let mut k = 0usize;
    while k <= len && k <= MAX_STREQ {
        // Volatile: the literals are load-time contents of a read-only global.
        let want = if k == len {
            0
        } else {
            // SAFETY: reading the global through a valid reference.
            unsafe { core::ptr::read_volatile(&strs[(at + k) % MAX_STRS]) }
        };
        // SAFETY: k <= MAX_STREQ, inside the area checked above.
        diff |= unsafe { *buf.add(k) } ^ want;
        k += 1;
    }
    (diff == 0) as u64
}
