//! Command-line pieces the BCC tools share: `[interval] [count]`, PIDs, durations.
use std::time::Duration;

use crate::runtime::Schedule;

/// BCC's trailing positionals `[interval] [count]`: print every `interval` seconds, `count` times
/// (default: one summary at Ctrl-C).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct IntervalCount {
    /// output interval, in seconds
    #[arg(value_name = "interval", value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: Option<u64>,
    /// number of outputs
    #[arg(value_name = "count", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

impl IntervalCount {
    pub fn schedule(&self) -> Schedule {
        Schedule {
            interval: self.interval.map(Duration::from_secs),
            count: self.count,
            duration: None,
        }
    }
}

/// The flags of BCC's pattern-counting tools (funccount, funclatency): -p PID, -i and -d in
/// seconds, -T, -r.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PatternEvery {
    /// trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = pid)]
    pub pid: Option<u32>,
    /// summary interval, seconds
    #[arg(short = 'i', long = "interval", value_name = "INTERVAL", value_parser = seconds)]
    pub interval: Option<Duration>,
    /// total duration of trace, seconds
    #[arg(short = 'd', long = "duration", value_name = "DURATION", value_parser = seconds)]
    pub duration: Option<Duration>,
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    pub timestamp: bool,
    /// use regular expressions. Default is "*" wildcards only.
    #[arg(short = 'r', long = "regexp")]
    pub regexp: bool,
}

/// Value parser for a PID (or TID): a positive 32-bit integer.
pub fn pid(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(p) if p > 0 && p <= i32::MAX as u32 => Ok(p),
        _ => Err(format!("'{s}' is not a process id (a positive integer)")),
    }
}

/// Value parser for a whole number of seconds > 0 (`-d`, `-i`).
pub fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
        _ => Err(format!(
            "'{s}' is not a number of seconds (a positive integer)"
        )),
    }
}

/// `-c/--cgroup PATH` (libbpf-tools): the cgroup id of cgroup v2 directory `path`. A bad path is
/// a usage error: one line naming the flag and path on stderr, exit 2 (as clap does for flags).
pub fn cgroup_or_exit(tool: &str, path: Option<&std::path::Path>) -> Option<u64> {
    let path = path?;
    match lab_probes::events::cgroup_id(path) {
        Ok(id) => Some(id),
        Err(e) => {
            eprintln!("{tool}: error: --cgroup {}: {e:#}", path.display());
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_and_seconds() {
        assert_eq!(pid("42"), Ok(42));
        assert!(pid("0").is_err() && pid("-1").is_err() && pid("x").is_err());
        assert_eq!(seconds("3"), Ok(Duration::from_secs(3)));
        assert!(seconds("0").is_err());
    }
}
