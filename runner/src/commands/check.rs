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
    lab::Question,
    screen::{
        self,
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
        print!(
            "{}",
            screen::check::report(&lab, passed, report, proctor, Screen::stdout())
        );
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
                print!(
                    "{}",
                    screen::check::open(&ex.id, &ex.title, &text, Screen::stdout())
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        exercises::Checked::Graded(o) => o,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", screen::check::exercise(&outcome, Screen::stdout()));
    }
    Ok(if outcome.passed == Some(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
