//! Parsing students' answers in the forms people write them ("2ms", "2000 us", "2 MiB", "cpu1",
//! "sys_fsync", a PID or a name) and judging them against the value the checker measured.
use crate::lab::{choice, Kind, Tolerance};

/// The value an answer is judged against: what the checker measured for one question.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A process: right when the answer names one of `names` or is one of `pids`.
    Process {
        names: Vec<String>,
        pids: Vec<i32>,
    },
    /// A file: compared by base name.
    File {
        path: String,
    },
    /// A number in the kind's base unit (bytes, ns, count, CPU). `range` widens it when the
    /// measurement only gives a histogram bucket: any value in it counts as right.
    Number {
        value: f64,
        range: Option<(f64, f64)>,
    },
    Syscall(String),
    Choice(String),
}

impl Expected {
    pub fn number(value: f64) -> Expected {
        Expected::Number { value, range: None }
    }
}

/// Whether `answer` matches `expected` for a question of `kind`; Err = the answer could not be read
/// (the message says which forms are accepted).
pub fn judge(
    kind: Kind,
    tol: Tolerance,
    choices: &[String],
    expected: &Expected,
    answer: &str,
) -> Result<bool, String> {
    let answer = answer.trim();
    if answer.is_empty() {
        return Err("no answer".into());
    }
    match (kind, expected) {
        (Kind::Process, Expected::Process { names, pids }) => Ok(match parse_process(answer) {
            ProcessAnswer::Pid(p) => pids.contains(&p),
            ProcessAnswer::Name(n) => names.iter().any(|t| t.eq_ignore_ascii_case(&n)),
        }),
        (Kind::File, Expected::File { path }) => {
            Ok(base_name(answer).eq_ignore_ascii_case(base_name(path)))
        }
        (Kind::Syscall, Expected::Syscall(t)) => {
            Ok(normalize_syscall(answer) == normalize_syscall(t))
        }
        (Kind::Choice, Expected::Choice(t)) => {
            let picked = parse_choice(answer, choices)?;
            Ok(picked.eq_ignore_ascii_case(t))
        }
        (
            Kind::Size | Kind::Duration | Kind::Number | Kind::Cpu,
            Expected::Number { value, range },
        ) => {
            let a = match kind {
                Kind::Size => parse_size(answer)?,
                Kind::Duration => parse_duration_ns(answer)?,
                Kind::Cpu => parse_cpu(answer)? as f64,
                _ => parse_number(answer)?,
            };
            let tol = if kind == Kind::Cpu {
                Tolerance::Exact
            } else {
                tol
            };
            Ok(match range {
                // Accept when some value in the bucket would accept the answer.
                Some((lo, hi)) => within_range(tol, *lo, *hi, a) || tol.accepts(*value, a),
                None => tol.accepts(*value, a),
            })
        }
        (k, t) => Err(format!(
            "internal: a {k:?} question got a {t:?} measurement"
        )),
    }
}

fn within_range(tol: Tolerance, lo: f64, hi: f64, a: f64) -> bool {
    if a >= lo && a <= hi {
        return true;
    }
    // Closest point of the range to the answer.
    let nearest = if a < lo { lo } else { hi };
    tol.accepts(nearest, a)
}

pub enum ProcessAnswer {
    Pid(i32),
    Name(String),
}

/// "1234", "PID 1234", "ledgerd", "/usr/bin/ledgerd", "ledgerd (1234)" -> name wins over PID.
pub fn parse_process(s: &str) -> ProcessAnswer {
    let t = s.trim();
    let t = t
        .strip_prefix("pid")
        .or_else(|| t.strip_prefix("PID"))
        .unwrap_or(t)
        .trim();
    if let Ok(p) = t.parse::<i32>() {
        return ProcessAnswer::Pid(p);
    }
    let name = t
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or(t);
    ProcessAnswer::Name(base_name(name).to_string())
}

pub fn base_name(s: &str) -> &str {
    let s = s.trim().trim_matches(|c| c == '"' || c == '\'' || c == '`');
    s.rsplit('/').next().unwrap_or(s)
}

/// "fsync", "sys_fsync", "__x64_sys_fsync", "fsync()", "SYS_fsync", "pread" -> canonical name.
pub fn normalize_syscall(s: &str) -> String {
    let mut t = s.trim().trim_matches('`').to_ascii_lowercase();
    if let Some(i) = t.find('(') {
        t.truncate(i);
    }
    for prefix in [
        "__x64_sys_",
        "__arm64_sys_",
        "__ia32_sys_",
        "sys_enter_",
        "sys_exit_",
        "sys_",
    ] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.to_string();
            break;
        }
    }
    let t = t.trim().to_string();
    match t.as_str() {
        "pread" => "pread64".into(),
        "pwrite" => "pwrite64".into(),
        _ => t,
    }
}

/// A number, optionally followed by words ("3", "3 threads", "about 40").
pub fn parse_number(s: &str) -> Result<f64, String> {
    let t = s
        .trim()
        .trim_start_matches(|c: char| c.is_alphabetic() || c == '~' || c.is_whitespace());
    let num: String = t
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
        .collect();
    num.parse::<f64>()
        .map_err(|_| format!("{s:?} is not a number"))
}

/// "1", "cpu1", "CPU 1", "#1".
pub fn parse_cpu(s: &str) -> Result<u32, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_start_matches("cpu").trim_start_matches('#').trim();
    t.parse::<u32>()
        .map_err(|_| format!("{s:?} is not a CPU number (write e.g. 1 or cpu1)"))
}

/// The number and its unit, lower case: "16 ms" -> (16, "ms"); "~4KiB." -> (4, "kib"); words
/// around them ("about", "per I/O") are ignored.
fn split_unit(s: &str) -> Result<(f64, String), String> {
    let t = s.trim().replace('_', "").to_lowercase();
    let t = ["about", "around", "approx.", "approx", "roughly", "~", "≈"]
        .iter()
        .fold(t.as_str(), |t, w| {
            t.strip_prefix(w).unwrap_or(t).trim_start()
        });
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let (num, rest) = t.split_at(split);
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} does not start with a number"))?;
    let unit: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect();
    Ok((v, unit))
}

/// Bytes from "4096", "4k", "4K", "4 KiB", "4kb", "2M", "2 MiB", "1.5g", "512 bytes".
/// K/M/G are binary (1024), as the tools print Kbytes.
pub fn parse_size(s: &str) -> Result<f64, String> {
    let (v, unit) = split_unit(s)?;
    let mult = match unit.as_str() {
        "" | "b" | "byte" | "bytes" => 1.0,
        "k" | "kb" | "kib" | "kbytes" | "kbyte" | "kilobytes" => 1024.0,
        "m" | "mb" | "mib" | "mbytes" | "megabytes" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" | "gbytes" | "gigabytes" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "{s:?}: unknown size unit {unit:?} (write e.g. 4096, 4K, 2 MiB)"
            ))
        }
    };
    Ok(v * mult)
}

/// Nanoseconds from "2ms", "2000 us", "2000µs", "0.002 s", "1.5 sec", "800ns", "2 msecs".
/// A bare number is refused: the unit is the point of the answer.
pub fn parse_duration_ns(s: &str) -> Result<f64, String> {
    let (v, unit) = split_unit(s)?;
    let mult = match unit.as_str() {
        "ns" | "nsec" | "nsecs" | "nanoseconds" => 1.0,
        "us" | "µs" | "μs" | "usec" | "usecs" | "microseconds" => 1e3,
        "ms" | "msec" | "msecs" | "milliseconds" => 1e6,
        "s" | "sec" | "secs" | "seconds" | "second" => 1e9,
        "" => return Err(format!("{s:?}: add a unit (ns, us, ms or s)")),
        _ => {
            return Err(format!(
                "{s:?}: unknown time unit {unit:?} (use ns, us, ms or s)"
            ))
        }
    };
    Ok(v * mult)
}

/// Whether an answer to a question of `kind` can be graded: Ok(the answer to record, a note
/// saying how it was read when that is not plain from what was typed: the choice it took, the
/// value a size or time stands for); Err(why not, with the forms accepted or the choices).
pub fn read(
    kind: Kind,
    choices: &[String],
    answer: &str,
) -> Result<(String, Option<String>), String> {
    let a = answer.trim();
    if a.is_empty() {
        return Err("no answer".into());
    }
    let as_value = |shown: String| {
        // "16.00 ms" -> "16 ms": the note names the value, not a precision.
        let shown = match shown.split_once(' ') {
            Some((n, unit)) if n.contains('.') => {
                format!("{} {unit}", n.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => shown,
        };
        let squash = |s: &str| s.replace(' ', "").to_lowercase();
        let note = (squash(&shown) != squash(a)).then(|| format!("read as {shown}"));
        (a.to_string(), note)
    };
    match kind {
        Kind::Choice => {
            let i = choice::pick(a, choices)?;
            let note = (a != choices[i]).then(|| format!("choice {}: {}", i + 1, choices[i]));
            Ok((choices[i].clone(), note))
        }
        Kind::Size => parse_size(a).map(|b| as_value(show_size(b))),
        Kind::Duration => parse_duration_ns(a).map(|ns| as_value(show_ns(ns))),
        Kind::Cpu => parse_cpu(a).map(|c| as_value(format!("CPU {c}"))),
        Kind::Number => parse_number(a).map(|n| as_value(format!("{n}"))),
        _ => Ok((a.to_string(), None)),
    }
}

/// The choice `s` names (lab::choice::pick).
pub fn parse_choice<'a>(s: &str, choices: &'a [String]) -> Result<&'a str, String> {
    choice::pick(s, choices).map(|i| choices[i].as_str())
}

/// Human forms for explanations.
pub fn show_size(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", bytes / 1024.0 / 1024.0)
    } else if bytes >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} bytes")
    }
}

pub fn show_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.0} us", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2M").unwrap(), 2097152.0);
        assert_eq!(parse_size("2097152").unwrap(), 2097152.0);
        assert_eq!(parse_size("2 MiB").unwrap(), 2097152.0);
        assert_eq!(parse_size("4k").unwrap(), 4096.0);
        assert_eq!(parse_size("0").unwrap(), 0.0);
        assert!(parse_size("4 parsecs").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("2ms").unwrap(), 2e6);
        assert_eq!(parse_duration_ns("2000 us").unwrap(), 2e6);
        assert!((parse_duration_ns("0.002 s").unwrap() - 2e6).abs() < 1.0);
        assert!(parse_duration_ns("2").is_err());
    }

    #[test]
    fn the_units_students_type() {
        for t in [
            "16ms",
            "16 ms",
            "0.016s",
            "16000us",
            "16000 µs",
            "~16 ms",
            "about 16ms.",
            "16 msecs",
        ] {
            assert_eq!(parse_duration_ns(t), Ok(16e6), "{t}");
        }
        for t in ["4K", "4KiB", "4096", "4 kB", "4 KiB per write", "~4k"] {
            assert_eq!(parse_size(t), Ok(4096.0), "{t}");
        }
        assert!(parse_size("4 parsecs").unwrap_err().contains("4K, 2 MiB"));
        assert!(parse_duration_ns("16").unwrap_err().contains("add a unit"));
    }

    #[test]
    fn reading_says_how_it_read_the_answer() {
        let r = |k, a| read(k, &[], a);
        assert_eq!(
            r(Kind::Duration, "16000us"),
            Ok(("16000us".into(), Some("read as 16 ms".into())))
        );
        assert_eq!(r(Kind::Duration, "16 ms"), Ok(("16 ms".into(), None)));
        assert_eq!(
            r(Kind::Size, "4096"),
            Ok(("4096".into(), Some("read as 4 KiB".into())))
        );
        assert!(r(Kind::Duration, "fast").is_err() && r(Kind::Size, " ").is_err());
        let choices: Vec<String> = [
            "faster disks",
            "make the I/O asynchronous",
            "eliminate the sync (fsync/fdatasync) per record",
        ]
        .map(String::from)
        .to_vec();
        let (answer, note) =
            read(Kind::Choice, &choices, "eliminate the fsync per record").unwrap();
        assert_eq!(answer, choices[2]);
        assert_eq!(
            note.as_deref(),
            Some("choice 3: eliminate the sync (fsync/fdatasync) per record")
        );
    }

    #[test]
    fn syscalls_and_cpus() {
        assert_eq!(normalize_syscall("__x64_sys_fsync"), "fsync");
        assert_eq!(normalize_syscall("sys_FSYNC()"), "fsync");
        assert_eq!(normalize_syscall("pread"), "pread64");
        assert_eq!(parse_cpu("CPU 1").unwrap(), 1);
        assert_eq!(parse_cpu("cpu0").unwrap(), 0);
    }

    #[test]
    fn judging() {
        let t = Expected::Process {
            names: vec!["ledgerd".into()],
            pids: vec![42],
        };
        assert_eq!(
            judge(Kind::Process, Tolerance::Exact, &[], &t, "LEDGERD"),
            Ok(true)
        );
        assert_eq!(
            judge(Kind::Process, Tolerance::Exact, &[], &t, "42"),
            Ok(true)
        );
        assert_eq!(
            judge(Kind::Process, Tolerance::Exact, &[], &t, "43"),
            Ok(false)
        );
        let n = Expected::Number {
            value: 3e6,
            range: Some((2.1e6, 4.2e6)),
        };
        assert_eq!(
            judge(Kind::Duration, Tolerance::Factor(2.0), &[], &n, "8ms"),
            Ok(true)
        );
        assert_eq!(
            judge(Kind::Duration, Tolerance::Factor(2.0), &[], &n, "12ms"),
            Ok(false)
        );
        assert_eq!(
            judge(Kind::Duration, Tolerance::Factor(2.0), &[], &n, "0.75ms"),
            Ok(false)
        );
        let choices = vec![
            "faster disks".to_string(),
            "eliminate the fsync per record".to_string(),
        ];
        let c = Expected::Choice("eliminate the fsync per record".into());
        assert_eq!(
            judge(Kind::Choice, Tolerance::Exact, &choices, &c, "2"),
            Ok(true)
        );
        assert_eq!(
            judge(Kind::Choice, Tolerance::Exact, &choices, &c, "fsync"),
            Ok(true)
        );
        assert_eq!(
            judge(Kind::Choice, Tolerance::Exact, &choices, &c, "disks"),
            Ok(false)
        );
    }
}
