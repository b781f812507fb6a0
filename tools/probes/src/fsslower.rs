//! fsslower / fsdist's user half (ext4slower, xfsslower, btrfsslower, ext4dist, xfsdist): pick
//! the hook this kernel allows, fill in the struct offsets from BTF, and hand back slow
//! operations or per-operation latency histograms. Kernel half: tools/ebpf/src/fsslower.rs.
use std::{collections::BTreeMap, os::fd::AsFd as _};

use anyhow::{bail, Context as _, Result};
use aya::{
    maps::{MapData, RingBuf},
    programs::{FEntry, FExit, KProbe},
    Ebpf,
};
use lab_probes_common::fsslower::{
    FsEvent, FsOffsets, MODE_EVENTS, MODE_HIST, OP_FSYNC, OP_OPEN, OP_READ, OP_WRITE,
};

use crate::{btf::Btf, capabilities, events, hist::Hist, requirements::Tracepoint, tracefs};

/// A file system these tools know: its functions (BCC/libbpf-tools' choice) and its
/// superblock magic (the syscall path's filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsKind {
    pub name: &'static str,
    /// read_iter, write_iter, open, fsync.
    pub funcs: [&'static str; 4],
    pub magic: u64,
}

pub const EXT4: FsKind = FsKind {
    name: "ext4",
    funcs: [
        "ext4_file_read_iter",
        "ext4_file_write_iter",
        "ext4_file_open",
        "ext4_sync_file",
    ],
    magic: 0xEF53,
};
pub const XFS: FsKind = FsKind {
    name: "xfs",
    funcs: [
        "xfs_file_read_iter",
        "xfs_file_write_iter",
        "xfs_file_open",
        "xfs_file_fsync",
    ],
    magic: 0x5846_5342,
};
pub const BTRFS: FsKind = FsKind {
    name: "btrfs",
    funcs: [
        "btrfs_file_read_iter",
        "btrfs_file_write_iter",
        "btrfs_file_open",
        "btrfs_sync_file",
    ],
    magic: 0x9123_683E,
};

pub fn fs_by_name(name: &str) -> Option<FsKind> {
    [EXT4, XFS, BTRFS].into_iter().find(|f| f.name == name)
}

/// How the operations are hooked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Fentry,
    Kprobe,
    Syscall,
}

impl Hook {
    pub fn parse(s: &str) -> Option<Hook> {
        match s {
            "fentry" => Some(Hook::Fentry),
            "kprobe" => Some(Hook::Kprobe),
            "syscall" => Some(Hook::Syscall),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Hook::Fentry => "fentry",
            Hook::Kprobe => "kprobe",
            Hook::Syscall => "syscall",
        }
    }

    /// One line for the tools' header: what runs and, for the syscall path, what it misses
    /// (`absent`: file syscalls this kernel has no tracepoint for).
    pub fn describe(self, fs: &FsKind, absent: &[&str]) -> String {
        let [r, w, o, s] = fs.funcs;
        match self {
            Hook::Fentry => format!("fentry/fexit on {r}, {w}, {o}, {s}"),
            Hook::Kprobe => format!("kprobe/kretprobe on {r}, {w}, {o}, {s}"),
            Hook::Syscall => {
                let mut unseen = String::new();
                for call in absent {
                    unseen += &format!("{call}(), ");
                }
                format!(
                    "syscall tracepoints (no kprobes or fentry here): read/write/fsync/open syscalls on {} files; not seen: {unseen}{SYS_UNSEEN}",
                    fs.name
                )
            }
        }
    }
}

/// Operation code as BCC's T column letter.
pub fn op_letter(op: u32) -> char {
    match op {
        OP_READ => 'R',
        OP_WRITE => 'W',
        OP_OPEN => 'O',
        _ => 'S',
    }
}

/// Operation code as fsdist's section name.
pub fn op_name(op: u32) -> &'static str {
    match op {
        OP_READ => "read",
        OP_WRITE => "write",
        OP_OPEN => "open",
        OP_FSYNC => "fsync",
        _ => "?",
    }
}

/// What the probe produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One event per operation at least `min_ns` long.
    Events { min_ns: u64 },
    /// Log2 latency histograms per operation, in ms or µs.
    Hist { millis: bool },
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub fs: FsKind,
    /// None: the first of fentry, kprobe, syscall that works.
    pub hook: Option<Hook>,
    pub pid: Option<u32>,
    pub mode: Mode,
}

/// One traced operation.
#[derive(Debug, Clone)]
pub struct FsOp {
    pub end_ns: u64,
    pub delta_ns: u64,
    pub size: i64,
    pub offset: i64,
    pub pid: u32,
    pub op: u32,
    pub comm: String,
    pub name: String,
}

/// Syscalls of the syscall path: (enter program, syscall). These must exist.
const SYS_REQUIRED: &[(&str, &str)] = &[
    ("fss_sys_read", "read"),
    ("fss_sys_write", "write"),
    ("fss_sys_pread", "pread64"),
    ("fss_sys_pwrite", "pwrite64"),
    ("fss_sys_read", "readv"),
    ("fss_sys_write", "writev"),
    ("fss_sys_fsync", "fsync"),
    ("fss_sys_fsync", "fdatasync"),
    ("fss_sys_open", "openat"),
];
/// Every other file read/write/open/sync syscall that has a tracepoint (x86_64 has all of
/// them; other architectures lack open and creat): traced where present, else named in the
/// header as not seen. msync, the one sync left out, names an address, not a file.
const SYS_OPTIONAL: &[(&str, &str)] = &[
    ("fss_sys_open", "open"),
    ("fss_sys_open", "openat2"),
    ("fss_sys_open", "creat"),
    ("fss_sys_open", "open_by_handle_at"),
    ("fss_sys_pread", "preadv"),
    ("fss_sys_pread", "preadv2"),
    ("fss_sys_pwrite", "pwritev"),
    ("fss_sys_pwrite", "pwritev2"),
];
/// What the syscall path never sees, whatever the kernel: I/O that takes no file syscall of
/// the lists above. The fentry/kprobe paths see the file system's own functions, whichever
/// way they are reached.
const SYS_UNSEEN: &str = "io_uring, AIO, mmap faults and msync, splice/sendfile/copy_file_range";

/// Tracepoints the syscall path needs (the catalog's entry).
pub const TRACEPOINTS: &[Tracepoint] = &[
    ("syscalls", "sys_enter_read"),
    ("syscalls", "sys_exit_read"),
    ("syscalls", "sys_enter_write"),
    ("syscalls", "sys_exit_write"),
    ("syscalls", "sys_enter_pread64"),
    ("syscalls", "sys_enter_pwrite64"),
    ("syscalls", "sys_enter_fsync"),
    ("syscalls", "sys_enter_fdatasync"),
    ("syscalls", "sys_enter_openat"),
];

/// Offsets the kernel half follows, from this kernel's BTF.
fn offsets(btf: &Btf) -> Result<FsOffsets> {
    btf.prefetch(&[
        "kiocb",
        "ki_filp",
        "ki_pos",
        "task_struct",
        "files",
        "files_struct",
        "fdt",
        "fdtable",
        "max_fds",
        "fd",
        "file",
        "f_inode",
        "inode",
        "i_sb",
        "super_block",
        "s_magic",
        "f_pos",
        "f_path",
        "path",
        "dentry",
        "d_name",
        "qstr",
        "name",
    ])?;
    let m = |s: &str, f: &str| btf.member(s, f).map(|m| m.offset);
    Ok(FsOffsets {
        kiocb_filp: m("kiocb", "ki_filp")?,
        kiocb_pos: m("kiocb", "ki_pos")?,
        task_files: m("task_struct", "files")?,
        files_fdt: m("files_struct", "fdt")?,
        fdt_max_fds: m("fdtable", "max_fds")?,
        fdt_fd: m("fdtable", "fd")?,
        file_inode: m("file", "f_inode")?,
        inode_sb: m("inode", "i_sb")?,
        sb_magic: m("super_block", "s_magic")?,
        file_pos: m("file", "f_pos")?,
        file_dentry: m("file", "f_path")? + m("path", "dentry")?,
        dentry_name: m("dentry", "d_name")? + m("qstr", "name")?,
    })
}

/// An attached fsslower/fsdist probe; detaches when dropped.
pub struct FsProbe {
    bpf: Ebpf,
    ring: RingBuf<MapData>,
    hook: Hook,
    fs: FsKind,
    /// File syscalls with no tracepoint here (syscall path): named in the header as not seen.
    absent: Vec<&'static str>,
    /// Why faster hooks were passed over (auto choice), for -v.
    pub skipped: Vec<String>,
}

impl FsProbe {
    pub fn attach(opts: &Options) -> Result<Self> {
        let offs = offsets(&Btf::vmlinux()?)?;
        let order: &[Hook] = match opts.hook {
            Some(Hook::Fentry) => &[Hook::Fentry],
            Some(Hook::Kprobe) => &[Hook::Kprobe],
            Some(Hook::Syscall) => &[Hook::Syscall],
            None => &[Hook::Fentry, Hook::Kprobe, Hook::Syscall],
        };
        let mut skipped = Vec::new();
        for &hook in order {
            match Self::attach_with(opts, &offs, hook) {
                Ok(mut p) => {
                    p.skipped = skipped;
                    return Ok(p);
                }
                Err(e) if opts.hook.is_none() && hook != Hook::Syscall => {
                    skipped.push(format!("{}: {e:#}", hook.name()));
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the syscall path ends the ladder")
    }

    fn attach_with(opts: &Options, offs: &FsOffsets, hook: Hook) -> Result<Self> {
        precheck(hook, &opts.fs)?;
        let root = if hook == Hook::Syscall {
            Some(events::require_tracepoints(TRACEPOINTS)?)
        } else {
            None
        };
        let sys = |tp: &str, field: &str| -> Result<u32> {
            match &root {
                Some(r) => tracefs::field_offset(r, "syscalls", tp, field),
                None => Ok(0),
            }
        };
        let fd_off = sys("sys_enter_read", "fd")?;
        let pos_off = sys("sys_enter_pread64", "pos")?;
        let ret_off = sys("sys_exit_read", "ret")?;
        let absent = match &root {
            Some(r) => check_syscall_fields(r, fd_off, pos_off)?,
            None => Vec::new(),
        };
        let pid = opts.pid.unwrap_or(0);
        // The tracer's own writes (its output to a file on the traced file system) would
        // each make another line to write.
        let self_pid = std::process::id();
        let magic = opts.fs.magic;
        let (mode, min_ns, ms) = match opts.mode {
            Mode::Events { min_ns } => (MODE_EVENTS, min_ns, 0u8),
            Mode::Hist { millis } => (MODE_HIST, 0, u8::from(millis)),
        };
        let mut bpf = crate::loader::load_with("fsslower", |l| {
            if mode == MODE_EVENTS {
                // The per-CPU histogram map is only written in histogram mode; preallocating
                // its full size cost ext4slower ~4 ms of its start.
                l.map_max_entries("HIST", 1);
            }
            l.override_global("OFFS", offs, true)
                .override_global("FS_MAGIC", &magic, true)
                .override_global("FILTER_PID", &pid, true)
                .override_global("SELF_PID", &self_pid, true)
                .override_global("MIN_NS", &min_ns, true)
                .override_global("MODE", &mode, true)
                .override_global("HIST_MS", &ms, true)
                .override_global("SYS_FD_OFF", &fd_off, true)
                .override_global("SYS_POS_OFF", &pos_off, true)
                .override_global("SYS_RET_OFF", &ret_off, true);
        })?;
        match hook {
            Hook::Fentry => attach_fentry(&mut bpf, &opts.fs)?,
            Hook::Kprobe => attach_kprobes(&mut bpf, &opts.fs)?,
            Hook::Syscall => {
                let root = root.expect("checked above");
                attach_syscalls(&mut bpf, &root)?
            }
        }
        let ring = events::take_ring(&mut bpf)?;
        Ok(Self {
            bpf,
            ring,
            hook,
            fs: opts.fs,
            absent,
            skipped: Vec::new(),
        })
    }

    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// The header's "Hook:" line: what is traced and what is not.
    pub fn describe(&self) -> String {
        self.hook.describe(&self.fs, &self.absent)
    }

    /// Readable when events wait.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.ring.as_fd()
    }

    /// Call `f` on each waiting event.
    pub fn drain(&mut self, mut f: impl FnMut(FsOp) -> Result<()>) -> Result<usize> {
        events::drain(&mut self.ring, |bytes| {
            let ev: FsEvent = events::decode(bytes).context("short fsslower record")?;
            f(FsOp {
                end_ns: ev.end_ns,
                delta_ns: ev.delta_ns,
                size: ev.size,
                offset: ev.offset,
                pid: ev.pid,
                op: ev.op,
                comm: events::cstr(&ev.comm),
                name: events::cstr(&ev.name),
            })
        })
    }

    pub fn lost(&self) -> Result<u64> {
        events::lost(&self.bpf)
    }

    pub fn missed(&self) -> u64 {
        crate::progstats::recursion_misses(&self.bpf)
    }

    /// Histograms since attach, by operation code.
    pub fn read_hist(&self) -> Result<BTreeMap<u64, Hist>> {
        crate::hist::read_keyed(&self.bpf)
    }
}

const ENTRY_PROGS: [&str; 4] = ["read", "write", "open", "fsync"];

/// Why `hook` cannot work on this kernel, found before loading anything: every load creates
/// the maps and runs the verifier, and an fentry load first needs aya's parse of the whole
/// vmlinux BTF (~50 ms, +15 MiB), which the ladder then paid for nothing where fentry is refused.
fn precheck(hook: Hook, fs: &FsKind) -> Result<()> {
    match hook {
        Hook::Fentry => {
            // A file system built as a module (Debian's ext4, xfs, btrfs) has its functions'
            // BTF in /sys/kernel/btf/<module>; aya 0.14 loads fentry programs against
            // vmlinux's BTF only.
            let module_btf = std::path::Path::new("/sys/kernel/btf").join(fs.name);
            if module_btf.exists() {
                bail!(
                    "fentry: {} is a kernel module here ({}), and fentry on module functions is not supported by this build (aya 0.14); use --hook kprobe",
                    fs.name,
                    module_btf.display()
                );
            }
            if let Some(why) = capabilities::tracing_progs_refused() {
                bail!("{why}");
            }
        }
        Hook::Kprobe => {
            if !capabilities::kprobes_compiled_in() {
                bail!("this kernel has no kprobes (CONFIG_KPROBES off)");
            }
        }
        Hook::Syscall => {}
    }
    Ok(())
}

fn attach_fentry(bpf: &mut Ebpf, fs: &FsKind) -> Result<()> {
    let btf = aya::Btf::from_sys_fs().context("reading kernel BTF for fentry")?;
    for (func, op) in fs.funcs.iter().zip(ENTRY_PROGS) {
        let entry = format!("fss_fentry_{op}");
        let p: &mut FEntry = bpf
            .program_mut(&entry)
            .with_context(|| format!("program {entry} missing from object"))?
            .try_into()?;
        p.load(func, &btf)
            .with_context(|| format!("loading fentry on {func}"))?;
        p.attach()
            .with_context(|| format!("attaching fentry to {func}"))?;
        let exit = format!("fss_fexit_{op}");
        let p: &mut FExit = bpf
            .program_mut(&exit)
            .with_context(|| format!("program {exit} missing from object"))?
            .try_into()?;
        p.load(func, &btf)
            .with_context(|| format!("loading fexit on {func}"))?;
        p.attach()
            .with_context(|| format!("attaching fexit to {func}"))?;
    }
    Ok(())
}

fn attach_kprobes(bpf: &mut Ebpf, fs: &FsKind) -> Result<()> {
    // Return probes first: an entry is only saved once its return is watched.
    let p: &mut KProbe = bpf
        .program_mut("fss_kretprobe")
        .context("program fss_kretprobe missing from object")?
        .try_into()?;
    p.load().context("verifier rejected fss_kretprobe")?;
    for func in fs.funcs {
        p.attach(func, 0).with_context(|| {
            format!(
                "attaching a kretprobe to {func} (not in /proc/kallsyms? is the {} module loaded?)",
                fs.name
            )
        })?;
    }
    for (func, op) in fs.funcs.iter().zip(ENTRY_PROGS) {
        let name = format!("fss_kprobe_{op}");
        let p: &mut KProbe = bpf
            .program_mut(&name)
            .with_context(|| format!("program {name} missing from object"))?
            .try_into()?;
        p.load()
            .with_context(|| format!("verifier rejected {name}"))?;
        p.attach(func, 0)
            .with_context(|| format!("attaching a kprobe to {func}"))?;
    }
    Ok(())
}

/// Whether syscall `call` has both its tracepoints here.
fn has_syscall(root: &std::path::Path, call: &str) -> bool {
    tracefs::tracepoint_exists(root, "syscalls", &format!("sys_enter_{call}"))
        && tracefs::tracepoint_exists(root, "syscalls", &format!("sys_exit_{call}"))
}

/// The syscalls the syscall path attaches to here: (enter program, syscall).
fn syscalls_here(root: &std::path::Path) -> Vec<(&'static str, &'static str)> {
    SYS_REQUIRED
        .iter()
        .chain(SYS_OPTIONAL.iter().filter(|(_, c)| has_syscall(root, c)))
        .copied()
        .collect()
}

/// One fd offset and one position offset serve every syscall (the kernel half reads them
/// from load-time globals): check that holds here. Returns the optional syscalls absent here.
fn check_syscall_fields(
    root: &std::path::Path,
    fd_off: u32,
    pos_off: u32,
) -> Result<Vec<&'static str>> {
    for (prog, call) in syscalls_here(root) {
        let tp = format!("sys_enter_{call}");
        let field = |f: &str| tracefs::field_offset(root, "syscalls", &tp, f);
        if prog != "fss_sys_open" && field("fd")? != fd_off {
            bail!("{tp}'s fd field is not where sys_enter_read's is");
        }
        if prog == "fss_sys_pread" || prog == "fss_sys_pwrite" {
            let pos = field("pos").or_else(|_| field("pos_l"))?;
            if pos != pos_off {
                bail!("{tp}'s position field is not where sys_enter_pread64's is");
            }
        }
    }
    Ok(SYS_OPTIONAL
        .iter()
        .filter(|(_, c)| !has_syscall(root, c))
        .map(|(_, c)| *c)
        .collect())
}

fn attach_syscalls(bpf: &mut Ebpf, root: &std::path::Path) -> Result<()> {
    // Several syscalls share one enter program: load each once, then attach.
    let pairs = syscalls_here(root);
    let exits: Vec<String> = pairs.iter().map(|(_, c)| format!("sys_exit_{c}")).collect();
    let exits: Vec<(&str, &str)> = exits.iter().map(|e| ("syscalls", e.as_str())).collect();
    events::attach_tracepoints(bpf, "fss_sys_exit", &exits)?;
    let mut progs: Vec<&str> = pairs.iter().map(|(p, _)| *p).collect();
    progs.sort_unstable();
    progs.dedup();
    for prog in progs {
        let tps: Vec<String> = pairs
            .iter()
            .filter(|(p, _)| *p == prog)
            .map(|(_, c)| format!("sys_enter_{c}"))
            .collect();
        let tps: Vec<(&str, &str)> = tps.iter().map(|t| ("syscalls", t.as_str())).collect();
        events::attach_tracepoints(bpf, prog, &tps)?;
    }
    Ok(())
}

crate::events::event_source!(FsProbe => FsOp);
