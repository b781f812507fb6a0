//! funclatency and funcslower: the durations the workload slept, in exactly the histogram rows
//! they fall in (bpftrace's too), and exactly the calls above a threshold with their arguments,
//! return values and stacks; kernel functions in the guests.
use std::{collections::BTreeMap, ffi::OsStr};

use lab_tests::{root_test, RunningTool as Tool};

use super::{have_bpftrace, kprobes, n_calls, tmpdir, workload, Workload};

/// Histogram rows "lo -> hi" with a count > 0 in `text` (the last histogram if several).
fn rows(text: &str) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for l in text.lines() {
        if l.contains(": count") {
            out.clear();
        }
        let Some((range, rest)) = l.split_once(':') else {
            continue;
        };
        let Some((lo, hi)) = range.split_once("->") else {
            continue;
        };
        let n: u64 = rest.split_whitespace().next().unwrap().parse().unwrap();
        if n > 0 {
            out.push((lo.trim().parse().unwrap(), hi.trim().parse().unwrap(), n));
        }
    }
    out
}

#[test]
fn funclatency_histogram_is_the_durations_slept_like_bpftrace() {
    let Some(_g) = root_test("funclatency_histogram_is_the_durations_slept_like_bpftrace") else {
        return;
    };
    let exe = workload().display().to_string();
    // 10 sleeps of 1.1 ms and 10 of 4.3 ms, in the rows the workload's own clock puts them.
    let mut w = Workload::spawn(&["timed", "20", "1100", "4300"]);
    let pid = w.pid();
    let bt = have_bpftrace("funclatency").then(|| {
        let prog = format!(
            "uprobe:{exe}:lab_timed /pid == {pid}/ {{ @s[tid] = nsecs; }} \
             uretprobe:{exe}:lab_timed /@s[tid]/ {{ @us = hist((nsecs - @s[tid]) / 1000); delete(@s[tid]); }}"
        );
        crate::bpftrace::attach::start(&[OsStr::new("-e"), OsStr::new(&prog)], "bpftrace funclatency")
    });
    let pattern = format!("{exe}:lab_timed");
    let tool = Tool::start(
        "funclatency",
        &["-u", "-p", &pid, &pattern],
        "Tracing 1 functions",
    );
    w.go_and_stay();
    let took = w.durations(20);
    let (out, _) = tool.stop();
    w.finish();
    let got: BTreeMap<(u64, u64), u64> = rows(&out)
        .into_iter()
        .map(|(lo, hi, n)| ((lo, hi), n))
        .collect();
    let asked = super::asked_ns(20, 1100, 4300);
    super::assert_hist_fits(&got, &asked, &took, 1000, &out);
    let avg = out
        .lines()
        .find(|l| l.starts_with("avg = "))
        .unwrap_or_else(|| panic!("{out}"));
    let mean: u64 = avg.split_whitespace().nth(2).unwrap().parse().unwrap();
    let truth = took.iter().sum::<u64>() / 20 / 1000;
    let floor = asked.iter().sum::<u64>() / 20 / 1000;
    // Each call lies between what it asked and what the workload's clock saw (see
    // assert_hist_fits), so the mean does too (whole microseconds, rounded down).
    assert!(
        mean + 1 >= floor && mean <= truth + 1 && avg.ends_with("count: 20"),
        "{avg}, asked mean {floor} us, measured mean {truth} us"
    );
    if let Some(bt) = bt {
        // bpftrace's rows ("[1K, 2K)  8 |@@|") hold the same calls by the same rule.
        let o = bt.stop();
        let got: BTreeMap<(u64, u64), u64> = o
            .stdout
            .lines()
            .filter(|l| l.starts_with('['))
            .map(|l| {
                let lo = bpftrace_size(l[1..].split(',').next().unwrap().trim());
                let n = l.split(')').nth(1).unwrap().split('|').next().unwrap();
                (super::log2_row(lo.max(1)), n.trim().parse().unwrap())
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        super::assert_hist_fits(&got, &asked, &took, 1000, &o.stdout);
    }
}

/// bpftrace's "1K", "4M", "16": the value.
fn bpftrace_size(s: &str) -> u64 {
    let (num, mult) = match s.chars().last() {
        Some('K') => (&s[..s.len() - 1], 1 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    num.parse::<u64>().unwrap() * mult
}

#[test]
fn funclatency_per_function_and_per_process_sections() {
    let Some(_g) = root_test("funclatency_per_function_and_per_process_sections") else {
        return;
    };
    let n = n_calls();
    let pattern = format!("{}:lab_*", workload().display());
    // -F with -p: one histogram per function; lab_leaf and lab_mid ran n times each.
    let mut w = Workload::spawn(&["calls", &n.to_string()]);
    let pid = w.pid();
    let tool = Tool::start(
        "funclatency",
        &["-F", "-p", &pid, &pattern],
        "Tracing 3 functions",
    );
    w.go_and_stay();
    let (out, _) = tool.stop();
    w.finish();
    for f in ["lab_leaf", "lab_mid"] {
        let section = out
            .split(&format!("\nFunction = {f}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {f}:\n{out}"));
        let section = section
            .split("\nFunction = ")
            .next()
            .unwrap()
            .split("\navg")
            .next()
            .unwrap();
        assert_eq!(
            rows(section).iter().map(|r| r.2).sum::<u64>(),
            n,
            "{f}:\n{out}"
        );
    }
    assert!(!out.contains("Function = lab_timed"), "{out}");
    // A library pattern without -p: one histogram per function and process.
    let mut w = Workload::spawn(&["timed", "4", "100", "100"]);
    let pid = w.pid();
    let pattern = format!("{}:lab_timed", workload().display());
    let tool = Tool::start("funclatency", &["-m", &pattern], "Tracing 1 functions");
    w.go_and_stay();
    let took = w.durations(4);
    let (out, _) = tool.stop();
    w.finish();
    assert!(
        out.contains(&format!("\nFunction = lab_timed [{pid}]\n     msecs  ")),
        "{out}"
    );
    // The rows of the durations the workload measured (a slow guest may take 2 ms over one).
    let got: BTreeMap<(u64, u64), u64> = rows(&out)
        .into_iter()
        .map(|(lo, hi, n)| ((lo, hi), n))
        .collect();
    super::assert_hist_fits(&got, &super::asked_ns(4, 100, 100), &took, 1_000_000, &out);
}

#[test]
fn funcslower_prints_exactly_the_slow_calls_with_arguments_and_stacks() {
    let Some(_g) = root_test("funcslower_prints_exactly_the_slow_calls_with_arguments_and_stacks")
    else {
        return;
    };
    let pattern = format!("{}:lab_timed", workload().display());
    let mut w = Workload::spawn(&["timed", "10", "1100", "6000"]);
    let pid = w.pid();
    let tool = Tool::start(
        "funcslower",
        &["-u", "3000", "-a", "1", "-U", "-p", &pid, &pattern],
        "COMM           PID",
    );
    w.go_and_stay();
    let took = w.durations(10);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (out, _) = tool.stop();
    w.finish();
    assert!(out.starts_with("Tracing function calls slower than 3000 us... Ctrl+C to quit.\nCOMM           PID    LAT(us)             RVAL FUNC ARGS\n"), "{out}");
    let asked: Vec<u64> = super::asked_ns(10, 1100, 6000)
        .iter()
        .map(|ns| ns / 1000)
        .collect();
    let calls: Vec<&str> = out.lines().filter(|l| l.starts_with("multee")).collect();
    assert!(
        slow_calls_fit(&asked, &took, &calls, &pid, &pattern),
        "the printed calls are not the slow ones:\n{out}\nasked (us): {asked:?}\nmeasured (ns): {took:?}"
    );
    assert_eq!(
        out.lines().filter(|l| *l == "    main").count(),
        calls.len(),
        "{out}"
    );
}

/// Whether `lines` are exactly the calls over 3 ms, in order. A 6 ms sleep is printed always
/// (it sleeps at least that long between the probes); a 1.1 ms sleep only if the workload's
/// clock saw it stretched past 3 ms by a loaded machine, and then it may be missing, since the
/// probes fire inside that clock and a delay outside them (the trap, a preemption) is not
/// theirs. A printed latency is never over the workload's clock.
fn slow_calls_fit(
    asked_us: &[u64],
    took_ns: &[u64],
    lines: &[&str],
    pid: &str,
    func: &str,
) -> bool {
    let (Some(&asked), Some(&took)) = (asked_us.first(), took_ns.first()) else {
        return lines.is_empty();
    };
    let printed_as_this_call = lines.first().is_some_and(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let lat: f64 = f[2].parse().unwrap();
        let hex = format!("{asked:x}");
        (f[1], f[3], f[4], f[5]) == (pid, hex.as_str(), func, format!("0x{hex}").as_str())
            && lat >= 3000.0
            && lat >= asked as f64
            && lat <= took as f64 / 1000.0 + 0.01
    });
    let (rest_asked, rest_took) = (&asked_us[1..], &took_ns[1..]);
    (printed_as_this_call && slow_calls_fit(rest_asked, rest_took, &lines[1..], pid, func))
        || (asked < 3000 && slow_calls_fit(rest_asked, rest_took, lines, pid, func))
}

/// BCC's smoke-test commands and a kernel function's calls (guests); refused here.
#[test]
fn funclatency_and_funcslower_kernel_functions_with_kprobes_or_say_why_not() {
    let Some(_g) =
        root_test("funclatency_and_funcslower_kernel_functions_with_kprobes_or_say_why_not")
    else {
        return;
    };
    if !kprobes() {
        for tool in ["funclatency", "funcslower"] {
            super::refused_without_kprobes(tool, &["vfs_read"]);
        }
        return;
    }
    let n = n_calls();
    let dir = tmpdir("funclat-kopen").display().to_string();
    let mut w = Workload::spawn(&["open", &n.to_string(), &dir]);
    let pid = w.pid();
    let lat = Tool::start(
        "funclatency",
        &["-u", "-p", &pid, "do_sys_openat2"],
        "Tracing 1 functions",
    );
    let slow = Tool::start(
        "funcslower",
        &["-u", "0", "-a", "2", "-p", &pid, "do_sys_openat2"],
        "COMM",
    );
    w.go_and_stay();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (lat_out, _) = lat.stop();
    let (slow_out, _) = slow.stop();
    w.finish();
    assert_eq!(
        rows(&lat_out).iter().map(|r| r.2).sum::<u64>(),
        n,
        "{lat_out}"
    );
    let calls: Vec<&str> = slow_out
        .lines()
        .filter(|l| l.starts_with("multee"))
        .collect();
    assert_eq!(calls.len() as u64, n, "{slow_out}");
    // -ENOENT for every missing file.
    assert!(
        calls
            .iter()
            .all(|c| c.contains(" fffffffffffffffe do_sys_openat2 0x")),
        "{slow_out}"
    );
}
