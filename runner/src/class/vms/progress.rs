//! What `lab class up` shows while it works: one line per VM (indicatif, redrawn in place on a
//! terminal) with its stage and time, or one plain line per stage change when not a terminal.
use std::{
    io::IsTerminal as _,
    sync::Mutex,
    time::{Duration, Instant},
};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The stages a VM goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Queued,
    /// Seed, overlay and domain being made.
    Creating,
    Defined,
    Booting,
    Ssh,
    CloudInit,
    Doctor,
    Ready,
    Failed,
}

impl Stage {
    pub fn word(self) -> &'static str {
        match self {
            Stage::Queued => "queued",
            Stage::Creating => "creating",
            Stage::Defined => "defined",
            Stage::Booting => "booting",
            Stage::Ssh => "ssh",
            Stage::CloudInit => "cloud-init",
            Stage::Doctor => "doctor",
            Stage::Ready => "ready",
            Stage::Failed => "failed",
        }
    }
}

pub struct Progress {
    multi: Option<MultiProgress>,
    started: Instant,
    /// Serializes plain lines from the worker threads.
    plain: Mutex<()>,
}

pub struct VmLine<'a> {
    progress: &'a Progress,
    bar: Option<ProgressBar>,
    label: String,
    current: Mutex<Clock>,
}

/// The stage entered last and when; the seconds each finished stage took.
struct Clock {
    stage: Stage,
    since: Instant,
    done: Vec<(Stage, f64)>,
}

impl Progress {
    pub fn new() -> Progress {
        let multi = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress {
            multi,
            started: Instant::now(),
            plain: Mutex::new(()),
        }
    }

    /// A line for one VM: `student` on `host`.
    pub fn vm(&self, student: &str, host: &str) -> VmLine<'_> {
        let label = format!("{student:<12} {host:<16}");
        let bar = self.multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg}").expect("a valid template"),
            );
            b.set_prefix(label.clone());
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        VmLine {
            progress: self,
            bar,
            label,
            current: Mutex::new(Clock {
                stage: Stage::Queued,
                since: Instant::now(),
                done: Vec::new(),
            }),
        }
    }

    /// A line that is not about one VM (uploads, notes), above the VM lines.
    pub fn note(&self, text: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                let _lock = self.plain.lock();
                println!("{text}");
            }
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl VmLine<'_> {
    /// Enter `stage`; `detail` says more (the reason, for Failed).
    pub fn set(&self, stage: Stage, detail: &str) {
        {
            let mut c = self.current.lock().expect("no panics holding it");
            if c.stage != stage {
                let took = c.since.elapsed().as_secs_f64();
                let prev = c.stage;
                c.done.push((prev, took));
                c.stage = stage;
                c.since = Instant::now();
            }
        }
        let t = mmss(self.progress.elapsed());
        let text = if detail.is_empty() {
            format!("{:<10} {t}", stage.word())
        } else {
            format!("{:<10} {t}  {detail}", stage.word())
        };
        match &self.bar {
            Some(b) => {
                b.set_message(text);
                if matches!(stage, Stage::Ready | Stage::Failed) {
                    b.finish();
                }
            }
            None => {
                let _lock = self.progress.plain.lock();
                println!("{}{}", self.label, text);
            }
        }
    }
}

impl VmLine<'_> {
    /// Seconds each finished stage took, by stage name (a stage entered twice adds up).
    pub fn timings(&self) -> std::collections::BTreeMap<String, f64> {
        let c = self.current.lock().expect("no panics holding it");
        let mut out = std::collections::BTreeMap::new();
        for (stage, secs) in &c.done {
            *out.entry(stage.word().to_string()).or_insert(0.0) += (secs * 10.0).round() / 10.0;
        }
        out
    }
}

pub fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}
