//! The event loop of every tool: wait for ring-buffer data, the next interval tick, the end of
//! `-d duration`, or SIGINT/SIGTERM, whichever comes first.
//!
//! Signals: handlers are installed explicitly (a background job of a non-interactive shell starts
//! with SIGINT ignored, so relying on the default disposition would make Ctrl-C/kill -INT do
//! nothing). The handler only records the signal and writes to a self-pipe that the loop polls, so
//! a signal wakes the loop at once, the tool prints its final summary and returns normally, and
//! dropping its `Ebpf` detaches the probes.
use std::{
    io::Read,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd},
        unix::net::UnixStream,
    },
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

/// When a tool prints and when it stops on its own.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// Print interval output this often (BCC's `interval`, syscount's `-i`).
    pub interval: Option<Duration>,
    /// Stop after this many intervals (BCC's `count`).
    pub count: Option<u64>,
    /// Stop after this long (`-d`).
    pub duration: Option<Duration>,
}

/// Why the loop woke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// One of the fds passed to `wait` is readable (ring buffer has data), or the
    /// `drain_every` period passed: drain the ring buffer.
    Ready,
    /// An interval elapsed; `last` when it was the `count`th (print, then stop).
    Tick { last: bool },
    /// Time to print the final summary and exit.
    Stop(StopReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT or SIGTERM (the number).
    Signal(i32),
    /// `-d duration` elapsed.
    Duration,
}

/// Signal handlers plus the interval/duration clock.
pub struct Runtime {
    schedule: Schedule,
    start: Instant,
    next_tick: Option<Instant>,
    ticks: u64,
    signal: Arc<AtomicUsize>,
    wake_rx: UnixStream,
    idle: Option<Duration>,
}

impl Runtime {
    /// Install SIGINT/SIGTERM handlers and start the clock.
    pub fn new(schedule: Schedule) -> Result<Self> {
        let signal = Arc::new(AtomicUsize::new(0));
        let (wake_rx, wake_tx) = UnixStream::pair().context("creating the signal pipe")?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        for sig in [libc::SIGINT, libc::SIGTERM] {
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)
                .context("installing signal handler")?;
            signal_hook::low_level::pipe::register(sig, wake_tx.try_clone()?)
                .context("installing signal handler")?;
        }
        let start = Instant::now();
        Ok(Self {
            next_tick: schedule.interval.map(|i| start + i),
            schedule,
            start,
            ticks: 0,
            signal,
            wake_rx,
            idle: None,
        })
    }

    /// When the runtime (and so the tracing) started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Also return `Wake::Ready` after `every` without readiness: for probes that batch their
    /// ring-buffer wake-ups (records may wait without the fd turning readable).
    pub fn drain_every(&mut self, every: Duration) -> &mut Self {
        self.idle = Some(every);
        self
    }

    /// The signal that asked us to stop, if any.
    pub fn signalled(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s as i32),
        }
    }

    /// Block until one of `fds` is readable, a tick is due, or it is time to stop.
    /// Signals take precedence, then the duration end, then ticks, then readiness.
    pub fn wait(&mut self, fds: &[BorrowedFd<'_>]) -> Result<Wake> {
        loop {
            if let Some(sig) = self.signalled() {
                return Ok(Wake::Stop(StopReason::Signal(sig)));
            }
            let now = Instant::now();
            let deadline = self.schedule.duration.map(|d| self.start + d);
            if deadline.is_some_and(|d| now >= d) {
                return Ok(Wake::Stop(StopReason::Duration));
            }
            if let Some(t) = self.next_tick.filter(|t| now >= *t) {
                self.ticks += 1;
                self.next_tick = self.schedule.interval.map(|i| t + i);
                let last = self.schedule.count.is_some_and(|c| self.ticks >= c);
                return Ok(Wake::Tick { last });
            }
            let idle_at = self.idle.map(|i| now + i);
            let until = [deadline, self.next_tick, idle_at]
                .into_iter()
                .flatten()
                .min();
            let timeout_ms = match until {
                // Round up so we do not spin just short of the deadline.
                Some(t) => t
                    .saturating_duration_since(now)
                    .as_micros()
                    .div_ceil(1000)
                    .min(i32::MAX as u128) as i32,
                None => -1,
            };
            let mut pfds: Vec<libc::pollfd> = fds
                .iter()
                .chain(std::iter::once(&self.wake_rx.as_fd()))
                .map(|fd| libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: pfds is a valid array of pollfd for its length.
            let rc =
                unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
            if rc < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err).context("poll");
            }
            let (wake, data) = pfds.split_last().expect("wake fd is always present");
            if wake.revents != 0 {
                let mut buf = [0u8; 64];
                while matches!((&self.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
            }
            if data.iter().any(|p| p.revents != 0) {
                return Ok(Wake::Ready);
            }
            if rc == 0 && idle_at.is_some_and(|t| Instant::now() >= t) {
                return Ok(Wake::Ready);
            }
        }
    }

    /// Sleep until the next tick or stop, ignoring readiness (histogram tools with no fds).
    pub fn sleep(&mut self) -> Result<Wake> {
        self.wait(&[])
    }
}

/// BCC's interval tools (funccount, stackcount, funclatency): print every `-i` seconds, once at
/// the end of `-d` without `-i`, and at Ctrl-C.
pub struct Intervals {
    rt: Runtime,
    duration: Option<Duration>,
}

impl Intervals {
    /// Start the clock and the signal handlers (before the tool's first line: a Ctrl-C right
    /// after it must still end the tool cleanly).
    pub fn new(interval: Option<Duration>, duration: Option<Duration>) -> Result<Self> {
        let rt = Runtime::new(Schedule {
            interval: interval.or(duration),
            count: None,
            duration,
        })?;
        Ok(Self { rt, duration })
    }

    /// Call `print(last)` at each interval until the last one (duration over, or a signal).
    pub fn run(mut self, mut print: impl FnMut(bool) -> Result<()>) -> Result<()> {
        loop {
            let last = match self.rt.sleep()? {
                Wake::Ready => continue,
                // The duration's end may coincide with the last tick: end there.
                Wake::Tick { .. } => self
                    .duration
                    .is_some_and(|d| self.rt.start().elapsed() >= d),
                Wake::Stop(_) => true,
            };
            print(last)?;
            if last {
                return Ok(());
            }
        }
    }
}
