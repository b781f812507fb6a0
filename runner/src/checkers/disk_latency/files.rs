//! Which file the workload writes, from the writes themselves: every descriptor it holds open
//! for writing (/proc/PID/fd → path, /proc/PID/fdinfo → flags and file position) is sampled
//! while the check traces, and the file whose positions advanced most is the one written.
//! A write moves the descriptor's position (O_APPEND ones too), so this needs no open() inside
//! the window, unlike opensnoop's view.
use std::collections::BTreeMap;

/// Bytes written per path while sampled.
#[derive(Debug, Default)]
pub struct FileWrites {
    /// (pid, fd) → (the path it names, its last position); None before the first sample.
    seen: Option<BTreeMap<(i32, u32), (String, u64)>>,
    pub bytes: BTreeMap<String, u64>,
}

impl FileWrites {
    /// Look at every descriptor of `pids` now; add how far each moved since the last look (a
    /// descriptor first seen after the first look counts from 0: it was opened meanwhile).
    pub fn sample(&mut self, pids: &[i32]) {
        let first = self.seen.is_none();
        let before = self.seen.take().unwrap_or_default();
        let mut now = BTreeMap::new();
        for &pid in pids {
            for (fd, path, pos) in writable_files(pid) {
                let from = match before.get(&(pid, fd)) {
                    Some((p, was)) if *p == path => Some(*was),
                    _ if first => None,
                    _ => Some(0),
                };
                if let Some(from) = from.filter(|f| pos > *f) {
                    *self.bytes.entry(path.clone()).or_default() += pos - from;
                }
                now.insert((pid, fd), (path, pos));
            }
        }
        self.seen = Some(now);
    }

    /// The most-written path and its bytes.
    pub fn top(&self) -> Option<(&str, u64)> {
        self.bytes
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(p, n)| (p.as_str(), *n))
    }
}

/// (fd, path, position) of the regular files `pid` holds open for writing.
fn writable_files(pid: i32) -> Vec<(u32, String, u64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Ok(fd) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        let path = target.to_string_lossy().into_owned();
        // Regular files only (not pipes, sockets, /dev/null).
        if !path.starts_with('/') || path.starts_with("/dev/") || path.ends_with(" (deleted)") {
            continue;
        }
        let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
            continue;
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let flags = field("flags:").and_then(|f| u64::from_str_radix(&f, 8).ok());
        let pos = field("pos:").and_then(|p| p.parse::<u64>().ok());
        let (Some(flags), Some(pos)) = (flags, pos) else {
            continue;
        };
        if flags & libc::O_ACCMODE as u64 != libc::O_RDONLY as u64 {
            out.push((fd, path, pos));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn the_written_file_is_found_without_an_open_in_the_window() {
        let dir = std::env::temp_dir().join(format!("lab-files-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (log, idle) = (dir.join("app.log"), dir.join("idle.dat"));
        // Both opened before sampling starts; only the log is written.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let _g = std::fs::File::create(&idle).unwrap();
        let _r = std::fs::File::open(&log).unwrap();
        let me = [std::process::id() as i32];
        let mut w = FileWrites::default();
        w.sample(&me);
        for _ in 0..10 {
            f.write_all(&[b'x'; 100]).unwrap();
        }
        w.sample(&me);
        assert_eq!(w.top(), Some((log.to_str().unwrap(), 1000)));
        assert!(!w.bytes.contains_key(idle.to_str().unwrap()), "{w:?}");
        // Reopened between samples (a rotation): the new descriptor counts from 0.
        drop(f);
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(&[b'y'; 50]).unwrap();
        w.sample(&me);
        assert!(w.bytes[log.to_str().unwrap()] >= 1050, "{w:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
