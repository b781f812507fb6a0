//! Pieces the TCP tools (tcpconnect, tcpaccept, tcplife, tcpretrans) share: port lists and
//! the `-v` hook line.

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
