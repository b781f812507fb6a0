//! The probe VM of the multi-tools (trace, argdist): BCC compiles each probe's C at run time; we
//! compile a probe spec in user space into a short list of [`Insn`]s and load it as a read-only
//! global of one pre-built kernel program. The kernel half runs the list in a bounded loop. The
//! global lives in the frozen .rodata map, so the verifier reads every instruction as a known
//! constant and checks only the operations this probe uses, as if they had been compiled.
//!
//! A register machine: [`NREGS`] 64-bit registers; every instruction names its registers and
//! sizes as constants. Memory is read with `bpf_probe_read_{user,kernel}` chosen by the address
//! (user space is the low half on x86_64 and arm64), so a bad pointer reads as 0, never faults.

/// Registers of the VM.
pub const NREGS: usize = 8;
/// Longest program (instructions, END included).
pub const MAX_INSNS: usize = 96;
/// Bytes of string literals a program can compare against (`STRCMP`, `== "..."`).
pub const MAX_STRS: usize = 256;
/// Longest string compared by [`op::STREQ`] (the literal's length, NUL excluded).
pub const MAX_STREQ: usize = 64;
/// Per-CPU scratch buffer: the record (trace event or argdist key) is built here.
pub const SCRATCH: usize = 4096;
/// Largest record: header plus values (the compiler refuses larger ones).
pub const MAX_RECORD: usize = 2048;
/// Where [`op::STREQ`] copies the string it compares (after the largest record).
pub const STREQ_AT: usize = MAX_RECORD;
/// Where [`op::COMM`] puts the task's name (after STREQ's copy).
pub const COMM_AT: usize = STREQ_AT + 128;
/// Largest argdist key (the `COUNTS` map's fixed key size).
pub const KEY_SIZE: usize = 256;
/// Highest address of user space (x86_64 and arm64 with 48-bit addresses): below it a pointer is
/// read with `bpf_probe_read_user`, above with `bpf_probe_read_kernel`.
pub const USER_MAX: u64 = 0x0000_8000_0000_0000;

/// One instruction. `dst`/`a`/`b` are register numbers, `size` a byte count (1, 2, 4, 8),
/// `off` an offset (record, tracepoint field, pt_regs), `imm` a constant.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insn {
    pub op: u8,
    pub dst: u8,
    pub a: u8,
    pub b: u8,
    pub size: u8,
    /// 1: sign-extend loads, signed comparisons and division.
    pub signed: u8,
    pub _pad: u16,
    pub off: u32,
    pub _pad2: u32,
    pub imm: u64,
}

/// Operation codes. `r[x]` is register x.
pub mod op {
    /// End of the program: the event is kept.
    pub const END: u8 = 0;
    /// r[dst] = imm.
    pub const CONST: u8 = 1;
    /// r[dst] = function argument `off` (1-based; pt_regs or the fentry context).
    pub const ARG: u8 = 2;
    /// r[dst] = the function's return value.
    pub const RET: u8 = 3;
    /// r[dst] = `size` bytes at `off` in the tracepoint record (`signed` extends).
    pub const FIELD: u8 = 4;
    /// r[dst] = the 8-byte pt_regs slot at `off` (USDT arguments in registers).
    pub const REG: u8 = 5;
    /// r[dst] = `size` bytes at address r[a] + imm (`signed` extends); 0 if unreadable.
    pub const LOAD: u8 = 6;
    /// r[dst] = address of the tracepoint record + (r[a] & 0xffff): a `__data_loc` string.
    pub const DATALOC: u8 = 7;
    /// r[dst] = the current pid (thread id), tgid, uid, gid, cpu, task, ns clock.
    pub const PID: u8 = 8;
    pub const TGID: u8 = 9;
    pub const UID: u8 = 10;
    pub const GID: u8 = 11;
    pub const CPU: u8 = 12;
    pub const TASK: u8 = 13;
    pub const KTIME: u8 = 14;
    /// r[dst] = argument `off` (1-based) saved at function entry (return probes).
    pub const ENTRY_ARG: u8 = 15;
    /// r[dst] = the clock at function entry (return probes: `$latency`).
    pub const ENTRY_TS: u8 = 16;
    /// r[dst] = r[a] OP r[b].
    pub const ADD: u8 = 20;
    pub const SUB: u8 = 21;
    pub const MUL: u8 = 22;
    /// Division and remainder by 0 give 0 (as BPF's own).
    pub const DIV: u8 = 23;
    pub const MOD: u8 = 24;
    pub const AND: u8 = 25;
    pub const OR: u8 = 26;
    pub const XOR: u8 = 27;
    pub const SHL: u8 = 28;
    /// Shift right: arithmetic when `signed`.
    pub const SHR: u8 = 29;
    /// Comparisons: 1 or 0; LT/LE signed when `signed`.
    pub const EQ: u8 = 30;
    pub const NE: u8 = 31;
    pub const LT: u8 = 32;
    pub const LE: u8 = 33;
    /// r[dst] = (r[a] != 0) && (r[b] != 0), both evaluated.
    pub const LAND: u8 = 34;
    pub const LOR: u8 = 35;
    /// r[dst] = !r[a] (1 when 0), -r[a], ~r[a].
    pub const NOT: u8 = 36;
    pub const NEG: u8 = 37;
    pub const BNOT: u8 = 38;
    /// r[dst] = r[a] truncated to `size` bytes, sign-extended when `signed` (C casts).
    pub const EXT: u8 = 39;
    /// r[dst] = BCC's bpf_log2l(r[a]) (argdist -H slot).
    pub const LOG2: u8 = 40;
    /// r[dst] = 1 when the string at r[a] equals the literal `strs[off..off + imm]`, else 0.
    pub const STREQ: u8 = 41;
    /// r[dst] = address of the tracepoint record + `off` (char arrays, `__data_loc` strings).
    pub const FIELD_ADDR: u8 = 42;
    /// r[dst] = address of a copy of the current task's comm (`$comm`), in the scratch buffer.
    pub const COMM: u8 = 43;
    /// Drop the event unless r[a] != 0.
    pub const FILTER: u8 = 50;
    /// Store the low `size` bytes of r[a] at record offset `off`.
    pub const STORE: u8 = 51;
    /// Copy the NUL-terminated string at r[a] into the record at `off`, at most `imm` bytes.
    pub const STORE_STR: u8 = 52;
    /// Copy `imm` bytes at address r[a] into the record at `off` (char arrays).
    pub const STORE_BYTES: u8 = 53;
    /// The current task's comm into the record at `off` (16 bytes).
    pub const STORE_COMM: u8 = 54;
}

/// What a probe's program acts on once it keeps an event (the `ACTION` global).
pub mod action {
    /// trace: send the record (header + values) to user space.
    pub const EMIT: u8 = 0;
    /// argdist -C: count the key (the record's first KEY_SIZE bytes).
    pub const COUNT: u8 = 1;
    /// argdist -H: count r[0] as a log2 slot.
    pub const HIST: u8 = 2;
}

/// Start of every trace record; values follow at the offsets the compiler chose.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceHeader {
    pub ts_ns: u64,
    pub tgid: u32,
    pub pid: u32,
    pub uid: u32,
    pub cpu: u32,
    /// Stack ids (negative: none or lost; see profile::NOT_COLLECTED).
    pub kstack: i32,
    pub ustack: i32,
    pub comm: [u8; crate::TASK_COMM_LEN],
}

/// Size of [`TraceHeader`]: the first value's offset.
pub const HEADER_SIZE: usize = core::mem::size_of::<TraceHeader>();

/// What a function's entry probe saves for its return probe (argdist `$entry`, `$latency`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EntryData {
    pub ts_ns: u64,
    pub args: [u64; 6],
}

/// Entries saved between a function's entry and return, by thread.
pub const MAX_ENTRIES: u32 = 10240;
/// Capacity of argdist's `COUNTS` map.
pub const MAX_KEYS: u32 = 10240;

#[cfg(feature = "user")]
unsafe impl aya::Pod for Insn {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for TraceHeader {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for EntryData {}
