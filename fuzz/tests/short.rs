//! The short, seeded version of the fuzzing (`cargo test`): every target runs its seed inputs
//! (fuzz/corpus/<target>/, plus the repo's own labs for lab_format and this kernel's tracefs
//! formats for tracefs_format) and then LAB_FUZZ_ITERS (default 3000) inputs mutated from them
//! by a seeded RNG (LAB_FUZZ_SEED, default 1; printed, so a failure reproduces). This is not
//! coverage-guided: the long runs are libFuzzer's (fuzz/README.md). An input that panics is
//! written to target/fuzz-failures/ and named in the failure.
use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use rand::{rngs::StdRng, Rng, SeedableRng};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files_in(dir: &Path, ext: Option<&str>) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p| p.is_file() && ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)));
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut s = files_in(&repo().join("fuzz/corpus").join(target), None);
    match target {
        "lab_format" => {
            s.extend(files_in(&repo().join("labs"), Some("md")));
            s.extend(files_in(&repo().join("tests/it/engine_labs"), Some("md")));
        }
        "tracefs_format" => {
            for tp in [
                "sched/sched_wakeup",
                "syscalls/sys_exit_read",
                "block/block_rq_issue",
            ] {
                for root in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
                    if let Ok(f) = std::fs::read(format!("{root}/events/{tp}/format")) {
                        s.push(f);
                        break;
                    }
                }
            }
        }
        _ => {}
    }
    assert!(
        !s.is_empty(),
        "{target}: no seed inputs (fuzz/corpus/{target}/ is missing)"
    );
    s
}

/// One random edit of `input`; `other` is another seed to splice from.
fn mutate(rng: &mut StdRng, input: &mut Vec<u8>, other: &[u8]) {
    const INTERESTING: &[u8] = b"\0\xff\n\r\t \"'[]{}=:;,.-+#%*/\\0123456789e\x7f\xc3\xa9";
    let len = input.len();
    match rng.gen_range(0..7) {
        0 if len > 0 => {
            let i = rng.gen_range(0..len);
            input[i] ^= 1 << rng.gen_range(0..8);
        }
        1 if len > 0 => {
            let i = rng.gen_range(0..len);
            input[i] = INTERESTING[rng.gen_range(0..INTERESTING.len())];
        }
        2 if len > 0 => {
            let a = rng.gen_range(0..len);
            let b = (a + rng.gen_range(1..=64)).min(len);
            input.drain(a..b);
        }
        3 if len > 0 => {
            let a = rng.gen_range(0..len);
            let b = (a + rng.gen_range(1..=64)).min(len);
            let chunk = input[a..b].to_vec();
            let at = rng.gen_range(0..=len);
            input.splice(
                at..at,
                chunk
                    .iter()
                    .copied()
                    .cycle()
                    .take(chunk.len() * rng.gen_range(1..4)),
            );
        }
        4 if !other.is_empty() => {
            let a = rng.gen_range(0..other.len());
            let b = (a + rng.gen_range(1..=256)).min(other.len());
            let at = rng.gen_range(0..=len);
            input.splice(at..at, other[a..b].iter().copied());
        }
        5 if len > 0 => input.truncate(rng.gen_range(0..len)),
        _ => {
            // Little-endian u32 fields (BTF ids, lengths, offsets): set one to an edge value.
            if len >= 4 {
                let i = rng.gen_range(0..len - 3) & !3;
                let v: u32 = [0, 1, 0xffff, 0x7fff_ffff, u32::MAX, len as u32][rng.gen_range(0..6)];
                input[i..i + 4].copy_from_slice(&v.to_le_bytes());
            } else {
                input.push(INTERESTING[rng.gen_range(0..INTERESTING.len())]);
            }
        }
    }
}

fn run_target(name: &str, f: fn(&[u8])) {
    let iters: usize = std::env::var("LAB_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("LAB_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let seeds = seeds(name);
    let mut rng = StdRng::seed_from_u64(seed ^ name.len() as u64);
    let check = |input: &[u8], what: &str| {
        if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
            let dir = repo().join("target/fuzz-failures");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{name}-{what}"));
            std::fs::write(&path, input).unwrap();
            panic!(
                "fuzz target {name} panicked on {what} (LAB_FUZZ_SEED={seed}); input saved to {}; \
                 reproduce: cargo fuzz run --fuzz-dir fuzz --features libfuzzer {name} {}",
                path.display(),
                path.display()
            );
        }
    };
    for (i, s) in seeds.iter().enumerate() {
        check(s, &format!("seed-{i}"));
    }
    for i in 0..iters {
        let mut input = seeds[rng.gen_range(0..seeds.len())].clone();
        let other = &seeds[rng.gen_range(0..seeds.len())];
        for _ in 0..rng.gen_range(1..=8) {
            mutate(&mut rng, &mut input, other);
        }
        check(&input, &format!("mutant-{i}"));
    }
    eprintln!(
        "{name}: {} seeds + {iters} mutants (LAB_FUZZ_SEED={seed}), no panic",
        seeds.len()
    );
}

#[test]
fn lab_format_short() {
    run_target("lab_format", lab_fuzz::lab_format);
}

#[test]
fn answers_short() {
    run_target("answers", lab_fuzz::answers);
}

#[test]
fn bpftrace_output_short() {
    run_target("bpftrace_output", lab_fuzz::bpftrace_output);
}

#[test]
fn btf_short() {
    run_target("btf", lab_fuzz::btf);
}

#[test]
fn tracefs_format_short() {
    run_target("tracefs_format", lab_fuzz::tracefs_format);
}

/// The list in lib.rs, the libFuzzer binaries in Cargo.toml and the tests above name the same
/// targets, so a new target cannot miss its short run.
#[test]
fn every_target_has_a_short_run_and_a_fuzz_binary() {
    let manifest = std::fs::read_to_string(repo().join("fuzz/Cargo.toml")).unwrap();
    let me = std::fs::read_to_string(file!())
        .or_else(|_| std::fs::read_to_string(repo().join("fuzz/tests/short.rs")))
        .unwrap();
    for (name, _) in lab_fuzz::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name}: no [[bin]] in fuzz/Cargo.toml"
        );
        assert!(
            me.contains(&format!("fn {name}_short()")),
            "{name}: no short run in tests/short.rs"
        );
        assert!(
            repo()
                .join(format!("fuzz/fuzz_targets/{name}.rs"))
                .is_file(),
            "{name}: no fuzz_targets/{name}.rs"
        );
    }
}
