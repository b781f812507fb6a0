//! `lab check [N]`: asks the lab's questions (or takes `--answer id=value` / `--answers FILE`),
//! traces the running workload for a short window with the same probes the tools use, and grades
//! every answer against what it measured; numeric answers also against the session's recording
//! (crate::truth: the last 15 minutes), when the lab records one. Exercises 4a..5c and `--tool`
//! go to crate::exercises.
use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{bail, Result};

use crate::{
    exercises,
    grading::{self, answer, Graded},
    lab::{Lab, Question},
    screen::{
        prompt::{self, Asked, Question as Asking},
        Screen,
    },
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Lab number, or a bpftrace exercise such as 4a (the lab text names its exercises); default: the running lab
    pub target: Option<String>,
    /// Answer one question without being asked: --answer ID=VALUE (repeatable)
    #[arg(long = "answer", value_name = "ID=VALUE")]
    pub answer: Vec<String>,
    /// Read answers from FILE: one `ID = VALUE` per line, `#` starts a comment
    #[arg(long = "answers", value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// The bpftrace tool to check (labs 4 and 5: `lab check 4a --tool mytool.bt`)
    #[arg(long, value_name = "FILE.bt")]
    pub tool: Option<PathBuf>,
    /// Seconds to trace the workload (default: the lab's own; lab 2 logs in once per 2 s)
    #[arg(long, value_name = "SECS")]
    pub window: Option<f64>,
    /// Print the result as JSON on stdout (for scripts)
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if let Some(target) = args.target.as_deref() {
        if target
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .chars()
            .any(|c| c.is_ascii_alphabetic())
            || args.tool.is_some()
        {
            return run_exercise(target, &args);
        }
    } else if args.tool.is_some() {
        return Err(crate::privilege::usage(
            "--tool needs an exercise: lab check 4a --tool FILE.bt",
        ));
    }
    crate::privilege::require_root("lab check")?;
    let id = match args.target.as_deref() {
        Some(t) => crate::lab::parse_id(t).map_err(crate::privilege::usage)?,
        None => match crate::session::current()? {
            Some(live) => live.session.lab,
            None => bail!("no lab is running; start one with: sudo lab start 1"),
        },
    };
    let lab = crate::lab::find(id)?;
    let (mut given, notes) = grading::given::collect(&lab, &args.answer, args.answers.as_deref())?;
    for n in notes {
        eprintln!("lab: {n}");
    }
    let live = crate::session::require_running(id)?;
    live.require_alive()?;

    // Ask what was not given on the command line, in the lab's own words.
    let ctx = crate::lab::render::Context::for_session(&lab, &live.session);
    if crate::term::interactive() && !args.json {
        let unanswered: Vec<&Question> = lab
            .questions
            .iter()
            .filter(|q| q.gradable() && !given.contains_key(&q.id))
            .collect();
        let mut stdin = std::io::stdin().lock();
        for (i, q) in unanswered.iter().enumerate() {
            let text = ctx.render(&q.prompt).unwrap_or_else(|_| q.prompt.clone());
            let shown = Asking {
                counter: format!("{}/{}", i + 1, unanswered.len()),
                text: &text,
                choices: &q.choices,
            };
            match prompt::ask(&shown, &mut stdin, |a| answer::read(q.kind, &q.choices, a))? {
                Asked::Answer(a) => {
                    given.insert(q.id.clone(), a);
                }
                Asked::Skipped => {}
                Asked::Closed => break,
            }
        }
        if !unanswered.is_empty() {
            // The questions end here; the tracing and the report follow.
            eprintln!();
        }
    }

    let window = window(args.window)?;
    let checked = grading::check(&lab, &live, &given, &ctx, window)?;
    for w in &checked.warnings {
        eprintln!(
            "{}",
            crate::privilege::as_typed(&format!("lab: warning: {w}"))
        );
    }
    let (report, proctor) = (&checked.report, &checked.proctor);
    let passed = checked.passed();
    if args.json {
        print_json(id, passed, report, proctor)?;
    } else {
        print_report(&lab, passed, report, proctor);
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--window SECS`, checked: 0 < SECS <= 600.
fn window(secs: Option<f64>) -> Result<Option<Duration>> {
    match secs {
        Some(w) if !(w.is_finite() && w > 0.0 && w <= 600.0) => Err(crate::privilege::usage(
            format!("--window {w}: give seconds between 0 and 600, e.g. --window 5"),
        )),
        _ => Ok(secs.map(Duration::from_secs_f64)),
    }
}

fn run_exercise(target: &str, args: &Args) -> Result<ExitCode> {
    let Some(tool) = args.tool.as_deref() else {
        return Err(crate::privilege::usage(format!(
            "exercise {target} checks your tool: lab check {target} --tool FILE.bt"
        )));
    };
    // Labs 4-5: the bpftrace checker runs the student's tool against its own workload.
    let ex = exercises::require(target)?;
    let outcome = match exercises::check(&ex, tool)? {
        exercises::Checked::Open { text } => {
            if args.json {
                let v = serde_json::json!({ "exercise": ex.id, "title": ex.title, "passed": null, "graded": false, "text": text });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "lab check {}: {}\n\n{}\n\nNo automatic verdict for this exercise.",
                    ex.id, ex.title, text
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        exercises::Checked::Graded(o) => o,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print_exercise(&outcome);
    }
    Ok(if outcome.passed == Some(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_report(lab: &Lab, passed: bool, report: &[Graded], proctor: &[String]) {
    let screen = Screen::stdout();
    let st = screen.style;
    println!("{}", st.heading(&format!("Lab {}: {}", lab.id, lab.title)));
    let detail = |text: &str| screen.indented(text, "    ");
    for r in report {
        let mark = if r.passed {
            st.ok("✓")
        } else {
            st.bad("✗")
        };
        let head = format!("{} {}", st.bold(&r.id), st.dim(&r.prompt));
        println!("{}", screen.wrap(&head, &format!("{mark} "), "    "));
        let ans = r.answer.as_deref().unwrap_or("(no answer)");
        println!(
            "{}",
            detail(&format!("your answer: {ans} · measured: {}", r.shown))
        );
        if let Some(o) = &r.over_time {
            println!("{}", detail(&format!("over the session: {}", o.text)));
        }
        println!("{}", detail(&st.dim(&crate::privilege::as_typed(&r.why))));
    }
    for p in proctor {
        println!("{}", screen.wrap(p, &format!("{} ", st.warn("!")), "  "));
    }
    let n = report.iter().filter(|r| r.passed).count();
    let last = if passed {
        st.ok(&format!(
            "Lab {} passed: {n}/{} right.",
            lab.id,
            report.len()
        ))
    } else {
        crate::privilege::as_typed(&format!("{n}/{} right; the lab passes when every required answer is. Try again: sudo lab check {}", report.len(), lab.id))
    };
    println!("{}", screen.indented(&last, ""));
}

fn print_json(lab: u32, passed: bool, report: &[Graded], proctor: &[String]) -> Result<()> {
    let questions: Vec<_> = report
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id, "required": r.required, "answer": r.answer, "passed": r.passed,
                "measured": r.shown, "why": r.why, "passed_by": r.passed_by,
                "over_time": r.over_time,
            })
        })
        .collect();
    let v = serde_json::json!({ "lab": lab, "passed": passed, "questions": questions, "proctor": proctor });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn print_exercise(r: &exercises::Outcome) {
    let color = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    let paint = |ok: bool, s: &str| {
        if !color {
            s.to_string()
        } else if ok {
            format!("\x1b[32m{s}\x1b[0m")
        } else {
            format!("\x1b[31m{s}\x1b[0m")
        }
    };
    println!(
        "lab check {}: {} ({}, seed {})",
        r.exercise, r.title, r.tool, r.seed
    );
    for e in &r.errors {
        match (e.line, &e.source) {
            (Some(n), Some(src)) => println!(
                "  bpftrace error at line {n}: {}\n      {n:>4} | {}\n      hint: {}",
                e.message,
                src.trim_end(),
                crate::privilege::as_typed(&e.hint)
            ),
            _ => println!(
                "  bpftrace error: {}\n      hint: {}",
                e.message,
                crate::privilege::as_typed(&e.hint)
            ),
        }
    }
    for c in &r.checks {
        let mark = if c.ok {
            paint(true, "✓")
        } else {
            paint(false, "✗")
        };
        println!(
            "  {mark} {}: {}",
            c.what,
            crate::privilege::as_typed(&c.detail)
        );
    }
    for n in &r.notes {
        println!("  note: {}", crate::privilege::as_typed(n));
    }
    match r.passed {
        Some(true) => println!("{}", paint(true, "PASSED")),
        Some(false) => println!("{}", paint(false, "FAILED")),
        None => println!("not graded automatically"),
    }
}
