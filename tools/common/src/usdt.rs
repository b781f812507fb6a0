//! USDT arguments as the kernel half reads them at a probe (user side: lab_probes::usdt, which
//! decodes the note's `-4@%edi`-style specs into these).

/// Most arguments a USDT probe can have (`<sys/sdt.h>`'s limit).
pub const USDT_MAX_ARGS: usize = 12;

/// The argument is a constant: `disp`.
pub const USDT_ARG_CONST: u8 = 0;
/// The argument is a register: the 8-byte pt_regs slot at `reg`.
pub const USDT_ARG_REG: u8 = 1;
/// The argument is in user memory at register `reg` + `disp` (+ register `index` * `scale`
/// when `scale` is not 0).
pub const USDT_ARG_MEM: u8 = 2;

/// One argument of one probe location.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsdtArgSpec {
    /// USDT_ARG_CONST, USDT_ARG_REG or USDT_ARG_MEM.
    pub kind: u8,
    /// Bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// 1: sign-extend to 64 bits.
    pub signed: u8,
    /// Index multiplier (1, 2, 4, 8); 0: no index register.
    pub scale: u8,
    /// pt_regs offsets of the base and index registers.
    pub reg: u16,
    pub index: u16,
    /// The constant, or the displacement.
    pub disp: i64,
}

/// Every argument of one probe location (the program's spec, looked up by attach cookie).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsdtSpec {
    pub args: [UsdtArgSpec; USDT_MAX_ARGS],
    pub count: u32,
    pub _pad: u32,
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for UsdtArgSpec {}
    unsafe impl aya::Pod for UsdtSpec {}
}
