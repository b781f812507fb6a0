//! `lab check [N]`: asks the lab's questions (or takes `--answer id=value` / `--answers FILE`),
//! traces the running workload for a short window with the same probes the tools use, and grades
//! every answer against what it measured; numeric answers also against the session's recording
//! (crate::truth: the last 15 minutes), when the lab records one. Exercises 4a..5c and `--tool`
//! go to `btcheck`.
use std::{collections::BTreeMap, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{bail, Context as _, Result};

use crate::{
    lab::{Kind, Lab, Question},
    screen::prompt::{self, Asked, Question as Asking},
};

pub mod answer;
pub mod checker;
mod probes;
pub mod proctor;
mod window;

// The traced labs' checkers (check/labN.rs, each one `checker::Checker`), registered here and
// nowhere else: a new lab adds its module line and its row (CONTRIBUTING.md).
mod lab1;
mod lab2;
mod lab3;
static CHECKERS: &[(u32, &dyn checker::Checker)] =
    &[(1, &lab1::Lab1), (2, &lab2::Lab2), (3, &lab3::Lab3)];

use answer::Truth;

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

/// One question's measured truth, as shown to the student.
#[derive(Debug, Clone)]
pub struct Measured {
    pub truth: Truth,
    /// The measured value in words ("ledgerd (PID 4242)", "4.0 KiB").
    pub shown: String,
    /// One line on how it was measured / why it is the answer.
    pub why: String,
}

/// Truth per metric name; Err = could not be measured this time (the reason).
pub type Measurements = BTreeMap<String, Result<Measured, String>>;

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
    let mut given = collect_answers(&lab, &args)?;
    let live = crate::session::require_running(id)?;
    if let Some(dead) = live.workloads.iter().find(|w| !w.alive) {
        // Its last words say why (e.g. "No space left on device"): nothing is graded against a
        // workload that stopped.
        let last = crate::session::runfiles::log_tail(&live.session.data_dir, &dead.name, 8)
            .into_iter()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("lab-supervise:"))
            .map(|l| format!(": {}", l.trim()))
            .unwrap_or_default();
        bail!(
            "workload {} of lab {id} is not running ({}{last}); nothing was graded; restart the lab: sudo lab stop && sudo lab start {id}",
            dead.name,
            dead.health()
        );
    }

    // Ask what was not given on the command line, in the lab's own words.
    let ctx = crate::lab::render::Context::for_session(&lab, &live.session);
    if crate::term::interactive() && !args.json {
        let unanswered: Vec<&Question> = lab
            .questions
            .iter()
            .filter(|q| gradable(q) && !given.contains_key(&q.id))
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

    if let Some(w) = args
        .window
        .filter(|w| !(w.is_finite() && *w > 0.0 && *w <= 600.0))
    {
        return Err(crate::privilege::usage(format!(
            "--window {w}: give seconds between 0 and 600, e.g. --window 5"
        )));
    }
    let window = args.window.map(Duration::from_secs_f64);
    let Some(checker) = checker::find(id) else {
        bail!("lab {id} has no traced checks in this runner; its exercises are checked with: lab check {id}a --tool FILE.bt")
    };
    let measured = checker.measure(&lab, &live, window)?;
    // The truth over the session (labs 1 and 3 record one from `lab start` on).
    let history = crate::truth::History::load(
        &live.session.data_dir,
        live.session.started_at,
        crate::state::now(),
    );
    if records(&lab) && crate::truth::launch::running(&live.session.data_dir).is_none() {
        eprintln!("{}", crate::privilege::as_typed(&format!("lab: warning: the session's truth recorder is not running, so sizes and latencies are graded against this check's window only; to record again: sudo lab stop && sudo lab start {id}")));
    }
    let report = grade(&lab, &given, &measured, &ctx, history.as_ref());
    let proctor = proctor::report(&live.session)
        .unwrap_or_else(|e| vec![format!("proctor unavailable: {e:#}")]);
    // Kept in the progress so `lab status` (and the instructor's `lab class`) show it without root.
    let seen = if proctor::armed(&live.session) {
        proctor::counts(&live.session).unwrap_or_default()
    } else {
        Vec::new()
    };

    crate::state::State::update(|state| {
        let progress = state.progress_mut(id);
        progress.proctor = seen.into_iter().collect();
        for r in report.iter().filter(|r| r.answer.is_some()) {
            progress.record(&r.id, r.passed, r.answer.as_deref().unwrap_or(""), &r.shown);
        }
        let required: Vec<&str> = lab
            .questions
            .iter()
            .filter(|q| q.required && gradable(q))
            .map(|q| q.id.as_str())
            .collect();
        progress.last_check = Some(crate::state::CheckTally {
            passed: report
                .iter()
                .filter(|r| r.passed && required.contains(&r.id.as_str()))
                .count(),
            total: required.len(),
            at: crate::state::now(),
        });
        if progress.passed_count(required.iter().copied()) == required.len()
            && progress.passed_at.is_none()
        {
            progress.passed_at = Some(crate::state::now());
        }
        Ok(())
    })?;

    let passed = report.iter().filter(|r| r.required).all(|r| r.passed);
    if args.json {
        print_json(id, passed, &report, &proctor)?;
    } else {
        print_report(&lab, passed, &report, &proctor);
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_exercise(target: &str, args: &Args) -> Result<ExitCode> {
    let Some(tool) = args.tool.as_deref() else {
        return Err(crate::privilege::usage(format!(
            "exercise {target} checks your tool: lab check {target} --tool FILE.bt"
        )));
    };
    // Labs 4-5: the bpftrace checker runs the student's tool against its own workload.
    crate::commands::btcheck::run(target, tool, args.json)
}

/// Questions the checker grades (text questions are shown with the hints, tool ones by btcheck).
fn gradable(q: &Question) -> bool {
    !matches!(q.kind, Kind::Text | Kind::Tool)
}

/// Answers from --answer and --answers FILE, checked against the lab's question ids.
fn collect_answers(lab: &Lab, args: &Args) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let ids = || {
        lab.questions
            .iter()
            .map(|q| q.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut add = |id: &str, value: &str, from: &str| -> Result<()> {
        let id = id.trim();
        let Some(q) = lab.question(id) else {
            return Err(crate::privilege::usage(format!(
                "{from}: lab {} has no question {id:?} (questions: {})",
                lab.id,
                ids()
            )));
        };
        let value = value.trim().trim_matches('"');
        // Read now, so a typo fails before the tracing, naming the choices or the forms.
        let (value, note) = answer::read(q.kind, &q.choices, value).map_err(|why| {
            let choices = if q.choices.is_empty() {
                String::new()
            } else {
                format!("; the choices: {}", crate::lab::choice::list(&q.choices))
            };
            crate::privilege::usage(format!("{from}: {why}{choices}"))
        })?;
        if let Some(note) = note {
            eprintln!("lab: {from}: {note}");
        }
        out.insert(id.to_string(), value);
        Ok(())
    };
    if let Some(file) = &args.answers {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--answers {}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((id, value)) = line.split_once(['=', ':']) else {
                return Err(crate::privilege::usage(format!(
                    "{}:{}: expected `ID = VALUE`, got {line:?}",
                    file.display(),
                    n + 1
                )));
            };
            add(id, value, &format!("{}:{}", file.display(), n + 1))?;
        }
    }
    for a in &args.answer {
        let Some((id, value)) = a.split_once('=') else {
            return Err(crate::privilege::usage(format!(
                "--answer {a:?}: expected ID=VALUE, e.g. --answer process=1234"
            )));
        };
        add(id, value, &format!("--answer {a}"))?;
    }
    Ok(out)
}

/// One graded question.
#[derive(Debug)]
struct Graded {
    id: String,
    prompt: String,
    required: bool,
    answer: Option<String>,
    passed: bool,
    /// What accepted the answer: "now" (the fresh window) or "recording" (the session's).
    passed_by: Option<&'static str>,
    shown: String,
    why: String,
    /// Numeric questions of a recording lab: the truth over the last 15 minutes.
    over_time: Option<crate::truth::history::OverTime>,
}

fn grade(
    lab: &Lab,
    given: &BTreeMap<String, String>,
    measured: &Measurements,
    ctx: &crate::lab::render::Context,
    history: Option<&crate::truth::History>,
) -> Vec<Graded> {
    let mut out = Vec::new();
    for q in lab.questions.iter().filter(|q| gradable(q)) {
        let prompt = ctx.render(&q.prompt).unwrap_or_else(|_| q.prompt.clone());
        let answer = given.get(&q.id).cloned();
        let (mut passed, mut shown, mut why) = match (measured.get(&q.metric), &answer) {
            (None, _) => (
                false,
                "-".into(),
                format!("the checker does not measure {}", q.metric),
            ),
            (Some(Err(reason)), _) => (false, "not measured".into(), reason.clone()),
            (Some(Ok(m)), None) => (false, m.shown.clone(), "not answered".into()),
            (Some(Ok(m)), Some(a)) => {
                match answer::judge(q.kind, q.tolerance, &q.choices, &m.truth, a) {
                    Ok(ok) => {
                        let tol = if q.kind.numeric() && q.tolerance != crate::lab::Tolerance::Exact
                        {
                            format!(" (accepted: {})", q.tolerance)
                        } else {
                            String::new()
                        };
                        (ok, m.shown.clone(), format!("{}{tol}", m.why))
                    }
                    Err(e) => (
                        false,
                        m.shown.clone(),
                        format!("could not read your answer: {e}"),
                    ),
                }
            }
        };
        let fresh = match measured.get(&q.metric) {
            Some(Ok(Measured {
                truth: Truth::Number { value, range },
                ..
            })) => {
                let (lo, hi) = range.unwrap_or((*value, *value));
                Some((*value, lo.min(*value), hi.max(*value)))
            }
            _ => None,
        };
        let over_time = history
            .filter(|_| q.kind.numeric())
            .and_then(|h| h.over_time(q, fresh, answer.as_deref()));
        let mut passed_by = passed.then_some("now");
        // Right at some point of the last 15 minutes counts: what the student could observe.
        if !passed && over_time.as_ref().is_some_and(|o| o.accepted == Some(true)) {
            passed = true;
            passed_by = Some("recording");
            if fresh.is_none() {
                shown = "not measured now".into();
                why = format!("{why}; graded against the session's recording");
            }
        }
        out.push(Graded {
            id: q.id.clone(),
            prompt,
            required: q.required,
            answer,
            passed,
            passed_by,
            shown,
            why,
            over_time,
        });
    }
    out
}

fn print_report(lab: &Lab, passed: bool, report: &[Graded], proctor: &[String]) {
    let screen = crate::screen::Screen::stdout();
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

/// After `lab start` (engine hook): confirm the lab's symptom shows on this machine, adjusting
/// the workload's intensity within bounds. Returns a line for the student; `Ok(None)` when the
/// lab has nothing to verify.
pub fn verify_symptom(lab: &Lab, live: &crate::session::Live) -> Result<Option<String>> {
    checker::find(lab.id)
        .map(|c| c.verify_symptom(live))
        .transpose()
}

/// Metrics the lab's session recorder keeps per window (crate::truth); empty: it records none.
fn recorded_metrics(lab: &Lab) -> &'static [&'static str] {
    checker::find(lab.id).map_or(&[], |c| c.recorded(lab))
}

/// Whether `lab start` runs a truth recorder for this lab: some question asks a recorded metric.
pub fn records(lab: &Lab) -> bool {
    let m = recorded_metrics(lab);
    lab.questions.iter().any(|q| m.contains(&q.metric.as_str()))
}

/// The lab's recorder source, for `lab record`.
pub fn open_recorder(lab: &Lab) -> Result<Box<dyn crate::truth::Source>> {
    match checker::find(lab.id) {
        Some(c) if records(lab) => c.recorder(),
        _ => bail!(
            "lab {} records no truth over the session; nothing to run `lab record` for",
            lab.id
        ),
    }
}

/// Metric names each lab's checker measures (for `lab dev check`).
pub fn metric_known(lab: &Lab, metric: &str) -> bool {
    match checker::find(lab.id) {
        Some(c) => c.metrics().contains(&metric),
        // bpftrace exercises (labs 4-5): btcheck's registry
        None => crate::commands::btcheck::metric_known(metric),
    }
}

/// Run the lab's reference answers through the checker: start the lab, answer every question
/// with what the checker itself measures (the reference answers are the measured truths, except
/// questions with a `reference`), and require a pass; then stop the lab. A lab that records its
/// truth over the session answers its recorded metrics with the latest recorded window: like a
/// student's reading, a value the workload really had during the session.
pub fn reference_run(lab: &Lab) -> Result<Option<String>> {
    if let Some(done) = crate::commands::btcheck::reference_run(lab.id)? {
        return Ok(Some(done));
    }
    let Some(checker) = checker::find(lab.id) else {
        return Ok(None);
    };
    let exe = std::env::current_exe().context("finding the lab binary")?;
    let run = |args: &[&str]| -> Result<std::process::Output> {
        std::process::Command::new(&exe)
            .args(args)
            .output()
            .with_context(|| format!("running lab {}", args.join(" ")))
    };
    let id = lab.id.to_string();
    let out = run(&["start", &id])?;
    anyhow::ensure!(
        out.status.success(),
        "lab start {id} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let result = (|| -> Result<String> {
        let live = crate::session::require_running(lab.id)?;
        std::thread::sleep(Duration::from_secs(2));
        let measured = checker.measure(lab, &live, None)?;
        let history = if records(lab) {
            Some(recorded_window(lab, &live)?)
        } else {
            None
        };
        let recorded = recorded_metrics(lab);
        let mut args: Vec<String> = vec!["check".into(), id.clone(), "--json".into()];
        for q in lab.questions.iter().filter(|q| gradable(q)) {
            let latest = history
                .as_ref()
                .filter(|_| recorded.contains(&q.metric.as_str()))
                .and_then(|h| h.latest(&q.metric));
            let value = match (&q.reference, latest, measured.get(&q.metric)) {
                (Some(r), ..) => {
                    crate::lab::render::Context::for_session(lab, &live.session).render(r)?
                }
                (None, Some(v), _) => reference_answer(q.kind, &Truth::number(v)),
                (None, None, Some(Ok(m))) => reference_answer(q.kind, &m.truth),
                (None, ..) => bail!("question {}: metric {} was not measured", q.id, q.metric),
            };
            args.push("--answer".into());
            args.push(format!("{}={value}", q.id));
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&argv)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "reference answers did not pass:\n{stdout}"
        );
        Ok(format!(
            "all {} answers pass against the traced workload",
            (args.len() - 3) / 2
        ))
    })();
    let _ = run(&["stop"]);
    result.map(Some)
}

/// The session's recording once it holds a window with every recorded metric of the lab's
/// questions (the recorder started with the lab; a window takes 6 s).
fn recorded_window(lab: &Lab, live: &crate::session::Live) -> Result<crate::truth::History> {
    let wanted: Vec<&str> = lab
        .questions
        .iter()
        .map(|q| q.metric.as_str())
        .filter(|m| recorded_metrics(lab).contains(m))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let s = &live.session;
        let h = crate::truth::History::load(&s.data_dir, s.started_at, crate::state::now());
        if let Some(h) = h.filter(|h| wanted.iter().all(|m| h.latest(m).is_some())) {
            return Ok(h);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the truth recorder of lab {} recorded no window with {} in 40 s (see {})",
            lab.id,
            wanted.join(", "),
            crate::truth::dir(&s.data_dir).join("logs").display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The measured truth written as a student would answer it.
fn reference_answer(kind: Kind, truth: &Truth) -> String {
    match truth {
        Truth::Process { names, .. } => names.first().cloned().unwrap_or_default(),
        Truth::File { path } => path.clone(),
        Truth::Syscall(s) | Truth::Choice(s) => s.clone(),
        Truth::Number { value, .. } => match kind {
            Kind::Duration => format!("{value}ns"),
            Kind::Size => format!("{value}"),
            _ => format!("{value}"),
        },
    }
}
