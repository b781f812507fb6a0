//! trace, argdist and stackcount on USDT probes: the query server (`lab-workload queryserve
//! --clients 0`) fires labdb:query__start (query text, connection id) and query__done once
//! per query the test sends, so every event and argument is known.
use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::TcpStream,
};

use lab_tests::{bin, root_test, RunningTool as Tool};

/// Send `queries` on one connection, each after the previous answer.
fn send(port: u16, queries: &[String]) {
    let conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    for q in queries {
        writeln!(w, "{q}").unwrap();
        let mut answer = String::new();
        r.read_line(&mut answer).unwrap();
    }
}

fn queries() -> Vec<String> {
    let n = 5 + std::process::id() % 5;
    (0..n)
        .map(|i| format!("SELECT * FROM orders WHERE id = {}", i % 3))
        .collect()
}

#[test]
fn trace_argdist_stackcount_usdt_see_every_query_with_its_arguments() {
    let Some(_g) = root_test("trace_argdist_stackcount_usdt_see_every_query_with_its_arguments")
    else {
        return;
    };
    let (srv, port) = crate::tools_usdt::server();
    let pid = srv.pid().to_string();
    let exe = bin("lab-workload").display().to_string();
    let qs = queries();
    let spec = format!("u:{exe}:labdb:query__start \"%s\", arg1");
    let trace = Tool::start("trace", &["-p", &pid, &spec], "PID     TID     COMM");
    let count = format!("u:{exe}:query__start():char*:arg1");
    let argdist = Tool::start("argdist", &["-c", "-p", &pid, "-i", "1", "-C", &count], "[");
    let stacks = Tool::start(
        "stackcount",
        &["-p", &pid, "-U", &format!("u:{exe}:query__done")],
        "Tracing 1 functions",
    );
    send(port, &qs);
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let (t, _) = trace.stop();
    let (a, _) = argdist.stop();
    let (s, _) = stacks.stop();
    let msgs: Vec<&str> = t
        .lines()
        .skip(1)
        .map(|l| {
            l.split_once("labdb:query__start ")
                .map_or("", |(_, m)| m.trim_end())
        })
        .collect();
    assert_eq!(msgs, qs, "{t}");

    let last = a.rsplit_once("\n[").map_or(a.as_str(), |(_, l)| l);
    for k in 0..3 {
        let n = qs.iter().filter(|q| q.ends_with(&format!("= {k}"))).count();
        let row = format!("\t{n:<10} arg1 = SELECT * FROM orders WHERE id = {k}");
        assert!(last.lines().any(|l| l == row), "want {row:?}:\n{a}");
    }
    let total: u64 = s
        .lines()
        .filter_map(|l| {
            l.strip_prefix("    ")
                .and_then(|c| c.trim().parse::<u64>().ok())
        })
        .sum();
    assert_eq!(total, qs.len() as u64, "{s}");
    assert!(s.contains("queryserve"), "{s}");
}

/// A USDT probe the binary does not have: one line naming the spec and the column.
#[test]
fn trace_argdist_unknown_usdt_probe_is_one_line_naming_it() {
    let Some(_g) = root_test("trace_argdist_unknown_usdt_probe_is_one_line_naming_it") else {
        return;
    };
    let exe = bin("lab-workload").display().to_string();
    let spec = format!("u:{exe}:labdb:no_such_probe \"%d\", arg1");
    let (code, out, err) = lab_tests::run(lab_tests::cmd("trace").arg(&spec));
    assert_eq!(code, 1, "{out}{err}");
    let col = exe.len() + 4;
    assert!(
        out.is_empty()
            && err.lines().count() == 1
            && err.contains(&format!(
                "probe '{spec}', column {col}: no USDT probe 'labdb:no_such_probe'"
            )),
        "{err}"
    );
    let spec = format!("u:{exe}:query__start():int:arg9");
    let (code, _, err) = lab_tests::run(lab_tests::cmd("argdist").args(["-C", &spec]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.lines().count() == 1 && err.contains("this USDT probe has 5 arguments"),
        "{err}"
    );
}
