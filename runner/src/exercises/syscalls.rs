//! The system calls the check workloads make on purpose, by number through syscall(2): the same
//! calls whichever libc built `lab`. Through libc they differ on x86_64: open() is openat(2) in
//! glibc but open(2) in musl (the static payload lab VMs run), and fork() is clone(2) in glibc
//! but fork(2) in musl. A student's tool that traces openat or clone must see the same workload
//! on a lab VM as on a developer's machine. Every call here is async-signal-safe: the workloads'
//! children make them between fork and _exit.
use std::ffi::CStr;

/// `openat(AT_FDCWD, path, flags | O_CLOEXEC)`: a descriptor, or -1.
pub fn open(path: &CStr, flags: libc::c_int) -> libc::c_int {
    // SAFETY: a NUL-terminated path.
    unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags | libc::O_CLOEXEC,
            0,
        ) as libc::c_int
    }
}

/// unlinkat(2) of `name` relative to `dirfd`.
pub fn unlinkat(dirfd: libc::c_int, name: &CStr) {
    // SAFETY: a NUL-terminated name; a failure only means nothing was deleted.
    unsafe { libc::syscall(libc::SYS_unlinkat, dirfd, name.as_ptr(), 0) };
}

/// unlink(2) of `path`.
pub fn unlink(path: &CStr) {
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_unlink, path.as_ptr()) };
}

/// A new process as glibc's fork() makes it, clone(2) with SIGCHLD and no new stack: 0 in the
/// child, its PID in the parent, -1 on failure. The child may only make raw syscalls (libc's
/// own state, e.g. its locks, is not reset as fork() would).
pub fn fork() -> libc::pid_t {
    // SAFETY: clone(SIGCHLD) without CLONE_VM: a copy of this process, like fork(2).
    unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        ) as libc::pid_t
    }
}
