//! The exercise registry, the lab files and labs/solutions agree; every file there is picked up.
use std::path::Path;

use super::*;

fn repo_solutions() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs/solutions")
}

#[test]
fn registry_lab_files_and_solution_files_agree() {
    assert_eq!(solution_problems(), Vec::<String>::new());
}

#[test]
fn every_file_in_labs_solutions_is_served() {
    let mut seen = 0;
    for e in std::fs::read_dir(repo_solutions()).unwrap() {
        let path = e.unwrap().path();
        let Some(id) = path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_suffix(".bt")
        else {
            continue;
        };
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert_eq!(solution(id).as_deref(), Some(on_disk.as_str()), "{id}");
        assert!(
            graded::graded(id).is_some(),
            "{id}.bt has no exercise module"
        );
        seen += 1;
    }
    assert!(seen > 0);
    let known = broken().unwrap();
    let mut files = 0;
    for e in std::fs::read_dir(repo_solutions().join("broken")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let b = known
            .iter()
            .find(|b| b.file == name)
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(b.source, std::fs::read_to_string(&path).unwrap());
        assert!(
            !b.expect.is_empty() && graded::graded(&b.exercise).is_some(),
            "{name}"
        );
        files += 1;
    }
    assert_eq!(files, known.len());
}

#[test]
fn titles_and_the_open_problem_text_come_from_the_labs() {
    let labs = crate::lab::catalog().unwrap();
    let all = listed().unwrap();
    for e in &all {
        let lab = labs.iter().find(|l| l.id == e.lab).unwrap();
        let q = lab.question(e.id.trim_start_matches(|c: char| c.is_ascii_digit()));
        let q = q.unwrap_or_else(|| panic!("{}", e.id));
        assert_eq!(q.params["title"].as_str(), Some(e.title.as_str()));
        // Graded, or an open problem with a text to show.
        assert!(e.graded.is_some() != e.text.is_some(), "{}", e.id);
    }
    let open: Vec<&str> = all
        .iter()
        .filter(|e| e.graded.is_none())
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(open, ["5c"]);
    assert!(find("5C")
        .unwrap()
        .unwrap()
        .text
        .unwrap()
        .starts_with("Exercise 5c is an open problem"));
    assert!(find("4z").unwrap().is_none());
}
