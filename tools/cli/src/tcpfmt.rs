//! Pieces the TCP tools (tcpconnect, tcpaccept, tcplife, tcpretrans, tcpsynbl) share: port
//! lists, and their `-d`/`-v` flags with the runtime they set up.
use std::time::Duration;

use anyhow::Result;

use crate::runtime::{Runtime, Schedule};

/// `-d DURATION` and `-v`, which every TCP tool takes (`#[command(flatten)]` last in its Args).
#[derive(clap::Args, Debug)]
pub struct Common {
    /// total duration of trace in seconds
    #[arg(short = 'd', long = "duration", value_name = "DURATION", value_parser = crate::args::seconds)]
    pub duration: Option<Duration>,
    /// say which kernel hooks are used (on stderr)
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

impl Common {
    /// Say `tool`'s `hook` (with -v) and start the runtime: until Ctrl-C or -d's end.
    pub fn start(&self, tool: &str, hook: &str) -> Result<Runtime> {
        say_hook(tool, self.verbose, hook);
        Runtime::new(Schedule {
            duration: self.duration,
            ..Default::default()
        })
    }
}

/// A port list given as one `PORT[,PORT...]` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports(pub Vec<u16>);

/// Value parser for BCC's `-P PORT[,PORT...]` (and tcplife's `-L`/`-D`): ports 1-65535.
pub fn ports(s: &str) -> Result<Ports, String> {
    s.split(',')
        .map(|p| match p.trim().parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "'{p}' is not a port (want PORT[,PORT...], each 1-65535)"
            )),
        })
        .collect::<Result<Vec<u16>, String>>()
        .map(Ports)
}

/// Whether `port` passes a port filter (None = every port).
pub fn port_allowed(filter: &Option<Ports>, port: u16) -> bool {
    filter.as_ref().is_none_or(|f| f.0.contains(&port))
}

/// `-v`: say on stderr which kernel hook the tool runs on.
pub fn say_hook(tool: &str, verbose: bool, hook: &str) {
    if verbose {
        eprintln!("{tool}: hook: {hook}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists() {
        assert_eq!(ports("80"), Ok(Ports(vec![80])));
        assert_eq!(ports("80,443"), Ok(Ports(vec![80, 443])));
        assert!(ports("0").is_err() && ports("x").is_err() && ports("70000").is_err());
        assert!(port_allowed(&None, 1) && !port_allowed(&Some(Ports(vec![2])), 1));
    }
}
