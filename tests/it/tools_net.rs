//! The networking tools (tcpconnect, tcpaccept, tcplife, tcpretrans, tcpsynbl) run as binaries,
//! as root, while this test makes TCP traffic whose every detail it decides: connects from this
//! process to a C helper listening on loopback (IPv4 and IPv6), accepts by the helper, bytes sent
//! each way, a listen backlog left unaccepted, and retransmissions forced on a connection through
//! a veth pair between two network namespaces made here (the receiving side's address is removed
//! mid-connection, so its kernel drops every segment). The tools' BCC-format output is parsed
//! and compared with what the test did; each tool must exit 0 on SIGINT.
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use lab_tests::{bpf_lock, cmd, require_root, root_test, RunningTool as Tool};

// ---------------------------------------------------------------------------------------------
// A tool under test: started, waited for (its header means the probes are attached), stopped.

/// SIGINT once the tool has drained what its ring buffer still holds (it drains every 50 ms);
/// (stdout lines, stderr).
fn stopped(tool: Tool) -> (Vec<String>, String) {
    std::thread::sleep(Duration::from_millis(300));
    let (out, err) = tool.stop();
    (out.lines().map(str::to_owned).collect(), err)
}

/// Whitespace-separated columns of `line`.
fn cols(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

// ---------------------------------------------------------------------------------------------
// The C helper: a TCP server or client whose every action the test chooses.

const HELPER_C: &str = r#"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static int fam(const char *a) { return strchr(a, ':') ? AF_INET6 : AF_INET; }
static socklen_t addr(const char *a, int port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (fam(a) == AF_INET6) {
        struct sockaddr_in6 *s = (void *)ss;
        s->sin6_family = AF_INET6; s->sin6_port = htons(port); inet_pton(AF_INET6, a, &s->sin6_addr);
        return sizeof *s;
    }
    struct sockaddr_in *s = (void *)ss;
    s->sin_family = AF_INET; s->sin_port = htons(port); inet_pton(AF_INET, a, &s->sin_addr);
    return sizeof *s;
}
static int port_of(int fd, int local) {
    struct sockaddr_storage ss; socklen_t l = sizeof ss;
    if (local) getsockname(fd, (void *)&ss, &l); else getpeername(fd, (void *)&ss, &l);
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}
static long drain(int fd) {
    char buf[65536]; long n = 0, r;
    while ((r = read(fd, buf, sizeof buf)) > 0) n += r;
    return n;
}
static void put(int fd, long n) {
    char buf[65536]; memset(buf, 'x', sizeof buf);
    while (n > 0) { long w = write(fd, buf, n < (long)sizeof buf ? n : (long)sizeof buf); if (w <= 0) exit(4); n -= w; }
}
static void waitline(void) { char b[64]; if (!fgets(b, sizeof b, stdin)) return; }
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[1], *a = argv[2];
    struct sockaddr_storage ss;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(mode, "srv") || !strcmp(mode, "backlog")) {
        /* srv ADDR M SEND: accept M connections, each: read to EOF, write SEND bytes, close.
           backlog ADDR B: listen with backlog B, accept nothing, exit at stdin EOF. */
        int l = socket(fam(a), SOCK_STREAM, 0), one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        socklen_t len = addr(a, 0, &ss);
        if (bind(l, (void *)&ss, len) || listen(l, !strcmp(mode, "backlog") ? atoi(argv[3]) : 128)) { perror("listen"); return 3; }
        printf("port %d\n", port_of(l, 1));
        if (!strcmp(mode, "backlog")) { while (fgetc(stdin) != EOF) {} return 0; }
        for (int i = 0; i < atoi(argv[3]); i++) {
            int c = accept(l, NULL, NULL);
            if (c < 0) { perror("accept"); return 3; }
            long got = drain(c);
            put(c, atol(argv[4]));
            close(c);
            printf("rx %ld\n", got);
        }
        return 0;
    }
    if (!strcmp(mode, "hold")) {
        /* hold ADDR PORT BYTES: connect, print the local port, at a stdin line write BYTES,
           then wait for stdin EOF. */
        int c = socket(fam(a), SOCK_STREAM, 0);
        socklen_t len = addr(a, atoi(argv[3]), &ss);
        if (connect(c, (void *)&ss, len)) { perror("connect"); return 3; }
        printf("lport %d\n", port_of(c, 1));
        waitline();
        put(c, atol(argv[4]));
        printf("sent %ld\n", atol(argv[4]));
        while (fgetc(stdin) != EOF) {}
        return 0;
    }
    return 2;
}
"#;

fn helper() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("lab-net-helper-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        lab_tests::compile_c(&d, "netpeer", HELPER_C, &["-O1"])
    })
}

/// A running helper (optionally inside a network namespace, via `ip netns exec`, which execs:
/// same PID).
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
}

impl Peer {
    fn start(netns: Option<&str>, args: &[&str]) -> Peer {
        let mut c = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(helper());
                c
            }
            None => Command::new(helper()),
        };
        let mut child = c
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the helper");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().unwrap());
        Peer { child, stdin, out }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The number after `word` on the helper's next line (`port N`, `lport N`, `rx N`).
    fn read(&mut self, word: &str) -> u64 {
        let mut s = String::new();
        self.out.read_line(&mut s).unwrap();
        let v = cols(&s);
        assert_eq!(v.first(), Some(&word), "helper said {s:?}, expected {word}");
        v[1].parse().unwrap()
    }

    fn send_line(&mut self) {
        writeln!(self.stdin.as_mut().unwrap(), "go").unwrap();
    }

    fn finish(mut self) {
        drop(self.stdin.take());
        let st = self.child.wait().unwrap();
        assert!(st.success(), "helper exited {st}");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connect from this process, send `send` bytes, half-close, read to EOF; (local port, bytes
/// received).
fn client(addr: &str, port: u16, send: usize) -> (u16, usize) {
    let mut s = TcpStream::connect((addr, port)).expect("connect");
    let lport = s.local_addr().unwrap().port();
    s.write_all(&vec![b'y'; send]).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    (lport, got.len())
}

// ---------------------------------------------------------------------------------------------

#[test]
fn tcpconnect_reports_each_connect_of_this_process_with_pid_and_ports() {
    let Some(_g) = root_test("tcpconnect") else {
        return;
    };
    let (n4, n6) = (3usize, 2usize);
    let mut srv4 = Peer::start(None, &["srv", "127.0.0.1", &n4.to_string(), "0"]);
    let mut srv6 = Peer::start(None, &["srv", "::1", &n6.to_string(), "0"]);
    let (p4, p6) = (srv4.read("port") as u16, srv6.read("port") as u16);
    let tool = Tool::start("tcpconnect", &["-U", "-P", &format!("{p4},{p6}")], "PID");
    for _ in 0..n4 {
        client("127.0.0.1", p4, 10);
    }
    for _ in 0..n6 {
        client("::1", p6, 10);
    }
    let (lines, _) = stopped(tool);
    srv4.finish();
    srv6.finish();
    // UID PID COMM IP SADDR DADDR DPORT
    let me = std::process::id().to_string();
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| cols(l)).collect();
    let mut by_port: BTreeMap<u16, usize> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r.len(), 7, "row {r:?}");
        assert_eq!((r[0], r[1]), ("0", me.as_str()), "UID/PID of {r:?}");
        let (ip, want) = if r[6] == p4.to_string() {
            ("4", "127.0.0.1")
        } else {
            ("6", "::1")
        };
        assert_eq!((r[3], r[4], r[5]), (ip, want, want), "{r:?}");
        *by_port.entry(r[6].parse().unwrap()).or_default() += 1;
    }
    assert_eq!(by_port, BTreeMap::from([(p4, n4), (p6, n6)]), "{lines:#?}");
}

#[test]
fn tcpconnect_count_mode_counts_connects_per_destination() {
    let Some(_g) = root_test("tcpconnect -c") else {
        return;
    };
    let n = 4;
    let mut srv = Peer::start(None, &["srv", "127.0.0.1", &n.to_string(), "0"]);
    let port = srv.read("port") as u16;
    let tool = Tool::start(
        "tcpconnect",
        &["-c", "-P", &port.to_string()],
        "Tracing connect",
    );
    for _ in 0..n {
        client("127.0.0.1", port, 0);
    }
    let (lines, _) = stopped(tool);
    srv.finish();
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| cols(l))
        .filter(|c| c.len() == 4 && c[0] != "LADDR")
        .collect();
    assert_eq!(
        rows,
        vec![vec![
            "127.0.0.1",
            "127.0.0.1",
            &port.to_string(),
            &n.to_string()
        ]],
        "{lines:#?}"
    );
}

#[test]
fn tcpaccept_reports_each_accept_with_the_accepting_pid() {
    let Some(_g) = root_test("tcpaccept") else {
        return;
    };
    let m = 4;
    let tool = Tool::start("tcpaccept", &[], "PID");
    let mut srv = Peer::start(None, &["srv", "127.0.0.1", &m.to_string(), "0"]);
    let port = srv.read("port") as u16;
    let mut lports: Vec<String> = (0..m)
        .map(|_| client("127.0.0.1", port, 1).0.to_string())
        .collect();
    let (lines, _) = stopped(tool);
    let srv_pid = srv.pid().to_string();
    srv.finish();
    // PID COMM IP RADDR RPORT LADDR LPORT
    let mut rports: Vec<String> = Vec::new();
    for r in lines[1..].iter().map(|l| cols(l)) {
        if r.get(6) != Some(&port.to_string().as_str()) {
            continue;
        }
        assert_eq!(
            (r[0], r[1], r[2], r[3], r[5]),
            (srv_pid.as_str(), "netpeer", "4", "127.0.0.1", "127.0.0.1"),
            "{r:?}"
        );
        rports.push(r[4].to_string());
    }
    rports.sort();
    lports.sort();
    assert_eq!(rports, lports, "{lines:#?}");
}

#[test]
fn tcplife_reports_exact_bytes_and_the_owning_pid_of_both_ends() {
    let Some(_g) = root_test("tcplife") else {
        return;
    };
    let (to_srv, to_cli) = (70_001usize, 12_345usize);
    let tool = Tool::start("tcplife", &["--bytes", "-s"], "PID,COMM");
    let mut srv = Peer::start(None, &["srv", "127.0.0.1", "1", &to_cli.to_string()]);
    let port = srv.read("port") as u16;
    let (lport, got) = client("127.0.0.1", port, to_srv);
    assert_eq!(got, to_cli);
    assert_eq!(srv.read("rx"), to_srv as u64);
    let srv_pid = srv.pid().to_string();
    srv.finish();
    std::thread::sleep(Duration::from_millis(200));
    let (lines, _) = stopped(tool);
    // PID,COMM,IP,LADDR,LPORT,RADDR,RPORT,TX_B,RX_B,MS
    let me = std::process::id().to_string();
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| l.split(',').collect()).collect();
    let find = |lp: u16, rp: u16| -> Vec<&str> {
        let hits: Vec<_> = rows
            .iter()
            .filter(|r| r[4] == lp.to_string() && r[6] == rp.to_string())
            .collect();
        assert_eq!(hits.len(), 1, "session {lp}->{rp} in {lines:#?}");
        hits[0].clone()
    };
    let c = find(lport, port);
    assert_eq!(
        (c[0], c[7], c[8]),
        (
            me.as_str(),
            to_srv.to_string().as_str(),
            to_cli.to_string().as_str()
        ),
        "client end {c:?}"
    );
    let s = find(port, lport);
    assert_eq!(
        (s[0], s[1], s[7], s[8]),
        (
            srv_pid.as_str(),
            "netpeer",
            to_cli.to_string().as_str(),
            to_srv.to_string().as_str()
        ),
        "server end {s:?}"
    );
}

#[test]
fn tcplife_kb_columns_are_the_bytes_in_whole_kib() {
    let Some(_g) = root_test("tcplife KB") else {
        return;
    };
    let (to_srv, to_cli) = (5 * 1024 + 1000, 3 * 1024 + 17);
    let tool = Tool::start("tcplife", &[], "PID");
    let mut srv = Peer::start(None, &["srv", "127.0.0.1", "1", &to_cli.to_string()]);
    let port = srv.read("port") as u16;
    let (lport, _) = client("127.0.0.1", port, to_srv);
    srv.finish();
    std::thread::sleep(Duration::from_millis(200));
    let (lines, _) = stopped(tool);
    // PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS
    let row: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| cols(l))
        .filter(|r| r[3] == lport.to_string() && r[5] == port.to_string())
        .collect();
    assert_eq!(row.len(), 1, "{lines:#?}");
    let want = ((to_srv / 1024).to_string(), (to_cli / 1024).to_string());
    assert_eq!(
        (row[0][6].to_string(), row[0][7].to_string()),
        want,
        "{lines:#?}"
    );
}

#[test]
fn tcpsynbl_histogram_holds_the_backlog_the_test_built() {
    let Some(_g) = root_test("tcpsynbl") else {
        return;
    };
    // An unusual limit, so listeners of other processes cannot fall in the same histogram.
    let (limit, k) = (37u32, 6u32);
    let tool = Tool::start("tcpsynbl", &[], "Tracing SYN backlog");
    let mut lst = Peer::start(None, &["backlog", "127.0.0.1", &limit.to_string()]);
    let port = lst.read("port") as u16;
    // Each connect completes its handshake while the ones before wait unaccepted: backlogs
    // 0, 1, ..., k-1 at the moments the kernel reads them.
    let conns: Vec<TcpStream> = (0..k)
        .map(|_| {
            let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            c
        })
        .collect();
    let (lines, _) = stopped(tool);
    drop(conns);
    lst.finish();
    let want = backlog_rows(k, false);
    let start = lines
        .iter()
        .position(|l| l.trim() == format!("backlog_max = {limit}"))
        .unwrap_or_else(|| panic!("no backlog_max = {limit} section: {lines:#?}"));
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for l in lines[start + 2..].iter().take_while(|l| l.contains("->")) {
        let (range, rest) = l.split_once(':').unwrap();
        let n: u64 = cols(rest)[0].parse().unwrap();
        if n > 0 {
            got.insert(range.trim().to_string(), n);
        }
    }
    assert_eq!(got, want, "{lines:#?}");
}

/// Two network namespaces joined by a veth pair, removed on drop.
struct NetPair {
    a: String,
    b: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NetPair {
    const ADDR_A: &'static str = "10.231.77.1";
    const ADDR_B: &'static str = "10.231.77.2";

    fn new() -> NetPair {
        let id = std::process::id();
        let p = NetPair {
            a: format!("labnet-a-{id}"),
            b: format!("labnet-b-{id}"),
        };
        ip(&["netns", "add", &p.a]);
        ip(&["netns", "add", &p.b]);
        ip(&[
            "link", "add", "vlab0", "netns", &p.a, "type", "veth", "peer", "name", "vlab1",
            "netns", &p.b,
        ]);
        for (ns, dev, addr) in [(&p.a, "vlab0", Self::ADDR_A), (&p.b, "vlab1", Self::ADDR_B)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        p
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn tcpretrans_reports_retransmissions_forced_through_a_veth_pair() {
    let Some(_g) = root_test("tcpretrans") else {
        return;
    };
    let net = NetPair::new();
    let mut srv = Peer::start(Some(&net.b), &["srv", NetPair::ADDR_B, "1", "0"]);
    let port = srv.read("port");
    let mut cli = Peer::start(
        Some(&net.a),
        &["hold", NetPair::ADDR_B, &port.to_string(), "20000"],
    );
    let lport = cli.read("lport");
    let tool = Tool::start("tcpretrans", &[], "LADDR:LPORT");
    // From now on B's kernel has no such address: every segment to it is dropped on arrival.
    ip(&[
        "-n",
        &net.b,
        "addr",
        "del",
        &format!("{}/24", NetPair::ADDR_B),
        "dev",
        "vlab1",
    ]);
    cli.send_line();
    assert_eq!(cli.read("sent"), 20000);
    // RTO starts at 200 ms and doubles: 2 s hold several retransmissions.
    std::thread::sleep(Duration::from_secs(2));
    let (lines, _) = stopped(tool);
    drop(cli);
    drop(srv);
    let want_l = format!("{}:{lport}", NetPair::ADDR_A);
    let want_r = format!("{}:{port}", NetPair::ADDR_B);
    // TIME PID IP LADDR:LPORT T> RADDR:RPORT STATE
    let ours: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| cols(l))
        .filter(|r| r.get(3) == Some(&want_l.as_str()))
        .collect();
    assert!(
        !ours.is_empty(),
        "no retransmission of {want_l}: {lines:#?}"
    );
    for r in &ours {
        assert_eq!(
            (r[2], r[4], r[5], r[6]),
            ("4", "R>", want_r.as_str(), "ESTABLISHED"),
            "{r:?}"
        );
    }
}

#[test]
fn tcpretrans_lossprobe_refuses_clearly_without_kprobes() {
    let Some(_g) = root_test("tcpretrans -l") else {
        return;
    };
    let has_kprobes = Path::new("/sys/bus/event_source/devices/kprobe/type").exists();
    let out = cmd("tcpretrans")
        .args(["-l", "-d", "1"])
        .output()
        .expect("run tcpretrans");
    let err = String::from_utf8_lossy(&out.stderr);
    if has_kprobes {
        // Lab VMs: the kprobe attaches and the run ends normally after -d 1.
        assert!(out.status.success(), "tcpretrans -l: {err}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("LADDR:LPORT"));
    } else {
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("CONFIG_KPROBES") && err.contains("lab VMs"),
            "{err}"
        );
    }
}

#[test]
fn tcp_tools_name_their_hook_with_v_and_reject_bad_ports() {
    let Some(_g) = root_test("tcp tools -v") else {
        return;
    };
    // Every networking tool of the catalog: a new one names its hook here.
    let hooks = [
        ("tcpconnect", "sock:inet_sock_set_state"),
        ("tcpaccept", "sys_exit_accept"),
        ("tcplife", "sock:inet_sock_set_state"),
        ("tcpretrans", "tcp:tcp_retransmit_skb"),
        ("tcpsynbl", "sock:inet_sock_set_state"),
    ];
    let networking = lab_probes::requirements::TOOLS
        .iter()
        .filter(|t| t.category == "networking");
    for tool in networking.map(|t| t.name) {
        let Some((_, hook)) = hooks.iter().find(|(t, _)| *t == tool) else {
            panic!("{tool}: a networking tool of the catalog without its -v hook in this test");
        };
        let out = cmd(tool).args(["-v", "-d", "1"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.contains(hook), "{tool}: {err}");
    }
    let out = cmd("tcpconnect").args(["-P", "99999"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--port") && err.contains("99999"), "{err}");
}

/// Listen with backlog `limit` (helper), connect `k` times from here without accepting, and
/// return the histogram rows `lo -> hi` (BCC style) or `[lo, hi)` (bpftrace) expected.
fn backlog_rows(k: u32, bpftrace_style: bool) -> BTreeMap<String, u64> {
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for len in 0..k {
        let row = match (len, bpftrace_style) {
            (0, true) => "[0]".to_string(),
            (1, true) => "[1]".to_string(),
            (0 | 1, false) => "0 -> 1".to_string(),
            (n, _) => {
                let b = 31 - n.leading_zeros();
                if bpftrace_style {
                    format!("[{}, {})", 1u32 << b, 1u32 << (b + 1))
                } else {
                    format!("{} -> {}", 1u32 << b, (1u32 << (b + 1)) - 1)
                }
            }
        };
        *want.entry(row).or_default() += 1;
    }
    want
}

#[test]
fn tcpsynbl_bt_shows_the_backlog_the_test_built() {
    if !require_root("tcpsynbl.bt") {
        return;
    }
    if Command::new("bpftrace").arg("--version").output().is_err() {
        eprintln!("SKIPPED tcpsynbl.bt: bpftrace is not installed");
        return;
    }
    let _g = bpf_lock();
    let (limit, k) = (41u32, 5u32);
    let script = lab_tests::repo_root().join("tools/bpftrace/tcpsynbl.bt");
    let traced = crate::bpftrace::attach::start(&[script.as_os_str()], "tcpsynbl.bt");
    let mut lst = Peer::start(None, &["backlog", "127.0.0.1", &limit.to_string()]);
    let port = lst.read("port") as u16;
    let conns: Vec<TcpStream> = (0..k)
        .map(|_| {
            let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let out = traced.stop();
    drop(conns);
    lst.finish();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == format!("@backlog[{limit}]:"))
        .unwrap_or_else(|| panic!("no @backlog[{limit}]: {}\n{}", out.stdout, out.stderr));
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for l in lines[start + 1..].iter().take_while(|l| l.starts_with('[')) {
        let end = l.find([']', ')']).unwrap();
        let n: u64 = cols(&l[end + 1..])[0].parse().unwrap();
        let row = l[..=end].to_string();
        got.insert(row, n);
    }
    assert_eq!(got, backlog_rows(k, true), "{}", out.stdout);
}
