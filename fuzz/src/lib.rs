//! Fuzz targets for the parsers that read input we do not control: lab files (markdown + TOML
//! front matter), students' answers, the output of a student's bpftrace tool, the kernel's BTF
//! and tracefs format files. Each target takes raw bytes, must never panic, hang or allocate
//! without bound, and checks the promises its parser makes (one-line errors that name the file
//! and line, finite numbers, offsets inside the file). Run by libFuzzer (fuzz_targets/, see
//! README.md) and, briefly and seeded, by `cargo test` (tests/short.rs).
use std::{io::Write as _, os::fd::FromRawFd as _};

use lab::{
    exercises::{output::Output, student_tool::Line},
    grading::answer,
    lab::{format, render::Context, seed, Kind, Tolerance},
};

/// A fuzz target: raw bytes in, a panic on a broken promise.
pub type Target = fn(&[u8]);

/// Every target by name (the names of the libFuzzer binaries and of corpus/ folders).
pub const TARGETS: &[(&str, Target)] = &[
    ("lab_format", lab_format),
    ("answers", answers),
    ("bpftrace_output", bpftrace_output),
    ("btf", btf),
    ("tracefs_format", tracefs_format),
];

/// A lab file: parse, then compute its seeded values and render its text for one seed.
pub fn lab_format(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match format::parse("labs/99-fuzz.md", &text) {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("labs/99-fuzz.md:") && !msg.contains('\n'),
                "a lab error must be one line naming the file: {msg:?}"
            );
            assert!(
                e.line <= text.lines().count() + 1,
                "error line {} past the end ({} lines)",
                e.line,
                text.lines().count()
            );
        }
        Ok(lab) => {
            let base = Context::base(&lab, 7, std::path::Path::new("/tmp/lab-fuzz"), "student");
            if let Ok(values) = seed::values(&lab, 7, &base) {
                let mut ctx = base;
                ctx.seed = values;
                let _ = ctx.body(&lab);
                for i in 0..lab.hints.len() {
                    let _ = ctx.hint(&lab, i);
                }
            }
        }
    }
}

/// An answer as a student types it, graded against a truth of each kind. The first byte picks
/// the truth's value; the rest is the answer.
pub fn answers(data: &[u8]) {
    let (pick, rest) = data.split_first().unwrap_or((&0, &[]));
    let text = String::from_utf8_lossy(rest);
    for (name, parse) in [
        (
            "size",
            answer::parse_size as fn(&str) -> Result<f64, String>,
        ),
        ("duration", answer::parse_duration_ns),
        ("number", answer::parse_number),
    ] {
        if let Ok(v) = parse(&text) {
            assert!(v.is_finite(), "{name} answer {text:?} parsed to {v}");
        }
    }
    let _ = answer::parse_cpu(&text);
    let _ = answer::parse_process(&text);
    let _ = answer::normalize_syscall(&text);
    let _ = format::parse_duration(&text);
    let _ = Tolerance::parse(&text);
    let choices: Vec<String> = ["fdatasync per record", "batch the writes", "a faster disk"]
        .map(String::from)
        .to_vec();
    let _ = answer::parse_choice(&text, &choices);
    let value = f64::from(*pick) * 1000.0;
    let truths = [
        (Kind::Size, answer::Expected::number(value)),
        (
            Kind::Duration,
            answer::Expected::Number {
                value,
                range: Some((value, value * 2.0)),
            },
        ),
        (Kind::Number, answer::Expected::number(value)),
        (Kind::Cpu, answer::Expected::number(f64::from(*pick % 4))),
        (
            Kind::Process,
            answer::Expected::Process {
                names: vec!["ledgerd".into()],
                pids: vec![i32::from(*pick)],
            },
        ),
        (
            Kind::File,
            answer::Expected::File {
                path: "/var/tmp/lab/ledger.log".into(),
            },
        ),
        (Kind::Syscall, answer::Expected::Syscall("fdatasync".into())),
        (
            Kind::Choice,
            answer::Expected::Choice(choices[usize::from(*pick) % 3].clone()),
        ),
    ];
    for tol in [
        Tolerance::Exact,
        Tolerance::Factor(2.0),
        Tolerance::Relative(0.25),
        Tolerance::Absolute(3.0),
    ] {
        for (kind, truth) in &truths {
            if let Err(msg) = answer::judge(*kind, tol, &choices, truth, &text) {
                assert!(!msg.starts_with("internal"), "{msg}");
            }
        }
    }
}

/// What a student's bpftrace tool printed (`-f json` lines, or anything else), as the checker
/// reads it.
pub fn bpftrace_output(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (mut lines, mut raw) = (Vec::new(), Vec::new());
    for (i, l) in text.lines().enumerate() {
        match Line::parse(i as f64 * 0.1, l) {
            Ok(l) => lines.push(l),
            Err(r) => raw.push(r),
        }
    }
    let out = Output::parse(&lines, &raw);
    for h in &out.hists {
        let _ = (h.total(), h.is_step1(), h.is_log2());
    }
    let all = out.all_text();
    let _ = lab::exercises::output::numbers(&all);
    let _ = lab::exercises::output::has_number(&all, 42);
}

/// A BTF file (the kernel's /sys/kernel/btf/vmlinux in real life): index it and look members up.
pub fn btf(data: &[u8]) {
    let Some(file) = memfd(data) else { return };
    let Ok(btf) = lab_probes::btf::Btf::from_file(file) else {
        return;
    };
    for (s, m) in [
        ("task_struct", "pid"),
        ("s", "a"),
        ("s", "b"),
        ("sk_buff", "dev"),
    ] {
        if let Ok(at) = btf.member(s, m) {
            let _ = btf.struct_name(at.type_id);
        }
    }
    for id in 0..64 {
        let _ = btf.struct_name(id);
    }
}

/// A tracefs `format` file.
pub fn tracefs_format(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for f in lab_probes::tracefs::parse_format(&text) {
        assert!(
            !f.name.contains(char::is_whitespace),
            "field name {:?} has whitespace",
            f.name
        );
    }
}

/// The bytes as an unlinked in-memory file (BTF is read with pread, like the sysfs file).
fn memfd(data: &[u8]) -> Option<std::fs::File> {
    // SAFETY: a valid NUL-terminated name; the returned fd is owned by the File.
    let fd = unsafe { libc::memfd_create(c"lab-fuzz-btf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    f.write_all(data).ok()?;
    Some(f)
}
