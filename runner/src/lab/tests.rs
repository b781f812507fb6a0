//! Unit tests: parsing (with file:line errors), seeded values, rendering.
use std::path::Path;

use super::{format::parse, render::Context, Kind, SeedSpec, Tolerance};

const GOOD: &str = r#"
```toml
format = 1
id = 7
title = "Test lab"
duration = "1h30m"
tools = ["biolatency"]

[seed]
comm = { pick = ["alpha", "beta", "gamma"] }
size = { range = [512, 4096], step = 512 }
file = { template = "{{ seed.comm }}-{{ session.seed % 100 }}.log" }
port = 2222

[[prepare]]
run = "fill"
args = ["--file", "{{ session.data_dir }}/{{ seed.file }}"]

[[workloads]]
name = "writer"
run = "appendlog"
comm = "{{ seed.comm }}"
args = ["--record-size", "{{ seed.size }}"]

[[questions]]
id = "process"
prompt = "Which process writes {{ seed.file }}?"
kind = "process"
metric = "writer.comm"

[[questions]]
id = "lat"
prompt = "Outlier latency?"
kind = "duration"
metric = "writer.lat.max"
tolerance = "2x"
required = false

[[questions]]
id = "fix"
prompt = "Fix?"
kind = "choice"
metric = "best_fix"
choices = ["faster disks", "no fsync"]
[questions.params]
window = "5s"
```

# Lab 7: the title

The process writes `{{ seed.file }}` in {{ session.data_dir }}.

```hint
First hint mentions {{ seed.comm }}.
```

Some text between.

```hint
Second hint.
```

- item one
- item **two**
"#;

fn lab() -> super::Lab {
    parse("labs/07-test.md", GOOD).expect("parses")
}

#[test]
fn parses_every_field() {
    let l = lab();
    assert_eq!(
        (l.id, l.title.as_str(), l.duration_secs),
        (7, "Test lab", 5400)
    );
    assert_eq!(l.tools, ["biolatency"]);
    let names: Vec<&str> = l.seed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["comm", "size", "file", "port"],
        "declaration order is kept"
    );
    assert_eq!(
        l.seed[1].1,
        SeedSpec::Range {
            lo: 512,
            hi: 4096,
            step: 512
        }
    );
    assert_eq!(l.prepare[0].name, "fill");
    assert_eq!(l.workloads[0].comm.as_deref(), Some("{{ seed.comm }}"));
    assert_eq!(l.questions.len(), 3);
    assert_eq!(l.questions[1].kind, Kind::Duration);
    assert_eq!(l.questions[1].tolerance, Tolerance::Factor(2.0));
    assert!(!l.questions[1].required && l.questions[0].required);
    assert_eq!(l.questions[2].params["window"].as_str(), Some("5s"));
    assert_eq!(l.hints.len(), 2);
    assert!(l.hints[0].contains("First hint"));
    assert!(
        !l.body.contains("First hint") && !l.body.contains("Second hint"),
        "hints are cut from the text"
    );
    assert!(l.body.contains("Some text between"));
    // Question 0's id is on line 31 of GOOD (line 1 is the empty first line).
    let line = GOOD.lines().position(|l| l == "id = \"process\"").unwrap() + 1;
    assert_eq!(l.questions[0].line, line);
}

/// Replace `from` with `to` in GOOD, parse, and return the error as displayed.
fn error_of(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "test bug: {from:?} not in GOOD");
    parse("labs/07-test.md", &GOOD.replacen(from, to, 1))
        .expect_err("should fail")
        .to_string()
}

fn line_of(needle: &str) -> usize {
    GOOD.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn errors_name_file_and_line() {
    let e = error_of("kind = \"duration\"", "kind = \"latency\"");
    assert!(
        e.starts_with(&format!(
            "labs/07-test.md:{}:",
            line_of("kind = \"duration\"")
        )),
        "{e}"
    );
    assert!(e.contains("latency"), "{e}");

    let e = error_of("tolerance = \"2x\"", "tolerance = \"twice\"");
    assert!(
        e.starts_with(&format!(
            "labs/07-test.md:{}:",
            line_of("tolerance = \"2x\"")
        )),
        "{e}"
    );

    let e = error_of("title = \"Test lab\"", "titel = \"Test lab\"");
    assert!(
        e.starts_with(&format!(
            "labs/07-test.md:{}:",
            line_of("title = \"Test lab\"")
        )) && e.contains("titel"),
        "{e}"
    );

    let e = error_of(
        "size = { range = [512, 4096], step = 512 }",
        "size = { range = [4096, 512] }",
    );
    assert!(
        e.starts_with(&format!(
            "labs/07-test.md:{}: seed.size",
            line_of("size = { range")
        )),
        "{e}"
    );

    let e = error_of("duration = \"1h30m\"", "duration = \"soon\"");
    assert!(
        e.starts_with(&format!("labs/07-test.md:{}:", line_of("duration ="))) && e.contains("soon"),
        "{e}"
    );

    let e = error_of(
        "duration = \"1h30m\"",
        "duration = \"1h30m\"\nchecker = \"Disk-Latency\"",
    );
    assert!(
        e.starts_with(&format!("labs/07-test.md:{}:", line_of("duration =") + 1))
            && e.contains("Disk-Latency")
            && e.contains("lowercase"),
        "{e}"
    );

    let e = error_of("id = \"lat\"", "id = \"process\"");
    assert!(e.contains("used twice"), "{e}");

    let e = error_of("choices = [\"faster disks\", \"no fsync\"]", "");
    assert!(e.contains("at least 2 choices"), "{e}");

    let e = error_of(
        "kind = \"process\"\nmetric = \"writer.comm\"\n",
        "kind = \"process\"\nmetric = \"writer.comm\"\ntolerance = \"2x\"\n",
    );
    assert!(e.contains("tolerance only applies"), "{e}");

    let e = error_of("```\n\n# Lab 7", "\n# Lab 7");
    assert!(e.contains("never closed"), "{e}");

    let e = error_of("```toml\nformat", "# Title first\n```toml\nformat");
    assert!(
        e.starts_with("labs/07-test.md:2:") && e.contains("front matter"),
        "{e}"
    );
}

#[test]
fn newer_format_is_refused_clearly() {
    let e = error_of("format = 1", "format = 2\nnew_field = true");
    assert!(
        e.contains("format 2 is newer than this lab runner understands (1)"),
        "{e}"
    );
    assert!(
        e.starts_with(&format!("labs/07-test.md:{}:", line_of("format = 1"))),
        "{e}"
    );
}

#[test]
fn seeded_values_are_reproducible_and_in_range() {
    let l = lab();
    let dir = Path::new("/tmp/x/sessions/lab-07");
    let a = Context::for_seed(&l, 1234, dir, "alice").unwrap();
    let b = Context::for_seed(&l, 1234, dir, "alice").unwrap();
    assert_eq!(a.seed, b.seed, "same seed, same values");
    let size = a.seed["size"].as_i64().unwrap();
    assert!((512..=4096).contains(&size) && size % 512 == 0, "{size}");
    let comm = a.seed["comm"].as_str().unwrap();
    assert!(["alpha", "beta", "gamma"].contains(&comm));
    assert_eq!(
        a.seed["file"].as_str().unwrap(),
        format!("{comm}-34.log"),
        "templates see earlier values and the seed"
    );
    assert_eq!(a.seed["port"], 2222);
    // Over many seeds every choice appears: the seed really drives the values.
    let comms: std::collections::BTreeSet<String> = (0..200)
        .map(|s| {
            Context::for_seed(&l, s, dir, "u").unwrap().seed["comm"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(comms.len(), 3, "{comms:?}");
}

#[test]
fn rendering_uses_session_values_and_rejects_undefined() {
    let l = lab();
    let dir = Path::new("/var/lib/lab/bob/sessions/lab-07");
    let ctx = Context::for_seed(&l, 99, dir, "bob").unwrap();
    let body = ctx.body(&l).unwrap();
    let file = ctx.seed["file"].as_str().unwrap();
    assert!(
        body.contains(&format!("`{file}`")) && body.contains(dir.to_str().unwrap()),
        "{body}"
    );
    assert!(ctx
        .hint(&l, 0)
        .unwrap()
        .contains(ctx.seed["comm"].as_str().unwrap()));
    assert_eq!(
        ctx.args(&l, &l.workloads[0]).unwrap(),
        ["--record-size".to_string(), ctx.seed["size"].to_string()]
    );
    assert_eq!(
        ctx.comm(&l, &l.workloads[0]).unwrap(),
        ctx.seed["comm"].as_str().unwrap()
    );

    let broken = parse(
        "labs/07-test.md",
        &GOOD.replace("in {{ session.data_dir }}.", "in {{ seed.nope }}."),
    )
    .unwrap();
    let e = format!("{:#}", ctx.body(&broken).unwrap_err());
    let line = GOOD
        .lines()
        .position(|l| l.contains("in {{ session.data_dir }}."))
        .unwrap()
        + 1;
    assert!(e.starts_with(&format!("labs/07-test.md:{line}:")), "{e}");
}

#[test]
fn comm_longer_than_the_kernel_allows_is_an_error() {
    let l = parse(
        "labs/07-test.md",
        &GOOD.replace(
            "comm = \"{{ seed.comm }}\"",
            "comm = \"a-very-long-process-name\"",
        ),
    )
    .unwrap();
    let ctx = Context::for_seed(&l, 1, Path::new("/d/sessions/lab-07"), "u").unwrap();
    assert!(ctx
        .comm(&l, &l.workloads[0])
        .unwrap_err()
        .to_string()
        .contains("1-15 bytes"));
}

#[test]
fn tolerances() {
    assert!(
        Tolerance::Factor(2.0).accepts(100.0, 199.0) && Tolerance::Factor(2.0).accepts(100.0, 50.0)
    );
    assert!(
        !Tolerance::Factor(2.0).accepts(100.0, 201.0)
            && !Tolerance::Factor(2.0).accepts(100.0, 49.0)
    );
    assert!(
        Tolerance::parse("25%").unwrap().accepts(100.0, 125.0)
            && !Tolerance::parse("25%").unwrap().accepts(100.0, 126.0)
    );
    assert!(
        Tolerance::parse("±3").unwrap().accepts(10.0, 7.0)
            && Tolerance::parse("+-3").unwrap().accepts(10.0, 13.0)
    );
    assert!(Tolerance::parse("0.5x").is_none() && Tolerance::parse("lots").is_none());
}

#[test]
fn the_shipped_labs_parse_and_render() {
    let labs = super::catalog().expect("every lab in labs/ parses");
    assert!(
        labs.iter().any(|l| l.id == 1),
        "lab 1 exists (README quick start)"
    );
    for l in &labs {
        for seed in [1, 77, 999_999] {
            let ctx = Context::for_seed(l, seed, Path::new("/var/lib/lab/u/sessions/lab-01"), "u")
                .unwrap();
            ctx.body(l).unwrap();
            for i in 0..l.hints.len() {
                ctx.hint(l, i).unwrap();
            }
            for w in l.workloads.iter().chain(&l.prepare) {
                ctx.args(l, w).unwrap();
            }
        }
    }
}
