//! The system calls the labs name (opensnoop's openat, lab 1's write and fsync/fdatasync), made
//! by number through syscall(2) so a workload makes the same calls whichever libc built it.
//! Through libc they differ: Rust's File::open calls libc's open(), which glibc turns into
//! openat(2) and musl (the static payload lab VMs get) into open(2), so opensnoop (which traces
//! openat, like BCC's and libbpf-tools') saw nothing of a workload built with musl.
use std::{
    ffi::CString,
    fs::File,
    io,
    os::{
        fd::{AsRawFd as _, FromRawFd as _},
        unix::ffi::OsStrExt as _,
    },
    path::Path,
};

/// `openat(AT_FDCWD, path, flags | O_CLOEXEC, mode)`.
pub fn open(path: &Path, flags: libc::c_int, mode: libc::mode_t) -> io::Result<File> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path; the kernel returns a new descriptor or -1 (errno set).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            c.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just opened and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd as libc::c_int) })
}

/// Write all of `buf` with write(2) (glibc and musl agree here; explicit all the same).
pub fn write_all(f: &File, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: a valid descriptor and buffer.
        let n = unsafe { libc::syscall(libc::SYS_write, f.as_raw_fd(), buf.as_ptr(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// fsync(2), or fdatasync(2) when `data_only`.
pub fn sync(f: &File, data_only: bool) -> io::Result<()> {
    let nr = if data_only {
        libc::SYS_fdatasync
    } else {
        libc::SYS_fsync
    };
    // SAFETY: a valid descriptor.
    if unsafe { libc::syscall(nr, f.as_raw_fd()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
