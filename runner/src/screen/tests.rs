use super::{visible_width, Grid, Screen};
use crate::term::Style;

const MD: &str = "# A heading long enough to wrap at thirty columns\n\n\
Some `inline code` and **bold** and *emphasis* in a paragraph that is long enough to wrap.\n\n\
1. first item, long enough to wrap onto a second line here\n\
2. second\n   - nested bullet\n\n\
```\nverbatim   code   line that is longer than thirty columns\n```\n\n\
| tool | shows |\n| --- | --- |\n| `iostat -x 1` | whether the disk is busy |\n| `biolatency` | latency |\n\n\
> a quote\n\n[a link](https://example.com) and <!-- a comment -->text.\n";

fn plain(width: usize) -> String {
    Screen::plain(width).markdown(MD)
}

#[test]
fn plain_markdown_has_no_markers_and_fits_the_width() {
    for width in [30, 80] {
        let out = plain(width);
        assert!(!out.contains('\x1b'), "{out}");
        for marker in ["`", "**", "| ", "<!--", "# "] {
            assert!(!out.contains(marker), "{marker:?} left in:\n{out}");
        }
        for line in out.lines().filter(|l| !l.contains("verbatim")) {
            assert!(visible_width(line) <= width, "{width}: {line:?}\n{out}");
        }
        let words: Vec<&str> = out.split_whitespace().collect();
        assert!(
            words
                .join(" ")
                .contains("Some inline code and bold and emphasis"),
            "{out}"
        );
        assert!(out.contains("https://example.com"), "{out}");
    }
}

#[test]
fn lists_hang_their_lines_under_the_text() {
    let out = plain(30);
    let lines: Vec<&str> = out.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.starts_with("1. first"))
        .unwrap();
    assert!(
        lines[first + 1].starts_with("   ") && !lines[first + 1].starts_with("    "),
        "{out}"
    );
    assert!(out.contains("\n2. second\n   • nested bullet\n"), "{out}");
    assert!(
        out.contains("\n│ a quote\n\n"),
        "one blank line after a quote:\n{out}"
    );
}

#[test]
fn code_blocks_are_kept_verbatim() {
    let out = plain(30);
    assert!(
        out.contains("    verbatim   code   line that is longer than thirty columns"),
        "{out}"
    );
}

#[test]
fn tables_have_aligned_borders_within_the_width() {
    for width in [30, 80] {
        let out = plain(width);
        let table: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with('╭'))
            .take_while(|l| !l.is_empty())
            .collect();
        assert!(
            table.len() >= 6 && table[table.len() - 1].starts_with('╰'),
            "{out}"
        );
        let w = visible_width(table[0]);
        assert!(w <= width, "{out}");
        assert!(table.iter().all(|l| visible_width(l) == w), "{out}");
        // The column border sits in the same column on every row.
        let col = |l: &str| l.chars().skip(1).position(|c| "│┆┬┼┴╪".contains(c));
        let first = col(table[0]);
        assert!(table.iter().all(|l| col(l) == first), "{out}");
    }
}

#[test]
fn colour_styles_code_and_emphasis() {
    let out = Screen {
        style: Style { color: true },
        width: 80,
    }
    .markdown(MD);
    assert!(
        out.contains("\x1b[33minline code\x1b[0m") && out.contains("\x1b[1mbold"),
        "{out}"
    );
    assert!(!out.contains('`'), "{out}");
    for line in out.lines().filter(|l| !l.contains("verbatim")) {
        assert!(visible_width(line) <= 80, "{line:?}");
    }
}

#[test]
fn grids_align_columns_and_wrap_to_fit() {
    let mut g = Grid::new(Screen::plain(40), &["lab", "title", "status"]).right(&[0]);
    g.row([
        "1",
        "Disk I/O latency with outliers and more words",
        "passed",
    ]);
    g.row(["10", "Short", "3/7 right"]);
    let out = g.keep(&[0, 2]).render();
    assert!(out.lines().all(|l| visible_width(l) <= 40), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let col = |l: &str, word: &str| l.find(word);
    assert_eq!(col(lines[0], "status"), col(lines[2], "passed"), "{out}");
    assert!(lines[1].trim().chars().all(|c| c == '─'), "{out}");
    assert!(out.contains("3/7 right"), "{out}");
}

#[test]
fn wrap_hangs_and_breaks_long_words() {
    let s = Screen::plain(30);
    let out = s.wrap(
        "measured: a value with a long path /var/lib/lab/student/sessions/lab-01/x.log",
        "  ",
        "    ",
    );
    assert!(out.lines().all(|l| visible_width(l) <= 30), "{out}");
    assert!(out.lines().skip(1).all(|l| l.starts_with("    ")), "{out}");
}

#[test]
fn a_question_is_asked_again_until_it_can_be_read() {
    use super::prompt::{ask, Asked, Question, Reading};
    let choices: Vec<String> = [
        "more I/O threads",
        "make the I/O asynchronous",
        "add a cache",
    ]
    .map(String::from)
    .to_vec();
    let q = Question {
        counter: "7/7".into(),
        text: "Which change would help?",
        choices: &choices,
    };
    // As the checker reads a choice: words of one choice only.
    let read = |a: &str| -> Reading {
        let hits: Vec<&String> = choices.iter().filter(|c| c.contains(a)).collect();
        match hits.as_slice() {
            [one] => Ok((one.to_string(), Some(format!("took {one}")))),
            _ => Err(format!("{a:?} fits {} choices", hits.len())),
        }
    };
    let mut typed = "I/O\nasync\n".as_bytes();
    match ask(&q, &mut typed, read).unwrap() {
        Asked::Answer(a) => assert_eq!(a, "make the I/O asynchronous"),
        _ => panic!("not answered"),
    }
    assert!(matches!(
        ask(&q, &mut "\n".as_bytes(), read).unwrap(),
        Asked::Skipped
    ));
    assert!(matches!(
        ask(&q, &mut "I/O\n".as_bytes(), read).unwrap(),
        Asked::Closed
    ));
}

#[test]
fn an_exercise_verdict_wraps_but_keeps_the_students_line() {
    use crate::exercises::{errors::ToolError, Check, Outcome};
    let check = |ok, what: &str, detail: &str| Check {
        ok,
        what: what.into(),
        detail: detail.into(),
    };
    let long = "the count of unlinks per process must match what the workload did: 12 of 12 processes, 340 of 340 unlinks";
    let src = "tracepoint:syscalls:sys_enter_unlinkat { @[comm] = count(); printf(\"%s %d\\n\", comm, pid); }";
    let r = Outcome {
        exercise: "4a".into(),
        title: "rmsnoop".into(),
        tool: "/root/rmsnoop.bt".into(),
        seed: 7,
        passed: Some(false),
        checks: vec![
            check(true, "counts", long),
            check(false, "names", "missing"),
        ],
        errors: vec![ToolError {
            line: Some(3),
            source: Some(src.into()),
            message: "syntax error, unexpected }, expecting ; or a newline somewhere here".into(),
            hint: "a statement ends with ; inside a probe's braces".into(),
        }],
        notes: vec![],
    };
    let out = super::check::exercise(&r, Screen::plain(40));
    for line in out.lines().filter(|l| !l.contains(" | ")) {
        assert!(visible_width(line) <= 40, "{line:?}\n{out}");
    }
    assert!(out.contains(&format!("         3 | {src}\n")), "{out}");
    assert!(out.contains("  ✓ counts: the count") && out.contains("  ✗ names: missing"));
    assert!(out.ends_with("FAILED\n"), "{out}");
}
