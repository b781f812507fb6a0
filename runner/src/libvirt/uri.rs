//! A libvirt connection URI as `lab class up --hosts` takes it: which host it names, and how the
//! instructor's machine reaches VMs on that host's private networks (through the same SSH login).
use crate::privilege::usage;

/// One `--hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUri {
    /// As given: what the journal, the roster and messages show.
    pub uri: String,
    /// What virsh connects to: `uri`, plus `no_tty=1` for ssh (a missing key fails instead of
    /// prompting for a password nobody will type).
    pub connect: String,
    /// `qemu`, `qemu+ssh`, `qemu+tls`, ...
    pub scheme: String,
    /// user, host and port of an ssh transport; None for a local URI.
    pub ssh: Option<SshLogin>,
    /// Remote by another transport (tcp, tls): VMs on its NAT networks are out of our reach.
    pub remote_other: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshLogin {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The URI's `keyfile=` parameter.
    pub keyfile: Option<String>,
    /// The URI's `no_verify=1`: host keys are not checked (as libvirt does for this URI).
    pub no_verify: bool,
}

impl HostUri {
    pub fn parse(s: &str) -> anyhow::Result<HostUri> {
        let bad = |why: &str| {
            usage(format!(
                "--hosts '{s}': {why} (e.g. qemu:///system or qemu+ssh://root@host/system)"
            ))
        };
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| bad("not a libvirt URI"))?;
        let driver = scheme.split('+').next().unwrap_or_default();
        if driver != "qemu" {
            return Err(bad(&format!(
                "driver '{driver}': lab class up makes qemu/KVM domains"
            )));
        }
        let transport = scheme.split_once('+').map(|(_, t)| t);
        let (authority, path_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
        if path != "/system" {
            return Err(bad(&format!(
                "path '{path}': use /system (session URIs have no networks for a class)"
            )));
        }
        let params: Vec<(&str, &str)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        let param = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let local = authority.is_empty() || authority == "localhost";
        let mut connect = s.to_string();
        let mut ssh = None;
        let mut remote_other = None;
        match transport {
            Some("ssh") | Some("libssh") | Some("libssh2") if !authority.is_empty() => {
                let mut login = ssh_login(authority).map_err(|w| bad(&w))?;
                login.keyfile = param("keyfile").map(String::from);
                login.no_verify = param("no_verify") == Some("1");
                ssh = Some(login);
                if param("no_tty").is_none() {
                    connect.push(if query.is_empty() { '?' } else { '&' });
                    connect.push_str("no_tty=1");
                }
            }
            Some("unix") | None if local => {}
            Some(t) if !local => remote_other = Some(t.to_string()),
            None => remote_other = Some("tcp".into()),
            Some(t) => return Err(bad(&format!("transport '{t}' needs a host name"))),
        }
        Ok(HostUri {
            uri: s.to_string(),
            connect,
            scheme: scheme.to_string(),
            ssh,
            remote_other,
        })
    }

    pub fn is_local(&self) -> bool {
        self.ssh.is_none() && self.remote_other.is_none()
    }

    /// A short name for tables: `local`, or the host part.
    pub fn label(&self) -> String {
        match (&self.ssh, &self.remote_other) {
            (Some(s), _) => match s.port {
                Some(p) => format!("{}:{p}", s.host),
                None => s.host.clone(),
            },
            (None, Some(_)) => self
                .uri
                .split_once("://")
                .map(|(_, r)| r.split('/').next().unwrap_or(r).to_string())
                .unwrap_or_default(),
            (None, None) => "local".into(),
        }
    }
}

/// `[user@]host[:port]` of an ssh URI (keyfile and no_verify are set by the caller).
fn ssh_login(authority: &str) -> Result<SshLogin, String> {
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
            let port = p
                .parse()
                .map_err(|_| format!("port '{p}' is not a number"))?;
            (h.trim_matches(['[', ']']).to_string(), Some(port))
        }
        _ => (hostport.trim_matches(['[', ']']).to_string(), None),
    };
    if host.is_empty() {
        return Err("no host name".into());
    }
    Ok(SshLogin {
        user,
        host,
        port,
        keyfile: None,
        no_verify: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_remote_uris() {
        let l = HostUri::parse("qemu:///system").unwrap();
        assert!(l.is_local());
        assert_eq!(l.label(), "local");
        let r = HostUri::parse("qemu+ssh://root@10.0.0.5:2222/system?keyfile=/k").unwrap();
        let s = r.ssh.as_ref().unwrap();
        assert_eq!(
            (s.user.as_deref(), s.host.as_str(), s.port),
            (Some("root"), "10.0.0.5", Some(2222))
        );
        assert_eq!(s.keyfile.as_deref(), Some("/k"));
        assert_eq!(r.uri, "qemu+ssh://root@10.0.0.5:2222/system?keyfile=/k");
        assert_eq!(
            r.connect,
            "qemu+ssh://root@10.0.0.5:2222/system?keyfile=/k&no_tty=1"
        );
        assert_eq!(r.label(), "10.0.0.5:2222");
        let t = HostUri::parse("qemu+tls://h.example.org/system").unwrap();
        assert_eq!(t.remote_other.as_deref(), Some("tls"));
    }

    #[test]
    fn bad_uris_say_why() {
        for (s, why) in [
            ("lab-host", "not a libvirt URI"),
            ("xen:///system", "driver 'xen'"),
            ("qemu:///session", "path '/session'"),
            ("qemu+ssh://root@h:x/system", "port 'x'"),
        ] {
            let e = HostUri::parse(s).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(s), "{s}: {e}");
        }
    }
}
