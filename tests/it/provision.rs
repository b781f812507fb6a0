//! `lab provision cloud-init`: the generated files, checked with the real `cloud-init schema`,
//! an independent crypt(3) check of the password hashes, file modes and bad input.
use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use lab_tests::{bin_dir, cmd, is_root, run};

pub use lab_tests::repo_root;

/// A fresh empty directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lab-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `cloud-init` on PATH, installing it (root) with provision/vm/deps.sh when missing.
/// Returns false after printing why when it cannot be had (not root, not CI).
fn have_cloud_init(test: &str) -> bool {
    let present = || {
        Command::new("cloud-init")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if present() {
        return true;
    }
    if is_root() {
        let (code, out, err) =
            run(Command::new(repo_root().join("provision/vm/deps.sh")).arg("--schema"));
        assert_eq!(
            code, 0,
            "provision/vm/deps.sh --schema failed:\n{out}\n{err}"
        );
        assert!(present(), "cloud-init still missing after deps.sh");
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: CI runs as root, but this run is not root");
    }
    eprintln!(
        "SKIPPED {test}: needs cloud-init (install it as root: sudo provision/vm/deps.sh --schema)"
    );
    false
}

/// A --bin-dir with a small stand-in for every binary the payload carries: these tests check the
/// files around the payload, not the binaries (the VM test ships the real static build).
fn stand_in_bins(parent: &Path) -> PathBuf {
    let d = parent.join("bins");
    std::fs::create_dir_all(&d).unwrap();
    let mut names = vec!["lab", "lab-workload"];
    names.extend(lab_probes::requirements::TOOLS.iter().map(|t| t.name));
    for n in names {
        std::fs::write(d.join(n), format!("#!/bin/sh\necho {n}\n")).unwrap();
    }
    d
}

/// Generate `n` students into a fresh directory; returns (dir, stdout).
pub(crate) fn generate(name: &str, n: u32, extra: &[&str]) -> (PathBuf, String) {
    let root = scratch(name);
    let out = root.join("class");
    let n = n.to_string();
    let bins = stand_in_bins(&root);
    let mut args = vec![
        "provision",
        "cloud-init",
        "--students",
        &n,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend([
        "--payload-url",
        "http://10.0.2.2:8000/lab-payload.tar.gz",
        "--bin-dir",
        bins.to_str().unwrap(),
    ]);
    args.extend(extra);
    let (code, stdout, stderr) = run(cmd("lab").args(&args));
    assert_eq!(code, 0, "lab {args:?}:\n{stdout}\n{stderr}");
    (out, stdout)
}

fn roster(dir: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("roster.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("name,host,user,password,instance_id,via")
    );
    // Every field is a plain token (names, hosts, base32 passwords): no CSV quoting to undo.
    lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

/// One top-level `key: value` of a generated YAML file, JSON-unquoted.
fn yaml_value(doc: &str, key: &str) -> String {
    let line = doc
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in:\n{doc}"));
    let raw = line[key.len() + 1..].trim();
    serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string())
}

#[test]
fn cloud_init_files_pass_the_schema_and_carry_working_passwords() {
    if !have_cloud_init("provision::cloud_init_files_pass_the_schema_and_carry_working_passwords") {
        return;
    }
    let keyfile = scratch("provision-key").join("instructor.pub");
    std::fs::write(&keyfile, "# instructor\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv7dXlQbL3uUyVx0nIhVZ5GJ6jT0i0o8HqB2QX9tKcz teacher@lab\n").unwrap();
    let (dir, stdout) = generate(
        "provision-schema",
        10,
        &[
            "--prefix",
            "bpf",
            "--domain",
            "lab.example.org",
            "--ssh-key",
            keyfile.to_str().unwrap(),
        ],
    );
    // The command says where the secrets are.
    for f in ["roster.csv", "cards.html", "lab-payload.tar.gz"] {
        assert!(
            stdout.contains(&dir.join(f).display().to_string()),
            "output does not name {f}:\n{stdout}"
        );
    }
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("roster.csv")), 0o600);
    assert_eq!(mode(&dir.join("cards.html")), 0o600);

    let rows = roster(&dir);
    assert_eq!(rows.len(), 10);
    let mut passwords: Vec<&str> = rows.iter().map(|r| r[3].as_str()).collect();
    passwords.sort();
    passwords.dedup();
    assert_eq!(passwords.len(), 10, "passwords repeat");

    let payload = dir.join("lab-payload.tar.gz");
    let sha = String::from_utf8(
        Command::new("sha256sum")
            .arg(&payload)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let sha = sha.split_whitespace().next().unwrap().to_string();
    let listing = String::from_utf8(
        Command::new("tar")
            .arg("-tzf")
            .arg(&payload)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let mut expected = vec!["lab".to_string(), "lab-workload".to_string()];
    expected.extend(
        lab_probes::requirements::TOOLS
            .iter()
            .map(|t| t.name.to_string()),
    );
    let mut listed: Vec<String> = listing.lines().map(String::from).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

    let cards = std::fs::read_to_string(dir.join("cards.html")).unwrap();
    assert_eq!(cards.matches("<div class=\"card\">").count(), 10);
    for (i, row) in rows.iter().enumerate() {
        let name = format!("bpf-{:02}", i + 1);
        assert_eq!(row[0], name);
        assert_eq!(row[1], format!("{name}.lab.example.org"));
        assert_eq!(row[2], "student");
        assert!(
            cards.contains(&row[3])
                && cards.contains(&format!("ssh student@{name}.lab.example.org"))
        );

        let vm = dir.join(&name);
        let (ud_path, md_path) = (vm.join("user-data"), vm.join("meta-data"));
        assert_eq!(
            (mode(&vm), mode(&ud_path), mode(&md_path)),
            (0o700, 0o600, 0o600),
            "{name}"
        );
        let ud = std::fs::read_to_string(&ud_path).unwrap();
        let md = std::fs::read_to_string(&md_path).unwrap();
        assert!(ud.starts_with("#cloud-config\n"));
        assert!(
            ud.len() < 16 * 1024,
            "{name}: user-data is {} bytes; EC2 takes at most 16 KiB",
            ud.len()
        );
        assert_eq!(yaml_value(&md, "local-hostname"), name);
        assert_eq!(yaml_value(&md, "instance-id"), row[4]);
        assert_eq!(yaml_value(&ud, "hostname"), name);
        assert!(
            ud.contains("teacher@lab"),
            "instructor key missing from {name}"
        );
        assert!(
            ud.contains(&sha),
            "{name}'s user-data does not pin the payload's sha256"
        );
        assert!(
            !ud.contains(&row[3]),
            "plain password leaked into {name}'s user-data"
        );

        // The hash must be what the guest's crypt(3) accepts for the roster's password.
        let hash_line = ud
            .lines()
            .find(|l| l.trim_start().starts_with("passwd:"))
            .unwrap();
        let hash: String =
            serde_json::from_str(hash_line.trim_start()["passwd:".len()..].trim()).unwrap();
        assert!(hash.starts_with("$6$"), "{hash}");
        let check = Command::new("python3")
            .args(["-W", "ignore", "-c", "import crypt,sys; sys.exit(0 if crypt.crypt(sys.argv[1], sys.argv[2]) == sys.argv[2] else 1)"])
            .args([&row[3], &hash])
            .status()
            .unwrap();
        assert!(
            check.success(),
            "crypt(3) rejects {name}'s password against its hash"
        );

        // The real validator, for the first and last VM (each run costs a Python start).
        if i == 0 || i == rows.len() - 1 {
            let (code, out, err) = run(Command::new("cloud-init")
                .args(["schema", "--config-file"])
                .arg(&ud_path));
            assert_eq!(
                code,
                0,
                "cloud-init schema rejects {}:\n{out}\n{err}\n{ud}",
                ud_path.display()
            );
            assert!(out.contains("Valid cloud-config"), "{out}");
        }
    }
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    std::fs::remove_dir_all(keyfile.parent().unwrap()).unwrap();
}

#[test]
fn bad_input_fails_with_one_line_naming_the_flag() {
    let dir = scratch("provision-bad");
    let out = dir.join("class");
    let bins = stand_in_bins(&dir);
    let base = |extra: &[&str]| {
        let mut a: Vec<String> = ["provision", "cloud-init", "--out", out.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        if !extra.contains(&"--bin-dir") {
            a.extend(["--bin-dir".to_string(), bins.to_str().unwrap().to_string()]);
        }
        a
    };
    let url = "http://10.0.2.2:8000/p.tar.gz";
    let private = dir.join("id_ed25519");
    std::fs::write(
        &private,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            base(&["--students", "0", "--payload-url", url]),
            "--students",
        ),
        (
            base(&["--students", "2", "--payload-url", "ftp://x/y"]),
            "--payload-url",
        ),
        (
            base(&[
                "--students",
                "2",
                "--payload-url",
                url,
                "--prefix",
                "Bad_Name",
            ]),
            "--prefix",
        ),
        (
            base(&[
                "--students",
                "2",
                "--payload-url",
                url,
                "--ssh-key",
                private.to_str().unwrap(),
            ]),
            "private key",
        ),
        (
            base(&[
                "--students",
                "2",
                "--payload-url",
                url,
                "--ssh-key",
                "/nonexistent/key.pub",
            ]),
            "--ssh-key",
        ),
        (
            base(&[
                "--students",
                "2",
                "--payload-url",
                url,
                "--bin-dir",
                "/nonexistent",
            ]),
            "--bin-dir",
        ),
    ];
    for (args, needle) in cases {
        let (code, stdout, stderr) = run(cmd("lab").args(&args));
        assert_ne!(code, 0, "{args:?} succeeded");
        assert!(
            stderr.contains(needle),
            "{args:?}: stderr does not name {needle}: {stderr}"
        );
        // One line (clap adds its "For more information, try '--help'" hint).
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("For more information"))
            .collect();
        assert_eq!(lines.len(), 1, "{args:?}: not a one-line message: {stderr}");
        assert!(lines[0].contains(needle), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: printed {stdout}");
        assert!(!out.join("roster.csv").exists(), "{args:?} wrote a roster");
    }

    // An existing roster is kept unless --force: printed cards stay valid.
    let ok = base(&["--students", "1", "--payload-url", url]);
    assert_eq!(run(cmd("lab").args(&ok)).0, 0);
    let before = std::fs::read_to_string(out.join("roster.csv")).unwrap();
    let (code, _, stderr) = run(cmd("lab").args(&ok));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(out.join("roster.csv")).unwrap(),
        before
    );
    let mut forced = ok.clone();
    forced.push("--force".into());
    assert_eq!(run(cmd("lab").args(&forced)).0, 0);
    assert_ne!(
        std::fs::read_to_string(out.join("roster.csv")).unwrap(),
        before
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn host_setup_script_is_valid_bash_and_covers_the_steps() {
    let (code, script, err) = run(cmd("lab")
        .args(["provision", "host", "--print", "--student", "--bin-dir"])
        .arg(bin_dir()));
    assert_eq!(code, 0, "{err}");
    let (syntax, _, serr) = run(Command::new("bash").arg("-n").arg("-c").arg(&script));
    assert_eq!(syntax, 0, "bash -n: {serr}\n{script}");
    for step in [
        "apt-get install",
        "tracefs",
        "/usr/local/bin",
        "useradd",
        "NOPASSWD",
        "PermitRootLogin no",
        "lab\" doctor",
    ] {
        assert!(script.contains(step), "host script lacks {step}:\n{script}");
    }
}
