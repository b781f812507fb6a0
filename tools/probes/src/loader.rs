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
    let mut loader = EbpfLoader::new();
    configure(&mut loader);
    loader
        .load(bytes)
        .with_context(|| format!("loading eBPF object '{name}' (are you root?)"))
}

/// Load object `name` with its globals at their defaults.
pub fn load(name: &str) -> Result<Ebpf> {
    load_with(name, |_| {})
}

fn raise_memlock() {
    let lim = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // Failure is fine: newer kernels account BPF memory by cgroup, not by this limit.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) };
}
