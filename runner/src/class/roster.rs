//! Who is in the class: the roster `lab provision cloud-init` wrote (names, hosts, users; the
//! password column is never read into memory here) and class.json (the instructor's key).
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::privilege::usage;

/// One student VM to ask.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    /// As in the roster (HOST, HOST:PORT or [V6]:PORT).
    pub host: String,
    pub user: String,
    /// The libvirt host (`qemu+ssh://` URI) the VM is reached through, when it sits on that
    /// host's private network (`lab class up` fills the roster's `via` column).
    pub via: Option<String>,
}

impl Target {
    /// (host, port) for ssh: "h:22" -> ("h", Some(22)), "[::1]:22" -> ("::1", Some(22)).
    pub fn address(&self) -> (String, Option<u16>) {
        let h = self.host.as_str();
        if let Some(rest) = h.strip_prefix('[') {
            if let Some((ip, port)) = rest.split_once("]:") {
                return (ip.to_string(), port.parse().ok());
            }
            return (rest.trim_end_matches(']').to_string(), None);
        }
        match h.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') => match port.parse() {
                Ok(p) => (name.to_string(), Some(p)),
                Err(_) => (h.to_string(), None),
            },
            _ => (h.to_string(), None),
        }
    }
}

/// What provisioning records about the class for `lab class` (DIR/class.json).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClassInfo {
    /// The public key file given with --ssh-key (absolute).
    #[serde(default)]
    pub ssh_key: Option<PathBuf>,
    /// Its private half, when it sits next to it (FILE.pub -> FILE).
    #[serde(default)]
    pub identity: Option<PathBuf>,
}

pub const CLASS_FILE: &str = "class.json";
pub const ROSTER_FILE: &str = "roster.csv";

impl ClassInfo {
    /// From --ssh-key FILE.pub at provisioning time.
    pub fn for_key(pub_key: Option<&Path>) -> ClassInfo {
        let abs = pub_key.map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
        let identity = abs.as_ref().and_then(|p| {
            let s = p.to_str()?.strip_suffix(".pub")?;
            Path::new(s).is_file().then(|| PathBuf::from(s))
        });
        ClassInfo {
            ssh_key: abs,
            identity,
        }
    }

    pub fn load(dir: &Path) -> anyhow::Result<Option<ClassInfo>> {
        let path = dir.join(CLASS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("{} is not valid JSON", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

/// The students in a roster CSV (header: name,host,user,...). Passwords are skipped unread.
pub fn load(path: &Path) -> anyhow::Result<Vec<Target>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| {
        usage(format!(
            "--roster {}: {} (give the roster.csv `lab provision cloud-init` wrote)",
            path.display(),
            e
        ))
    })?;
    let headers = r
        .headers()
        .with_context(|| format!("reading {}", path.display()))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(name), Some(host)) = (col("name"), col("host")) else {
        return Err(usage(format!(
            "--roster {}: no name,host header (expected the roster.csv of `lab provision cloud-init`)",
            path.display()
        )));
    };
    let user = col("user");
    let via = col("via");
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{} row {}", path.display(), i + 2))?;
        let get = |c: usize| rec.get(c).unwrap_or("").trim().to_string();
        let t = Target {
            name: get(name),
            host: get(host),
            user: user
                .map(get)
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| crate::provision::STUDENT_USER.into()),
            via: via.map(get).filter(|v| !v.is_empty()),
        };
        if t.name.is_empty() || t.host.is_empty() || t.host.starts_with('-') {
            return Err(usage(format!(
                "--roster {} row {}: needs a name and a host",
                path.display(),
                i + 2
            )));
        }
        out.push(t);
    }
    if out.is_empty() {
        return Err(usage(format!(
            "--roster {}: no students in it",
            path.display()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let t = |h: &str| {
            Target {
                name: "n".into(),
                host: h.into(),
                user: "u".into(),
                via: None,
            }
            .address()
        };
        assert_eq!(t("lab-01"), ("lab-01".into(), None));
        assert_eq!(
            t("lab-01.example.org:2222"),
            ("lab-01.example.org".into(), Some(2222))
        );
        assert_eq!(t("[::1]:22"), ("::1".into(), Some(22)));
        assert_eq!(t("::1"), ("::1".into(), None));
    }

    #[test]
    fn roster_rows_without_passwords() {
        let dir = std::env::temp_dir().join(format!("lab-class-roster-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("roster.csv");
        std::fs::write(
            &p,
            "name,host,user,password,instance_id\nlab-01,10.0.0.1,student,secret-pw,iid\nlab-02,h:2200,,x,y\n",
        )
        .unwrap();
        let ts = load(&p).unwrap();
        assert_eq!(ts.len(), 2);
        assert_eq!(ts[1].user, "student");
        assert!(!format!("{ts:?}").contains("secret-pw"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
