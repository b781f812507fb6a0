//! Which of the integration tests (tests/it) run inside the guests: every test of the modules
//! that touch the kernel (tools, labs, bpftrace, doctor, the smoke probe). Names come from the
//! sources, so listing the guest trials needs no build.
use std::path::Path;

/// tests/it modules whose tests run in every guest.
pub const GUEST_MODULES: &[&str] = &[
    "smoke_probe",
    "doctor",
    "tools_snoop",
    "tools_hist",
    "tools_net",
    "tools_stack",
    "tools_fs",
    "tools_mem",
    "bpftrace",
    "labs",
    "tools_func",
    "tools_usdt",
    "users",
];

/// `module::test` for every `#[test] fn` of the guest modules (and `module::sub::test` for
/// their submodules in tests/it/<module>/), in file order.
pub fn guest_tests(repo: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for m in GUEST_MODULES {
        let it = repo.join("tests/it");
        names.extend(tests_in(&it.join(format!("{m}.rs")), m));
        let mut subs: Vec<_> = std::fs::read_dir(it.join(m))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        subs.sort();
        for p in subs
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        {
            let sub = p.file_stem().unwrap().to_string_lossy();
            names.extend(tests_in(p, &format!("{m}::{sub}")));
        }
    }
    names
}

fn tests_in(path: &Path, prefix: &str) -> Vec<String> {
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    test_fns(&src)
        .into_iter()
        .map(|f| format!("{prefix}::{f}"))
        .collect()
}

/// Names of the functions marked `#[test]` (attributes may stack between the two).
pub fn test_fns(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut marked = false;
    for line in src.lines().map(str::trim) {
        if line == "#[test]" {
            marked = true;
        } else if marked && line.starts_with("#[") {
            continue;
        } else if marked {
            if let Some(rest) = line.strip_prefix("fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
            marked = false;
        }
    }
    out
}

/// A self-check of the scanner, run as a trial (this harness has no `#[test]`).
pub fn self_check() -> Result<(), String> {
    let src = "#[test]\nfn a() {}\nfn helper() {}\n#[test]\n#[ignore]\nfn b_2() {}\n";
    let got = test_fns(src);
    if got == ["a", "b_2"] {
        Ok(())
    } else {
        Err(format!("test_fns found {got:?}"))
    }
}
