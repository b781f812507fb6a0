//! Lab 3's session recorder source: runqlat's probe on the workload (the checker's own
//! RunqHist), its p99 per window computed as the fresh check computes it. The other lab 3
//! truths (threads, CPU, system call, bytes) do not move with the machine's load.
use anyhow::Result;
use lab_probes::hist::Hist;

use crate::checkers::traces::RunqHist;

/// What the recorder keeps per window.
pub const RECORDED: &[&str] = &[super::P99, WAITS];
/// Waits counted in the window (context: a window with few waits records no p99).
const WAITS: &str = "runqlat.waits";

#[derive(Default)]
pub struct RunqWindows {
    /// The probe, attached to the workload's processes of the first poll (again when they change).
    probe: Option<(Vec<i32>, RunqHist)>,
    /// The cumulative histogram at the last window's end.
    last: Hist,
}

impl RunqWindows {
    pub fn start() -> Result<Self> {
        Ok(Self::default())
    }
}

impl crate::truth::WindowSource for RunqWindows {
    fn window(&self) -> std::time::Duration {
        super::DEFAULT_WINDOW
    }

    fn poll(&mut self, pids: &[i32]) -> Result<()> {
        // The kernel keeps the counts: nothing to drain, only to (re)attach.
        let mut pids = pids.to_vec();
        pids.sort_unstable();
        if !pids.is_empty() && self.probe.as_ref().is_none_or(|(p, _)| *p != pids) {
            self.probe = Some((pids.clone(), RunqHist::start(&pids)?));
            self.last = Hist::default();
        }
        Ok(())
    }

    fn take_window(&mut self) -> crate::truth::Window {
        let mut w = crate::truth::Window::default();
        let Some(now) = self.probe.as_ref().and_then(|(_, p)| p.fine().ok()) else {
            return w;
        };
        let window = now.since(&self.last);
        self.last = now;
        w.metrics.insert(WAITS.into(), window.total() as f64);
        if let Some(p99) = super::p99(&window) {
            w.metrics.insert(super::P99.into(), p99);
        }
        if window.total() > 0 {
            w.hists.insert(super::P99.into(), super::sparse(&window));
        }
        w
    }
}
