//! Finding an embedded eBPF object and loading it with aya.
use anyhow::{bail, Context as _, Result};
use aya::{Ebpf, EbpfLoader};

mod objects {
    include!(concat!(env!("OUT_DIR"), "/objects.rs"));
}

/// The object was not built into this binary (the eBPF build was skipped).
#[derive(Debug)]
pub struct ObjectMissing(pub String);

impl std::fmt::Display for ObjectMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl std::error::Error for ObjectMissing {}

/// The bytes of an embedded object, by its `[[bin]]` name in tools/ebpf.
pub fn object(name: &str) -> Result<&'static [u8]> {
    let Some((_, bytes)) = objects::OBJECTS.iter().find(|(n, _)| *n == name) else {
        bail!("no eBPF object named '{name}' in this build");
    };
    if !objects::BUILT || bytes.is_empty() {
        return Err(ObjectMissing(format!(
            "this binary was built without its eBPF objects ({}); rebuild after `sudo provision/setup.sh --deps`",
            objects::SKIP_REASON
        ))
        .into());
    }
    Ok(bytes)
}

/// Names of all embedded objects.
pub fn object_names() -> impl Iterator<Item = &'static str> {
    objects::OBJECTS.iter().map(|(n, _)| *n)
}

/// Load object `name`, letting `configure` set globals (`EbpfLoader::override_global`) first.
/// Raises RLIMIT_MEMLOCK for kernels that still charge BPF maps against it (before 5.11).
/// The loader's lifetime is the caller's, so `override_global("NAME", &local_value, true)` works.
pub fn load_with<'a>(name: &str, configure: impl FnOnce(&mut EbpfLoader<'a>)) -> Result<Ebpf> {
    let bytes = object(name)?;
    raise_memlock();
    let mut loader = new_loader();
    configure(&mut loader);
    loader
        .load(bytes)
        .with_context(|| format!("loading eBPF object '{name}' (are you root?)"))
}

/// Load object `name` with its globals at their defaults.
pub fn load(name: &str) -> Result<Ebpf> {
    load_with(name, |_| {})
}

static SKIP_KERNEL_BTF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// For single-threaded tool binaries, called before anything is loaded: skip aya's parse of
/// /sys/kernel/btf/vmlinux. aya 0.14's `EbpfLoader::new()` always parses it (5.5 MB here: 35-80
/// ms and +15 MB RSS) for CO-RE relocations, which none of our probes use (tracepoint offsets
/// come from tracefs, struct offsets from our own BTF reader). aya has no constructor without
/// the parse, so while calling it we lower RLIMIT_NOFILE until the open fails with EMFILE; that
/// would also fail other threads' opens in that instant, hence opt-in and only for the tools.
pub fn skip_kernel_btf_parse() {
    SKIP_KERNEL_BTF.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn new_loader<'a>() -> EbpfLoader<'a> {
    if !SKIP_KERNEL_BTF.load(std::sync::atomic::Ordering::Relaxed) {
        return EbpfLoader::new();
    }
    // SAFETY: plain rlimit/open/close calls with valid pointers.
    unsafe {
        let mut old: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) != 0 {
            return EbpfLoader::new();
        }
        // The lowest free descriptor: with the soft limit there, no further open can succeed.
        let lowest = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if lowest < 0 {
            return EbpfLoader::new();
        }
        libc::close(lowest);
        let tight = libc::rlimit {
            rlim_cur: lowest as libc::rlim_t,
            rlim_max: old.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &tight) != 0 {
            return EbpfLoader::new();
        }
        let loader = EbpfLoader::new();
        libc::setrlimit(libc::RLIMIT_NOFILE, &old);
        loader
    }
}

pub(crate) fn raise_memlock() {
    let lim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // Failure is fine: newer kernels account BPF memory by cgroup, not by this limit.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) };
}
