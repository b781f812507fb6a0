//! Reference solutions (labs/solutions/*.bt, for instructors: `lab solution 4c --instructor`)
//! and known-broken variants (labs/solutions/broken/*.bt) that `lab dev check` and the tests run.

/// The reference solution of an exercise.
pub fn solution(exercise: &str) -> Option<&'static str> {
    Some(match exercise.trim().to_ascii_lowercase().as_str() {
        "4a" => include_str!("../../../../labs/solutions/4a.bt"),
        "4b" => include_str!("../../../../labs/solutions/4b.bt"),
        "4c" => include_str!("../../../../labs/solutions/4c.bt"),
        "4d" => include_str!("../../../../labs/solutions/4d.bt"),
        "5a" => include_str!("../../../../labs/solutions/5a.bt"),
        "5b" => include_str!("../../../../labs/solutions/5b.bt"),
        _ => return None,
    })
}

/// A tool that must fail its exercise, with a phrase the verdict must contain.
pub struct Broken {
    pub exercise: &'static str,
    pub file: &'static str,
    pub source: &'static str,
    pub expect: &'static str,
}

macro_rules! broken {
    ($ex:literal, $file:literal, $expect:literal) => {
        Broken {
            exercise: $ex,
            file: $file,
            source: include_str!(concat!("../../../../labs/solutions/broken/", $file)),
            expect: $expect,
        }
    };
}

pub const BROKEN: &[Broken] = &[
    broken!("4a", "4a-usecs.bt", "milliseconds are nsecs/1000000"),
    broken!("4a", "4a-no-such-tracepoint.bt", "tracepoint not found"),
    broken!("4b", "4b-no-interval.bt", "interval:s:1"),
    broken!("4c", "4c-unlink-only.bt", "unlinkat"),
    broken!("4d", "4d-exec-only.bt", "sched_process_fork"),
    broken!("5a", "5a-sectors.bt", "512-byte sectors"),
    broken!("5b", "5b-no-close.bt", "subtract the descriptors closed"),
    broken!("4a", "syntax-error.bt", "syntax error"),
    broken!("4c", "floods.bt", "was stopped"),
];
