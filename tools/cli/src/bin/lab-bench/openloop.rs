//! The per-event overhead workload: a C loop of openat()+close() on one file, timed by itself.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

const LOOP_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *path = argv[1];
    long n = atol(argv[2]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        int fd = openat(AT_FDCWD, path, O_RDONLY);
        if (fd < 0) { perror(path); return 1; }
        close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.1f\n", ns / n);
    return 0;
}
"#;

/// The compiled loop and the file it opens (its path is unique, to count a tracer's events).
pub struct OpenLoop {
    exe: PathBuf,
    pub target: PathBuf,
}

impl OpenLoop {
    pub fn build(dir: &Path) -> Result<Self> {
        let exe = crate::measure::compile_c(dir, "openloop", LOOP_C)?;
        let target = dir.join("lab-bench-opened-file");
        std::fs::write(&target, b"x")?;
        Ok(Self { exe, target })
    }

    /// Run `n` iterations; returns ns per openat()+close().
    pub fn run(&self, n: u64) -> Result<f64> {
        let out = Command::new(&self.exe)
            .arg(&self.target)
            .arg(n.to_string())
            .output()?;
        if !out.status.success() {
            bail!("open loop failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("parsing the loop's ns/iter")
    }
}
