//! provision/setup.sh refuses what it cannot do, with one clear line and a non-zero exit.
use std::{path::PathBuf, process::Command};

use lab_tests::run;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../provision/setup.sh")
}

fn fake_os_release(id: &str, version: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "lab-os-release-{id}-{version}-{}",
        std::process::id()
    ));
    std::fs::write(&p, format!("ID={id}\nVERSION_ID=\"{version}\"\n")).unwrap();
    p
}

#[test]
fn setup_refuses_unsupported_distros() {
    if !lab_tests::is_root() {
        eprintln!(
            "SKIPPED setup_refuses_unsupported_distros: the distro check runs after the root check"
        );
        return;
    }
    for (id, ver, want) in [
        ("fedora", "40", "'fedora' is not supported"),
        ("debian", "11", "Debian 11 is not supported"),
        ("ubuntu", "20.04", "Ubuntu 20.04 is not supported"),
    ] {
        let f = fake_os_release(id, ver);
        let (code, _, err) = run(Command::new("bash")
            .arg(script())
            .arg("--deps")
            .env("LAB_OS_RELEASE", &f));
        assert_eq!(code, 1, "{id} {ver}: {err}");
        assert!(err.contains(want), "{id} {ver}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.contains("error")).count(),
            1,
            "one error line: {err}"
        );
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn setup_rejects_unknown_option() {
    let (code, _, err) = run(Command::new("bash").arg(script()).arg("--frob"));
    assert_eq!(code, 2);
    assert!(err.contains("unknown option '--frob'"), "{err}");
}

#[test]
fn setup_needs_root() {
    // Run as nobody via setpriv when we are root; as ourselves otherwise.
    let mut c = if lab_tests::is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "bash"]);
        c
    } else {
        Command::new("bash")
    };
    let (code, _, err) = run(c.arg(script()).arg("--deps"));
    assert_eq!(code, 1, "{err}");
    // Advice that also holds where sudo is not installed (a fresh root-only Debian).
    assert!(err.contains("must run as root (e.g. sudo "), "{err}");
}

/// Every message the script prints names sudo only as an example or to someone who came
/// through it (SUDO_USER): root on a fresh Debian has no sudo to type.
#[test]
fn setup_never_tells_root_to_type_sudo() {
    // Compiled in, like the README below: these read the source, wherever the test binary runs.
    let text = include_str!("../../provision/setup.sh");
    // Lines that print (the package list names the sudo package, which is no advice).
    let prints = |l: &str| {
        ["echo", "die ", "step ", "printf"]
            .iter()
            .any(|w| l.contains(w))
    };
    let messages: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && prints(l))
        .collect();
    assert!(
        messages.len() > 10,
        "found too few message lines: {messages:?}"
    );
    for line in messages {
        if line.contains("sudo") {
            assert!(
                line.contains("e.g. sudo") || line.contains("SUDO_USER"),
                "unconditional sudo advice: {line}"
            );
        }
    }
}

/// The README quick start is at most two commands, written without sudo (they run as root;
/// another account prefixes sudo, as the text says).
#[test]
fn readme_quick_start_needs_no_sudo() {
    let readme = include_str!("../../README.md");
    let quick = readme
        .split("\n## Quick start")
        .nth(1)
        .expect("README.md has a Quick start section");
    let block = quick
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a ```sh block in the quick start");
    let commands: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!commands.is_empty() && commands.len() <= 2, "{commands:?}");
    for c in &commands {
        assert!(!c.contains("sudo"), "quick start command uses sudo: {c}");
    }
    let intro = quick.split("```sh").next().unwrap();
    assert!(
        intro.contains("As root") && intro.contains("`sudo`"),
        "the quick start says to run as root or with sudo: {intro}"
    );
}
