//! What a guest gets: the static payload a class would get (lab, lab-workload, the tools), plus
//! for the tests a static build of the integration test binary and the files it reads.
//! Built once per harness run, on first use.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

pub const TARGET: &str = "x86_64-unknown-linux-musl";
/// Served next to lab-payload.tar.gz: the test binary and the repo files the tests read.
pub const TESTS_TARBALL: &str = "lab-tests.tar.gz";
/// Repo paths the guest tests read (lab_tests::repo_root() there is /opt/lab-tests/repo).
const REPO_FILES: &[&str] = &["labs", "tools/bpftrace", "tests/it"];

pub struct Payload {
    /// Static lab, lab-workload and tools (`lab provision cloud-init --bin-dir`).
    pub bins: PathBuf,
    /// Holds TESTS_TARBALL: `it` and `repo/`.
    pub tests_dir: PathBuf,
    /// The static test binary that goes into the guests.
    pub it: PathBuf,
}

/// Build everything (or take LAB_VM_BIN_DIR / LAB_GUEST_TEST_BIN when set, e.g. by tests/run.sh).
pub fn build(repo: &Path, work: &Path) -> Result<Payload, String> {
    let bins = match std::env::var_os("LAB_VM_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(last_line(
            Command::new(repo.join("provision/build-static.sh")).current_dir(repo),
        )?),
    };
    let it = match std::env::var_os("LAB_GUEST_TEST_BIN") {
        Some(p) => PathBuf::from(p),
        None => build_test_binary(repo)?,
    };
    let tests_dir = work.join("tests-payload");
    let stage = tests_dir.join("stage");
    std::fs::create_dir_all(stage.join("repo")).map_err(|e| e.to_string())?;
    std::fs::copy(&it, stage.join("it")).map_err(|e| format!("{}: {e}", it.display()))?;
    for f in REPO_FILES {
        let to = stage.join("repo").join(f);
        std::fs::create_dir_all(to.parent().unwrap()).map_err(|e| e.to_string())?;
        checked(Command::new("cp").arg("-a").arg(repo.join(f)).arg(&to))?;
    }
    checked(
        Command::new("tar")
            .arg("czf")
            .arg(tests_dir.join(TESTS_TARBALL))
            .arg("-C")
            .arg(&stage)
            .args(["it", "repo"]),
    )?;
    Ok(Payload {
        bins,
        it: stage.join("it"),
        tests_dir,
    })
}

/// `cargo test --no-run` of tests/it for the musl target; returns the executable.
fn build_test_binary(repo: &Path) -> Result<PathBuf, String> {
    let start = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo)
        .env("LAB_REQUIRE_EBPF", "1")
        .args(["test", "--release", "--locked", "--target", TARGET])
        .args(["-p", "lab-tests", "--test", "it", "--no-run"])
        .args(["--message-format", "json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the static test binary failed ({})",
            out.status
        ));
    }
    let exe = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "it")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .ok_or("cargo built no `it` executable")?;
    eprintln!(
        "guest: static test binary {} in {:.0}s",
        exe.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(exe)
}

/// Run a repo script (stderr passes through); its stdout's last line.
pub fn last_line(c: &mut Command) -> Result<String, String> {
    let start = Instant::now();
    let out = c
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{c:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!("{c:?} failed ({}):\n{stdout}", out.status));
    }
    eprintln!("guest: {c:?} done in {:.0}s", start.elapsed().as_secs_f64());
    Ok(stdout.lines().last().unwrap_or_default().trim().to_string())
}

pub fn checked(c: &mut Command) -> Result<(), String> {
    let (code, out, err) = lab_tests::run(c);
    if code == 0 {
        Ok(())
    } else {
        Err(format!("{c:?} exited {code}:\n{out}\n{err}"))
    }
}
