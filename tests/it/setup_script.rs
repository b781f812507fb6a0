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
    assert!(err.contains("must run as root: sudo"), "{err}");
}
