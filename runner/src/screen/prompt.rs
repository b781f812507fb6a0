//! Asking a question in the terminal (stderr, so stdout stays the report): the question and its
//! numbered choices wrapped to the screen, the answer read by the caller's `read`, which says
//! how it took it ("→ choice 6: ...") or why it cannot (then the question is asked again, with
//! the choices). Enter skips; end of input skips this and every later question.
use std::io::{BufRead, Write};

use super::Screen;

/// One question as shown.
pub struct Question<'a> {
    /// "3/7", shown before the question.
    pub counter: String,
    pub text: &'a str,
    pub choices: &'a [String],
}

/// What the student typed, as the caller read it: Ok(answer to keep, a note on how it was read)
/// or Err(why it cannot be graded).
pub type Reading = Result<(String, Option<String>), String>;

pub enum Asked {
    Answer(String),
    Skipped,
    /// End of input (Ctrl-D): ask nothing more.
    Closed,
}

/// Ask `q` on stderr, reading lines from `input`, until `read` takes an answer or it is skipped.
pub fn ask(
    q: &Question<'_>,
    input: &mut impl BufRead,
    read: impl Fn(&str) -> Reading,
) -> std::io::Result<Asked> {
    let screen = Screen::stderr();
    let st = screen.style;
    let mut err = std::io::stderr();
    let head = format!("{} ", q.counter);
    let indent = " ".repeat(head.chars().count());
    writeln!(
        err,
        "{}",
        screen.wrap(&st.bold(q.text), &st.dim(&head), &indent)
    )?;
    show_choices(&mut err, screen, q.choices, &indent)?;
    loop {
        write!(err, "{indent}{} ", st.bold(">"))?;
        err.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            writeln!(err)?;
            return Ok(Asked::Closed);
        }
        let typed = line.trim();
        if typed.is_empty() {
            writeln!(err, "{indent}{}", st.dim("skipped"))?;
            return Ok(Asked::Skipped);
        }
        match read(typed) {
            Ok((answer, note)) => {
                if let Some(note) = note {
                    let took = screen.wrap(&st.dim(&note), &format!("{indent}→ "), &indent);
                    writeln!(err, "{took}")?;
                }
                return Ok(Asked::Answer(answer));
            }
            Err(why) => {
                writeln!(
                    err,
                    "{}",
                    screen.wrap(&st.warn(&why), &format!("{indent}✗ "), &indent)
                )?;
                let again = if q.choices.is_empty() {
                    "Try again, or press Enter to skip."
                } else {
                    "Answer with a number, or words from one choice; Enter skips."
                };
                writeln!(err, "{}", screen.indented(&st.dim(again), &indent))?;
                show_choices(&mut err, screen, q.choices, &indent)?;
            }
        }
    }
}

fn show_choices(
    err: &mut impl Write,
    screen: Screen,
    choices: &[String],
    indent: &str,
) -> std::io::Result<()> {
    let number_width = choices.len().to_string().len();
    for (i, c) in choices.iter().enumerate() {
        let n = format!("{indent}{:>number_width$}. ", i + 1);
        let rest = " ".repeat(n.chars().count());
        writeln!(err, "{}", screen.wrap(c, &n, &rest))?;
    }
    Ok(())
}
