//! argdist: counts per key and log2 histograms of exactly the values the workload passed,
//! returned and slept, the same as bpftrace's on the same run; bad specs fail in one line.
use std::{collections::BTreeMap, ffi::OsStr};

use lab_tests::{cmd, root_test, run, RunningTool as Tool};

use super::{have_bpftrace, kprobes, n_calls, tmpdir, workload, Workload};

/// Run argdist -c -i 1 -n 3 with `specs` around `work`; the last interval's text.
fn argdist_during(specs: &[&str], work: &[&str]) -> String {
    let w = Workload::spawn(work);
    let pid = w.pid();
    let mut a = vec!["-c", "-i", "1", "-n", "3", "-p", pid.as_str()];
    a.extend_from_slice(specs);
    let tool = Tool::start("argdist", &a, "[");
    w.go();
    let (out, _) = tool.wait_exit();
    let last = out.rsplit_once("\n[").map(|(_, l)| l).unwrap_or(&out);
    last.to_owned()
}

/// The COUNT/EVENT rows under `title` in one interval's text: event -> count.
fn counts(text: &str, title: &str) -> BTreeMap<String, u64> {
    let mut lines = text.lines().skip_while(|l| *l != title).skip(2);
    let mut out = BTreeMap::new();
    while let Some(l) = lines.next().filter(|l| l.starts_with('\t')) {
        let (n, ev) = l.trim().split_once(' ').unwrap();
        out.insert(ev.trim().to_owned(), n.parse().unwrap());
    }
    out
}

/// The histogram rows under `title`: "lo -> hi" -> count, zero rows left out.
fn hist(text: &str, title: &str) -> BTreeMap<(u64, u64), u64> {
    let mut out = BTreeMap::new();
    for l in text
        .lines()
        .skip_while(|l| *l != title)
        .skip(2)
        .take_while(|l| l.contains("->"))
    {
        let (range, rest) = l.split_once(':').unwrap();
        let (lo, hi) = range.split_once("->").unwrap();
        let n: u64 = rest.split_whitespace().next().unwrap().parse().unwrap();
        if n > 0 {
            out.insert((lo.trim().parse().unwrap(), hi.trim().parse().unwrap()), n);
        }
    }
    out
}

/// BCC's log2 rows of `values`.
fn log2_rows(values: impl IntoIterator<Item = u64>) -> BTreeMap<(u64, u64), u64> {
    let mut out = BTreeMap::new();
    for v in values {
        *out.entry(super::log2_row(v)).or_default() += 1;
    }
    out
}

#[test]
fn argdist_counts_and_histograms_are_the_values_passed_and_match_bpftrace() {
    let Some(_g) =
        root_test("argdist_counts_and_histograms_are_the_values_passed_and_match_bpftrace")
    else {
        return;
    };
    let n = n_calls();
    let exe = workload().display().to_string();
    let by_key = format!("p:{exe}:lab_leaf(long a, long b):long,long:a%3,b");
    let rets = format!("r:{exe}:lab_leaf(long a):long:$retval:$entry(a) >= 10#big returns");
    let sizes = format!("p:{exe}:lab_leaf(long a, long b):long:a");
    let w = Workload::spawn(&["calls", &n.to_string()]);
    let pid = w.pid();
    let bt = have_bpftrace("argdist").then(|| {
        let prog = format!("uprobe:{exe}:lab_leaf /pid == {pid}/ {{ @k[arg0 % 3, arg1] = count(); @h = hist(arg0); }}");
        crate::bpftrace::attach::start(&[OsStr::new("-e"), OsStr::new(&prog)], "bpftrace argdist")
    });
    let tool = Tool::start(
        "argdist",
        &[
            "-c", "-i", "1", "-n", "3", "-p", &pid, "-C", &by_key, "-C", &rets, "-H", &sizes,
        ],
        "[",
    );
    w.go();
    let (out, _) = tool.wait_exit();
    let last = out.rsplit_once("\n[").map(|(_, l)| l).unwrap();
    let mut want = BTreeMap::new();
    for i in 0..n {
        *want
            .entry(format!("a%3 = {}, b = 7", i % 3))
            .or_insert(0u64) += 1;
    }
    assert_eq!(counts(last, &by_key), want, "{out}");
    let want: BTreeMap<String, u64> = (10..n)
        .map(|i| (format!("$retval = {}", 2 * i + 7), 1))
        .collect();
    assert_eq!(counts(last, "big returns"), want, "{out}");
    assert_eq!(hist(last, &sizes), log2_rows(0..n), "{out}");
    if let Some(bt) = bt {
        let o = bt.stop();
        for k in 0..3 {
            let want = (0..n).filter(|i| i % 3 == k).count();
            assert!(
                o.stdout.contains(&format!("@k[{k}, 7]: {want}\n")),
                "bpftrace: {}",
                o.stdout
            );
        }
        // bpftrace's [0] and [1] rows are BCC's 0 -> 1.
        let total: u64 = hist(last, &sizes).values().sum();
        assert_eq!(total, n, "{out}");
        assert!(o.stdout.contains("@h:"), "{}", o.stdout);
    }
}

/// Two processes calling lab_leaf(i, 7) at once, one per CPU: the count of the key they share
/// is exactly the calls of both (argdist counts in one hash for all CPUs, with an atomic add;
/// a plain add there loses some of them).
#[test]
fn argdist_counts_exactly_when_two_cpus_hit_one_key_at_once() {
    let Some(_g) = root_test("argdist_counts_exactly_when_two_cpus_hit_one_key_at_once") else {
        return;
    };
    let n = 20_000 + n_calls();
    let spec = format!("p:{}:lab_leaf(long a, long b):long:b", workload().display());
    let mut both = [0, 1].map(|_| Workload::spawn(&["calls", &n.to_string()]));
    let tool = Tool::start("argdist", &["-c", "-i", "1", "-n", "10", "-C", &spec], "[");
    both.iter_mut().for_each(Workload::send_go);
    both.iter_mut().for_each(Workload::wait_done);
    let (out, _) = tool.wait_exit();
    let last = out.rsplit_once("\n[").map(|(_, l)| l).unwrap_or(&out);
    let want = BTreeMap::from([("b = 7".to_owned(), 2 * n)]);
    assert_eq!(counts(last, &spec), want, "{out}");
    both.into_iter().for_each(Workload::finish);
}

#[test]
fn argdist_latency_histogram_and_tracepoint_strings() {
    let Some(_g) = root_test("argdist_latency_histogram_and_tracepoint_strings") else {
        return;
    };
    // 10 sleeps of 1.1 ms and 10 of 4.3 ms, in the rows the workload's own clock puts them.
    let spec = format!("r:{}:lab_timed():u64:$latency/1000", workload().display());
    let mut w = Workload::spawn(&["timed", "20", "1100", "4300"]);
    let pid = w.pid();
    let tool = Tool::start(
        "argdist",
        &["-c", "-i", "1", "-n", "2", "-p", &pid, "-H", &spec],
        "[",
    );
    w.go_and_stay();
    let took = w.durations(20);
    let (out, _) = tool.wait_exit();
    w.finish();
    let last = out.rsplit_once("\n[").map(|(_, l)| l).unwrap_or(&out);
    let asked = super::asked_ns(20, 1100, 4300);
    super::assert_hist_fits(&hist(last, &spec), &asked, &took, 1000, last);
    assert!(last.contains("     $latency/1000       : count"), "{last}");

    let n = n_calls();
    let dir = tmpdir("argdist-open").display().to_string();
    let spec = "t:syscalls:sys_enter_openat():char*:args->filename";
    let last = argdist_during(&["-C", spec], &["open", &n.to_string(), &dir]);
    let mut want = BTreeMap::new();
    for i in 0..n {
        *want
            .entry(format!("args->filename = {dir}/f{}", i % 3))
            .or_insert(0u64) += 1;
    }
    let got: BTreeMap<String, u64> = counts(&last, spec)
        .into_iter()
        .filter(|(k, _)| k.contains(&dir))
        .collect();
    assert_eq!(got, want, "{last}");
}

#[test]
fn argdist_bad_specs_fail_in_one_line_naming_the_spec_and_column() {
    let Some(_g) = root_test("argdist_bad_specs_fail_in_one_line_naming_the_spec_and_column")
    else {
        return;
    };
    let exe = workload().display().to_string();
    let cases: Vec<(&str, String, usize, &str)> = vec![
        (
            "-H",
            format!("p:{exe}:lab_leaf(long a)"),
            exe.len() + 4,
            "histograms need an expression",
        ),
        (
            "-C",
            format!("p:{exe}:lab_leaf(long a):long,long:a"),
            exe.len() + 31,
            "2 types but 1 expressions",
        ),
        (
            "-C",
            format!("p:{exe}:lab_leaf(long a):long:a +"),
            exe.len() + 29,
            "expected an expression",
        ),
        (
            "-C",
            format!("p:{exe}:lab_leaf(long a):long:b"),
            exe.len() + 26,
            "unknown name 'b'",
        ),
        (
            "-C",
            format!("p:{exe}:lab_leaf(long a):long:$entry(a)"),
            exe.len() + 26,
            "$entry(...) exists only in return probes",
        ),
        (
            "-C",
            "t:syscalls:sys_enter_openat():int:args->nope".into(),
            35,
            "no field 'nope'",
        ),
        ("-C", "p:c:malloc".into(), 5, "has an invalid format"),
        ("-C", "p:c".into(), 1, "at least the probe type"),
        (
            "-H",
            "p::tcp_sendmsg(struct sock *sk):u32:sk->nosuch".into(),
            37,
            "struct sock has no member 'nosuch'",
        ),
    ];
    for (flag, spec, col, phrase) in cases {
        let (code, out, err) = run(cmd("argdist").args([flag, &spec]));
        assert_eq!(code, 1, "{spec}: {out}{err}");
        assert!(
            out.is_empty() && err.lines().count() == 1,
            "{spec}: {out}{err}"
        );
        assert!(
            err.contains(&format!("probe '{spec}', column {col}: ")) && err.contains(phrase),
            "{spec}: {err}"
        );
    }
}

/// BCC's smoke test command and a typed kernel parameter (guests); refused here.
#[test]
fn argdist_kernel_functions_with_kprobes_or_say_why_not() {
    let Some(_g) = root_test("argdist_kernel_functions_with_kprobes_or_say_why_not") else {
        return;
    };
    let smoke = ["-v", "-C", "p::do_sys_open()", "-n", "1", "-i", "1"];
    if !kprobes() {
        super::refused_without_kprobes("argdist", &smoke);
        return;
    }
    let (code, out, err) = run(cmd("argdist").args(smoke));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("p::do_sys_open()\n\tCOUNT      EVENT"),
        "{out}"
    );
    let n = n_calls();
    let dir = tmpdir("argdist-kopen").display().to_string();
    let spec = "p::do_sys_openat2():char*:filename";
    let last = argdist_during(&["-C", spec], &["open", &n.to_string(), &dir]);
    let got: u64 = counts(&last, spec)
        .iter()
        .filter(|(k, _)| k.contains(&dir))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(got, n, "{last}");
}
