//! Helper processes (virsh, ssh) that must not outlive `lab`: killed by the kernel when the
//! thread that started them ends, even after a kill -9 of `lab`. Otherwise an orphaned
//! `virsh define` of a killed `lab class up` could still land after the next `up` checked.
pub fn dies_with_lab(expr: duct::Expression) -> duct::Expression {
    expr.before_spawn(|cmd| {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Ok(())
    })
}
