//! Lab 1's session recorder source: biosnoop's probe (the checker's own BioTrace), summarized
//! per window by the same `summarize` the fresh check uses.
use anyhow::Result;

use super::{
    super::traces::{Bio, BioTrace},
    summary,
};

/// Most I/Os kept for one window: far above what a workload does in 6 s (~3,000 at 500/s), a
/// bound on memory should something flood the disk.
const MAX_WINDOW_IOS: usize = 200_000;

pub struct BioWindows {
    bio: BioTrace,
    ios: Vec<Bio>,
}

impl BioWindows {
    pub fn start() -> Result<Self> {
        Ok(Self {
            bio: BioTrace::start()?,
            ios: Vec::new(),
        })
    }
}

impl crate::truth::WindowSource for BioWindows {
    fn window(&self) -> std::time::Duration {
        super::DEFAULT_WINDOW
    }

    fn poll(&mut self, pids: &[i32]) -> Result<()> {
        let room = MAX_WINDOW_IOS.saturating_sub(self.ios.len());
        // Drain everything (the ring must empty), keep the workload's.
        let mine = self.bio.poll()?.into_iter();
        self.ios
            .extend(mine.filter(|b| pids.contains(&(b.pid as i32))).take(room));
        Ok(())
    }

    fn take_window(&mut self) -> crate::truth::Window {
        summary::summarize(&std::mem::take(&mut self.ios)).window()
    }
}
