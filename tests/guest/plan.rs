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
    "tools_multi",
    "tools_usdt",
    "users",
];

/// Guest modules that run in one guest only: (module, guest id, why).
pub const ONE_GUEST_ONLY: &[(&str, &str, &str)] = &[(
    "users",
    "debian13",
    "accounts, sudo and file modes are the userland's, not the kernel's; this host is Debian 12",
)];

/// Whether `test` (`module::...`) runs in the guest `kernel`.
pub fn runs_in(test: &str, kernel: &str) -> bool {
    let module = test.split("::").next().unwrap_or_default();
    ONE_GUEST_ONLY
        .iter()
        .all(|(m, only, _)| *m != module || *only == kernel)
}

/// `module::test` for every `#[test] fn` of the guest modules (and `module::sub::test` for
/// their submodules in tests/it/<module>/), in file order.
pub fn guest_tests(repo: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for m in GUEST_MODULES {
        for (path, prefix) in module_files(repo, m) {
            names.extend(tests_in(&path, &prefix));
        }
    }
    names
}

/// The source files of tests/it module `m` (its file, then its submodules in file order), each
/// with its test-name prefix.
fn module_files(repo: &Path, m: &str) -> Vec<(std::path::PathBuf, String)> {
    let it = repo.join("tests/it");
    let mut out = vec![(it.join(format!("{m}.rs")), m.to_string())];
    let mut subs: Vec<_> = std::fs::read_dir(it.join(m))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    subs.sort();
    for p in subs
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
    {
        let sub = p.file_stem().unwrap().to_string_lossy().into_owned();
        out.push((p, format!("{m}::{sub}")));
    }
    out
}

fn tests_in(path: &Path, prefix: &str) -> Vec<String> {
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    test_fns(&src)
        .into_iter()
        .map(|f| format!("{prefix}::{f}"))
        .collect()
}

/// The plan against the test binary itself (`it --list`): every test of a guest module must be
/// in the plan or marked HOST_ONLY, so a test the scanner misses (a new attribute, `pub fn`)
/// cannot silently stay out of the guests.
pub fn check_against_binary(repo: &Path, it: &Path) -> Result<(), String> {
    let out = std::process::Command::new(it)
        .arg("--list")
        .output()
        .map_err(|e| format!("{}: {e}", it.display()))?;
    let listed = String::from_utf8_lossy(&out.stdout);
    let planned = guest_tests(repo);
    let mut host_only = Vec::new();
    let mut prefixes = Vec::new();
    for m in GUEST_MODULES {
        for p in module_files(repo, m) {
            prefixes.push(p.1.clone());
            let src = std::fs::read_to_string(&p.0).map_err(|e| e.to_string())?;
            host_only.extend(scan(&src).1.into_iter().map(|f| format!("{}::{f}", p.1)));
        }
    }
    let missed: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        // Tests of the files the plan reads (not of a file's inner modules, e.g. doctor's
        // #[path] copy of the runner's tested.rs, whose unit tests say nothing of a kernel).
        .filter(|t| {
            t.rsplit_once("::")
                .is_some_and(|(p, _)| prefixes.iter().any(|q| q == p))
        })
        .filter(|t| !planned.iter().any(|p| p == t) && !host_only.iter().any(|h| h == t))
        .collect();
    if missed.is_empty() && !planned.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "tests of the guest modules the plan does not list (tests/guest/plan.rs scanner): {missed:?}"
        ))
    }
}

/// The marker that keeps a test of a guest module out of the guests: a comment line
/// `// host only: WHY` right above its `#[test]`, for a test that says nothing about a kernel
/// (flag parsing, help text, a file's contents), so running it again in each guest only costs.
pub const HOST_ONLY: &str = "// host only:";

/// Names of the functions marked `#[test]` (attributes may stack between the two), without those
/// marked HOST_ONLY.
pub fn test_fns(src: &str) -> Vec<String> {
    scan(src).0
}

/// (tests to run in the guests, tests marked HOST_ONLY), by function name.
fn scan(src: &str) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    let mut kept_out = Vec::new();
    let mut marked = false;
    let mut host_only = false;
    for line in src.lines().map(str::trim) {
        if line.starts_with(HOST_ONLY) && !marked {
            host_only = line.len() > HOST_ONLY.len() + 1;
            assert!(host_only, "`{HOST_ONLY}` needs a reason after it: {line:?}");
        } else if line == "#[test]" {
            marked = true;
        } else if marked && line.starts_with("#[") {
            continue;
        } else if marked {
            let line = ["pub(crate) ", "pub(super) ", "pub "]
                .iter()
                .find_map(|v| line.strip_prefix(v))
                .unwrap_or(line);
            if let Some(rest) = line.strip_prefix("fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if host_only {
                    kept_out.push(name);
                } else {
                    out.push(name);
                }
            }
            marked = false;
            host_only = false;
        } else {
            host_only = false;
        }
    }
    (out, kept_out)
}

/// A self-check of the scanner, run as a trial (this harness has no `#[test]`).
pub fn self_check() -> Result<(), String> {
    let src = "#[test]\nfn a() {}\nfn helper() {}\n#[test]\n#[ignore]\nfn b_2() {}\n\
               // host only: flags\n#[test]\nfn c() {}\n// host only: x\nfn d() {}\n#[test]\nfn e() {}\n\
               #[test]\npub(crate) fn f() {}\n#[test]\npub fn g() {}\n";
    let got = test_fns(src);
    if got == ["a", "b_2", "e", "f", "g"] {
        Ok(())
    } else {
        Err(format!("test_fns found {got:?}"))
    }
}
