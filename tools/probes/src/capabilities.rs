//! What this kernel lets BPF do, found by loading and attaching tiny real programs.
use aya::{
    programs::{FEntry, KProbe},
    Btf,
};

/// The outcome of trying one program kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Usable,
    /// The kernel was built without it (e.g. CONFIG_KPROBES off).
    CompiledOut(String),
    /// The kernel refused the load or attach (errno text included).
    Refused(String),
    /// We could not try (not root, object not built...).
    Untested(String),
}

impl Availability {
    pub fn is_usable(&self) -> bool {
        matches!(self, Availability::Usable)
    }
}

/// Function both probes attach to; present in every kernel we support.
pub const TARGET_FUNCTION: &str = "vfs_read";

fn errno_of(err: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(code) = io.raw_os_error() {
                return Some(code);
            }
        }
        cur = e.source();
    }
    None
}

fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    parts.dedup();
    let text = parts.join(": ");
    // aya appends an empty verifier log on load failures; it only adds noise here.
    match text.find(". Verifier output") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn errno_name(code: i32) -> &'static str {
    match code {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::ENOENT => "ENOENT",
        libc::EINVAL => "EINVAL",
        ENOTSUPP => "ENOTSUPP",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => "error",
    }
}

/// Kernel-internal ENOTSUPP, which leaks out of some BPF paths.
const ENOTSUPP: i32 = 524;

/// Whether kprobes are compiled in: the kprobe PMU or the legacy kprobe_events file exists.
pub fn kprobes_compiled_in() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
        || crate::tracefs::root().is_some_and(|r| r.join("kprobe_events").exists())
}

/// Try loading and attaching a kprobe on `vfs_read`.
pub fn kprobe() -> Availability {
    if !kprobes_compiled_in() {
        return Availability::CompiledOut(
            "no kprobe PMU (/sys/bus/event_source/devices/kprobe) and no kprobe_events in tracefs: CONFIG_KPROBES is off".into(),
        );
    }
    let mut bpf = match crate::load("doctor") {
        Ok(b) => b,
        Err(e) => return Availability::Untested(format!("{e:#}")),
    };
    let prog: &mut KProbe = match bpf.program_mut("doctor_kprobe").map(TryInto::try_into) {
        Some(Ok(p)) => p,
        _ => return Availability::Untested("doctor_kprobe missing from object".into()),
    };
    if let Err(e) = prog.load() {
        return refused(&e);
    }
    match prog.attach(TARGET_FUNCTION, 0) {
        Ok(_) => Availability::Usable,
        Err(e) => refused(&e),
    }
}

/// Try loading and attaching an fentry program on `vfs_read` (needs kernel BTF).
pub fn fentry() -> Availability {
    let btf = match Btf::from_sys_fs() {
        Ok(b) => b,
        Err(e) => return Availability::CompiledOut(format!("no kernel BTF: {e}")),
    };
    let mut bpf = match crate::load("doctor") {
        Ok(b) => b,
        Err(e) => return Availability::Untested(format!("{e:#}")),
    };
    let prog: &mut FEntry = match bpf.program_mut("doctor_fentry").map(TryInto::try_into) {
        Some(Ok(p)) => p,
        _ => return Availability::Untested("doctor_fentry missing from object".into()),
    };
    if let Err(e) = prog.load(TARGET_FUNCTION, &btf) {
        return refused(&e);
    }
    match prog.attach() {
        Ok(_) => Availability::Usable,
        Err(e) => refused(&e),
    }
}

/// Try loading and attaching a raw tracepoint program on sched_switch (biolatency and biosnoop
/// complete through one where they can).
pub fn raw_tracepoint() -> Availability {
    let mut bpf = match crate::load("doctor") {
        Ok(b) => b,
        Err(e) => return Availability::Untested(format!("{e:#}")),
    };
    let prog: &mut aya::programs::RawTracePoint =
        match bpf.program_mut("doctor_raw_tp").map(TryInto::try_into) {
            Some(Ok(p)) => p,
            _ => return Availability::Untested("doctor_raw_tp missing from object".into()),
        };
    if let Err(e) = prog.load() {
        return refused(&e);
    }
    match prog.attach("sched_switch") {
        Ok(_) => Availability::Usable,
        Err(e) => refused(&e),
    }
}

fn refused(e: &(dyn std::error::Error + 'static)) -> Availability {
    match errno_of(e) {
        Some(code) => Availability::Refused(format!("{} ({})", errno_name(code), describe(e))),
        None => Availability::Refused(describe(e)),
    }
}

/// Why this kernel refuses every fentry/fexit (BPF_PROG_TYPE_TRACING) program, found with one
/// bpf() call: a two-instruction tracing program with no attach target is refused with EPERM
/// before the verifier where tracing programs are forbidden (this project's CI host), and
/// rejected by the verifier with EINVAL ("must provide btf_id") where they are allowed (the
/// lab VMs). A real fentry load needs aya's parse of the whole vmlinux BTF (5.5 MB: ~50 ms and
/// +15 MiB RSS), so a tool asks this first and skips fentry without paying for it.
pub fn tracing_progs_refused() -> Option<String> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TYPE_TRACING: u32 = 26;
    const BPF_TRACE_FENTRY: u32 = 24;
    /// The head of `union bpf_attr` for BPF_PROG_LOAD; the kernel reads the rest as zero.
    #[repr(C)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
        rest: [u8; 56],
    }
    // r0 = 0; exit
    let insns: [u64; 2] = [0xb7, 0x95];
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_TRACING,
        insn_cnt: 2,
        insns: insns.as_ptr() as u64,
        license: c"GPL".as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name: [0; 16],
        prog_ifindex: 0,
        expected_attach_type: BPF_TRACE_FENTRY,
        rest: [0; 56],
    };
    crate::loader::raise_memlock();
    // SAFETY: BPF_PROG_LOAD reads `attr` and the instructions and license it points to, all
    // alive for the call; a returned descriptor is closed at once.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd >= 0 {
        // SAFETY: our own new descriptor.
        unsafe { libc::close(fd as i32) };
        return None;
    }
    let err = std::io::Error::last_os_error();
    (err.raw_os_error() == Some(libc::EPERM)).then(|| {
        "the kernel refuses fentry/fexit (BPF_PROG_TYPE_TRACING) programs here (EPERM)".to_owned()
    })
}
