//! Every list kept in one place, and the copies checked against it: the tools catalog
//! (lab_probes::requirements::TOOLS) against the tool binaries, their docs, their tests and the
//! README's table; the labs directory against the scripted students; the apt package list
//! (provision/packages.txt) against the scripts that install packages. Each test names what to
//! add where when it fails (CONTRIBUTING.md has the recipes).
use std::{collections::BTreeSet, path::Path};

use lab_probes::requirements::{CATEGORIES, TOOLS};
use lab_tests::repo_root;

/// File stems of `dir` with extension `ext`.
fn stems(dir: &Path, ext: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_tool_binary_is_in_the_catalog_and_every_catalog_tool_has_one() {
    let bins = stems(&repo_root().join("tools/cli/src/bin"), "rs");
    let catalog: BTreeSet<String> = TOOLS.iter().map(|t| t.name.to_string()).collect();
    let no_entry: Vec<_> = bins.difference(&catalog).collect();
    let no_bin: Vec<_> = catalog.difference(&bins).collect();
    assert!(
        no_entry.is_empty() && no_bin.is_empty(),
        "tools/cli/src/bin without a catalog entry in tools/probes/src/requirements.rs: {no_entry:?}; \
         catalog entries without tools/cli/src/bin/NAME.rs: {no_bin:?}"
    );
}

/// The text of test module `file` and of its submodules (the .rs files in the directory of its
/// name), where a module's tests are split by tool.
fn module_source(file: &std::path::Path) -> std::io::Result<String> {
    let mut src = std::fs::read_to_string(file)?;
    if let Ok(dir) = std::fs::read_dir(file.with_extension("")) {
        for f in dir.filter_map(Result::ok) {
            if f.path().extension().is_some_and(|e| e == "rs") {
                src += &std::fs::read_to_string(f.path())?;
            }
        }
    }
    Ok(src)
}

#[test]
fn every_catalog_tool_has_a_category_an_example_and_a_test_that_runs_it() {
    let repo = repo_root();
    for t in TOOLS {
        assert!(
            CATEGORIES.contains(&t.category),
            "{}: category {:?} is not one of {CATEGORIES:?}",
            t.name,
            t.category
        );
        let example = repo.join(format!("tools/cli/docs/{}_example.txt", t.name));
        assert!(example.is_file(), "{}: no {}", t.name, example.display());
        let test = repo.join(format!("tests/it/{}.rs", t.test));
        let src = module_source(&test)
            .unwrap_or_else(|e| panic!("{}: its test module {}: {e}", t.name, test.display()));
        assert!(
            src.contains(&format!("\"{}\"", t.name)),
            "{}: {} never runs it (the catalog's `test` names the module with its tests)",
            t.name,
            test.display()
        );
        if let Some(trial) = t.trial {
            assert_eq!(
                trial.split_whitespace().next(),
                Some(t.name),
                "{}: its trial runs another program",
                t.name
            );
        }
    }
    let mut names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), TOOLS.len(), "a tool is in the catalog twice");
}

#[test]
fn readme_tools_table_equals_the_catalog() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let header = "| tool | category | what it does |";
    let rows: Vec<&str> = readme
        .lines()
        .skip_while(|l| *l != header)
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    let want: Vec<String> = TOOLS
        .iter()
        .map(|t| format!("| `{}` | {} | {} |", t.name, t.category, t.summary))
        .collect();
    assert_eq!(
        rows,
        want,
        "README.md's tool table (under `{header}`) differs from the catalog; its rows are:\n{}",
        want.join("\n")
    );
}

/// The packages of `group` in provision/packages.txt (the one list of apt packages).
fn packages(group: &str) -> Vec<String> {
    let list = std::fs::read_to_string(repo_root().join("provision/packages.txt")).unwrap();
    list.lines()
        .find_map(|l| l.strip_prefix(&format!("{group}:")))
        .unwrap_or_else(|| panic!("provision/packages.txt has no `{group}:` line"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn script_packages(script: &str, args: &[&str]) -> Vec<String> {
    let (code, out, err) =
        lab_tests::run(std::process::Command::new(repo_root().join(script)).args(args));
    assert_eq!(code, 0, "{script} {args:?}: {err}");
    out.lines().map(String::from).collect()
}

#[test]
fn every_package_list_is_read_from_provision_packages_txt() {
    let groups = |gs: &[&str]| -> Vec<String> { gs.iter().flat_map(|g| packages(g)).collect() };
    // setup.sh: build + lab, and test with --test-deps.
    assert_eq!(
        script_packages("provision/setup.sh", &["--print-packages", "--test-deps"]),
        groups(&["build", "lab", "test"]),
        "provision/setup.sh installs other packages than provision/packages.txt lists"
    );
    // The VM image: its system, a lab machine's and the guest tests'.
    let mut image = script_packages("provision/vm/build-image.sh", &["--print-packages"]);
    let mut want = groups(&["image", "lab", "guest-test"]);
    image.sort();
    want.sort();
    assert_eq!(
        image, want,
        "provision/vm/build-image.sh debootstraps another list"
    );
    // `lab provision`: the student VMs' provision script installs the `lab` group where missing.
    let (dir, _) = crate::provision::generate("catalog-packages", 1, &[]);
    let user_data = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("user-data"))
        .find(|p| p.is_file())
        .expect("a student's user-data");
    let text = std::fs::read_to_string(&user_data).unwrap();
    let pkgs = text
        .split("PKGS=(")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| {
            panic!(
                "{}: no PKGS=(...) in its provision script",
                user_data.display()
            )
        });
    let listed: Vec<String> = pkgs
        .split_whitespace()
        .map(|p| p.trim_matches('\'').to_string())
        .collect();
    assert_eq!(
        listed,
        packages("lab"),
        "{}: the provision script's packages",
        user_data.display()
    );
    // The lab-VM host tools (provision/vm/deps.sh).
    assert_eq!(
        script_packages("provision/vm/deps.sh", &["--print-packages"]),
        groups(&["vm-tools", "vm-qemu", "vm-libvirt"]),
        "provision/vm/deps.sh installs other packages than provision/packages.txt lists"
    );
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn every_lab_with_a_checker_has_a_scripted_student() {
    let dir = repo_root().join("labs");
    let mut traced = BTreeSet::new();
    for stem in stems(&dir, "md") {
        if !stem.starts_with(|c: char| c.is_ascii_digit()) {
            continue; // FORMAT.md
        }
        let text = std::fs::read_to_string(dir.join(format!("{stem}.md"))).unwrap();
        let front = text.split("\n```\n").next().unwrap_or_default();
        let field = |k: &str| {
            front
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = ")))
                .map(|v| v.trim().trim_matches('"').to_string())
        };
        let id: u32 = field("id").and_then(|v| v.parse().ok()).expect("id");
        if field("checker").is_some() {
            traced.insert(id);
        }
    }
    let scripted: BTreeSet<u32> = crate::labs::SCRIPTED.iter().map(|(l, _)| *l).collect();
    assert!(!traced.is_empty(), "no lab in labs/ names a checker");
    assert_eq!(
        scripted,
        traced,
        "the labs with a checker (labs/) and the scripted students (tests/it/labs.rs SCRIPTED) differ"
    );
}
